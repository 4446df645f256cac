"""Lowering `spike` IR, partitioned and tier-mapped by the target's pipeline, to the stacked
design's units.

Each op runs on the unit the partitioning passes and `tier-map` chose (`spike.unit`,
`spike.tier`): linear layers on the systolic array, or on an expert core when they belong to an
expert; each head's attention on its head unit; neurons on the neuron unit; routing, dispatch
and merge on the router; the rest on the vector unit. Every instruction records its unit's tier
and where its operands and result are buffered: in memory-on-logic the global buffers are on
the top tier; in logic-on-logic each value stays beside its producer and each weight beside its
reader; in 2D everything is on one tier. Weights come from DRAM into the weight buffer, resident
for the run or streamed through it (`targets.memory`).
"""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.types import PlacementAttr
from compiler.weights import WeightStore
from runtime.hardware import Hardware
from targets.lowering import Lowering
from targets.memory import plan_weights
from targets.target import Lowered

NEURONS = {
    spike.LIFOp: "NEU.LIF",
    spike.IFOp: "NEU.IF",
    spike.LeakyOp: "NEU.LEAKY",
    spike.CubaLIFOp: "NEU.CUBA_LIF",
}
ROUTING = {"route_topk": "RTR.TOPK", "dispatch": "RTR.DISPATCH", "combine": "RTR.COMBINE"}
ATTENTION = ("ssa", "sdsa", "token_attention", "stochastic_attention")


def _tier(op: Operation | None) -> int:
    attr = op.attributes.get("spike.tier") if op is not None else None
    return int(attr.value.data) if isinstance(attr, IntegerAttr) else 0


class StackedLowering(Lowering):
    def __init__(
        self, module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware
    ) -> None:
        super().__init__(module, weights, "stacked3d", variant)
        self.tiers = 1 if variant == "2d" else hardware.integer("tiers.count")
        self.memory_on_logic = hardware["mapping.mode"] == "memory-on-logic"
        self.globals = {
            op.sym_name.data: _tier(op) for op in module.ops if isinstance(op, spike.GlobalOp)
        }

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
        attrs = self.attrs(op)
        tier = _tier(op) if self.tiers > 1 else 0
        placement = op.attributes.get("spike.unit")
        kind, index = (
            (placement.kind.data, placement.index.data)
            if isinstance(placement, PlacementAttr)
            else ("vector", 0)
        )
        if type(op) in NEURONS:
            unit, opcode = "neuron", NEURONS[type(op)]
        elif isinstance(op, spike.LinearOp) and kind == "expert":
            unit, opcode = f"expert{index}", "EXP.LINEAR"
        elif isinstance(op, spike.LinearOp):
            unit, opcode = "systolic", "SYS.LINEAR"
        elif isinstance(op, spike.Conv2dOp):
            unit, opcode = "systolic", "SYS.CONV"
        elif name in ATTENTION:
            unit, opcode = (f"head{index}" if kind == "head" else "head0"), f"ATT.{name.upper()}"
            head = op.attributes.get("spike.head")
            q_source = operands[0].owner
            if isinstance(head, IntegerAttr) and isinstance(q_source, spike.SplitOp):
                attrs["head"] = int(head.value.data)
                attrs["head_count"] = len(q_source.results)
                operands.append(q_source.operands[0])  # the whole Q, for dynamic head pruning
        elif name in ROUTING:
            unit, opcode = "router", ROUTING[name]
        else:
            unit, opcode = "vector", f"VEC.{name.upper()}"
        output_tier = (self.tiers - 1) if (self.tiers > 1 and self.memory_on_logic) else tier
        attrs["tier"] = tier
        attrs["input_tiers"] = [self._held(v, tier) for v in operands]
        attrs["output_tier"] = output_tier
        self.emit(f"t{tier}.{unit}", opcode, operands, results, attrs)


ACTIVATION_LEVELS = {
    "f32": "activation_buffer",
    "spk": "activation_buffer",
    "addr": "activation_buffer",
}
"""Where an activation of each buffer kind is held."""


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
