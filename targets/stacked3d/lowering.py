"""Lowering `spike` IR, partitioned and tier-mapped by the target's pipeline, to the stacked
design's units.

Each op runs on the unit the partitioning passes and `tier-map` chose (`spike.unit`,
`spike.tier`): linear layers on the systolic array, or on an expert core when they belong to an
expert; each head's attention on its head unit; neurons (and leaky integrators and thresholds)
on the neuron unit; routing, dispatch and merge on the router; the rest on the vector unit.
Every instruction records its unit's tier and where its operands and result are buffered: in
memory-on-logic the global buffers are on the top tier; in logic-on-logic each value stays
beside its producer and each weight beside its reader; in 2D everything is on one tier. Weights
come from DRAM into the weight buffer, resident for the run or streamed through it
(`targets.memory`).

Dynamic head pruning ranks the heads by their Q spikes, so the K and V projections of a
head-partitioned attention (the linear layer, and its neurons, feeding a split into one piece
per head) get the whole Q as a last operand (`prune_by`, with `head_count`), as the heads'
attention does: the instruction then waits for Q and, pruned, computes only the kept heads'
channels. A projection lowered before its Q (a model that computes K or V first) is not given
it, and is computed in full.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.computes import op_attributes
from compiler.dialects.spike.layers import ints
from compiler.dialects.spike.types import PlacementAttr, shape_of
from compiler.interpreters.reference import main_function
from compiler.ir.weights import WeightStore
from runtime.hardware import Hardware
from runtime.ops import SEMANTICS
from targets.backend import Lowered, OpcodeTable, on_unit
from targets.lowering import Lowering
from targets.memory import plan_weights
from targets.stacked3d.isa import ACTIVATION_LEVELS

NEURONS = on_unit("NEU", ("lif", "if", "leaky", "cuba_lif", "lif_box", "li", "threshold"))
"""Ops the neuron unit runs: the neurons, and the leaky integrator and the threshold (its
membrane lanes without their comparison, its comparison without a membrane). A delay line is
data movement, on the vector unit."""
ROUTING = {"route_topk": "RTR.TOPK", "dispatch": "RTR.DISPATCH", "combine": "RTR.COMBINE"}
ATTENTION = on_unit("ATT", ("ssa", "sdsa", "token_attention", "stochastic_attention"))
"""Attention, on the head units."""
VECTOR = on_unit("VEC", SEMANTICS)
"""Every other op, on the vector unit."""

OPCODES = OpcodeTable(
    {
        **{
            op: (opcode,)
            for table in (VECTOR, NEURONS, ATTENTION, ROUTING)
            for op, opcode in table.items()
        },
        "linear": ("EXP.LINEAR", "SYS.LINEAR"),
        "conv2d": ("SYS.CONV",),
    },
    transfers=("IO.LOAD_INPUT", "IO.LOAD_WEIGHTS", "IO.STORE_OUTPUT"),
)


@dataclass(frozen=True)
class Projection:
    """A K or V projection's op (its linear layer, or the neurons after it) that pruning can
    narrow to the kept heads' channels."""

    q: SSAValue
    """The whole Q the heads are ranked by."""
    heads: int
    after: Operation | None = None
    """The projection's linear layer, for its neurons: they are narrowed only if it is."""


def _sole_user(value: SSAValue) -> Operation | None:
    users = {use.operation for use in value.uses}
    return next(iter(users)) if len(users) == 1 else None


def _head_split(
    value: SSAValue, operand: int, q_split: spike.SplitOp, heads: int
) -> spike.SplitOp | None:
    """The split of `value`'s producer when it cuts its last axis into `heads` equal pieces,
    piece h read only as operand `operand` of head h's attention, whose Q is piece h of
    `q_split`; None otherwise."""
    split = value.owner
    if not isinstance(split, spike.SplitOp) or split is q_split or len(split.results) != heads:
        return None
    rank = len(shape_of(split.input))
    if split.axis.value.data != rank - 1 or len(set(ints(split.sizes))) != 1:
        return None
    for h, piece in enumerate(split.results):
        user = _sole_user(piece)
        head = user.attributes.get("spike.head") if user is not None else None
        if (
            user is None
            or user.name.removeprefix("spike.") not in ATTENTION
            or not isinstance(head, IntegerAttr)
            or head.value.data != h
            or len(user.operands) <= operand
            or user.operands[operand] is not piece
            or user.operands[0] is not q_split.results[h]
        ):
            return None
    return split


def projections(module: ModuleOp) -> dict[Operation, Projection]:
    """The K and V projections of every head-partitioned attention of `@main`: a linear layer
    (optionally followed by neurons) whose result is read only by a split into one piece per
    head along the channels, each piece read only by its head's attention."""
    found: dict[Operation, Projection] = {}
    for op in main_function(module).body.block.ops:
        name = op.name.removeprefix("spike.")
        q_split = op.operands[0].owner if name in ATTENTION and op.operands else None
        if not isinstance(op.attributes.get("spike.head"), IntegerAttr) or not isinstance(
            q_split, spike.SplitOp
        ):
            continue
        heads = len(q_split.results)
        q = q_split.input
        for operand in (1,) if name == "token_attention" else (1, 2):
            if len(op.operands) <= operand:
                continue
            split = _head_split(op.operands[operand], operand, q_split, heads)
            if split is None or _sole_user(split.input) is not split:
                continue
            producer = split.input.owner
            neurons = None
            if isinstance(producer, Operation) and producer.name.removeprefix("spike.") in NEURONS:
                neurons = producer
                producer = producer.operands[0].owner
                if _sole_user(neurons.operands[0]) is not neurons:
                    continue
            if not isinstance(producer, spike.LinearOp) or producer.output is q:
                continue
            found[producer] = Projection(q, heads)
            if neurons is not None:
                found[neurons] = Projection(q, heads, producer)
    return found


