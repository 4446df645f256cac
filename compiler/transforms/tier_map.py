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
`spike.tier_map`. Placement never changes values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriteWalker
from xdsl.utils.exceptions import PassFailedException

from compiler.dialects import spike
from compiler.dialects.spike.neurons import NeuronOp
from compiler.dialects.spike.types import (
    DYNAMIC,
    EncodedSpikesType,
    PlacementAttr,
    SpikeTrainType,
)
from compiler.transforms.partition_experts import PartitionMoE

MODES = ("memory-on-logic", "logic-on-logic")

DEFAULT_KINDS = {
    "linear": "mlp",
    "conv2d": "mlp",
    "matmul": "attention",
    "ssa": "attention",
    "sdsa": "attention",
    "token_attention": "attention",
    "stochastic_attention": "attention",
    "lif": "neuron",
    "if": "neuron",
    "leaky": "neuron",
    "cuba_lif": "neuron",
    "lif_box": "neuron",
    "li": "neuron",
    "threshold": "neuron",
    "bernoulli": "neuron",
    "route_topk": "router",
    "encode": "encoder",
    "decode": "encoder",
}
"""Unit kind of each op; anything else (e.g. a delay line, data movement) runs on the `vector`
unit. The leaky integrator and the threshold are the neuron unit's: a membrane that does not
fire, a comparison without a membrane."""

NEURON_UNIT_OPS = (NeuronOp, spike.LIOp, spike.ThresholdOp)
"""Ops `neuron-tier` pins: the neurons, and the other ops a neuron unit runs."""

STRUCTURAL = (spike.WeightOp, spike.ConstantOp, spike.YieldOp, func.ReturnOp)


@dataclass(frozen=True)
class Sizes:
    spike_rate: float
    activation_bits: int
    weight_bits: int

    def value_bytes(self, value: SSAValue) -> int:
        t = value.type
        shape = [1 if d == DYNAMIC else d for d in getattr(t, "get_shape", lambda: ())()]
        elements = math.prod(shape)
        if isinstance(t, EncodedSpikesType):
            positions = math.prod(t.positions)
            address_bits = max(1, math.ceil(math.log2(max(positions, 2))))
            rows = elements // max(positions, 1)
            return math.ceil((self.spike_rate * elements * address_bits + 32 * rows) / 8)
        if isinstance(t, SpikeTrainType):
            return math.ceil(elements / 8)
        bits = self.weight_bits if isinstance(value.owner, spike.WeightOp) else self.activation_bits
        return math.ceil(elements * bits / 8)


def _kind_table(overrides: Iterable[str]) -> dict[str, str]:
    table = dict(DEFAULT_KINDS)
    for entry in overrides:
        if ":" not in entry:
            raise PassFailedException(
                f'tier-map: unit-kinds entry \'{entry}\' must be "op:kind" (e.g. "linear:systolic")'
            )
        op_name, kind = entry.split(":", 1)
        table[op_name.removeprefix("spike.")] = kind
    return table


def _compute_ops(module: ModuleOp) -> list[Operation]:
    return [
        op
        for op in module.walk()
        if op.dialect_name() == "spike"
        and not isinstance(op, (*STRUCTURAL, spike.GlobalOp, spike.MoEOp))
    ]


@dataclass
class Placer:
    tiers: int
    mode: str
    neuron_tier: int
    sizes: Sizes
    kinds: dict[str, str]

    def __post_init__(self) -> None:
        self.tier_of: dict[Operation, int] = {}
        self.load = [0.0] * self.tiers

    def tier_for(self, op: Operation) -> int:
        if self.tiers == 1:
            return 0
        if isinstance(op, NEURON_UNIT_OPS) and self.neuron_tier >= 0:
            return self.neuron_tier
        if self.mode == "memory-on-logic":
            return 0
        unit = op.attributes.get("spike.unit")
        if isinstance(unit, PlacementAttr):
            return unit.index.data % self.tiers
        incoming = [0] * self.tiers
        for operand in op.operands:
            producer = operand.owner
            if isinstance(producer, Operation) and producer in self.tier_of:
                if isinstance(producer, spike.WeightOp):
                    continue  # weights follow their reader in logic-on-logic
                for t in range(self.tiers):
                    if t != self.tier_of[producer]:
                        incoming[t] += self.sizes.value_bytes(operand)
        return min(range(self.tiers), key=lambda t: (incoming[t], self.load[t], t))

    def place(self, op: Operation) -> None:
        tier = self.tier_for(op)
        self.tier_of[op] = tier
        self.load[tier] += sum(self.sizes.value_bytes(r) for r in op.results) or 1
        op.attributes["spike.tier"] = IntegerAttr(tier, i64)
        if "spike.unit" not in op.attributes:
            kind = self.kinds.get(op.name.removeprefix("spike."), "vector")
            op.attributes["spike.unit"] = PlacementAttr(kind, 0)


