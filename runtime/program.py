"""The instruction stream of a compiled program, as data.

A program declares its buffers (inputs, outputs, constants and intermediates, each with a type)
and lists instructions. An instruction names the unit that runs it, its opcode, the buffers it
reads and writes, and its attributes:

    slu: SLU.ACC %b0.attn.q_in, @b0.attn.q.weight, @b0.attn.q.bias -> %b0.attn.q layer="b0.attn.q"

Buffer names start with `%` (activations) or `@` (constants, stored in the program's `.npz`).
Types: `f32[4,?,64,512]` (reals), `spk[4,?,64,512]` (spikes as a bitmap) and
`addr[4,?,64 : 512]` (spikes as address lists: rows before the colon, addressed positions after).
`?` is the batch, known when the program runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

AttrValue = int | float | bool | str | list["AttrValue"]

BufferKind = Literal["f32", "spk", "addr"]
Role = Literal["input", "output", "const", "buffer"]


@dataclass(frozen=True)
class BufferType:
    kind: BufferKind
    shape: tuple[int | None, ...]
    """Dimensions; None is the dynamic batch."""
    address_axes: int = 0
    """For `addr`: how many trailing axes form the address space."""

    def concrete(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if d is None else d for d in self.shape)

    def elements(self, batch: int = 1) -> int:
        return math.prod(self.concrete(batch))

    def __str__(self) -> str:
        def dims(values: tuple[int | None, ...]) -> str:
            return ",".join("?" if d is None else str(d) for d in values)

        if self.kind == "addr":
            split = len(self.shape) - self.address_axes
            return f"addr[{dims(self.shape[:split])} : {dims(self.shape[split:])}]"
        return f"{self.kind}[{dims(self.shape)}]"


@dataclass
class Buffer:
    name: str
    type: BufferType
    role: Role
    line: int = 0


@dataclass
class Instruction:
    unit: str
    opcode: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    line: int = 0

    @property
    def layer(self) -> str:
        layer = self.attrs.get("layer")
        return layer if isinstance(layer, str) else (self.outputs[0] if self.outputs else "")


@dataclass
class Program:
    target: str
    variant: str
    buffers: dict[str, Buffer] = field(default_factory=dict)
    instructions: list[Instruction] = field(default_factory=list)

    def role(self, role: Role) -> list[Buffer]:
        return [b for b in self.buffers.values() if b.role == role]

    @property
    def inputs(self) -> list[Buffer]:
        return self.role("input")

    @property
    def outputs(self) -> list[Buffer]:
        return self.role("output")
