"""The memory section of a run's report: per level what moved and what it cost, how full it got,
and per layer which resource bounds it.

Per level (from the ledger: every access a cost charged names its level): reads and writes (in
accesses of the level's word, and bytes), energy, bytes by purpose (`fill`: first loads from
DRAM, `refetch`: weights loaded again because the layer's input did not fit, `spill`: values
that did not fit, written out and read back, `store`: outputs), and — for levels that hold
activations or weights — the capacity, the peak occupancy of an inference, and the bytes that
did not fit.

Per layer, a roofline bound: the time its DRAM bytes take at the DRAM's bandwidth, the time its
busiest on-chip level's bytes take at that level's bandwidth, and the time its units are busy
(its non-transfer instructions); a layer is `dram`-bound when the DRAM time is at least the units'
busy time, `on-chip`-bound when the on-chip time is, and `compute`-bound otherwise. Its
operational intensity is effective synaptic operations per DRAM byte.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from runtime.interpreter import RunRecord
from runtime.memory import Level, levels

PURPOSES = ("fill", "refetch", "spill", "store")


def memory_section(run: RunRecord) -> dict[str, Any]:
    """Per level and per layer figures of the run (see the module's docstring)."""
    hw = run.hardware
    known = levels(hw)
    if not known:
        return {}
    per_level: dict[str, dict[str, Any]] = {
        name: {
            "level": name,
            "kind": level.kind,
            "capacity_bytes": level.capacity_bits / 8 if level.on_chip else None,
            "reads": 0.0,
            "writes": 0.0,
            "bytes_read": 0.0,
            "bytes_written": 0.0,
            "energy_pj": 0.0,
            **{f"{purpose}_bytes": 0.0 for purpose in PURPOSES},
            "peak_bytes": None,
            "spilled_bytes": None,
        }
        for name, level in known.items()
    }
    layers: dict[str, dict[str, Any]] = {}
    for record in run.records:
        layer = layers.setdefault(
            record.layer,
            {"dram_bits": 0.0, "level_bits": defaultdict(float), "busy": 0.0, "synops": 0.0},
        )
        if not record.transfer:
            layer["busy"] += record.end - record.start
        work = record.workload
        if work is not None:
            layer["synops"] += work.effective_macs + work.effective_acs
        for item in record.cost.items:
            if item.level is None or item.level not in per_level:
                continue
            row = per_level[item.level]
            level = known[item.level]
            write = item.entry == level.write_entry
            row["writes" if write else "reads"] += item.bits / level.word_bits
            row["bytes_written" if write else "bytes_read"] += item.bits / 8
            row["energy_pj"] += item.picojoules
            if item.purpose in PURPOSES:
                row[f"{item.purpose}_bytes"] += item.bits / 8
            if level.kind == "dram":
                layer["dram_bits"] += item.bits
            else:
                layer["level_bits"][item.level] += item.bits
    for name, use in (run.memory or {}).items():
        if name in per_level:
            per_level[name]["peak_bytes"] = use["peak_bits"] / 8
            per_level[name]["spilled_bytes"] = use["spilled_bits"] / 8
    return {
        "levels": list(per_level.values()),
        "layers": [_bound(name, layer, known) for name, layer in layers.items()],
    }


def _bound(name: str, layer: dict[str, Any], known: dict[str, Level]) -> dict[str, Any]:
    dram_level = next((lv for lv in known.values() if lv.kind == "dram"), None)
    dram_cycles = layer["dram_bits"] / dram_level.bits_per_cycle if dram_level else 0.0
    onchip = {lv: bits / known[lv].bits_per_cycle for lv, bits in layer["level_bits"].items()}
    busiest = max(onchip, key=lambda lv: onchip[lv], default=None)
    onchip_cycles = onchip[busiest] if busiest else 0.0
    busy = layer["busy"]
    if dram_cycles and dram_cycles >= busy and dram_cycles >= onchip_cycles:
        bound = "dram"
    elif onchip_cycles and onchip_cycles >= busy:
        bound = "on-chip"
    else:
        bound = "compute" if busy else "none"
    dram_bytes = layer["dram_bits"] / 8
    return {
        "layer": name,
        "bound": bound,
        "busy_cycles": busy,
        "dram_cycles": dram_cycles,
        "onchip_cycles": onchip_cycles,
        "busiest_level": busiest,
        "dram_bytes": dram_bytes,
        "synops_per_dram_byte": layer["synops"] / dram_bytes if dram_bytes else None,
    }


def add_weight_plan(section: dict[str, Any], plan: dict[str, Any] | None, batch: int) -> None:
    """The weight level's occupancy is the plan's: the resident weights and the staging part."""
    if not plan or not section:
        return
    for row in section["levels"]:
        if row["level"] == plan["level"]:
            row["peak_bytes"] = (
                (row["peak_bytes"] or 0.0) + plan["resident_bytes"] + plan["staging_bytes"]
            )
            row["spilled_bytes"] = row["spilled_bytes"] or 0.0
            row["weights"] = {
                "bytes": plan["weight_bytes"],
                "resident_bytes": plan["resident_bytes"],
                "streamed_per_inference_bytes": plan["weight_bytes"] - plan["resident_bytes"],
                "resident": plan["resident"],
                "streamed": plan["streamed"],
                "batch": batch,
            }


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} B"


def render_memory(section: dict[str, Any]) -> str:
    """The memory section as the table's lines."""
    text = "memory levels (per run; occupancy per inference):\n"
    for row in section.get("levels", []):
        capacity = row["capacity_bytes"]
        occupancy = (
            f"  peak {_size(row['peak_bytes'])} of {_size(capacity)}"
            if row["peak_bytes"] is not None
            else (f"  capacity {_size(capacity)}" if capacity is not None else "")
        )
        spilled = f", spilled {_size(row['spilled_bytes'])}" if row["spilled_bytes"] else ""
        moved = ", ".join(
            f"{purpose} {_size(row[f'{purpose}_bytes'])}"
            for purpose in PURPOSES
            if row[f"{purpose}_bytes"]
        )
        text += (
            f"  {row['level']:<18} read {_size(row['bytes_read']):>9} ({row['reads']:.4g}), "
            f"written {_size(row['bytes_written']):>9} ({row['writes']:.4g})  "
            f"{row['energy_pj'] / 1e6:10.3f} uJ{occupancy}{spilled}"
            + (f"  [{moved}]" if moved else "")
            + "\n"
        )
        weights = row.get("weights")
        if weights:
            text += (
                f"    weights {_size(weights['bytes'])}: {weights['resident']} resident "
                f"({_size(weights['resident_bytes'])}, loaded once per run), "
                f"{weights['streamed']} streamed "
                f"({_size(weights['streamed_per_inference_bytes'])} per inference)\n"
            )
    bounds: dict[str, int] = defaultdict(int)
    for layer in section.get("layers", []):
        bounds[layer["bound"]] += 1
    if bounds:
        text += (
            "layer bounds (roofline): "
            + ", ".join(f"{bound} {count}" for bound, count in sorted(bounds.items()))
            + " (per layer in the JSON and CSV reports)\n"
        )
    return text
