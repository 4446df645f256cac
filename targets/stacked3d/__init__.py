"""Target `stacked3d`: the two-tier 3D MoE + multi-head-attention spiking transformer
accelerator (Xu et al., arXiv 2412.05540) and its 2D baseline. It consumes what head
partitioning, expert partitioning and tier mapping decide."""

from __future__ import annotations

from pathlib import Path

from runtime.errors import ProgramError
from runtime.hardware import Hardware
from targets.stacked3d.isa import INSTRUCTION_SET
from targets.stacked3d.lowering import ACTIVATION_LEVELS, lower
from targets.stacked3d.report import report
from targets.target import Target

MODES = ("memory-on-logic", "logic-on-logic")


def check_options(hardware: Hardware) -> None:
    mode = hardware["mapping.mode"]
    if mode not in MODES:
        raise ProgramError(f"mapping.mode must be {' or '.join(MODES)}, got {mode!r}")
    keep = hardware.number("pruning.keep")
    if not 0 < keep <= 1:
        raise ProgramError(
            f"pruning.keep (the fraction p of heads kept) must be in (0, 1], got {keep}"
        )


def pipeline(variant: str, hardware: Hardware) -> str:
    """Heads onto head units and experts onto expert cores, then every op and buffer onto a
    tier (one tier in 2D; LIF on the top tier in 3D). Spikes stay bitmaps: they flow through
    the systolic array as bits."""
    check_options(hardware)
    tiers = 1 if variant == "2d" else hardware.integer("tiers.count")
    neuron_tier = min(hardware.integer("mapping.neuron_tier"), tiers - 1)
    heads, experts = hardware.integer("units.heads"), hardware.integer("units.experts")
    mode = hardware["mapping.mode"]
    return (
        f"fold-batchnorm,partition-heads{{units={heads}}},partition-experts{{units={experts}}},"
        f"tier-map{{tiers={tiers} mode={mode} neuron-tier={neuron_tier}}},canonicalize,dce"
    )


TARGET = Target(
    name="stacked3d",
    description="two-tier 3D MoE + multi-head-attention accelerator (hybrid-bonded tiers)",
    variants={
        "3d": "the design: two face-to-face tiers (mapping.mode memory-on-logic or logic-on-logic)",
        "2d": "baseline: the same units on one die, buffers beside the logic, planar wires",
    },
    hardware_file=Path(__file__).with_name("hardware.toml"),
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
    pipeline=pipeline,
    lower=lower,
    numerics={
        "exact": "the reference semantics (every head computed)",
        "pruned": "dynamic head pruning: keep the ceil(p H) heads with the most Q spikes "
        "(p = pruning.keep); pruned heads output zeros and skip their attention and their K and V "
        "projections",
    },
    report=report,
    compile_time=(
        "units.",
        "tiers.",
        "mapping.",
        "memory.double_buffer",
        "memory.weight_buffer.capacity",
    ),
)
