"""`spikec compare --plot DIR`: PNG charts of a comparison, drawn with matplotlib (Agg, no
display).

    energy_breakdown.png: per design, a stacked bar of energy per inference by component
    layer_energy.png:     per design, a line of (dynamic) energy per inference over the layers
    timeline.png:         the baseline's instructions on a time axis, one row per unit
    memory_levels.png:    per design, a stacked bar of energy per inference by memory level

and of `spikec sweep --plot DIR`:

    pareto.png:           energy per inference vs latency of every ok point, the Pareto front

matplotlib is optional (`pip install spikec[plot]`); `check_matplotlib` says so before any work.
Every file is written atomically (a temporary file beside it, then moved into place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.errors import SpikecError
from compiler.ir.files import write_atomically
from runtime.isa import merged_components

if TYPE_CHECKING:
    from compiler.explore.comparison import Comparison

CHARTS = ("energy_breakdown.png", "layer_energy.png", "timeline.png", "memory_levels.png")
PARETO_CHART = "pareto.png"

_MAX_LAYER_LABELS = 40

_SCALES = (("µJ", 1e6), ("nJ", 1e3), ("pJ", 1.0))


def check_matplotlib() -> None:
    """SpikecError (exit 2) if matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SpikecError(
            "--plot needs matplotlib: install spikec[plot] (pip install 'spikec[plot]')"
        ) from None


def check_plot_dir(path: str) -> None:
    """Refuse a DIR that exists and is not a folder, before the work that fills it."""
    if Path(path).exists() and not Path(path).is_dir():
        raise SpikecError("--plot: not a folder", where=path)


def _unit(largest_pj: float) -> tuple[str, float]:
    """The energy unit that shows `largest_pj` with at most three digits before the point."""
    for name, scale in _SCALES:
        if largest_pj >= scale:
            return name, scale
    return _SCALES[-1]


def write_plots(comparison: Comparison, folder: str) -> list[Path]:
    """Draw the charts into `folder` (created); the files written."""
    directory = _prepare(folder)
    draws = (_energy_breakdown, _layer_energy, _timeline, _memory_levels)
    return [
        _save(draw(comparison), directory / name) for name, draw in zip(CHARTS, draws, strict=True)
    ]


def write_pareto_plot(
    rows: Sequence[Mapping[str, Any]],
    front: Sequence[int],
    keys: Sequence[str],
    title: str,
    folder: str,
    trade_off: str = "latency_us",
) -> Path:
    """`pareto.png` in `folder` (created): energy per inference (µJ) against `trade_off` (latency
    in µs, or the output relative error) of the sweep's rows whose status is ok, the rows at the
    indices `front` (the Pareto-optimal points) highlighted, labelled with their `keys`' values
    and joined by a step line; the file written."""
    directory = _prepare(folder)
    return _save(_pareto(rows, front, keys, title, trade_off), directory / PARETO_CHART)


TRADE_OFF_LABELS = {
    "latency_us": "latency (µs)",
    "output_relative_error": "output relative error ‖y - y_exact‖ / ‖y_exact‖",
}


def _prepare(folder: str) -> Path:
    """matplotlib (Agg) loaded and `folder` created; SpikecError if either fails."""
    check_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    check_plot_dir(folder)
    directory = Path(folder)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpikecError(f"--plot: cannot create the folder: {e.strerror}", where=folder) from None
    return directory


def _save(figure: Any, path: Path) -> Path:
    """Write `figure` to `path` atomically as PNG, then close it."""
    import matplotlib.pyplot as plt

    def save(tmp: Path) -> None:
        figure.savefig(tmp, format="png", dpi=110)

    try:
        write_atomically(path, save)
    finally:
        plt.close(figure)
    return path


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height), layout="constrained")
    return figure, axes


def _stacked_bars(
    axes: Any, per_design: dict[str, dict[str, float]], parts: list[str], scale: float
) -> tuple[list[int], list[float]]:
    """One bar per design, stacked from `parts` (in order): the bars' positions and tops."""
    positions = list(range(len(per_design)))
    bottom = [0.0] * len(per_design)
    for part in parts:
        heights = [values.get(part, 0.0) / scale for values in per_design.values()]
        axes.bar(positions, heights, bottom=bottom, label=part, width=0.7)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    return positions, bottom


