"""Where ops and buffers sit in a stacked design, for `tier-map` and for the passes that rewrite
a module after it.

`place` puts every compute op on a tier and a unit and every weight read on a tier, and records
the bytes that cross tiers; `tier-map` calls it on a whole module. A pass that adds ops to a
tier-mapped module (partitioning attention or experts, encoding spikes) calls `refresh`: its new
ops are placed as `tier-map` would place them, given the placement of the rest, and the
crossings and the module's summary are recorded anew, so a module's tiers and bytes are true
whatever order the passes ran in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.utils.exceptions import PassFailedException

from compiler.dialects import spike
from compiler.dialects.spike.neurons import NeuronOp
from compiler.dialects.spike.types import (
    DYNAMIC,
    EncodedSpikesType,
    PlacementAttr,
    SpikeTrainType,
)

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

SUMMARY = "spike.tier_map"
"""The module attribute holding the placement's options and its total crossing bytes."""


@dataclass(frozen=True)
class TierOptions:
    """How a module is placed (`tier-map`'s options), kept in its summary for `refresh`."""

    tiers: int = 2
    mode: str = "memory-on-logic"
    neuron_tier: int = -1
    unit_kinds: tuple[str, ...] = ()
    spike_rate: float = 0.15
    activation_bits: int = 16
    weight_bits: int = 8

    def check(self) -> None:
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
        kinds(self.unit_kinds)

    def summary(self, crossing: int) -> DictionaryAttr:
        entries: dict[str, Attribute] = {
            "mode": StringAttr(self.mode),
            "tiers": IntegerAttr(self.tiers, i64),
            "cross_tier_bytes": IntegerAttr(crossing, i64),
            "neuron_tier": IntegerAttr(self.neuron_tier, i64),
            "spike_rate": FloatAttr(self.spike_rate, f64),
            "activation_bits": IntegerAttr(self.activation_bits, i64),
            "weight_bits": IntegerAttr(self.weight_bits, i64),
        }
        if self.unit_kinds:
            entries["unit_kinds"] = ArrayAttr([StringAttr(k) for k in self.unit_kinds])
        return DictionaryAttr(entries)

    @staticmethod
    def of(module: ModuleOp) -> TierOptions | None:
        """The options a module was placed with (None: it was not; a summary that does not
        hold them, e.g. hand-written, gives tier-map's defaults for what it lacks)."""
        summary = module.attributes.get(SUMMARY)
        if not isinstance(summary, DictionaryAttr):
            return None
        found = summary.data
        defaults = TierOptions()

        def number(key: str, default: float) -> float:
            attr = found.get(key)
            return attr.value.data if isinstance(attr, IntegerAttr | FloatAttr) else default

        mode = found.get("mode")
        unit_kinds = found.get("unit_kinds")
        return TierOptions(
            tiers=int(number("tiers", defaults.tiers)),
            mode=mode.data if isinstance(mode, StringAttr) else defaults.mode,
            neuron_tier=int(number("neuron_tier", defaults.neuron_tier)),
            unit_kinds=tuple(
                k.data
                for k in (unit_kinds.data if isinstance(unit_kinds, ArrayAttr) else ())
                if isinstance(k, StringAttr)
            ),
            spike_rate=float(number("spike_rate", defaults.spike_rate)),
            activation_bits=int(number("activation_bits", defaults.activation_bits)),
            weight_bits=int(number("weight_bits", defaults.weight_bits)),
        )


def kinds(overrides: Iterable[str]) -> dict[str, str]:
    table = dict(DEFAULT_KINDS)
    for entry in overrides:
        if ":" not in entry:
            raise PassFailedException(
                f'tier-map: unit-kinds entry \'{entry}\' must be "op:kind" (e.g. "linear:systolic")'
            )
        op_name, kind = entry.split(":", 1)
        table[op_name.removeprefix("spike.")] = kind
    return table


def compute_ops(module: ModuleOp) -> list[Operation]:
    return [
        op
        for op in module.walk()
        if op.dialect_name() == "spike"
        and not isinstance(op, (*STRUCTURAL, spike.GlobalOp, spike.MoEOp))
    ]


def _tier(op: Operation) -> int | None:
    attr = op.attributes.get("spike.tier")
    return int(attr.value.data) if isinstance(attr, IntegerAttr) else None


