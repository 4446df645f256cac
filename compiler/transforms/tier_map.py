"""tier-map: place every computation and buffer on a tier (and unit) of a stacked design.

    tier-map{tiers=2 mode=memory-on-logic neuron-tier=1}

Every compute op gets `spike.tier = t` and, unless a partitioning pass placed it, a unit
`#spike.unit<kind 0>` whose kind comes from the op (`unit-kinds` overrides the defaults:
`unit-kinds="linear:systolic","ssa:attention"`). Every `spike.global` (weight buffer) gets a
tier; an activation's buffer lives on its producer's tier. Modes:

- `memory-on-logic`: logic on tier 0, each weight buffer on the tier above the logic that reads it.
- `logic-on-logic`: compute on every tier. Head and expert units alternate over the tiers, so
  that parallel work is balanced; other ops go, in program order, to the tier that receives the
  fewest bytes from their operands (ties: the less loaded tier). Weights sit beside their reader.
  A `spike.moe` that `partition-experts` has not split is split here, with one expert unit per
  tier (`partition-experts{units=<tiers>}`): its regions would hide the experts from placement.

`neuron-tier` pins neurons (and leaky integrators and thresholds, which run on the neuron unit)
to a tier (e.g. LIF on the top tier, as in the 3D design). `tiers=1` is the planar mapping. Each
op whose result (or weight read) crosses tiers records the expected bytes per inference as
`spike.cross_tier_bytes` (batch 1; spikes 1 bit, or addresses at `spike-rate` for encoded
spikes; reals `activation-bits`; weights `weight-bits`), and the module gets a summary
`spike.tier_map` with the options, so that a pass that adds ops after it places them alike
(`placement.refresh`). Placement never changes values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriteWalker

from compiler.transforms.partition_experts import PartitionMoE
from compiler.transforms.placement import TierOptions, place


def _split_experts(module: ModuleOp, tiers: int) -> None:
    """Split each `spike.moe` left whole as `partition-experts{units=<tiers>}` does: its regions
    would hide the experts from a placement that spreads parallel work over the tiers, so each
    tier gets an expert unit, and the experts go round-robin over them."""
    PatternRewriteWalker(
        PartitionMoE(tiers, "round-robin"), apply_recursively=False
    ).rewrite_module(module)


@dataclass(frozen=True)
class TierMapPass(ModulePass):
    """Place ops and buffers on the tiers of a stacked design (see the module doc)."""

    name = "tier-map"

    tiers: int = TierOptions.tiers
    """Number of tiers; 1 is a planar design."""

    mode: str = TierOptions.mode
    """memory-on-logic or logic-on-logic."""

    neuron_tier: int = TierOptions.neuron_tier
    """Tier of every neuron (-1: wherever the mode puts it)."""

    unit_kinds: tuple[str, ...] = TierOptions.unit_kinds
    """op:kind pairs overriding the default unit kinds."""

    spike_rate: float = TierOptions.spike_rate
    """Expected firing rate, for the size of encoded spikes that cross tiers."""

    activation_bits: int = TierOptions.activation_bits
    """Bits of a real activation (accumulators, membranes)."""

    weight_bits: int = TierOptions.weight_bits
    """Bits of a weight."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        options = TierOptions(**{f.name: getattr(self, f.name) for f in fields(TierOptions)})
        options.check()
        if self.mode == "logic-on-logic" and self.tiers > 1:
            _split_experts(op, self.tiers)
        place(op, options)