def _tier(op: Operation | None) -> int:
    attr = op.attributes.get("spike.tier") if op is not None else None
    return int(attr.value.data) if isinstance(attr, IntegerAttr) else 0


class StackedLowering(Lowering):
    opcodes = OPCODES

    def __init__(
        self, module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware
    ) -> None:
        super().__init__(module, weights, "stacked3d", variant)
        self.tiers = 1 if variant == "2d" else hardware.integer("tiers.count")
        self.memory_on_logic = hardware["mapping.mode"] == "memory-on-logic"
        self.globals = {
            op.sym_name.data: _tier(op) for op in module.ops if isinstance(op, spike.GlobalOp)
        }
        self.projections = projections(module)
        self.ranked: set[Operation] = set()
        """The projections given their Q."""

    def load_input(self, buffer: str) -> str:
        loaded = self.new_buffer(buffer[1:] + ".onchip", self.type_of(buffer))
        self.emit_raw("io", "IO.LOAD_INPUT", [buffer], [loaded], layer="(input)")
        return loaded

    def store_output(self, buffer: str, output: str) -> None:
        self.emit_raw("io", "IO.STORE_OUTPUT", [buffer], [output], layer="(output)")

    def fetch_constant(self, buffer: str) -> str:
        loaded = self.new_buffer(buffer[1:], self.type_of(buffer))
        self.emit_raw("io", "IO.LOAD_WEIGHTS", [buffer], [loaded], layer="(weights)")
        return loaded

    def _held(self, value: SSAValue, reader: int) -> int:
        """The tier of the buffer holding `value`."""
        if self.tiers == 1:
            return 0
        if self.memory_on_logic:
            return self.tiers - 1
        owner = value.owner
        if isinstance(owner, spike.WeightOp):
            return self.globals.get(owner.symbol, reader)
        return _tier(owner) if isinstance(owner, Operation) else 0

    def lower_op(self, op: Operation) -> None:
        name = op.name.removeprefix("spike.")
        operands: list[SSAValue] = list(op.operands)
        results: list[SSAValue] = list(op.results)
        attrs = op_attributes(op)
        tier = _tier(op) if self.tiers > 1 else 0
        placement = op.attributes.get("spike.unit")
        kind, index = (
            (placement.kind.data, placement.index.data)
            if isinstance(placement, PlacementAttr)
            else ("vector", 0)
        )
        if name in NEURONS:
            unit, opcode = "neuron", NEURONS[name]
        elif isinstance(op, spike.LinearOp) and kind == "expert":
            unit, opcode = f"expert{index}", "EXP.LINEAR"
        elif isinstance(op, spike.LinearOp):
            unit, opcode = "systolic", "SYS.LINEAR"
        elif isinstance(op, spike.Conv2dOp):
            unit, opcode = "systolic", "SYS.CONV"
        elif name in ATTENTION:
            unit, opcode = (f"head{index}" if kind == "head" else "head0"), ATTENTION[name]
            head = op.attributes.get("spike.head")
            q_source = operands[0].owner
            if isinstance(head, IntegerAttr) and isinstance(q_source, spike.SplitOp):
                attrs["head"] = int(head.value.data)
                attrs["head_count"] = len(q_source.results)
                operands.append(q_source.operands[0])  # the whole Q, for dynamic head pruning
        elif name in ROUTING:
            unit, opcode = "router", ROUTING[name]
        else:
            unit, opcode = "vector", VECTOR[name]
        projection = self.projections.get(op)
        if (
            projection is not None
            and projection.q in self.names
            and (projection.after is None or projection.after in self.ranked)
        ):
            attrs["prune_by"] = len(operands)
            attrs["head_count"] = projection.heads
            operands.append(projection.q)  # the whole Q, for dynamic head pruning
            self.ranked.add(op)
        output_tier = (self.tiers - 1) if (self.tiers > 1 and self.memory_on_logic) else tier
        attrs["tier"] = tier
        attrs["input_tiers"] = [self._held(v, tier) for v in operands]
        attrs["output_tier"] = output_tier
        self.emit(f"t{tier}.{unit}", opcode, operands, results, attrs)


def lower(module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware) -> Lowered:
    lowered = StackedLowering(module, weights, variant, hardware).run()
    plan = plan_weights(
        lowered.program,
        lowered.constants,
        hardware,
        "weight_buffer",
        hardware.integer("precision.weight_bits"),
        "IO.LOAD_WEIGHTS",
        ACTIVATION_LEVELS,
    )
    lowered.weight_plan = plan.summary()
    return lowered
