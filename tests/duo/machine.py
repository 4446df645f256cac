"""Duo's run side: each op of the runtime's semantics as an opcode of its unit."""

from __future__ import annotations

from runtime.isa import Cost, Execution, InstructionSet
from runtime.ops import SEMANTICS
from targets.instructions import by_prefix, reference_opcode, transfer_opcode
from targets.machine import Machine
from targets.vector import VectorPrices, vector_cost

PRODUCTS = ("linear", "conv2d", "matmul")
"""The ops of the MAC unit."""

UNITS = ("mac", "vec")


def unit_of(op: str) -> str:
    return "mac" if op in PRODUCTS else "vec"


def opcode_of(op: str) -> str:
    return f"{unit_of(op).upper()}.{op.upper()}"


def _store(e: Execution) -> Cost:
    return Cost(0.0, e.timesteps, e.hardware)


def _instruction_set() -> InstructionSet:
    opcodes = [transfer_opcode("VEC.STORE", _store, "a model output, where the host reads it")]
    for op in SEMANTICS:
        unit = unit_of(op)
        prices = VectorPrices(unit, "precision.activation_bits", "buffer")
        opcodes.append(reference_opcode(opcode_of(op), op, vector_cost(op, prices), f"spike.{op}"))
    names = [o.name for o in opcodes]
    units = {unit: by_prefix(names, unit.upper()) for unit in UNITS}
    return InstructionSet("duo", {o.name: o for o in opcodes}, lambda hw, variant: units)


MACHINE = Machine(
    instruction_set=_instruction_set(),
    clock_entry="clock.frequency",
    leakage_entries=("leakage.logic",),
)
