"""The stacked design's report sections: energy per tier, vertical-link traffic, the load of
each head unit and expert core, areas and footprints in 2D and 3D, and where 3D wins or loses
against 2D per component (the 2D figures come from the same run: each instruction also counted
its transfers as 2D would do them, and the timeline is replayed with its 2D cycles)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.hardware import Hardware
from runtime.interpreter import CLOCK_UNITS, RunRecord
from runtime.report import Report, energy_text
from targets.stacked3d.floorplan import floorplan, unit_areas

LEAKAGE_2D = ("leakage.logic", "memory.weight_buffer.leakage", "memory.activation_buffer.leakage")
"""The same chip's static power in 2D (the same buffers and logic on one die)."""


def _tier_of(unit: str) -> int | None:
    head = unit.split(".", 1)[0]
    return int(head[1:]) if head.startswith("t") and head[1:].isdigit() else None


def _replay_2d(record: RunRecord) -> float:
    """The latency with every instruction taking its 2D cycles, same units and dependencies."""
    program = record.program
    if program is None:
        return record.latency_cycles
    unit_free: dict[str, float] = {}
    ready: dict[str, float] = {}
    end = 0.0
    for ins, r in zip(program.instructions, record.records, strict=True):
        cycles = r.cost.metrics.counters.get("cycles_2d", r.end - r.start)
        unit = ins.unit.split(".", 1)[-1]  # one tier in 2D
        start = max([unit_free.get(unit, 0.0), *(ready.get(n, 0.0) for n in ins.inputs)])
        finish = start + cycles
        unit_free[unit] = finish
        for name in ins.outputs:
            ready[name] = finish
        end = max(end, finish)
    return end


def _clock_hz(hw: Hardware, entry: str) -> float:
    return hw.number(entry) * CLOCK_UNITS[hw.entries[entry].unit]


def report(rep: Report, record: RunRecord, hw: Hardware) -> dict[str, Any]:
    tiers: dict[str, float] = {}
    heads: dict[str, float] = {}
    experts: dict[str, float] = {}
    vertical_bits = noc_2d = 0.0
    for unit in rep.per_unit:
        name = unit["unit"]
        tier = _tier_of(name)
        if tier is not None:
            key = f"tier {tier}"
            tiers[key] = tiers.get(key, 0.0) + unit["energy_pj"]
        counters = unit.get("counters", {})
        vertical_bits += counters.get("vertical_bits", 0.0)
        noc_2d += counters.get("noc_2d_pj", 0.0)
        short = name.split(".", 1)[-1]
        if short.startswith("head"):
            heads[short] = unit["busy_cycles"]
        if short.startswith("expert"):
            experts[short] = counters.get("tokens", 0.0)
    tiers["links (vertical)"] = rep.per_component.get("vertical", 0.0)
    plan3, plan2 = floorplan(hw, "3d"), floorplan(hw, "2d")
    sections: dict[str, Any] = {
        "tiers": tiers,
        "vertical": {
            "bits": vertical_bits,
            "energy_pj": rep.per_component.get("vertical", 0.0),
        },
        "heads_busy_cycles": heads,
        "area": {
            "units_mm2": unit_areas(hw),
            "footprint_2d_mm2": plan2.footprint,
            "footprint_3d_mm2": plan3.footprint,
            "tier_areas_3d_mm2": plan3.tier_areas,
            "wire_2d_mm": plan2.distance_mm,
            "wire_3d_mm": plan3.distance_mm,
        },
    }
    if experts:
        loads = list(experts.values())
        mean = sum(loads) / len(loads)
        sections["experts_tokens"] = experts
        sections["expert_balance"] = max(loads) / mean if mean else 1.0
    if record.variant == "3d":
        cycles_2d = _replay_2d(record)
        seconds_2d = cycles_2d / _clock_hz(hw, "clock.frequency_2d")
        leakage_2d = sum(hw.number(e) for e in LEAKAGE_2D) * 1e-3
        comparison = {
            component: {"3d": value, "2d": value}
            for component, value in rep.per_component.items()
            if component in ("compute", "sram", "dram")
        }
        comparison["vertical"] = {"3d": rep.per_component.get("vertical", 0.0), "2d": 0.0}
        comparison["noc"] = {"3d": rep.per_component.get("noc", 0.0), "2d": noc_2d}
        comparison["leakage"] = {
            "3d": rep.per_component.get("leakage", 0.0),
            "2d": leakage_2d * seconds_2d * 1e12,
        }
        comparison["latency_s"] = {"3d": rep.totals["latency_s"], "2d": seconds_2d}
        for figures in comparison.values():
            figures["3d_wins_by"] = figures["2d"] - figures["3d"]
        sections["vs_2d"] = comparison
    return sections


def _tiers(section: dict[str, float]) -> str:
    return "tiers: " + ", ".join(f"{k} {energy_text(v)}" for k, v in section.items()) + "\n"


def _versus_2d(section: dict[str, dict[str, float]]) -> str:
    text = "vs_2d: where 3D wins (+) or loses (-) against the same design in 2D\n"
    for name, f in section.items():
        if name == "latency_s":
            text += (
                f"  {'latency':<10} 3D {f['3d'] * 1e6:10.2f} us   2D {f['2d'] * 1e6:10.2f} us"
                f"   {f['3d_wins_by'] * 1e6:+10.2f} us\n"
            )
        else:
            text += (
                f"  {name:<10} 3D {energy_text(f['3d']):>13}   2D {energy_text(f['2d']):>13}"
                f"   {'+' if f['3d_wins_by'] >= 0 else '-'}{energy_text(abs(f['3d_wins_by']))}\n"
            )
    return text


def _area(section: dict[str, Any]) -> str:
    return (
        f"area: footprint 2D {section['footprint_2d_mm2']:.3f} mm2, 3D "
        f"{section['footprint_3d_mm2']:.3f} mm2 (tiers "
        + ", ".join(f"{a:.3f}" for a in section["tier_areas_3d_mm2"])
        + f" mm2); mean planar wire 2D {section['wire_2d_mm']:.2f} mm, 3D "
        f"{section['wire_3d_mm']:.2f} mm\n  units (mm2): "
        + ", ".join(f"{k} {v:g}" for k, v in section["units_mm2"].items())
        + "\n"
    )


SECTIONS: dict[str, Callable[[Any], str]] = {"tiers": _tiers, "vs_2d": _versus_2d, "area": _area}
"""How the table report draws the sections `report` adds."""


def area_mm2(rep: Report) -> float | None:
    """The footprint of the variant that ran."""
    area = rep.extra.get("area")
    if not isinstance(area, dict):
        return None
    value = area.get(f"footprint_{rep.variant}_mm2")
    return float(value) if isinstance(value, int | float) else None
