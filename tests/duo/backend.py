"""Duo's compile side: MoE layers split (no MoE unit), then one instruction per op."""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.dialects.spike.computes import op_attributes
from compiler.ir.weights import WeightStore
from runtime.hardware import Hardware
from runtime.ops import SEMANTICS
from targets.backend import Backend, Lowered, OpcodeTable
from targets.lowering import Lowering
from tests.duo.machine import opcode_of, unit_of

OPCODES = OpcodeTable({op: (opcode_of(op),) for op in SEMANTICS}, transfers=("VEC.STORE",))


class DuoLowering(Lowering):
    opcodes = OPCODES

    def lower_op(self, op: Operation) -> None:
        name = op.name.removeprefix("spike.")
        operands: list[SSAValue] = list(op.operands)
        results: list[SSAValue] = list(op.results)
        self.emit(unit_of(name), opcode_of(name), operands, results, op_attributes(op))

    def store_output(self, buffer: str, output: str) -> None:
        self.emit_raw("vec", "VEC.STORE", [buffer], [output], layer="(output)")


def pipeline(variant: str, hardware: Hardware) -> str:
    return "fold-batchnorm,decompose{ops=moe},canonicalize,dce"


def lower(module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware) -> Lowered:
    return DuoLowering(module, weights, "duo", variant).run()


BACKEND = Backend(pipeline=pipeline, lower=lower, opcodes=OPCODES)
