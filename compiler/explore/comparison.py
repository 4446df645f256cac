"""`spikec compare`: one model compiled for several designs (targets and their variants), each
run on the same inputs, in one table.

    plan_designs:  -t values, --variants, --numerics -> the designs (rows) to run
    find_baseline: --baseline -> the design the ratios are taken against
    compare:       compile (in memory, from one import), run, and build the rows
    render_table / render_csv / render_json: what `spikec compare` prints and writes
    (compiler/plots.py draws the charts of `--plot` from the reports the comparison keeps)

The rows are plain dicts keyed by `Column.key`; the table, the CSV and the JSON are three
renderings of the same rows (the files carry the unrounded numbers). Nothing here prints.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.errors import SpikecError
from compiler.ir.weights import WeightStore
from compiler.progress import bar, logger
from runtime.deviation import top1
from runtime.errors import ProgramError
from runtime.hardware import TECHNOLOGY_NODE, TECHNOLOGY_VDD
from runtime.interpreter import RunRecord
from runtime.isa import merged_components
from runtime.package import Package
from runtime.report import Report
from runtime.technology import RULE_TEXT
from targets.target import Target

MISSING = "—"
"""What the table shows where a design's report has no such figure."""

REFERENCE = "reference"
"""The `design` of the reference interpreter's row (with labels)."""


@dataclass(frozen=True)
class Design:
    target: str
    variant: str
    numerics: str = "exact"

    @property
    def name(self) -> str:
        suffix = "" if self.numerics == "exact" else f" [{self.numerics}]"
        return f"{self.target}:{self.variant}{suffix}"


def plan_designs(
    targets: Sequence[str], variants: bool = True, numerics: Sequence[str] = ()
) -> list[Design]:
    """The designs to compare: each target (`TARGET` or `TARGET:VARIANT`; default every target)
    in its default variant or, with `variants`, in every variant; each in exact numerics, then
    in every mode of `numerics` that the design has."""
    from compiler.runner import get_target
    from targets import target_names

    chosen: list[tuple[str, str]] = []
    for spec in targets or target_names():
        name, _, variant = spec.partition(":")
        target = get_target(name)
        try:
            if variant:
                found = [target.check_variant(variant)]
            else:
                found = list(target.variants) if variants else [target.default_variant]
        except ProgramError as e:
            raise SpikecError(str(e)) from None
        chosen += [(target.name, v) for v in found if (target.name, v) not in chosen]
    modes = [m for m in dict.fromkeys(numerics) if m != "exact"]
    known = {m for name, _ in chosen for m in get_target(name).numerics}
    unknown = [m for m in modes if m not in known]
    if unknown:
        raise SpikecError(
            f"no compared target has the numerics mode {', '.join(map(repr, unknown))} (modes: "
            f"{', '.join(sorted(known))})"
        )
    designs: list[Design] = []
    for name, variant in chosen:
        target = get_target(name)
        designs.append(Design(name, variant))
        for mode in modes:
            if mode not in target.numerics:
                continue
            allowed = target.numerics_variants.get(mode)
            if allowed is None or variant in allowed:
                designs.append(Design(name, variant, mode))
    return designs


def find_baseline(spec: str | None, designs: Sequence[Design]) -> Design:
    """`TARGET:VARIANT` (or `TARGET`: its default variant), in exact numerics; default: the
    first design."""
    if spec is None:
        return designs[0]
    from compiler.runner import get_target

    name, _, variant = spec.partition(":")
    target = get_target(name)
    try:
        chosen = target.check_variant(variant or None)
    except ProgramError as e:
        raise SpikecError(f"--baseline {spec}: {e}") from None
    baseline = Design(target.name, chosen)
    if baseline not in designs:
        raise SpikecError(
            f"--baseline {spec}: {baseline.name} is not among the compared designs "
            f"({', '.join(d.name for d in designs if d.numerics == 'exact')})"
        )
    return baseline


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    format: str
    """Format spec of a number (None shows as MISSING)."""


