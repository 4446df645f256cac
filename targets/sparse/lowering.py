"""Lowering `spike` IR to the sparse design's units.

Neurons go to the spike encoder, linear layers on spikes to the spike linear unit, convolutions
to the SPS tile engine (MACs on reals, accumulates on spikes), max pools of spikes to the spike
maxpool unit, SDSA and token attention to the spike mask-add module and adds to the residual
adder; every other op runs on the fallback vector unit. The maxpool and mask-add units write
addresses themselves, so a `spike.encode` of their result is fused into them. Weights and the
model's input come from DRAM and the outputs go back to it; the weights are planned
(`targets.memory`): resident in the weight SRAM for the run, or streamed through it.
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
from targets.sparse.isa import ACTIVATION_LEVELS

NEURONS = on_unit("ENC", ("lif", "if", "leaky", "cuba_lif", "lif_box", "li", "threshold"))
"""Ops the spike encoder runs: the neurons, and the leaky integrator (its membrane lanes, the
comparison unused) and the threshold (the comparison alone)."""
VECTOR = on_unit("VEC", SEMANTICS)
"""Every op can run on the fallback vector unit."""

OPCODES = OpcodeTable(
    {
        **{op: (opcode,) for op, opcode in VECTOR.items()},
        **{op: (opcode,) for op, opcode in NEURONS.items()},
        "linear": ("SLU.ACC", "TILE.LINEAR"),
        "conv2d": ("TILE.CONV_AC", "TILE.CONV_MAC"),
        "maxpool": ("SMP.OR", "VEC.MAXPOOL"),
        "sdsa": ("SMA.SDSA",),
        "token_attention": ("SMA.TOKEN_ATTENTION",),
        "add": ("RES.ADD",),
        "encode": ("ENC.PACK",),
        "decode": ("ENC.UNPACK",),
    },
    transfers=("DMA.LOAD_INPUT", "DMA.LOAD_WEIGHTS", "DMA.STORE_OUTPUT"),
)


class SparseLowering(Lowering):
    opcodes = OPCODES

    def load_input(self, buffer: str) -> str:
        loaded = self.new_buffer(buffer[1:] + ".onchip", self.type_of(buffer))
        self.emit_raw("dma", "DMA.LOAD_INPUT", [buffer], [loaded], layer="(input)")
        return loaded

    def fetch_constant(self, buffer: str) -> str:
        loaded = self.new_buffer(buffer[1:], self.type_of(buffer))
        self.emit_raw("dma", "DMA.LOAD_WEIGHTS", [buffer], [loaded], layer="(weights)")
        return loaded

    def store_output(self, buffer: str, output: str) -> None:
        self.emit_raw("dma", "DMA.STORE_OUTPUT", [buffer], [output], layer="(output)")

    def _encoded_result(self, op: Operation) -> list[SSAValue]:
        """The op's result, or the addresses of a `spike.encode` that is its only use (fused)."""
        (result,) = op.results
        uses = list(result.uses)
        if len(uses) == 1 and isinstance(uses[0].operation, spike.EncodeOp):
            encode = uses[0].operation
            self.fused.add(encode)
            return [encode.results[0]]
        return [result]

    def lower_op(self, op: Operation) -> None:
        name = op.name.removeprefix("spike.")
        operands = list(op.operands)
        attrs = op_attributes(op)
        spikes_in = bool(operands) and is_spike(operands[0])
        if name in NEURONS:
            self.emit("enc", NEURONS[name], operands, list(op.results), attrs)
        elif isinstance(op, spike.LinearOp):
            unit, opcode = ("slu", "SLU.ACC") if spikes_in else ("tile", "TILE.LINEAR")
            self.emit(unit, opcode, operands, list(op.results), attrs)
        elif isinstance(op, spike.Conv2dOp):
            opcode = "TILE.CONV_AC" if spikes_in else "TILE.CONV_MAC"
            self.emit("tile", opcode, operands, list(op.results), attrs)
        elif isinstance(op, spike.MaxPoolOp) and spikes_in:
            self.emit("smp", "SMP.OR", operands, self._encoded_result(op), attrs, layer_name(op))
        elif isinstance(op, spike.SDSAOp | spike.TokenAttentionOp):
            self.emit(
                "sma",
                "SMA.SDSA" if isinstance(op, spike.SDSAOp) else "SMA.TOKEN_ATTENTION",
                operands,
                self._encoded_result(op),
                attrs,
                layer_name(op),
            )
        elif isinstance(op, spike.AddOp):
            self.emit("res", "RES.ADD", operands, list(op.results), attrs)
        elif isinstance(op, spike.EncodeOp):
            self.emit("enc", "ENC.PACK", operands, list(op.results), attrs)
        elif isinstance(op, spike.DecodeOp):
            self.emit("enc", "ENC.UNPACK", operands, list(op.results), attrs)
        else:
            self.emit("vec", VECTOR[name], operands, list(op.results), attrs)


def lower(module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware) -> Lowered:
    lowered = SparseLowering(module, weights, "sparse", variant).run()
    plan = plan_weights(
        lowered.program,
        lowered.constants,
        hardware,
        "weight_sram",
        hardware.integer("precision.weight_bits"),
        "DMA.LOAD_WEIGHTS",
        ACTIVATION_LEVELS,
    )
    lowered.weight_plan = plan.summary()
    return lowered