def _weight_tiers(module: ModuleOp, placer: Placer) -> None:
    """Each global (and each read of it) sits above, or beside, its first reader."""
    first_reader: dict[str, int] = {}
    for op in module.walk():
        if not isinstance(op, spike.WeightOp):
            continue
        readers = [u.operation for u in op.result.uses if u.operation in placer.tier_of]
        reader_tier = placer.tier_of[readers[0]] if readers else 0
        if placer.mode == "memory-on-logic":
            tier = min(reader_tier + 1, placer.tiers - 1)
        else:
            tier = reader_tier
        tier = first_reader.setdefault(op.symbol, tier)
        placer.tier_of[op] = tier
        op.attributes["spike.tier"] = IntegerAttr(tier, i64)
    for op in module.ops:
        if isinstance(op, spike.GlobalOp) and op.sym_name.data in first_reader:
            op.attributes["spike.tier"] = IntegerAttr(first_reader[op.sym_name.data], i64)


def _record_crossings(module: ModuleOp, placer: Placer) -> int:
    total = 0
    for op, tier in placer.tier_of.items():
        volume = 0
        for result in op.results:
            destinations = {
                placer.tier_of[u.operation]
                for u in result.uses
                if u.operation in placer.tier_of and placer.tier_of[u.operation] != tier
            }
            volume += placer.sizes.value_bytes(result) * len(destinations)
        if volume:
            op.attributes["spike.cross_tier_bytes"] = IntegerAttr(volume, i64)
            total += volume
    return total


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

    tiers: int = 2
    """Number of tiers; 1 is a planar design."""

    mode: str = "memory-on-logic"
    """memory-on-logic or logic-on-logic."""

    neuron_tier: int = -1
    """Tier of every neuron (-1: wherever the mode puts it)."""

    unit_kinds: tuple[str, ...] = ()
    """op:kind pairs overriding the default unit kinds."""

    spike_rate: float = 0.15
    """Expected firing rate, for the size of encoded spikes that cross tiers."""

    activation_bits: int = 16
    """Bits of a real activation (accumulators, membranes)."""

    weight_bits: int = 8
    """Bits of a weight."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.tiers < 1:
            raise PassFailedException(f"tier-map: tiers must be >= 1, got {self.tiers}")
        if self.mode not in MODES:
            raise PassFailedException(
                f"tier-map: mode must be one of {', '.join(MODES)}, got '{self.mode}'"
            )
        if self.neuron_tier >= self.tiers or self.neuron_tier < -1:
            raise PassFailedException(
                f"tier-map: neuron-tier {self.neuron_tier} is not a tier of {self.tiers}"
            )
        if not 0.0 <= self.spike_rate <= 1.0:
            raise PassFailedException("tier-map: spike-rate must be in [0, 1]")
        if self.mode == "logic-on-logic" and self.tiers > 1:
            _split_experts(op, self.tiers)
        sizes = Sizes(self.spike_rate, self.activation_bits, self.weight_bits)
        kinds = _kind_table(self.unit_kinds)
        placer = Placer(self.tiers, self.mode, self.neuron_tier, sizes, kinds)
        for compute in _compute_ops(op):
            placer.place(compute)
        _weight_tiers(op, placer)
        crossing = _record_crossings(op, placer)
        summary: dict[str, Attribute] = {
            "mode": StringAttr(self.mode),
            "tiers": IntegerAttr(self.tiers, i64),
            "cross_tier_bytes": IntegerAttr(crossing, i64),
        }
        op.attributes["spike.tier_map"] = DictionaryAttr(summary)
