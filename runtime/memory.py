"""Memory levels of a design, and where the values of a run actually sit.

A hardware description declares its levels as tables `[memory.<level>]`: `kind` (`sram`,
`regs`, `dram`), `capacity` (kB; none for DRAM), `word_bits`, `banks` and `ports` (an on-chip
level delivers banks x ports words a cycle) or `bits_per_cycle` (DRAM), `latency_cycles`,
`read_energy` and `write_energy` (pJ per access of a word; an SRAM's follow from its capacity by
the `sram` rule, `runtime.technology`) and `leakage` (mW).

A target names the home level of an activation of each buffer kind. While a program runs,
`ActivationMemory` places every value produced into its level, inference by inference, at the
size it really has. A value takes what is free when it is written and keeps it until its last
read; what does not fit spills to DRAM (written there, and read back by each reader). No value is
ever evicted to make room for another, so a larger level never spills more: by induction over
the run, the free space with a larger capacity is never less (placing a value of b bits leaves
max(free - b, 0), which grows with free), so each value's on-chip share is never less either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from runtime.encoded import EncodedSpikes
from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.program import BufferType

if TYPE_CHECKING:
    from runtime.isa import Cost

Value = np.ndarray | EncodedSpikes

KINDS = ("sram", "regs", "dram")


@dataclass(frozen=True)
class Level:
    name: str
    kind: str
    capacity_bits: float
    """math.inf for DRAM."""
    word_bits: int
    bits_per_cycle: float
    latency_cycles: float
    prefix: str = field(init=False)
    """`memory.<name>`: the prefix of its entries (fields, not properties: the cost functions
    look them up at every access)."""
    read_entry: str = field(init=False)
    write_entry: str = field(init=False)
    leakage_entry: str = field(init=False)
    component: str = field(init=False)
    """The report's energy component of its accesses."""
    on_chip: bool = field(init=False)

    def __post_init__(self) -> None:
        prefix = f"memory.{self.name}"
        derived = {
            "prefix": prefix,
            "read_entry": f"{prefix}.read_energy",
            "write_entry": f"{prefix}.write_energy",
            "leakage_entry": f"{prefix}.leakage",
            "component": "dram" if self.kind == "dram" else "sram",
            "on_chip": self.kind != "dram",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def _level(hw: Hardware, name: str) -> Level:
    prefix = f"memory.{name}"
    kind = str(hw[f"{prefix}.kind"])
    if kind not in KINDS:
        raise ProgramError(f"{prefix}.kind: {kind!r} is not a memory kind ({', '.join(KINDS)})")
    word_bits = hw.integer(f"{prefix}.word_bits")
    if kind == "dram":
        capacity = math.inf
        bandwidth = float(hw.integer(f"{prefix}.bits_per_cycle"))
    else:
        capacity = hw.number(f"{prefix}.capacity") * 8192.0  # kB -> bits
        bandwidth = float(hw.integer(f"{prefix}.banks") * hw.integer(f"{prefix}.ports") * word_bits)
    return Level(name, kind, capacity, word_bits, bandwidth, hw.number(f"{prefix}.latency_cycles"))


def levels(hw: Hardware) -> dict[str, Level]:
    """The description's memory levels by name, in the order it declares them (computed once
    per description): every `memory.<name>` table with a `kind`."""
    cached = hw.derived.get("memory.levels")
    if cached is None:
        names = [
            key.split(".")[1]
            for key in hw.entries
            if key.startswith("memory.") and key.count(".") == 2 and key.endswith(".kind")
        ]
        cached = hw.derived["memory.levels"] = {n: _level(hw, n) for n in names}
    assert isinstance(cached, dict)
    return cached


def dram(hw: Hardware) -> Level:
    """The design's DRAM (the level every spill goes to)."""
    cached = hw.derived.get("memory.dram")
    if cached is None:
        found = [level for level in levels(hw).values() if level.kind == "dram"]
        if len(found) != 1:
            raise ProgramError(f"{hw.name}: a description needs exactly one level of kind dram")
        cached = hw.derived["memory.dram"] = found[0]
    assert isinstance(cached, Level)
    return cached


@dataclass
class Placement:
    """Where one value sits: its home level, its bits per inference and how many of them are on
    chip (the rest spilled to DRAM)."""

    level: str
    bits: float
    on_chip: float

    @property
    def spilled(self) -> float:
        return self.bits - self.on_chip


@dataclass
class LevelUse:
    capacity_bits: float
    used: float = 0.0
    peak: float = 0.0
    spilled_bits: float = 0.0
    """Bits per inference that did not fit when written."""


Footprint = Callable[[Value, BufferType], float]
"""The bits a value of a declared type holds (the whole batch)."""


@dataclass(frozen=True)
class Activations:
    """What a target tells the interpreter to place a program's activations."""

    homes: Mapping[str, str]
    """Home level by buffer kind (`f32`, `spk`, `addr`)."""
    footprint: Footprint
    reserved: Mapping[str, float] = field(default_factory=dict)
    """Bits of a level the weights take for the whole run."""


@dataclass
class ActivationMemory:
    """The activations held in each on-chip level while a program runs.

    The design runs one inference after another, each with the levels to itself, so occupancy
    is per inference: a value's share of the batch (the address lists of encoded spikes at
    their real length, averaged over the batch). A value takes what is free of its home level
    when it is written and keeps it until its last reader has run; what does not fit is written
    to DRAM by its producer and read back from DRAM by each reader (both charged to that
    instruction, with the DRAM's cycles). A real value read only by the next instruction is
    streamed between the two units (pipelined) and takes no space; weights are the weight
    plan's (`targets.memory`); a rename (an instruction that costs nothing) keeps its input's
    space."""

    hw: Hardware
    homes: Mapping[str, str]
    """Home level of an activation by buffer kind (`f32`, `spk`, `addr`)."""
    footprint: Footprint
    batch: int
    reserved: Mapping[str, float] = field(default_factory=dict)
    """Bits of a level taken for the whole run by something else (the resident weights and the
    weight staging of a level that holds weights too)."""
    use: dict[str, LevelUse] = field(default_factory=dict)
    placed: dict[str, Placement] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for level in dict.fromkeys(self.homes.values()):
            found = levels(self.hw).get(level)
            if found is None or not found.on_chip:
                raise ProgramError(f"{self.hw.name}: no on-chip memory level '{level}'")
            room = max(found.capacity_bits - self.reserved.get(level, 0.0), 0.0)
            self.use[level] = LevelUse(room)

    def read(self, name: str, cost: Cost) -> None:
        """An instruction reads `name`: its spilled part comes back from DRAM."""
        placement = self.placed.get(name)
        if placement is not None and placement.spilled > 0:
            self._dram(cost, placement.spilled * self.batch, write=False)

    def write(self, name: str, value: Value, declared: BufferType, cost: Cost) -> None:
        """An instruction wrote `name`: it takes what is free of its home level."""
        level = self.homes[declared.kind]
        use = self.use[level]
        bits = self.footprint(value, declared) / self.batch
        on_chip = min(bits, max(use.capacity_bits - use.used, 0.0))
        use.used += on_chip
        use.peak = max(use.peak, use.used)
        placement = self.placed[name] = Placement(level, bits, on_chip)
        if placement.spilled > 0:
            use.spilled_bits += placement.spilled
            self._dram(cost, placement.spilled * self.batch, write=True)

    def rename(self, old: str, new: str) -> None:
        """`new` holds `old`'s data in place (its last reader was the renaming)."""
        placement = self.placed.pop(old, None)
        if placement is not None:
            self.placed[new] = placement

    def release(self, name: str) -> None:
        """The value's last reader has run: its space is free again."""
        placement = self.placed.pop(name, None)
        if placement is not None:
            self.use[placement.level].used -= placement.on_chip

    def _dram(self, cost: Cost, bits: float, write: bool) -> None:
        off_chip = dram(self.hw)
        cost.access(off_chip.name, bits, write=write, purpose="spill")
        cost.cycles += off_chip.latency_cycles + math.ceil(bits / off_chip.bits_per_cycle)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per level: the capacity left to activations, their peak occupancy, and the bits
        spilled (per inference)."""
        return {
            name: {
                "capacity_bits": use.capacity_bits,
                "peak_bits": use.peak,
                "spilled_bits": use.spilled_bits,
            }
            for name, use in self.use.items()
        }
