"""What a target tells the runtime: its opcodes, each with a semantics and a cost.

The semantics computes the results from the real operand values (vectorised numpy). The cost
says how many cycles the instruction keeps its unit busy and which energy it spends, itemised by
component and by the hardware-description entry each figure comes from, from the data the
instruction actually saw; it also reports workload metrics (synaptic operations, membrane
updates). A target's instruction set checks a parsed program before it runs: known opcodes,
operand counts, attribute names and types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from runtime.encoded import EncodedSpikes
from runtime.errors import ProgramError
from runtime.finite import check_finite
from runtime.hardware import Hardware
from runtime.memory import levels
from runtime.program import AttrValue, BufferType, Instruction, Program

Value = np.ndarray | EncodedSpikes

CORE_COMPONENTS = ("compute", "sram", "dram")
"""Energy components every design has (DESIGN.md); a design declares its own beside them
(`InstructionSet.components`, e.g. converters or die-to-die links)."""

LEAKAGE = "leakage"
"""The component of static energy, the last of every design's."""


def merged_components(designs: Iterable[Iterable[str]]) -> list[str]:
    """The components of several designs in one order (first seen first, `LEAKAGE` last): the
    columns of a comparison."""
    merged = list(dict.fromkeys(c for components in designs for c in components))
    return [c for c in merged if c != LEAKAGE] + ([LEAKAGE] if LEAKAGE in merged else [])


@dataclass(frozen=True)
class AttrSpec:
    kind: type | tuple[type, ...]
    required: bool = True
    accepts: Callable[[Any], str | None] | None = None
    """Why a value of the right type is still out of range (None: it is fine)."""


@dataclass
class Metrics:
    """NeuroBench-style workload counts of one instruction."""

    dense_synops: float = 0.0
    """Synaptic operations if every input were non-zero."""
    effective_macs: float = 0.0
    """Multiply-accumulates on non-zero real inputs."""
    effective_acs: float = 0.0
    """Accumulates triggered by spikes."""
    membrane_updates: float = 0.0
    spikes: int = 0
    """Spikes the instruction produced (for activation sparsity)."""
    neurons: int = 0
    """Positions of its spike output (neurons x timesteps x batch)."""
    counters: dict[str, float] = field(default_factory=dict)
    """Target-specific counts (e.g. tokens routed to an expert), summed per unit in the
    report."""


@dataclass
class EnergyItem:
    component: str
    entry: str
    picojoules: float
    per_step: np.ndarray | None = None
    """The energy of each timestep (sums to `picojoules`); None: spread evenly."""
    level: str | None = None
    """The memory level accessed (`memory.<level>.*` entries), for the memory report."""
    bits: float = 0.0
    """Bits moved in or out of `level`."""
    purpose: str = ""
    """Why bits moved between levels: `fill` (a first load), `refetch` (a load again of what
    was loaded before), `spill` (a value that did not fit, written out or read back)."""


@dataclass
class Cost:
    cycles: float
    timesteps: int
    hardware: Hardware
    items: list[EnergyItem] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)

    def energy(self, component: str, entry: str, count: float | np.ndarray) -> None:
        """Spend `count` times the energy of hardware entry `entry`. An array `count` gives the
        count per timestep; a scalar is spread evenly over the timesteps."""
        unit = self.hardware.number(entry)
        if isinstance(count, np.ndarray) and count.ndim:
            assert count.shape == (self.timesteps,), (entry, count.shape)
            per_step = count.astype(np.float64) * unit
            total = float(per_step.sum())
            if total:
                self.items.append(EnergyItem(component, entry, total, per_step))
        elif count:
            self.items.append(EnergyItem(component, entry, float(count) * unit))

    def modify(self, level: str, bits: float | np.ndarray) -> None:
        """Read `bits` of level `level` and write them back (a membrane or partial-sum
        update)."""
        self.access(level, bits)
        self.access(level, bits, write=True)

    def access(
        self, level: str, bits: float | np.ndarray, write: bool = False, purpose: str = ""
    ) -> None:
        """Read (or write) `bits` of memory level `level`: as many accesses of its word as the
        bits fill, at its `read_energy` (`write_energy`) per access (`runtime.memory`)."""
        found = levels(self.hardware).get(level)
        if found is None:
            raise KeyError(f"memory.{level}")
        entry = found.write_entry if write else found.read_entry
        if isinstance(bits, np.ndarray) and bits.ndim:
            before = len(self.items)
            self.energy(found.component, entry, bits / found.word_bits)
            total = float(bits.sum())
            if len(self.items) > before:
                item = self.items[-1]
                item.level, item.bits, item.purpose = level, total, purpose
                return
            unit = 0.0
        else:
            unit = self.hardware.number(entry)
            total = float(bits)
        if total:
            words = total / found.word_bits
            self.items.append(
                EnergyItem(found.component, entry, words * unit, None, level, total, purpose)
            )


