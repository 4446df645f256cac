"""Xpikeformer's run side: its instruction set, clock, leakage (per variant), memory levels and
footprint, and the report section of its crossbar mapping."""

from __future__ import annotations

from typing import Any

from targets.machine import Machine
from targets.xpikeformer.isa import ACTIVATION_LEVELS, INSTRUCTION_SET, footprint


def _mapping(section: dict[str, Any]) -> str:
    text = f"mapping: {section.get('summary', '')}\n"
    for row in section.get("layers", []):
        text += (
            f"  {row['layer']:<24} {row['shape'][0]:>5} x {row['shape'][1]:<5} on "
            f"{row['crossbars']:3d} crossbars ({row['row_blocks']} x {row['column_blocks']} "
            f"blocks)  utilisation {100 * row['utilisation']:5.1f} %\n"
        )
    return text


MACHINE = Machine(
    instruction_set=INSTRUCTION_SET,
    clock_entry="clock.frequency",
    leakage_entries=("leakage.aimc_periphery", "leakage.digital", "memory.sram.leakage"),
    leakage_by_variant={
        "digital-snn": ("leakage.digital", "memory.sram.leakage", "memory.weight_sram.leakage"),
        "digital-ann": ("leakage.digital", "memory.sram.leakage", "memory.weight_sram.leakage"),
    },
    activation_levels=ACTIVATION_LEVELS,
    footprint=footprint,
    sections={"mapping": _mapping},
    compile_time=(
        "crossbar.rows",
        "crossbar.columns",
        "crossbar.count",
        "pcm.devices_per_weight",
        "memory.double_buffer",
        "memory.weight_sram.capacity",
        "memory.sram.capacity",
    ),
)
