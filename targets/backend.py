"""A target's compile side: the pass pipeline that prepares `spike` IR for the design (its
capabilities as pass options), the lowering from that IR to its instruction stream, and the
table of the opcodes the lowering emits (checked against the design's instruction set when the
compile side is loaded)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.hardware import Hardware
from runtime.program import Program

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

    from compiler.ir.weights import WeightStore
    from targets.machine import Machine


@dataclass
class Lowered:
    program: Program
    constants: dict[str, np.ndarray]
    inputs: list[dict[str, Any]]
    """Per model input: name, buffer, shape (None for the batch), dtype."""
    outputs: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts of the mapping for the manifest and the report (e.g. crossbar use)."""
    weight_plan: dict[str, Any] = field(default_factory=dict)
    """Where the weights live (`targets.memory.WeightPlan.summary`), for the manifest."""


Lower = Callable[["ModuleOp", "WeightStore", str, Hardware], Lowered]


def on_unit(prefix: str, ops: Iterable[str]) -> dict[str, str]:
    """`<PREFIX>.<OP>` for each op: the opcode naming of a unit that runs many ops (a vector
    unit's `VEC.ADD`), as the instruction sets name them."""
    return {op: f"{prefix}.{op.upper()}" for op in ops}


@dataclass(frozen=True)
class OpcodeTable:
    """The opcodes a lowering may emit. `Target.backend` checks it against the machine when the
    compile side is loaded; the lowering refuses (as an internal error) to emit an opcode the
    table does not give for the op being lowered."""

    ops: Mapping[str, tuple[str, ...]]
    """op (an entry of `runtime.ops.SEMANTICS`) -> the opcodes that may compute it."""
    transfers: tuple[str, ...] = ()
    """Opcodes that move a value (model inputs and outputs, weights) and compute no op."""

    def allows(self, op: str | None, opcode: str) -> bool:
        """Whether `opcode` may be emitted while lowering `op` (None: outside any op)."""
        return opcode in self.transfers or (op is not None and opcode in self.ops.get(op, ()))

    def check(self, target: str, machine: Machine) -> None:
        """Every opcode is the machine's and computes its op (a transfer computes none), and
        every op of the dialect has an opcode or a refusal the machine states."""
        from compiler.dialects.spike import Spike
        from compiler.dialects.spike.computes import semantics_of

        opcodes = machine.instruction_set.opcodes
        wrong: list[str] = []
        for op, names in self.ops.items():
            for name in names:
                if name not in opcodes:
                    wrong.append(f"{name} (for {op}) is not an opcode of the design")
                elif opcodes[name].op != op:
                    wrong.append(f"{name} computes {opcodes[name].op}, not {op}")
        for name in self.transfers:
            if name not in opcodes:
                wrong.append(f"transfer {name} is not an opcode of the design")
            elif opcodes[name].op is not None:
                wrong.append(f"transfer {name} computes {opcodes[name].op}")
        computed = {s for op in Spike.operations if (s := semantics_of(op)) is not None}
        missing = sorted(computed - set(self.ops) - set(machine.refuses))
        if missing:
            wrong.append(
                f"no opcode lowers {', '.join(missing)}, and the machine does not say why "
                "(Machine.refuses)"
            )
        if wrong:
            raise TypeError(f"target {target}: its lowering's opcode table: {'; '.join(wrong)}")


@dataclass(frozen=True)
class Backend:
    pipeline: Callable[[str, Hardware], str]
    """(variant, hardware) -> the pass pipeline."""
    lower: Lower
    opcodes: OpcodeTable
    """What `lower` emits."""
