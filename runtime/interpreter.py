"""Execute a program: the values, and the account of cycles and energy.

Instructions run in program order. Each one's semantics computes its results; its cost says how
long it keeps its unit busy and what energy it spends. On the timeline an instruction starts when
its unit is free and its inputs are ready, so independent units overlap; the latency is the end
of the last instruction, and leakage power over that latency is added to the dynamic energy.
Values are released after their last use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from runtime import neurobench
from runtime.encoded import EncodedSpikes
from runtime.errors import ProgramError
from runtime.finite import check_finite
from runtime.hardware import Hardware
from runtime.isa import (
    CORE_COMPONENTS,
    LEAKAGE,
    SPIKE_KINDS,
    Cost,
    EnergyItem,
    Execution,
    InstructionSet,
    Value,
)
from runtime.memory import ActivationMemory, Activations
from runtime.neurobench import Workload
from runtime.program import Buffer, BufferType, Instruction, Program

CLOCK_UNITS = {"MHz": 1e6, "GHz": 1e9}

Observer = Callable[[Instruction, list[Value]], None]


@dataclass
class InstructionRecord:
    index: int
    opcode: str
    unit: str
    layer: str
    start: float
    end: float
    cost: Cost
    transfer: bool = False
    """A move between memory levels (`Opcode.transfer`)."""
    workload: Workload | None = None
    """NeuroBench's counts of the `spike` op it computed (`runtime.neurobench`)."""


@dataclass
class RunRecord:
    """Everything the report is made from."""

    target: str
    variant: str
    records: list[InstructionRecord]
    leakage: list[EnergyItem]
    latency_cycles: float
    clock_hz: float
    batch: int
    timesteps: int
    hardware: Hardware
    program: Program | None = None
    """What ran (for reports that replay the timeline)."""
    memory: dict[str, dict[str, float]] | None = None
    """Per on-chip activation level: capacity, peak occupancy and spilled bits per inference
    (`runtime.memory.ActivationMemory.summary`)."""
    components: tuple[str, ...] = (*CORE_COMPONENTS, LEAKAGE)
    """The design's energy components (`InstructionSet.all_components`), in report order."""

    @property
    def latency_seconds(self) -> float:
        return self.latency_cycles / self.clock_hz


def _check_input(buffer: Buffer, array: np.ndarray, batch: int | None) -> int:
    declared = buffer.type.shape
    shape_ok = array.ndim == len(declared) and all(
        d is None or d == a for d, a in zip(declared, array.shape, strict=True)
    )
    if array.dtype != np.float32 or not shape_ok:
        dims = ", ".join("?" if d is None else str(d) for d in declared)
        raise ProgramError(
            f"input {buffer.name}: expected float32 [{dims}], got {array.dtype} {list(array.shape)}"
        )
    dynamic = [a for d, a in zip(declared, array.shape, strict=True) if d is None]
    # inputs are time-major [T, B, ...]: a static batch is axis 1 (energy per inference divides
    # by it)
    found = dynamic[0] if dynamic else (array.shape[1] if array.ndim >= 2 else 1)
    if batch is not None and found != batch:
        raise ProgramError(f"input {buffer.name}: batch {found}, another input has {batch}")
    if found == 0:
        raise ProgramError(f"input {buffer.name}: the batch is empty")
    check_finite("input", buffer.name, array)
    if buffer.type.kind in ("spk", "addr") and not np.isin(array, (0.0, 1.0)).all():
        raise ProgramError(f"input {buffer.name} is a spike train: its values must be 0 or 1")
    return found


def _as_declared(buffer: Buffer, value: Value, batch: int, line: int, checked: bool) -> Value:
    """The value in its buffer's declared form: address lists for `addr` buffers (the encoder's
    work), dense arrays otherwise; the shape must be the declared one, and a spike buffer whose
    kind the program check could not decide (`checked` false) must receive spikes."""
    expected = buffer.type.concrete(batch)
    shape = value.shape if isinstance(value, EncodedSpikes) else np.shape(value)
    if tuple(shape) != expected:
        raise ProgramError(
            f"line {line}: {buffer.name} is declared {buffer.type} but the instruction produced "
            f"shape {list(shape)}"
        )
    if (
        not checked
        and buffer.type.kind in SPIKE_KINDS
        and not isinstance(value, EncodedSpikes)
        and not _binary(value)
    ):
        raise ProgramError(
            f"line {line}: {buffer.name} is declared {buffer.type} (spikes) but the instruction "
            "produced values other than 0 and 1"
        )
    if buffer.type.kind == "addr":
        if isinstance(value, EncodedSpikes):
            return value
        return EncodedSpikes.from_dense(value, buffer.type.address_axes)
    if isinstance(value, EncodedSpikes):
        return value.to_dense()
    return value