@dataclass
class Comparison:
    columns: list[Column]
    rows: list[dict[str, Any]]
    baseline: str
    """The `design` the ratios are taken against."""
    notes: list[str] = field(default_factory=list)
    """What the columns mean, printed under the table."""
    reports: dict[str, Report] = field(default_factory=dict)
    """Each design's report, by `design` name, in the rows' order (for the charts)."""
    timeline: RunRecord | None = None
    """The baseline's run: each instruction's unit and start and end cycle."""
    coverage: dict[str, Any] | None = None
    """The model's coverage (`compiler.frontend.coverage`): shares of nodes and synaptic
    operations in dedicated `spike` ops rather than generic ops."""


def _area_mm2(design: Design, report: Report) -> float | None:
    """The design's area, if its machine reads one from its report."""
    from compiler.runner import get_target

    area = get_target(design.target).machine.area
    return None if area is None else area(report)


def _accuracy(report: Report, numerics: str) -> float | None:
    if numerics == "exact":
        value = report.extra.get("accuracy", {}).get("exact")
    else:
        value = report.extra.get("numerics", {}).get("accuracy", {}).get(numerics)
    return None if value is None else float(value)


def top1_agreement(
    outputs: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
) -> float | None:
    """Share of the batch on which the first classifier-shaped output picks the reference's
    class (None if no output is `[batch, classes]`)."""
    for name, value in outputs.items():
        ours, theirs = top1(value), top1(reference[name])
        if ours is not None and theirs is not None and ours.shape == theirs.shape:
            return float(np.mean(ours == theirs))
    return None


def deviation_figures(report: Report) -> dict[str, float]:
    """What a run in hardware numerics lost against the exact run of the same program: the share
    of spikes equal to the exact run's (%, mean over the layers that fire) and the output
    relative error ‖y - y_exact‖ / ‖y_exact‖ (the largest over the outputs)."""
    measured = report.extra["numerics"]
    return {
        "spike_agreement_pct": 100 * measured["spike_agreement_mean"],
        "output_relative_error": max(
            (o["relative_error"] for o in measured["outputs"].values()), default=0.0
        ),
    }


EXACT_DEVIATION = {"spike_agreement_pct": 100.0, "output_relative_error": 0.0}
"""An exact run's deviation from itself."""


def cost_figures(report: Report) -> dict[str, float]:
    """A run's latency (µs), throughput, energy per inference (µJ) and EDP (J·s, energy per
    inference × latency): the figures a comparison row and a sweep row share."""
    t = report.totals
    per_inference_j = t["energy_per_inference_pj"] * 1e-12
    return {
        "latency_us": t["latency_s"] * 1e6,
        "inferences_per_s": t["inferences_per_s"],
        "energy_per_inference_uj": per_inference_j * 1e6,
        "edp_js": per_inference_j * t["latency_s"],
    }


def _design_row(design: Design, report: Report, components: Sequence[str]) -> dict[str, Any]:
    total = report.totals["energy_pj"]
    row: dict[str, Any] = {
        "design": design.name,
        "target": design.target,
        "variant": design.variant,
        "numerics": design.numerics,
        **cost_figures(report),
        "area_mm2": _area_mm2(design, report),
    }
    for component in components:
        pj = report.per_component.get(component, 0.0)
        row[f"{component}_pct"] = 100 * pj / total if total else 0.0
    return row


