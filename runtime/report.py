"""The account of a run: totals, breakdowns and workload metrics, as a table, JSON or CSV.

Every energy figure is the sum of ledger items, and every item names the hardware-description
entry it was computed from, so any total can be traced to instructions, layers and table entries.
Breakdowns per layer, unit, component, timestep and entry each sum to the total.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from runtime.errors import ProgramError
from runtime.interpreter import RunRecord
from runtime.memory_report import memory_section, render_memory
from runtime.neurobench import Workload

WORKLOAD_FIELDS = tuple(Workload.__dataclass_fields__)
"""NeuroBench's counts the report sums over a run (`runtime.neurobench.Workload`)."""

PER_INFERENCE = (
    "dense_synops",
    "effective_synops",
    "effective_macs",
    "effective_acs",
    "attention_products",
    "membrane_updates",
    "membrane_updates_all",
)
"""The workload figures also given per inference (divided by the batch), as NeuroBench does."""


@dataclass
class LedgerRow:
    layer: str
    instruction: int
    opcode: str
    unit: str
    component: str
    entry: str
    picojoules: float


@dataclass
class Report:
    target: str
    variant: str
    batch: int
    timesteps: int
    clock_mhz: float
    totals: dict[str, float]
    per_component: dict[str, float]
    per_unit: list[dict[str, Any]]
    per_layer: list[dict[str, Any]]
    per_timestep: list[float]
    per_entry: dict[str, float]
    workload: dict[str, float]
    ledger: list[LedgerRow] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    """Per memory level and per layer's bound (`runtime.memory_report`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Sections a target adds (e.g. crossbar use)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def render_workload(w: dict[str, float], batch: int) -> str:
    """NeuroBench's figures, per inference and per batch: the same on every target."""

    def pair(name: str) -> str:
        return f"{w.get(f'{name}_per_inference', 0):.6g} / {w.get(name, 0):.6g}"

    return (
        f"workload (NeuroBench; per inference / per batch of {batch}):\n"
        f"  dense SynOps {pair('dense_synops')}\n"
        f"  effective SynOps {pair('effective_synops')} (MACs {pair('effective_macs')}, "
        f"ACs {pair('effective_acs')})\n"
        f"  attention products (dense, not SynOps) {pair('attention_products')}\n"
        f"  membrane updates: changed {pair('membrane_updates')}, all "
        f"{pair('membrane_updates_all')}\n"
        f"  activation sparsity {100 * w.get('activation_sparsity', 0):.2f} %\n"
    )


