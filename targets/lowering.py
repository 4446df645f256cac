"""Machinery every target's lowering shares: walk the `spike` IR of `@main` in program order,
name a buffer for each value, collect constants, and emit instructions through a per-target rule.

A target subclasses `Lowering`: its `lower_op` receives each op (constants and the return are
handled here) and emits one or more instructions with `emit`, with the op's properties as
attributes (`op_attributes`, the names `runtime.ops` reads). Each opcode emitted must be one its
`opcodes` table gives for the op being lowered (or a transfer). Outputs are always written to
buffers of their own (dense: a model output is an array), by the target's `store_output`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Attribute, Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.computes import semantics_of
from compiler.dialects.spike.types import DYNAMIC, EncodedSpikesType, SpikeTrainType
from compiler.interpreters.reference import (
    input_names,
    main_function,
    output_names,
    repeated_inputs,
)
from compiler.ir.locations import value_layer
from compiler.ir.weights import WeightStore, dense_to_array
from runtime.errors import ProgramError
from runtime.program import AttrValue, Buffer, BufferType, Instruction, Program, Role
from targets.backend import Lowered, OpcodeTable


def buffer_type(value_type: Attribute) -> BufferType:
    def dims(shape: tuple[int, ...]) -> tuple[int | None, ...]:
        return tuple(None if d == DYNAMIC else d for d in shape)

    if isinstance(value_type, EncodedSpikesType):
        return BufferType("addr", dims(value_type.get_shape()), value_type.address_axes.data)
    if isinstance(value_type, SpikeTrainType):
        return BufferType("spk", dims(value_type.get_shape()))
    if isinstance(value_type, TensorType):
        return BufferType("f32", dims(value_type.get_shape()))
    raise ProgramError(f"cannot hold a value of type {value_type} in a buffer")


def schedule(ops: list[Operation]) -> list[Operation]:
    """The order instructions are emitted in: the block's, except that an op that is the only
    reader of a value is emitted as soon as that value and its other operands are ready (right
    after the producer, as the designs' units feed each other, e.g. a layer's currents into its
    neurons), so no value is held longer than the model's order needs. Every op still follows
    its operands' producers, so the semantics are the block's."""
    inside = set(ops)
    done: set[Operation] = set()
    order: list[Operation] = []

    def ready(op: Operation) -> bool:
        return all(
            not isinstance(owner := operand.owner, Operation)
            or owner not in inside
            or owner in done
            or isinstance(owner, spike.WeightOp | spike.ConstantOp)
            for operand in op.operands
        )

    def emit(op: Operation) -> None:
        pending = [op]
        while pending:
            current = pending.pop()
            if current in done:
                continue
            done.add(current)
            order.append(current)
            followers = []
            for result in current.results:
                users = {use.operation for use in result.uses}
                if len(users) == 1:
                    (user,) = users
                    if user in inside and user not in done and ready(user):
                        followers.append(user)
            pending.extend(reversed(followers))

    for op in ops:
        if op not in done:
            emit(op)
    return order


@dataclass
class Lowering(ABC):
    """Walks `@main` and lowers each op with `lower_op`, which a target overrides. A target can
    also say how model inputs, constants and outputs reach its units (`load_input`,
    `fetch_constant`, `store_output`), e.g. as DRAM transfers."""

    opcodes: ClassVar[OpcodeTable]
    """The opcodes the lowering emits (its target's `Backend.opcodes`)."""

    module: ModuleOp
    weights: WeightStore
    target: str
    variant: str
    program: Program = field(init=False)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    names: dict[SSAValue, str] = field(default_factory=dict)
    fused: set[Operation] = field(default_factory=set)
    """Ops another op's instruction already does (skipped by the walk)."""
    _taken: set[str] = field(default_factory=set)
    _lowering: str | None = None
    """The semantics of the op being lowered (None: outside any op)."""

    def __post_init__(self) -> None:
        self.program = Program(self.target, self.variant)

    # -- what a target provides ------------------------------------------------------------------

    @abstractmethod
    def lower_op(self, op: Operation) -> None:
        """Emit the instructions of `op`."""

    def load_input(self, buffer: str) -> str:
        """The buffer units read a model input from (default: the input buffer itself)."""
        return buffer

    def fetch_constant(self, buffer: str) -> str:
        """The buffer units read a constant from (default: the constant itself)."""
        return buffer

    @abstractmethod
    def store_output(self, buffer: str, output: str) -> None:
        """Write `buffer` into the model's output buffer `output`."""

    # -- names and buffers -------------------------------------------------------------------

    def _fresh(self, prefix: str, hint: str | None) -> str:
        base = re.sub(r"[^A-Za-z0-9_.$-]", "_", hint or "v")
        if not re.match(r"[A-Za-z_]", base):
            base = "v" + base
        name, n = f"{prefix}{base}", 1
        while name in self._taken:
            name, n = f"{prefix}{base}.{n}", n + 1
        self._taken.add(name)
        return name

    def new_buffer(self, hint: str, buffer_type: BufferType, role: Role = "buffer") -> str:
        name = self._fresh("@" if role == "const" else "%", hint)
        self.program.buffers[name] = Buffer(name, buffer_type, role)
        return name

    def define(self, value: SSAValue, role: Role = "buffer", hint: str | None = None) -> str:
        name = self.new_buffer(hint or value.name_hint or "v", buffer_type(value.type), role)
        self.names[value] = name
        return name

    def name(self, value: SSAValue) -> str:
        """The buffer holding `value` (constants are declared, and fetched, on first use)."""
        if value in self.names:
            return self.names[value]
        owner = value.owner
        if isinstance(owner, spike.WeightOp):
            array = np.asarray(self.weights[owner.symbol], dtype=np.float32)
            hint = owner.symbol
        elif isinstance(owner, spike.ConstantOp):
            array = dense_to_array(owner.value).astype(np.float32)
            hint = value.name_hint or "const"
        else:
            raise ProgramError(f"internal error: {value.name_hint} is used before it is defined")
        name = self.new_buffer(hint, BufferType("f32", array.shape), "const")
        self.constants[name] = np.array(array, order="C")  # (ascontiguousarray makes a scalar 1-D)
        self.names[value] = self.fetch_constant(name)
        return self.names[value]

    def type_of(self, buffer: str) -> BufferType:
        return self.program.buffers[buffer].type

    # -- instructions ---------------------------------------------------------------------------

    def emit_raw(
        self,
        unit: str,
        opcode: str,
        inputs: list[str],
        outputs: list[str],
        layer: str,
        attrs: dict[str, AttrValue] | None = None,
    ) -> Instruction:
        """An instruction on buffers named directly (e.g. a transfer)."""
        if not self.opcodes.allows(self._lowering, opcode):
            raise ProgramError(
                f"internal error: the {self.target} lowering emits {opcode} for "
                f"{self._lowering or 'no op'}, which its opcode table does not give"
            )
        instruction = Instruction(unit, opcode, inputs, outputs, {**(attrs or {}), "layer": layer})
        self.program.instructions.append(instruction)
        return instruction

    def emit(
        self,
        unit: str,
        opcode: str,
        inputs: list[SSAValue],
        outputs: list[SSAValue],
        attrs: dict[str, AttrValue] | None = None,
        layer: str | None = None,
    ) -> Instruction:
        """An instruction computing `outputs` (new buffers) from `inputs`; its layer is the first
        output's name unless given."""
        in_names = [self.name(v) for v in inputs]
        out_names = [self.define(v) for v in outputs]
        layer = layer or (value_layer(outputs[0]) if outputs else None) or opcode.lower()
        return self.emit_raw(unit, opcode, in_names, out_names, layer, attrs)

    def alias(self, value: SSAValue, of: SSAValue) -> None:
        """`value` is held in the buffer of `of` (an op fused into the one producing `of`)."""
        self.names[value] = self.names[of]

    # -- the walk -------------------------------------------------------------------------------

    def run(self) -> Lowered:
        function = main_function(self.module)
        block = function.body.block
        inputs: list[dict[str, Any]] = []
        repeated = repeated_inputs(self.module)
        for arg, name in zip(block.args, input_names(self.module), strict=True):
            buffer = self.new_buffer(name, buffer_type(arg.type), "input")
            self.names[arg] = self.load_input(buffer)
            shape = self.type_of(buffer).shape
            spec: dict[str, Any] = {
                "name": name,
                "buffer": buffer,
                "shape": list(shape),
                "dtype": "float32",
            }
            if name in repeated:
                spec["repeated"] = True  # the model repeats it over time: [B, ...] is accepted
            inputs.append(spec)
        returned: list[SSAValue] = []
        for op in schedule(list(block.ops)):
            if isinstance(op, spike.WeightOp | spike.ConstantOp) or op in self.fused:
                continue
            if isinstance(op, func.ReturnOp):
                returned = list(op.arguments)
                continue
            if isinstance(op, spike.MoEOp):
                raise ProgramError(
                    "internal error: the pipeline must split spike.moe (partition-experts or "
                    "decompose) before lowering"
                )
            self._lowering = semantics_of(op)
            self.lower_op(op)
            self._lowering = None
        outputs: list[dict[str, Any]] = []
        for value, name in zip(returned, output_names(self.module), strict=True):
            source = self.name(value)
            declared = self.type_of(source)
            kind = "spk" if declared.kind == "addr" else declared.kind  # outputs are arrays
            buffer = self.new_buffer(name, BufferType(kind, declared.shape), "output")
            self.store_output(source, buffer)
            shape = self.type_of(buffer).shape
            outputs.append(
                {"name": name, "buffer": buffer, "shape": list(shape), "dtype": "float32"}
            )
        return Lowered(self.program, self.constants, inputs, outputs)