def compare(
    model: str,
    inputs: Mapping[str, np.ndarray],
    designs: Sequence[Design],
    baseline: Design | None = None,
    *,
    labels: np.ndarray | None = None,
    sources: Mapping[str, str] | None = None,
    seed: int = 0,
    loaded: tuple[ModuleOp, WeightStore, Path] | None = None,
    node: tuple[float, float] | str | None = "baseline",
    settings: Sequence[str] = (),
) -> Comparison:
    """Compile `model` for every design (in memory, from one import of it), run each on
    `inputs` (by model input name) and build the rows. `loaded` is the model as `load_model`
    returns it, if the caller has it already. `node`: the process node and supply (nm, V) every
    design is priced at (`runtime.technology`'s C·V² rule), `"baseline"` for the baseline's,
    None for each design's own. `settings` (`key=value`) apply to every design whose hardware
    description has the key; a key none has is refused."""
    from compiler.frontend.load import load_model
    from compiler.interpreters.reference import evaluate
    from compiler.runner import RunOptions, execute_package, get_target
    from compiler.toolchain import build_package
    from runtime.deviation import accuracy

    if not designs:
        raise SpikecError("no design to compare")
    baseline = baseline or designs[0]
    if baseline not in designs:
        raise SpikecError(f"the baseline {baseline.name} is not among the compared designs")
    module, weights, base = load_model(model) if loaded is None else loaded
    reference = evaluate(module, weights, inputs)
    if node == "baseline":
        hardware = get_target(baseline.target).hardware()
        node = (hardware.number(TECHNOLOGY_NODE), hardware.number(TECHNOLOGY_VDD))
    common = (
        (f"{TECHNOLOGY_NODE}={node[0]:g}", f"{TECHNOLOGY_VDD}={node[1]:g}")
        if isinstance(node, tuple)
        else ()
    )
    described = {d.target: set(get_target(d.target).hardware().entries) for d in designs}
    for setting in settings:
        name = setting.split("=", 1)[0].strip()
        if "=" not in setting or not any(name in keys for keys in described.values()):
            raise SpikecError(
                f"--set {setting}: no compared design has a hardware parameter '{name}' "
                f"(expected key=value; see `spikec targets NAME`)"
            )

    hardware_numerics = any(d.numerics != "exact" for d in designs)
    components = merged_components(
        get_target(d.target).machine.instruction_set.all_components for d in designs
    )
    rows: list[dict[str, Any]] = []
    reports: dict[str, Report] = {}
    timeline: RunRecord | None = None
    batch = 0
    with bar(len(designs), "compare", "design") as progress:
        programs: dict[tuple[str, str], tuple[Package, Target]] = {}
        for design in designs:
            progress.describe(design.name)
            key = (design.target, design.variant)
            if key not in programs:
                programs[key] = build_package(
                    model,
                    design.target,
                    variant=design.variant,
                    settings=(
                        *common,
                        *(x for x in settings if x.split("=", 1)[0].strip() in described[key[0]]),
                    ),
                    imported=(module, base),
                )
            package, target = programs[key]
            options = RunOptions(design.numerics, seed, (), labels)
            run = execute_package(package, target, inputs, sources, options)
            row = _design_row(design, run.report, components)
            row["node_nm"] = run.record.hardware.number(TECHNOLOGY_NODE)
            batch = run.report.batch
            reports[design.name] = run.report
            if design == baseline:
                timeline = run.record
            if labels is not None:
                row["accuracy_pct"] = _scaled(_accuracy(run.report, design.numerics))
            else:
                row["top1_agreement_pct"] = _scaled(top1_agreement(run.outputs, reference))
            if hardware_numerics:
                exact = design.numerics == "exact"
                row.update(EXACT_DEVIATION if exact else deviation_figures(run.report))
            rows.append(row)
            logger.info(
                "%s: %.2f us, %.4g uJ/inference",
                design.name,
                row["latency_us"],
                row["energy_per_inference_uj"],
            )
            progress.advance()

    against = next(r for r, d in zip(rows, designs, strict=True) if d == baseline)
    for row in rows:
        row["latency_ratio"] = _ratio(row["latency_us"], against["latency_us"])
        row["energy_ratio"] = _ratio(
            row["energy_per_inference_uj"], against["energy_per_inference_uj"]
        )
        row["edp_ratio"] = _ratio(row["edp_js"], against["edp_js"])

    shown = [c for c in components if any(r[f"{c}_pct"] for r in rows)]
    for row in rows:  # only the components some report has
        for component in components:
            if component not in shown:
                del row[f"{component}_pct"]
    quality = "accuracy_pct" if labels is not None else "top1_agreement_pct"
    if labels is not None:
        reference_row: dict[str, Any] = {
            key: None for key in rows[0] if key not in ("design", "numerics", quality)
        }
        reference_row.update(
            design=REFERENCE, numerics="exact", accuracy_pct=_scaled(accuracy(reference, labels))
        )
        rows.append({key: reference_row[key] for key in rows[0]})
    columns = [
        Column("design", "design", "s"),
        Column("latency_us", "latency (µs)", ".2f"),
        Column("inferences_per_s", "inferences/s", ".1f"),
        Column("energy_per_inference_uj", "energy/inf (µJ)", "#.4g"),
        Column("edp_js", "EDP (J·s)", ".3e"),
        Column("area_mm2", "area (mm²)", ".3f"),
        Column("node_nm", "node (nm)", "g"),
        *(Column(f"{c}_pct", f"{c} %", ".1f") for c in shown),
        Column(quality, "accuracy %" if labels is not None else "top-1 agr. %", ".1f"),
        *(
            (
                Column("spike_agreement_pct", "spike agr. %", ".2f"),
                Column("output_relative_error", "output rel. err", ".4f"),
            )
            if hardware_numerics
            else ()
        ),
        Column("latency_ratio", "latency ×", ".3f"),
        Column("energy_ratio", "energy ×", ".3f"),
        Column("edp_ratio", "EDP ×", ".3f"),
    ]
    notes = [
        f"batch {batch}; EDP = energy per inference × latency; component "
        "columns: share of the design's energy; ratios: against " + baseline.name,
        (
            f"accuracy: top-1 on {len(labels)} labels; '{REFERENCE}': the reference interpreter"
            if labels is not None
            else "top-1 agr.: share of the batch on which the design picks the reference "
            "interpreter's class"
        ),
    ]
    notes.append(
        (
            f"technology: every design priced at {node[0]:g} nm, {node[1]:g} V"
            if isinstance(node, tuple)
            else "technology: each design at its own node (the node column)"
        )
        + f"; {RULE_TEXT}"
    )
    if hardware_numerics:
        notes.append(
            "spike agr. / output rel. err: against the exact run of the same program (spikes "
            "equal to its, %; ‖y - y_exact‖ / ‖y_exact‖); 100 / 0 in exact numerics"
        )
    from compiler.frontend.coverage import coverage

    figures = coverage(module).as_dict()
    return Comparison(columns, rows, baseline.name, notes, reports, timeline, figures)