def _binary(value: np.ndarray) -> bool:
    return bool(np.logical_or(value == 0, value == 1).all())


def _last_uses(program: Program) -> dict[str, int]:
    last: dict[str, int] = {}
    for index, ins in enumerate(program.instructions):
        for name in ins.inputs:
            last[name] = index
    return last


def execute(
    program: Program,
    isa: InstructionSet,
    hardware: Hardware,
    constants: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    *,
    timesteps: int,
    clock_entry: str,
    leakage_entries: tuple[str, ...] = (),
    numerics: str = "exact",
    seed: int = 0,
    observe: Observer | None = None,
    activations: Activations | None = None,
) -> tuple[dict[str, np.ndarray], RunRecord]:
    """Run the program on inputs keyed by buffer name; returns the outputs (dense float32) by
    buffer name and the run record. `numerics` selects the semantics of instructions that have
    hardware numerics (e.g. analog crossbars), drawn from `seed`; `observe` sees every
    instruction's results as they are computed. `activations` (the home level of each buffer
    kind, and the bits a value holds) places the activations in the on-chip levels, with their
    spills (`runtime.memory.ActivationMemory`)."""
    values: dict[str, Value] = {}
    batch: int | None = None
    for buffer in program.inputs:
        if buffer.name not in inputs:
            raise ProgramError(f"missing input {buffer.name}")
        batch = _check_input(buffer, inputs[buffer.name], batch)
        values[buffer.name] = inputs[buffer.name]
    batch = batch or 1
    for buffer in program.role("const"):
        if buffer.name not in constants:
            raise ProgramError(f"constant {buffer.name} is missing from the program's constants")
        constant = constants[buffer.name]
        if constant.shape != buffer.type.concrete(1) or constant.dtype != np.float32:
            raise ProgramError(
                f"constant {buffer.name}: declared {buffer.type} on line {buffer.line}, the "
                f"program's constants hold {constant.dtype} {list(constant.shape)}"
            )
        check_finite("constant", buffer.name, constant)
        if buffer.type.kind in SPIKE_KINDS and not _binary(constant):
            raise ProgramError(
                f"constant {buffer.name} is declared {buffer.type} on line {buffer.line} (spikes), "
                "but the program's constants hold values other than 0 and 1"
            )
        values[buffer.name] = constant
    outputs = {b.name for b in program.outputs}
    last_use = _last_uses(program)
    memory = None
    if activations is not None:
        memory = ActivationMemory(
            hardware, activations.homes, activations.footprint, batch, activations.reserved
        )
    readers = _readers(program, isa)
    data_last_use = {name: uses[-1] for name, uses in readers.items()}
    following = _following(program, isa)
    unit_free: dict[str, float] = {}
    ready: dict[str, float] = {}
    records: list[InstructionRecord] = []

    def peek(name: str) -> tuple[Value, BufferType] | None:
        value = values.get(name)
        return None if value is None else (value, program.buffers[name].type)

    for index, ins in enumerate(program.instructions):
        opcode = isa.opcodes[ins.opcode]
        args = [values[name] for name in ins.inputs]
        context = Execution(
            ins,
            args,
            [],
            [program.buffers[n].type for n in ins.inputs],
            [program.buffers[n].type for n in ins.outputs],
            hardware,
            program.variant,
            timesteps,
            batch,
            numerics,
            seed,
            peek,
        )
        try:
            computed = opcode.semantics(args, ins.attrs, context)
        except (ValueError, IndexError) as e:  # operands and attributes the checks let pass
            raise ProgramError(
                f"line {ins.line}: {ins.opcode} cannot compute its results from these operands "
                f"and attributes ({e})"
            ) from None
        if len(computed) != len(ins.outputs):
            raise ProgramError(
                f"line {ins.line}: {ins.opcode} computes {len(computed)} results, the "
                f"instruction writes {len(ins.outputs)}"
            )
        checked = opcode.results != "either"
        results = [
            _as_declared(program.buffers[name], result, batch, ins.line, checked)
            for name, result in zip(ins.outputs, computed, strict=True)
        ]
        context.outputs = results
        if observe is not None:
            observe(ins, results)
        for name, result in zip(ins.outputs, results, strict=True):
            values[name] = result
        cost = opcode.cost(context)
        work = None
        if opcode.op is not None:
            own = (
                len(args) if opcode.own_inputs is None else opcode.own_inputs(ins.attrs, len(args))
            )
            work = neurobench.count(opcode.op, args[:own], results, ins.attrs, context.membranes)
        if memory is not None:
            _account(
                memory, program, index, results, cost, data_last_use, readers, following[index]
            )
        start = max([unit_free.get(ins.unit, 0.0), *(ready.get(n, 0.0) for n in ins.inputs)])
        end = start + cost.cycles
        unit_free[ins.unit] = end
        for name in ins.outputs:
            ready[name] = end
        records.append(
            InstructionRecord(
                index, ins.opcode, ins.unit, ins.layer, start, end, cost, opcode.transfer, work
            )
        )
        for name in ins.inputs:
            if last_use.get(name) == index and name not in outputs and not name.startswith("@"):
                values.pop(name, None)
    latency = max((r.end for r in records), default=0.0)
    clock_hz = hardware.number(clock_entry) * CLOCK_UNITS[hardware.entries[clock_entry].unit]
    leakage = []
    seconds = latency / clock_hz
    for entry in leakage_entries:
        milliwatts = hardware.number(entry)
        picojoules = milliwatts * 1e-3 * seconds * 1e12
        if picojoules:
            leakage.append(EnergyItem(LEAKAGE, entry, picojoules))
    results_out = {
        name: value.to_dense() if isinstance(value, EncodedSpikes) else np.asarray(value)
        for name, value in values.items()
        if name in outputs
    }
    record = RunRecord(
        program.target,
        program.variant,
        records,
        leakage,
        latency,
        clock_hz,
        batch,
        timesteps,
        hardware,
        program,
        memory.summary() if memory is not None else None,
        isa.all_components,
    )
    return results_out, record


