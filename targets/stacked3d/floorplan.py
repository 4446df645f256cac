"""Areas, tiers and wire lengths of the stacked design, from the same unit areas in 2D and 3D.

2D: every unit and buffer side by side on one die. 3D memory-on-logic: logic on the bottom tier,
the global buffers (and the neuron unit, `mapping.neuron_tier`) on the top tier above it.
3D logic-on-logic: units alternate between the tiers and each tier keeps half of the buffers
beside its logic. The footprint is the largest tier; the mean planar wire from a unit to a
buffer is a fraction of the side of the footprint (a square): `floorplan.distance_factor` in 2D,
`floorplan.stacked_distance_factor` in 3D, where the buffers lie above or below the logic. So
shrinking the footprint, and stacking, shorten every planar wire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from runtime.hardware import Hardware


@dataclass(frozen=True)
class Floorplan:
    areas: dict[str, float]
    """Unit or buffer -> mm2."""
    tier_of: dict[str, int]
    tiers: int
    distance_mm: float
    """Mean planar wire from a unit to a buffer."""

    @property
    def tier_areas(self) -> list[float]:
        return [
            sum(a for name, a in self.areas.items() if self.tier_of[name] == t)
            for t in range(self.tiers)
        ]

    @property
    def footprint(self) -> float:
        return max(self.tier_areas)


def unit_areas(hw: Hardware) -> dict[str, float]:
    areas = {"systolic": hw.number("area.systolic")}
    for h in range(hw.integer("units.heads")):
        areas[f"head{h}"] = hw.number("area.attention_unit")
    for e in range(hw.integer("units.experts")):
        areas[f"expert{e}"] = hw.number("area.expert_core")
    areas["neuron"] = hw.number("area.neuron_unit")
    areas["router"] = hw.number("area.router")
    areas["vector"] = hw.number("area.vector")
    per_kb = hw.number("area.sram_per_kb")
    areas["weight buffer"] = hw.number("memory.weight_buffer.capacity") * per_kb
    areas["activation buffer"] = hw.number("memory.activation_buffer.capacity") * per_kb
    return areas


def floorplan(hw: Hardware, variant: str) -> Floorplan:
    areas = unit_areas(hw)
    tiers = 1 if variant == "2d" else hw.integer("tiers.count")
    top = tiers - 1
    tier_of: dict[str, int] = {}
    if tiers == 1:
        tier_of = dict.fromkeys(areas, 0)
    elif hw["mapping.mode"] == "memory-on-logic":
        for name in areas:
            buffer = name.endswith("buffer")
            tier_of[name] = top if buffer else 0
        tier_of["neuron"] = min(hw.integer("mapping.neuron_tier"), top)
    else:  # logic-on-logic: alternate units over the tiers, buffers split evenly
        logic = [n for n in areas if not n.endswith("buffer")]
        for i, name in enumerate(logic):
            tier_of[name] = i % tiers
        tier_of["neuron"] = min(hw.integer("mapping.neuron_tier"), top)
        for name in ("weight buffer", "activation buffer"):
            half = areas.pop(name) / tiers
            for t in range(tiers):
                areas[f"{name} {t}"] = half
                tier_of[f"{name} {t}"] = t
    plan = Floorplan(areas, tier_of, tiers, 0.0)
    factor = "floorplan.distance_factor" if tiers == 1 else "floorplan.stacked_distance_factor"
    distance = hw.number(factor) * math.sqrt(plan.footprint)
    return Floorplan(areas, tier_of, tiers, distance)