def _scaled(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


def _ratio(value: float, base: float) -> float | None:
    return value / base if base else None


def _cell(column: Column, value: Any) -> str:
    if value is None:
        return MISSING
    if column.format == "s":
        return str(value)
    return format(value, column.format)


def render_table(comparison: Comparison) -> str:
    """The rows as a text table (designs down, figures across), the notes under it."""
    columns = comparison.columns
    cells = [[_cell(c, row.get(c.key)) for c in columns] for row in comparison.rows]
    widths = [max(len(c.header), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(w) if c.format == "s" else v.rjust(w)
            for v, w, c in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip() + "\n"

    out = io.StringIO()
    out.write(line([c.header for c in columns]))
    for row_cells in cells:
        out.write(line(row_cells))
    for note in comparison.notes:
        out.write(note + "\n")
    return out.getvalue()


def render_csv(comparison: Comparison) -> str:
    """The table's rows and columns (keys as the header; an empty cell where the table shows
    MISSING), numbers unrounded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [c.key for c in comparison.columns]
    writer.writerow(keys)
    for row in comparison.rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k in keys])
    return out.getvalue()


def render_json(comparison: Comparison) -> str:
    """The table's rows (only its columns; null where it shows MISSING), numbers unrounded."""
    keys = [c.key for c in comparison.columns]
    document = {
        "baseline": comparison.baseline,
        "columns": {c.key: c.header for c in comparison.columns},
        "rows": [{k: row.get(k) for k in keys} for row in comparison.rows],
    }
    if comparison.coverage is not None:
        document["coverage"] = comparison.coverage
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
