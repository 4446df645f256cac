"""The stacked design's run side: its instruction set, clocks (3D and 2D), leakage, memory
levels, and the report sections of its tiers, links and floorplan."""

from __future__ import annotations

from targets.machine import Machine
from targets.stacked3d.isa import ACTIVATION_LEVELS, INSTRUCTION_SET
from targets.stacked3d.report import SECTIONS, area_mm2, report

MACHINE = Machine(
    instruction_set=INSTRUCTION_SET,
    clock_entry="clock.frequency_3d",
    clock_by_variant={"2d": "clock.frequency_2d"},
    leakage_entries=(
        "leakage.logic",
        "memory.weight_buffer.leakage",
        "memory.activation_buffer.leakage",
        "memory.local.leakage",
    ),
    activation_levels=ACTIVATION_LEVELS,
    activation_bits="precision.accumulation_bits",
    report=report,
    sections=SECTIONS,
    area=area_mm2,
    compile_time=(
        "units.",
        "tiers.",
        "mapping.",
        "memory.double_buffer",
        "memory.weight_buffer.capacity",
    ),
)