@dataclass
class Execution:
    """What a semantics or cost function can see of the running program."""

    instruction: Instruction
    inputs: Sequence[Value]
    outputs: Sequence[Value]
    input_types: Sequence[BufferType]
    """Declared types of the inputs (`f32`, `spk` or `addr`: how the data is held)."""
    output_types: Sequence[BufferType]
    hardware: Hardware
    variant: str
    timesteps: int
    batch: int
    numerics: str = "exact"
    """`exact` (the reference semantics) or a target's hardware numerics mode."""
    seed: int = 0
    """Seed of the hardware numerics' random draws (noise)."""
    peek: Callable[[str], tuple[Value, BufferType] | None] | None = None
    """A live value of the program by buffer name, with its declared type (None: not live):
    what a cost may look at without waiting for it (a weight load sizing its tiles by the
    input its consumer will read)."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What the semantics computed on the way that the cost needs too (so it is computed
    once), e.g. the intermediate counts of an attention."""
    membranes: list[np.ndarray] = field(default_factory=list)
    """The membrane after each step of the neuron the instruction computes, as its semantics
    ran it (`runtime.ops.run_op`): NeuroBench's membrane updates, counted without a rerun."""


Semantics = Callable[[Sequence[Value], dict[str, AttrValue], "Execution"], list[Value]]
CostFunction = Callable[["Execution"], Cost]

ResultKind = Literal["spikes", "reals", "first", "all", "either"]
"""Whether an opcode's results are spikes (`spk` or `addr` buffers): always, never, when its
first input is, when all its inputs are, or either (checked on the values as they are
written)."""

SPIKE_KINDS = ("spk", "addr")

UnitMap = Callable[[Hardware, str], dict[str, frozenset[str]]]
"""The units of a design with the given hardware and variant, each with the opcodes it runs."""


@dataclass(frozen=True)
class Opcode:
    name: str
    inputs: tuple[int, int]
    """Least and most inputs."""
    outputs: int
    """Number of results; -1: one or more (a split)."""
    semantics: Semantics
    cost: CostFunction
    attrs: dict[str, AttrSpec] = field(default_factory=dict)
    doc: str = ""
    transfer: bool = False
    """A move between memory levels (DRAM loads and stores), not a unit's computation."""
    results: ResultKind = "either"
    """Whether its results are spikes."""
    reads: Literal["spikes", "reals"] | None = None
    """What its first input must hold, for an opcode made for one kind (None: either)."""
    op: str | None = None
    """The `spike` op whose results it computes, its own operands first (NeuroBench's workload
    is counted from it, the same on every target); None: a transfer or a design's own step."""
    own_inputs: Callable[[dict[str, AttrValue], int], int] | None = None
    """How many of an instruction's inputs (given its attributes and input count) are its op's
    operands, where a design appends inputs of its own; None: all of them."""


