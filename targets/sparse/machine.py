"""The sparse design's run side: its instruction set, clock, leakage and memory levels."""

from __future__ import annotations

from targets.machine import Machine
from targets.sparse.isa import ACTIVATION_LEVELS, INSTRUCTION_SET

MACHINE = Machine(
    instruction_set=INSTRUCTION_SET,
    clock_entry="clock.frequency",
    leakage_entries=(
        "leakage.logic",
        "memory.weight_sram.leakage",
        "memory.spike_sram.leakage",
        "memory.membrane_sram.leakage",
        "memory.activation_buffer.leakage",
        "memory.psum_buffer.leakage",
    ),
    activation_levels=ACTIVATION_LEVELS,
    compile_time=("memory.double_buffer", "memory.weight_sram.capacity"),
)
