"""Duo's compile side: MoE layers split (no MoE unit), then one instruction per op."""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from compiler.ir.weights import WeightStore
from runtime.hardware import Hardware
from targets.backend import Backend, Lowered
from targets.lowering import Lowering
from tests.duo.machine import unit_of


class DuoLowering(Lowering):
    def lower_op(self, op: Operation) -> None:
        name = op.name.removeprefix("spike.")
        unit = unit_of(name)
        opcode = f"{unit.upper()}.{name.upper()}"
        self.emit(unit, opcode, list(op.operands), list(op.results), self.attrs(op))

    def store_output(self, buffer: str, output: str) -> None:
        self.emit_raw("vec", "VEC.STORE", [buffer], [output], layer="(output)")


def pipeline(variant: str, hardware: Hardware) -> str:
    return "fold-batchnorm,decompose{ops=moe},canonicalize,dce"


def lower(module: ModuleOp, weights: WeightStore, variant: str, hardware: Hardware) -> Lowered:
    return DuoLowering(module, weights, "duo", variant).run()


BACKEND = Backend(pipeline=pipeline, lower=lower)