@dataclass
class InstructionSet:
    target: str
    opcodes: dict[str, Opcode]
    units: UnitMap
    """The design's units and what each runs (a program naming another is refused)."""
    components: tuple[str, ...] = ()
    """Energy components of the design's own, beside `CORE_COMPONENTS` and `LEAKAGE`."""

    @property
    def all_components(self) -> tuple[str, ...]:
        """The components of the design's report, in order."""
        return (*CORE_COMPONENTS, *self.components, LEAKAGE)

    def validate(self, program: Program, filename: str, hardware: Hardware) -> None:
        """Reject what this target cannot run, naming the line: as a whole, before the first
        instruction runs (opcodes, their units on this hardware, operands, attributes, and the
        kinds of the buffers they read and write)."""
        if program.target != self.target:
            raise ProgramError(
                f"{filename}: the program is for target '{program.target}', not '{self.target}'"
            )
        units = self.units(hardware, program.variant)
        for ins in program.instructions:
            where = f"{filename}:{ins.line}"
            op = self.opcodes.get(ins.opcode)
            if op is None:
                raise ProgramError(
                    f"{where}: unknown opcode {ins.opcode} for target {self.target} (it has "
                    f"{', '.join(sorted(self.opcodes))})"
                )
            _check_unit(ins, units, where, f"{self.target} ({program.variant})")
            _check_kinds(ins, op, program, where)
            low, high = op.inputs
            if not low <= len(ins.inputs) <= high:
                count = str(low) if low == high else f"{low} to {high}"
                raise ProgramError(
                    f"{where}: {ins.opcode} takes {count} inputs, got {len(ins.inputs)}"
                )
            if (op.outputs >= 0 and len(ins.outputs) != op.outputs) or not ins.outputs:
                raise ProgramError(
                    f"{where}: {ins.opcode} writes {op.outputs} outputs, got {len(ins.outputs)}"
                )
            for key, value in ins.attrs.items():
                if key == "layer":
                    continue
                spec = op.attrs.get(key)
                if spec is None:
                    raise ProgramError(
                        f"{where}: {ins.opcode} has no attribute '{key}' (it takes "
                        f"{', '.join(sorted(op.attrs)) or 'none'})"
                    )
                if not _matches(value, spec.kind):
                    raise ProgramError(
                        f"{where}: {ins.opcode}: attribute {key}={value!r} has the wrong type"
                    )
                if isinstance(value, float):
                    check_finite(f"{where}: {ins.opcode}: attribute", key, np.asarray([value]))
                problem = spec.accepts(value) if spec.accepts is not None else None
                if problem is not None:
                    raise ProgramError(
                        f"{where}: {ins.opcode}: attribute {key}={value!r} {problem}"
                    )
            missing = [k for k, s in op.attrs.items() if s.required and k not in ins.attrs]
            if missing:
                raise ProgramError(f"{where}: {ins.opcode} needs attributes {missing}")


def _check_unit(
    ins: Instruction, units: dict[str, frozenset[str]], where: str, design: str
) -> None:
    runs = units.get(ins.unit)
    if runs is None:
        raise ProgramError(
            f"{where}: {ins.opcode} is placed on unit '{ins.unit}', which the {design} design "
            f"with this hardware description does not have (it has {', '.join(sorted(units))}; "
            "a pass that partitions onto more units needs a description with as many, e.g. "
            "`spikec compile --set`)"
        )
    if ins.opcode not in runs:
        owners = sorted(name for name, opcodes in units.items() if ins.opcode in opcodes)
        on = ", ".join(owners) or f"no unit of the {design} design"
        raise ProgramError(f"{where}: {ins.opcode} runs on {on}, not on {ins.unit}")


def _check_kinds(ins: Instruction, op: Opcode, program: Program, where: str) -> None:
    """The buffers' declared kinds agree with what the opcode reads and writes (a result of reals
    declared as spikes would be priced as spikes, or lose its values as addresses)."""
    spikes_in = [program.buffers[name].type.kind in SPIKE_KINDS for name in ins.inputs]
    if op.reads is not None and spikes_in and spikes_in[0] != (op.reads == "spikes"):
        raise ProgramError(
            f"{where}: {ins.opcode} reads {op.reads}, but {ins.inputs[0]} is declared "
            f"{program.buffers[ins.inputs[0]].type}"
        )
    expected = {
        "spikes": True,
        "reals": False,
        "first": bool(spikes_in) and spikes_in[0],
        "all": bool(spikes_in) and all(spikes_in),
        "either": None,
    }[op.results]
    for name in ins.outputs:
        declared = program.buffers[name].type
        if expected is not None and (declared.kind in SPIKE_KINDS) != expected:
            what = "spikes (spk or addr)" if expected else "reals (f32)"
            raise ProgramError(
                f"{where}: {ins.opcode} writes {what} here, but {name} is declared {declared}"
            )


def _matches(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)
