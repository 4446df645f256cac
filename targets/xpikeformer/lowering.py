"""Lowering `spike` IR to the xpikeformer design and its two digital baselines.

`xpikeformer`: every linear layer and convolution onto crossbars (`targets.xpikeformer.mapping`
places its weights, and the plan travels as instruction attributes); stochastic attention onto
the SSA engine; everything else (neurons, SDSA, QKFormer's token attention, layer norms, ...)
onto the digital unit. `digital-snn`: linear layers and convolutions onto processing elements
(accumulate per spike, MACs on reals), stochastic attention onto counters. `digital-ann`: every
op as its ANN counterpart. The model's input comes from DRAM and its outputs go back. Weights
on crossbars are programmed before the run; every other constant (all the weights of the
digital baselines) comes from DRAM, resident for the run or streamed (`targets.memory`).
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.computes import op_attributes
from compiler.dialects.spike.types import is_spike
from compiler.ir.locations import layer_name
from compiler.ir.weights import WeightStore
from runtime.hardware import Hardware
from runtime.ops import SEMANTICS
from targets.backend import Lowered, OpcodeTable, on_unit
from targets.lowering import Lowering
from targets.memory import plan_weights
from targets.workload import integer
from targets.xpikeformer.isa import ACTIVATION_LEVELS, ANN_MAC_OPS
from targets.xpikeformer.mapping import CrossbarMap

ANN = on_unit("ANN", SEMANTICS)
"""`digital-ann`: every op as its ANN counterpart."""
DIGITAL = on_unit("DIG", SEMANTICS)
"""Every op without a unit of its own, on the digital unit."""

OPCODES = OpcodeTable(
    {
        **{op: (ANN[op], DIGITAL[op]) for op in SEMANTICS},
        "linear": (ANN["linear"], "AIMC.LINEAR", "PE.ACC", "PE.MAC"),
        "conv2d": (ANN["conv2d"], "AIMC.CONV", "PE.CONV_AC", "PE.CONV_MAC"),
        "stochastic_attention": (ANN["stochastic_attention"], "SSA.ATTN", "DATT.SSA"),
    },
    transfers=("IO.LOAD_INPUT", "IO.LOAD_WEIGHTS", "IO.LOAD_CONSTANTS", "IO.STORE_OUTPUT"),
)


class XpikeformerLowering(Lowering):
    opcodes = OPCODES

    def __init__(
        self, module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware
    ) -> None:
        super().__init__(module, weights, "xpikeformer", variant)
        self.crossbars = CrossbarMap(hardware) if variant == "xpikeformer" else None
        self._in_place = False
        """The constants being named are not loaded (see `fetch_constant`)."""

    def load_input(self, buffer: str) -> str:
        loaded = self.new_buffer(buffer[1:] + ".onchip", self.type_of(buffer))
        self.emit_raw("io", "IO.LOAD_INPUT", [buffer], [loaded], layer="(input)")
        return loaded

    def store_output(self, buffer: str, output: str) -> None:
        self.emit_raw("io", "IO.STORE_OUTPUT", [buffer], [output], layer="(output)")

    def fetch_constant(self, buffer: str) -> str:
        """Weights on crossbars are programmed before the run, and the random numbers of
        stochastic attention are drawn by the attention's own generators: both are read in
        place. Every other constant comes from DRAM: into the weight SRAM (digital baselines)
        or the SRAM."""
        if self._in_place:
            return buffer
        loaded = self.new_buffer(buffer[1:], self.type_of(buffer))
        self.emit_raw("io", self.load_opcode, [buffer], [loaded], layer="(weights)")
        return loaded

    @property
    def load_opcode(self) -> str:
        return "IO.LOAD_CONSTANTS" if self.crossbars is not None else "IO.LOAD_WEIGHTS"

    def _named_in_place(self, values: list[SSAValue]) -> None:
        self._in_place = True
        for value in values:
            if isinstance(value.owner, spike.WeightOp | spike.ConstantOp):
                self.name(value)
        self._in_place = False

    def lower_op(self, op: Operation) -> None:
        name = op.name.removeprefix("spike.")
        operands: list[SSAValue] = list(op.operands)
        results: list[SSAValue] = list(op.results)
        attrs = op_attributes(op)
        layer = (layer_name(op) if results else None) or name
        spikes_in = bool(operands) and is_spike(operands[0])
        if isinstance(op, spike.StochasticAttentionOp):
            self._named_in_place(operands[3:])  # its random numbers: drawn on chip (or none)
        if self.variant == "digital-ann":
            unit = "mac" if name in ANN_MAC_OPS else "dig"
            self.emit(unit, ANN[name], operands, results, attrs)
        elif (
            isinstance(op, spike.LinearOp | spike.Conv2dOp)
            and self.crossbars is not None
            and isinstance(operands[1].owner, spike.WeightOp | spike.ConstantOp)
        ):
            weight = operands[1].type.get_shape()  # type: ignore[attr-defined]
            if isinstance(op, spike.LinearOp):
                rows, columns = weight[::-1] if attrs.get("transpose_weight") else weight
                plan = self.crossbars.place(layer or name, rows, columns)
                opcode = "AIMC.LINEAR"
            else:
                c_out, cg, kh, kw = weight
                group = integer(attrs, "group")
                plan = self.crossbars.place(layer or name, cg * kh * kw, c_out // group, group)
                opcode = "AIMC.CONV"
            self._named_in_place(operands[1:2])  # the weight, on its crossbars
            self.emit("aimc", opcode, operands, results, {**attrs, **plan.attrs()})
        elif isinstance(op, spike.LinearOp):
            self.emit("pe", "PE.ACC" if spikes_in else "PE.MAC", operands, results, attrs)
        elif isinstance(op, spike.Conv2dOp):
            opcode = "PE.CONV_AC" if spikes_in else "PE.CONV_MAC"
            self.emit("pe", opcode, operands, results, attrs)
        elif isinstance(op, spike.StochasticAttentionOp):
            unit, opcode = ("ssa", "SSA.ATTN") if self.crossbars else ("datt", "DATT.SSA")
            self.emit(unit, opcode, operands, results, attrs)
        else:
            self.emit("dig", DIGITAL[name], operands, results, attrs)


def lower(module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware) -> Lowered:
    lowering = XpikeformerLowering(module, weights, variant, hardware)
    lowered = lowering.run()
    if lowering.crossbars is not None:
        lowering.crossbars.check()
        lowered.extra = lowering.crossbars.summary()
    plan = plan_weights(
        lowered.program,
        lowered.constants,
        hardware,
        "sram" if lowering.crossbars is not None else "weight_sram",
        hardware.integer("precision.weight_bits"),
        lowering.load_opcode,
        ACTIVATION_LEVELS,
    )
    lowered.weight_plan = plan.summary()
    return lowered