@dataclass
class Placer:
    options: TierOptions
    tier_of: dict[Operation, int] = field(default_factory=dict)
    load: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.kinds = kinds(self.options.unit_kinds)
        self.load = [0.0] * self.options.tiers

    def value_bytes(self, value: SSAValue) -> int:
        t = value.type
        shape = [1 if d == DYNAMIC else d for d in getattr(t, "get_shape", lambda: ())()]
        elements = math.prod(shape)
        if isinstance(t, EncodedSpikesType):
            positions = math.prod(t.positions)
            address_bits = max(1, math.ceil(math.log2(max(positions, 2))))
            rows = elements // max(positions, 1)
            rate = self.options.spike_rate
            return math.ceil((rate * elements * address_bits + 32 * rows) / 8)
        if isinstance(t, SpikeTrainType):
            return math.ceil(elements / 8)
        weight = isinstance(value.owner, spike.WeightOp)
        bits = self.options.weight_bits if weight else self.options.activation_bits
        return math.ceil(elements * bits / 8)

    def tier_for(self, op: Operation) -> int:
        tiers = self.options.tiers
        if tiers == 1:
            return 0
        if isinstance(op, NEURON_UNIT_OPS) and self.options.neuron_tier >= 0:
            return self.options.neuron_tier
        if self.options.mode == "memory-on-logic":
            return 0
        unit = op.attributes.get("spike.unit")
        if isinstance(unit, PlacementAttr):
            return unit.index.data % tiers
        incoming = [0] * tiers
        for operand in op.operands:
            producer = operand.owner
            if isinstance(producer, Operation) and producer in self.tier_of:
                if isinstance(producer, spike.WeightOp):
                    continue  # weights follow their reader in logic-on-logic
                for t in range(tiers):
                    if t != self.tier_of[producer]:
                        incoming[t] += self.value_bytes(operand)
        return min(range(tiers), key=lambda t: (incoming[t], self.load[t], t))

    def keep(self, op: Operation, tier: int) -> None:
        self.tier_of[op] = tier
        self.load[tier] += sum(self.value_bytes(r) for r in op.results) or 1

    def give_unit(self, op: Operation) -> None:
        """The op's unit kind, unless a partitioning pass placed it."""
        if "spike.unit" not in op.attributes:
            kind = self.kinds.get(op.name.removeprefix("spike."), "vector")
            op.attributes["spike.unit"] = PlacementAttr(kind, 0)

    def place(self, op: Operation) -> None:
        tier = self.tier_for(op)
        self.keep(op, tier)
        op.attributes["spike.tier"] = IntegerAttr(tier, i64)
        self.give_unit(op)

    def place_weights(self, module: ModuleOp, keep_placed: bool) -> None:
        """Each global (and each read of it) above, or beside, its first reader; with
        `keep_placed`, a global or read that has a tier keeps it."""
        first_reader: dict[str, int] = {}
        if keep_placed:
            for op in module.ops:
                if isinstance(op, spike.GlobalOp) and (tier := _tier(op)) is not None:
                    first_reader[op.sym_name.data] = tier
        for op in module.walk():
            if not isinstance(op, spike.WeightOp):
                continue
            if keep_placed and (placed := _tier(op)) is not None:
                self.tier_of[op] = placed
                first_reader.setdefault(op.symbol, placed)
                continue
            readers = [u.operation for u in op.result.uses if u.operation in self.tier_of]
            reader_tier = self.tier_of[readers[0]] if readers else 0
            if self.options.mode == "memory-on-logic":
                tier = min(reader_tier + 1, self.options.tiers - 1)
            else:
                tier = reader_tier
            tier = first_reader.setdefault(op.symbol, tier)
            self.tier_of[op] = tier
            op.attributes["spike.tier"] = IntegerAttr(tier, i64)
        for op in module.ops:
            if isinstance(op, spike.GlobalOp) and op.sym_name.data in first_reader:
                op.attributes["spike.tier"] = IntegerAttr(first_reader[op.sym_name.data], i64)

    def record_crossings(self) -> int:
        """Each op's bytes to other tiers (`spike.cross_tier_bytes`, replacing any recorded
        before), and their total."""
        total = 0
        for op, tier in self.tier_of.items():
            op.attributes.pop("spike.cross_tier_bytes", None)
            volume = 0
            for result in op.results:
                destinations = {
                    self.tier_of[u.operation]
                    for u in result.uses
                    if u.operation in self.tier_of and self.tier_of[u.operation] != tier
                }
                volume += self.value_bytes(result) * len(destinations)
            if volume:
                op.attributes["spike.cross_tier_bytes"] = IntegerAttr(volume, i64)
                total += volume
        return total


def place(module: ModuleOp, options: TierOptions, keep_placed: bool = False) -> None:
    """Place the module's ops and weights (with `keep_placed`, only those without a tier), then
    record every crossing and the summary."""
    placer = Placer(options)
    for op in compute_ops(module):
        tier = _tier(op) if keep_placed else None
        if tier is not None and 0 <= tier < options.tiers:
            placer.keep(op, tier)
            placer.give_unit(op)
        else:
            placer.place(op)
    placer.place_weights(module, keep_placed)
    module.attributes[SUMMARY] = options.summary(placer.record_crossings())


def refresh(module: ModuleOp) -> None:
    """After a pass rewrote a tier-mapped module: its new ops placed, its crossings recomputed
    (nothing happens to a module `tier-map` has not placed)."""
    options = TierOptions.of(module)
    if options is not None:
        place(module, options, keep_placed=True)