def build_report(run: RunRecord) -> Report:
    ledger: list[LedgerRow] = []
    per_layer: dict[str, dict[str, Any]] = {}
    per_unit: dict[str, dict[str, Any]] = {}
    per_component: dict[str, float] = defaultdict(float)
    per_entry: dict[str, float] = defaultdict(float)
    per_step = np.zeros(run.timesteps)

    def even(picojoules: float) -> float:
        return picojoules / run.timesteps

    work: defaultdict[str, float] = defaultdict(float)
    for record in run.records:
        layer = per_layer.setdefault(
            record.layer,
            {
                "layer": record.layer,
                "instructions": 0,
                "busy_cycles": 0.0,
                "energy_pj": 0.0,
                "spikes": 0,
                "neurons": 0,
            },
        )
        unit = per_unit.setdefault(
            record.unit,
            {"unit": record.unit, "instructions": 0, "busy_cycles": 0.0, "energy_pj": 0.0},
        )
        busy = record.end - record.start
        for row in (layer, unit):
            row["instructions"] += 1
            row["busy_cycles"] += busy
        m = record.cost.metrics
        for key, value in m.counters.items():
            counters = unit.setdefault("counters", {})
            counters[key] = counters.get(key, 0.0) + value
        w = record.workload
        if w is not None:
            layer["spikes"] += w.spikes
            layer["neurons"] += w.neurons
            for name in WORKLOAD_FIELDS:
                work[name] += getattr(w, name)
        for item in record.cost.items:
            ledger.append(
                LedgerRow(
                    record.layer,
                    record.index,
                    record.opcode,
                    record.unit,
                    item.component,
                    item.entry,
                    item.picojoules,
                )
            )
            layer["energy_pj"] += item.picojoules
            unit["energy_pj"] += item.picojoules
            per_component[item.component] += item.picojoules
            per_entry[item.entry] += item.picojoules
            per_step += item.per_step if item.per_step is not None else even(item.picojoules)
    undeclared = sorted(set(per_component) - set(run.components))
    if undeclared:  # once per run, not on the interpreter's path
        spenders = sorted(
            {r.opcode for r in run.records for i in r.cost.items if i.component in undeclared}
        )
        raise ProgramError(
            f"internal error: {', '.join(spenders)} spend energy on {', '.join(undeclared)}, "
            f"which target {run.target} does not declare ({', '.join(run.components)})"
        )
    leakage = 0.0
    for item in run.leakage:
        ledger.append(
            LedgerRow("(static)", -1, "", "(chip)", item.component, item.entry, item.picojoules)
        )
        per_component[item.component] += item.picojoules
        per_entry[item.entry] += item.picojoules
        per_step += item.per_step if item.per_step is not None else even(item.picojoules)
        leakage += item.picojoules
    dynamic = sum(r.picojoules for r in ledger) - leakage
    energy = dynamic + leakage
    seconds = run.latency_seconds
    for layer in per_layer.values():
        layer["activation_sparsity"] = (  # NeuroBench's arithmetic: zeros over outputs
            (layer["neurons"] - layer["spikes"]) / layer["neurons"] if layer["neurons"] else None
        )
    for unit in per_unit.values():
        unit["utilisation"] = (
            unit["busy_cycles"] / run.latency_cycles if run.latency_cycles else 0.0
        )
    totals = {
        "cycles": run.latency_cycles,
        "latency_s": seconds,
        "energy_pj": energy,
        "dynamic_pj": dynamic,
        "leakage_pj": leakage,
        "edp_js": energy * 1e-12 * seconds,
        "inferences_per_s": run.batch / seconds if seconds else 0.0,
        "energy_per_inference_pj": energy / run.batch,
    }
    for name in WORKLOAD_FIELDS:
        work.setdefault(name, 0.0)
    work["effective_synops"] = work["effective_macs"] + work["effective_acs"]
    neurons = work["neurons"]
    work["activation_sparsity"] = (neurons - work["spikes"]) / neurons if neurons else 0.0
    for name in PER_INFERENCE:
        work[f"{name}_per_inference"] = work[name] / run.batch
    return Report(
        run.target,
        run.variant,
        run.batch,
        run.timesteps,
        run.clock_hz / 1e6,
        totals,
        {c: per_component.get(c, 0.0) for c in run.components},
        sorted(per_unit.values(), key=lambda u: u["unit"]),
        list(per_layer.values()),
        [float(v) for v in per_step],
        dict(sorted(per_entry.items())),
        dict(work),
        ledger,
        memory_section(run),
    )


def energy_text(picojoules: float) -> str:
    """An energy in the largest unit it fills (pJ to J), three decimals."""
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(picojoules) >= scale:
            return f"{picojoules / scale:.3f} {unit}"
    return f"{picojoules:.3f} pJ"


def render_table(report: Report, sections: Mapping[str, Callable[[Any], str]] | None = None) -> str:
    """The report as text; `sections` draw the design's own sections (`Machine.sections`),
    the others print plainly."""
    t = report.totals
    out = io.StringIO()
    out.write(
        f"target {report.target} ({report.variant}), batch {report.batch}, T = {report.timesteps}, "
        f"clock {report.clock_mhz:g} MHz\n"
    )
    out.write(
        f"  latency {t['cycles']:.0f} cycles = {t['latency_s'] * 1e6:.2f} us   "
        f"energy {energy_text(t['energy_pj'])} (dynamic {energy_text(t['dynamic_pj'])}, leakage "
        f"{energy_text(t['leakage_pj'])})\n"
        f"  EDP {t['edp_js']:.3e} J*s   {t['inferences_per_s']:.1f} inferences/s   "
        f"{energy_text(t['energy_per_inference_pj'])} per inference\n"
    )
    total = t["energy_pj"] or 1.0
    out.write("energy by component:\n")
    for component, pj in report.per_component.items():
        if pj:
            out.write(f"  {component:<10} {energy_text(pj):>14}  {100 * pj / total:5.1f} %\n")
    out.write("units:\n")
    for unit in report.per_unit:
        out.write(
            f"  {unit['unit']:<14} {unit['instructions']:5d} instr  "
            f"busy {unit['busy_cycles']:12.0f} cycles  "
            f"utilisation {100 * unit['utilisation']:5.1f} %  {energy_text(unit['energy_pj']):>14}"
            f"  {100 * unit['energy_pj'] / total:5.1f} %\n"
        )
    out.write(
        "energy by timestep: " + ", ".join(energy_text(e) for e in report.per_timestep) + "\n"
    )
    out.write("layers:\n")
    width = max((len(r["layer"]) for r in report.per_layer), default=5)
    for row in report.per_layer:
        sparsity = row["activation_sparsity"]
        sparse = f"  sparsity {100 * sparsity:5.1f} %" if sparsity is not None else ""
        out.write(
            f"  {row['layer']:<{width}}  {row['busy_cycles']:12.0f} cycles  "
            f"{energy_text(row['energy_pj']):>14}{sparse}\n"
        )
    out.write(render_workload(report.workload, report.batch))
    if report.memory:
        out.write(render_memory(report.memory))
    for name, section in report.extra.items():
        render = {**_SECTIONS, **(sections or {})}.get(name)
        out.write(render(section) if render else _plain_section(name, section))
    return out.getvalue()


