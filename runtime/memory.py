"""Memory levels of a design, and where the values of a run actually sit.

A hardware description declares its levels as tables `[memory.<level>]`: `kind` (`sram`,
`regs`, `dram`), `capacity` (kB; none for DRAM), `word_bits`, `banks` and `ports` (an on-chip
level delivers banks x ports words a cycle) or `bits_per_cycle` (DRAM), `latency_cycles`,
`read_energy` and `write_energy` (pJ per access of a word; an SRAM's follow from its capacity by
the `sram` rule, `runtime.technology`) and `leakage` (mW).

A program says where each activation lives (`.buffer %x : f32[...] in act_sram`). While it runs,
`Occupancy` places every value produced into its level, inference by inference, at the size it
really has (a batch item's share; the address lists of encoded spikes at their real length). A
value takes what is free when it is written and keeps it until its last read; what does not
fit spills to DRAM (written there, and read back by each reader). No value is ever evicted to make
room for another, so a larger level never spills more: each value's on-chip share can only grow
with the capacity, and so can the free space after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from runtime.errors import ProgramError
from runtime.hardware import Hardware

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

    @property
    def prefix(self) -> str:
        return f"memory.{self.name}"

    @property
    def read_entry(self) -> str:
        return f"{self.prefix}.read_energy"

    @property
    def write_entry(self) -> str:
        return f"{self.prefix}.write_energy"

    @property
    def leakage_entry(self) -> str:
        return f"{self.prefix}.leakage"

    @property
    def component(self) -> str:
        """The report's energy component of its accesses."""
        return "dram" if self.kind == "dram" else "sram"

    @property
    def on_chip(self) -> bool:
        return self.kind != "dram"


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
    found = [level for level in levels(hw).values() if level.kind == "dram"]
    if len(found) != 1:
        raise ProgramError(f"{hw.name}: a description needs exactly one level of kind dram")
    return found[0]


@dataclass
class Placement:
    """Where one value sits: its home level, and per batch item its bits and how many of them
    are on chip (the rest spilled to DRAM)."""

    level: str
    bits: np.ndarray
    on_chip: np.ndarray

    @property
    def spilled(self) -> np.ndarray:
        return self.bits - self.on_chip

    @property
    def on_chip_share(self) -> float:
        """The share of the value's bits on chip (1 for an empty value)."""
        total = float(self.bits.sum())
        return float(self.on_chip.sum()) / total if total else 1.0


@dataclass
class LevelUse:
    capacity_bits: float
    used: np.ndarray
    peak: np.ndarray
    spilled_bits: float = 0.0


@dataclass
class Occupancy:
    """The activations held in each on-chip level, batch item by batch item (the design runs
    one inference after another: each has the level to itself)."""

    batch: int
    use: dict[str, LevelUse] = field(default_factory=dict)
    placed: dict[str, Placement] = field(default_factory=dict)

    @classmethod
    def of(cls, hw: Hardware, batch: int) -> Occupancy:
        use = {
            name: LevelUse(level.capacity_bits, np.zeros(batch), np.zeros(batch))
            for name, level in levels(hw).items()
            if level.on_chip
        }
        return cls(batch, use)

    def place(self, buffer: str, level: str, bits: np.ndarray) -> Placement:
        """Place a value just written: it takes what is free of its level."""
        use = self.use[level]
        on_chip = np.minimum(bits, np.maximum(use.capacity_bits - use.used, 0.0))
        use.used += on_chip
        np.maximum(use.peak, use.used, out=use.peak)
        use.spilled_bits += float((bits - on_chip).sum())
        placement = self.placed[buffer] = Placement(level, bits, on_chip)
        return placement

    def release(self, buffer: str) -> None:
        """The value's last reader has run: its space is free again."""
        placement = self.placed.pop(buffer, None)
        if placement is not None:
            self.use[placement.level].used -= placement.on_chip

    def summary(self) -> dict[str, dict[str, float]]:
        """Per level: capacity, the peak occupancy of any inference, and the bits spilled."""
        return {
            name: {
                "capacity_bits": use.capacity_bits,
                "peak_bits": float(use.peak.max()) if use.peak.size else 0.0,
                "spilled_bits": use.spilled_bits,
            }
            for name, use in self.use.items()
        }
