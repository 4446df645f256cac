"""The stacked design's compile side: its pass pipeline (head and expert partitioning, tier
mapping) and its lowering."""

from __future__ import annotations

from runtime.errors import ProgramError
from runtime.hardware import Hardware
from targets.backend import Backend
from targets.stacked3d.lowering import OPCODES, lower

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


BACKEND = Backend(pipeline=pipeline, lower=lower, opcodes=OPCODES)