def _energy_breakdown(comparison: Comparison) -> Any:
    reports = comparison.reports
    designs = list(reports)
    components = merged_components(r.per_component for r in reports.values())
    per_inference = {
        d: {c: r.per_component.get(c, 0.0) / r.batch for c in components}
        for d, r in reports.items()
    }
    shown = [c for c in components if any(per_inference[d][c] for d in designs)]
    largest = max((sum(v.values()) for v in per_inference.values()), default=0.0)
    unit, scale = _unit(largest)
    figure, axes = _figure(max(6.0, 1.0 + 0.9 * len(designs)), 5.0)
    positions, _ = _stacked_bars(axes, per_inference, shown, scale)
    axes.set_xticks(positions, designs, rotation=30, ha="right")
    axes.set_xlabel("design")
    axes.set_ylabel(f"energy per inference ({unit})")
    axes.set_title(f"Energy per inference by component (baseline {comparison.baseline})")
    axes.legend(title="component", fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return figure


def _memory_levels(comparison: Comparison) -> Any:
    """Per design, a stacked bar of energy per inference by memory level, and the DRAM bytes
    per inference by purpose above it."""
    reports = comparison.reports
    designs = list(reports)
    per_level: dict[str, dict[str, float]] = {
        d: {row["level"]: row["energy_pj"] / r.batch for row in r.memory.get("levels", [])}
        for d, r in reports.items()
    }
    names = list(dict.fromkeys(name for levels in per_level.values() for name in levels))
    largest = max((sum(v.values()) for v in per_level.values()), default=0.0)
    unit, scale = _unit(largest)
    figure, axes = _figure(max(6.0, 1.0 + 0.9 * len(designs)), 5.0)
    positions, bottom = _stacked_bars(axes, per_level, names, scale)
    for position, design, top in zip(positions, designs, bottom, strict=True):
        dram = next(
            (row for row in reports[design].memory.get("levels", []) if row["kind"] == "dram"),
            None,
        )
        if dram is not None:
            moved = (dram["bytes_read"] + dram["bytes_written"]) / reports[design].batch
            axes.annotate(
                f"DRAM {moved / 2**20:.3g} MiB",
                (position, top),
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
    axes.set_xticks(positions, designs, rotation=30, ha="right")
    axes.set_xlabel("design")
    axes.set_ylabel(f"memory energy per inference ({unit})")
    axes.set_title("Energy per inference by memory level (DRAM bytes per inference above)")
    axes.legend(title="level", fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return figure


def _layer_order(per_design: Sequence[Sequence[str]]) -> list[str]:
    """The layers of every design in the order they first run (the baseline's first)."""
    order: dict[str, None] = {}
    for layers in per_design:
        order.update(dict.fromkeys(layers))
    return list(order)


def _layer_energy(comparison: Comparison) -> Any:
    reports = comparison.reports
    designs = sorted(reports, key=lambda d: d != comparison.baseline)  # baseline's order first
    layers = _layer_order([[row["layer"] for row in reports[d].per_layer] for d in designs])
    energy = {
        d: {row["layer"]: row["energy_pj"] / reports[d].batch for row in reports[d].per_layer}
        for d in designs
    }
    largest = max((max(e.values(), default=0.0) for e in energy.values()), default=0.0)
    unit, scale = _unit(largest)
    figure, axes = _figure(min(16.0, max(7.0, 2.0 + 0.45 * len(layers))), 6.0)
    positions = list(range(len(layers)))
    for design in reports:  # the rows' order, for the legend
        values = [energy[design].get(layer, float("nan")) / scale for layer in layers]
        axes.plot(positions, values, marker="o", markersize=3, label=design)
    if any(v > 0 for e in energy.values() for v in e.values()):
        axes.set_yscale("log")
    step = -(-len(layers) // _MAX_LAYER_LABELS)  # label every step-th layer of a long model
    axes.set_xticks(positions[::step], layers[::step], rotation=60, ha="right", fontsize="small")
    axes.set_xlabel("layer (model order)" + (f", one in {step} labelled" if step > 1 else ""))
    axes.set_ylabel(f"dynamic energy per inference ({unit})")
    axes.set_title("Energy per layer by design")
    axes.legend(title="design", fontsize="small")
    axes.grid(alpha=0.3)
    return figure


def _timeline(comparison: Comparison) -> Any:
    record = comparison.timeline
    baseline = comparison.baseline
    if record is None or not record.records:
        figure, axes = _figure(7.0, 3.0)
        axes.set_title(f"Instruction timeline: {baseline}")
        axes.text(0.5, 0.5, "no instructions ran", ha="center", va="center")
        axes.set_axis_off()
        return figure
    microseconds = 1e6 / record.clock_hz
    units = sorted({r.unit for r in record.records})
    report = comparison.reports.get(baseline)
    utilisation = {u["unit"]: u["utilisation"] for u in report.per_unit} if report else {}
    layers = _layer_order([[r.layer for r in record.records]])
    colours = _colours(len(layers))
    colour_of = dict(zip(layers, colours, strict=True))
    figure, axes = _figure(10.0, max(3.0, 1.2 + 0.5 * len(units)))
    for row, unit in enumerate(units):
        mine = [r for r in record.records if r.unit == unit]
        spans = [(r.start * microseconds, (r.end - r.start) * microseconds) for r in mine]
        axes.broken_barh(
            spans, (row - 0.4, 0.8), facecolors=[colour_of[r.layer] for r in mine], linewidth=0
        )
    labels = [f"{u} ({100 * utilisation[u]:.0f} % busy)" if u in utilisation else u for u in units]
    axes.set_yticks(range(len(units)), labels)
    axes.set_ylim(len(units) - 0.4, -0.6)  # the first unit on top
    axes.set_xlim(0, record.latency_cycles * microseconds)
    axes.set_xlabel("time (µs)")
    axes.set_ylabel("unit")
    axes.set_title(f"Instruction timeline: {baseline} (batch {record.batch}; colour: layer)")
    if len(layers) <= 20:  # beyond, tab20's colours repeat: no legend
        from matplotlib.patches import Patch

        handles = [Patch(color=colour_of[layer], label=layer) for layer in layers]
        axes.legend(
            handles=handles,
            title="layer",
            fontsize="x-small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    axes.grid(axis="x", alpha=0.3)
    return figure


def _colours(count: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if count > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(count)]


def _pareto(
    rows: Sequence[Mapping[str, Any]],
    front: Sequence[int],
    keys: Sequence[str],
    title: str,
    trade_off: str,
) -> Any:
    ok = [
        i
        for i, r in enumerate(rows)
        if r.get("status") == "ok"
        and r.get(trade_off) is not None
        and r.get("energy_per_inference_uj") is not None
    ]
    figure, axes = _figure(8.0, 5.5)
    axes.set_title(title)
    axes.set_xlabel(TRADE_OFF_LABELS[trade_off])
    axes.set_ylabel("energy per inference (µJ)")
    if not ok:
        axes.text(0.5, 0.5, "no point ran (all failed)", ha="center", va="center")
        axes.grid(alpha=0.3)
        return figure
    on_front = set(front) & set(ok)
    others = [i for i in ok if i not in on_front]

    def latency(i: int) -> float:  # or the trade-off in its place
        return float(rows[i][trade_off])

    def energy(i: int) -> float:
        return float(rows[i]["energy_per_inference_uj"])

    if others:
        axes.scatter(
            [latency(i) for i in others],
            [energy(i) for i in others],
            s=25,
            color="tab:gray",
            alpha=0.6,
            label=f"other points ({len(others)})",
        )
    best = sorted(on_front, key=lambda i: (latency(i), energy(i)))
    xs = [latency(i) for i in best]
    ys = [energy(i) for i in best]
    axes.step(xs, ys, where="post", color="tab:red", linewidth=1.5, alpha=0.8)
    axes.scatter(
        xs, ys, s=60, color="tab:red", edgecolors="black", zorder=3,
        label=f"Pareto-optimal ({len(best)})",
    )  # fmt: skip
    if len(best) <= 12:
        for i, x, y in zip(best, xs, ys, strict=True):
            axes.annotate(
                ", ".join(f"{k}={rows[i][k]}" for k in keys),
                (x, y),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize="x-small",
            )
    spread = trade_off + "_std"  # a sweep over several seeds: the trade-off's deviation
    if any(rows[i].get(spread) is not None for i in ok):
        axes.errorbar(
            [latency(i) for i in ok],
            [energy(i) for i in ok],
            xerr=[float(rows[i].get(spread) or 0.0) for i in ok],
            fmt="none",
            ecolor="tab:gray",
            elinewidth=1,
            capsize=3,
            alpha=0.7,
            label="± one standard deviation over the seeds",
        )
    every_x = [latency(i) for i in ok]
    every_y = [energy(i) for i in ok]
    if min(every_x) > 0 and max(every_x) / min(every_x) > 30:
        axes.set_xscale("log")
    if min(every_y) > 0 and max(every_y) / min(every_y) > 30:
        axes.set_yscale("log")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    return figure
