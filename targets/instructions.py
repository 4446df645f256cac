"""Pieces every target's instruction set is built from: opcodes whose semantics are the
reference's (`runtime.ops`), transfers that keep their value, the DRAM interface, and the names
of the compute energies every hardware description keeps in its `[energy.compute]` table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from runtime.hardware import Hardware
from runtime.isa import AttrSpec, Cost, CostFunction, Execution, Opcode, Semantics, Value
from runtime.memory import dram
from runtime.ops import RESULT_KINDS, SEMANTICS, run_op
from runtime.program import AttrValue

ADD8 = "energy.compute.add8"
ADD16 = "energy.compute.add16"
ADD32 = "energy.compute.add32"
MULT8 = "energy.compute.mult8"
MULT16 = "energy.compute.mult16"
COMPARE16 = "energy.compute.compare16"
LOGIC1 = "energy.compute.logic1"
SPECIAL16 = "energy.compute.special16"
RANDOM16 = "energy.compute.random16"


def reference_semantics(op: str) -> Semantics:
    """The semantics of `spike.<op>`: what the reference interpreter computes."""

    def semantics(args: Sequence[Value], attrs: dict[str, AttrValue], e: Execution) -> list[Value]:
        return list(run_op(op, args, attrs, e.membranes))

    return semantics


def reference_opcode(
    name: str,
    op: str,
    cost: CostFunction,
    doc: str,
    extra_attrs: dict[str, AttrSpec] | None = None,
    reads: Literal["spikes", "reals"] | None = None,
) -> Opcode:
    """An opcode computing `spike.<op>`, with the op's operands, attributes (and the target's
    own, `extra_attrs`) and result kind; `reads`: the kind of first input it is made for."""
    _, inputs, outputs, attrs = SEMANTICS[op]
    return Opcode(
        name,
        inputs,
        outputs,
        reference_semantics(op),
        cost,
        {**attrs, **(extra_attrs or {})},
        doc,
        results=RESULT_KINDS[op],
        reads=reads,
        op=op,
    )


def by_prefix(opcodes: Iterable[str], *prefixes: str) -> frozenset[str]:
    """The opcodes named `<prefix>.*` for any of `prefixes` (a unit's share of the set)."""
    return frozenset(name for name in opcodes if name.split(".", 1)[0] in prefixes)


def _keep(args: Sequence[Value], attrs: dict[str, AttrValue], e: Execution) -> list[Value]:
    return [args[0]]


def transfer_opcode(name: str, cost: CostFunction, doc: str) -> Opcode:
    """A move of one buffer into another (e.g. from DRAM): the value stays, the cost is the
    target's."""
    return Opcode(name, (1, 1), 1, _keep, cost, {}, doc, transfer=True, results="first")


def dram_cost(e: Execution, bits: float, level: str, store: bool = False) -> Cost:
    """`bits` from DRAM into on-chip memory level `level` (or, `store`, back out): the first
    word after the DRAM's `latency_cycles`, then its `bits_per_cycle`; a DRAM read and a write
    of the level (or a read of the level and a DRAM write)."""
    hw: Hardware = e.hardware
    off_chip = dram(hw)
    cycles = off_chip.latency_cycles + math.ceil(bits / off_chip.bits_per_cycle)
    cost = Cost(float(cycles), e.timesteps, hw)
    cost.access(off_chip.name, bits, write=store, purpose="store" if store else "fill")
    cost.access(level, bits, write=not store)
    return cost