def _following(program: Program, isa: InstructionSet) -> list[int]:
    """Per instruction, the next one that is not a transfer (the one its unit feeds)."""
    found = [-1] * len(program.instructions)
    upcoming = -1
    for index in range(len(program.instructions) - 1, -1, -1):
        found[index] = upcoming
        if not isa.opcodes[program.instructions[index].opcode].transfer:
            upcoming = index
    return found


def _readers(program: Program, isa: InstructionSet) -> dict[str, list[int]]:
    """The instructions reading each buffer's data (a transfer reads only its first input: the
    others only order it)."""
    found: dict[str, list[int]] = {}
    for index, ins in enumerate(program.instructions):
        read = ins.inputs[:1] if isa.opcodes[ins.opcode].transfer else ins.inputs
        for name in dict.fromkeys(read):
            found.setdefault(name, []).append(index)
    return found


def _account(
    memory: ActivationMemory,
    program: Program,
    index: int,
    results: list[Value],
    cost: Cost,
    last_use: dict[str, int],
    readers: dict[str, list[int]],
    following: int,
) -> None:
    """Where the instruction's operands and results sit (see `ActivationMemory`); a real
    result read only by the `following` instruction is streamed into it."""
    ins = program.instructions[index]
    read = [name for name in dict.fromkeys(ins.inputs) if index in readers.get(name, ())]
    for name in read:
        memory.read(name, cost)
    renamed = (
        cost.cycles == 0
        and not cost.items
        and len(ins.inputs) == 1
        and len(ins.outputs) == 1
        and last_use.get(ins.inputs[0]) == index
    )
    if renamed:
        memory.rename(ins.inputs[0], ins.outputs[0])
    elif not (ins.inputs and ins.inputs[0].startswith("@")):  # a weight load: the plan's
        for name, result in zip(ins.outputs, results, strict=True):
            buffer = program.buffers[name]
            streamed = buffer.type.kind == "f32" and readers.get(name) == [following]
            if buffer.role != "output" and not streamed:
                memory.write(name, result, buffer.type, cost)
    for name in read:
        if last_use.get(name) == index:
            memory.release(name)