def _plain_section(name: str, section: Any) -> str:
    """A number, or a table of numbers, on one line; anything else as JSON."""

    def number(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return f"{value:.4g}"

    if number(section) is not None:
        return f"{name}: {number(section)}\n"
    if isinstance(section, dict) and all(number(v) is not None for v in section.values()):
        return f"{name}: " + ", ".join(f"{k} {number(v)}" for k, v in section.items()) + "\n"
    return f"{name}: {json.dumps(section)}\n"


def _numerics(section: dict[str, Any]) -> str:
    text = (
        f"numerics {section['mode']}: deviation from exact numerics\n"
        f"  spike agreement {100 * section['spike_agreement_mean']:.2f} % (mean over "
        f"{len(section['spike_agreement'])} spiking layers; lowest "
    )
    worst = sorted(section["spike_agreement"].items(), key=lambda item: item[1])[:3]
    text += ", ".join(f"{layer} {100 * value:.2f} %" for layer, value in worst) + ")\n"
    for name, figures in section["outputs"].items():
        text += (
            f"  output '{name}': max abs error {figures['max_abs_error']:.4g}, relative error "
            f"{figures['relative_error']:.4g}"
        )
        if "top1_agreement" in figures:
            text += f", top-1 agreement {100 * figures['top1_agreement']:.1f} %"
        text += "\n"
    if "accuracy" in section:
        text += _accuracy(section["accuracy"])
    return text


def _accuracy(section: dict[str, Any]) -> str:
    return (
        "accuracy: "
        + ", ".join(
            f"{mode} {'n/a' if value is None else f'{100 * value:.1f} %'}"
            for mode, value in section.items()
        )
        + "\n"
    )


_SECTIONS: dict[str, Callable[[Any], str]] = {"numerics": _numerics, "accuracy": _accuracy}
"""How the sections every run may have are drawn; a design brings its own (`sections`)."""


def render_csv(report: Report) -> str:
    """One row per figure: section, key, metric, value."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "metric", "value"])
    for metric, value in report.totals.items():
        writer.writerow(["total", "", metric, value])
    for component, pj in report.per_component.items():
        writer.writerow(["component", component, "energy_pj", pj])
    for unit in report.per_unit:
        for metric in ("instructions", "busy_cycles", "utilisation", "energy_pj"):
            writer.writerow(["unit", unit["unit"], metric, unit[metric]])
    for row in report.per_layer:
        for metric in ("instructions", "busy_cycles", "energy_pj", "activation_sparsity"):
            writer.writerow(["layer", row["layer"], metric, row[metric]])
    for step, pj in enumerate(report.per_timestep):
        writer.writerow(["timestep", step, "energy_pj", pj])
    for entry, pj in report.per_entry.items():
        writer.writerow(["hardware_entry", entry, "energy_pj", pj])
    for metric, value in report.workload.items():
        writer.writerow(["workload", "", metric, value])
    for level in report.memory.get("levels", []):
        for metric, value in level.items():
            if metric not in ("level", "kind", "weights") and value is not None:
                writer.writerow(["memory", level["level"], metric, value])
    for bound in report.memory.get("layers", []):
        for metric, value in bound.items():
            if metric != "layer" and value is not None:
                writer.writerow(["layer_bound", bound["layer"], metric, value])
    for item in report.ledger:
        key = "|".join(
            str(v)
            for v in (
                item.layer,
                item.instruction,
                item.opcode,
                item.unit,
                item.component,
                item.entry,
            )
        )
        writer.writerow(["ledger", key, "energy_pj", item.picojoules])
    return out.getvalue()
