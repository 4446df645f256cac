"""Where a program's weights live and how they reach the units: the weight plan every target's
lowering makes, and the cost of the weight loads it emits.

The design runs one inference after another. Its weight level (an SRAM, or a global buffer)
holds what it can of the weights for the whole run; the rest streams from DRAM, inference by
inference, through a staging part of the level.

- All weights fit: every weight is *resident*, loaded once per run (its DRAM traffic amortised
  over the batch).
- Otherwise half the level stages the streamed weights and the other half holds the resident
  ones, chosen to hold as many bits as fit (a knapsack at 1 kB granularity, so a larger level
  never holds fewer). A streamed weight is loaded once per inference, in tiles of the staging
  part (half of it when `memory.double_buffer`: one tile fills while the units read the other).

A streamed layer is tiled by the smaller DRAM traffic of two loop orders, from the real size of
its input in that inference (the address lists of encoded spikes at their real length):

- weight tiles outer: each weight tile is fetched once and the whole input passes it; an input
  that does not fit its activation level is written out to DRAM once and read back for every
  weight tile;
- input tiles outer: the input is cut into tiles of its activation level and all the weights
  are fetched again for every input tile (re-fetches).

Timing: a resident weight's load waits only for the DMA; a streamed one also waits for its
staging buffer: for the layer streamed before it to finish (single-buffered) or the one before
that (double-buffered), so loads overlap compute only when the level is double-buffered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from runtime.hardware import Hardware
from runtime.isa import AttrSpec, Cost, CostFunction, Execution, Opcode, Value
from runtime.memory import dram, levels
from runtime.program import AttrValue, Instruction, Program
from targets.workload import integer, size_of, stored_bits

GRANULE_BITS = 8192
"""The knapsack's granularity: 1 kB."""

LOAD_ATTRS = {
    "resident": AttrSpec(bool, False),
    "tile_bits": AttrSpec(int, False),
    "tile_input": AttrSpec(str, False),
    "tile_input_level": AttrSpec(str, False),
}
"""A weight load's plan: resident for the run, or streamed in tiles of `tile_bits` with the
consumer reading `tile_input` (held in `tile_input_level`)."""


@dataclass
class WeightPlan:
    """What the plan decided, for the manifest and the memory report."""

    level: str
    capacity_bits: float
    weight_bits: float
    resident_bits: float
    staging_bits: float
    tile_bits: float
    resident: list[str] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "level": self.level,
            "capacity_bytes": self.capacity_bits / 8,
            "weight_bytes": self.weight_bits / 8,
            "resident_bytes": self.resident_bits / 8,
            "staging_bytes": self.staging_bits / 8,
            "tile_bytes": self.tile_bits / 8,
            "resident": len(self.resident),
            "streamed": len(self.streamed),
        }


def most_that_fit(sizes: Mapping[str, float], capacity_bits: float) -> set[str]:
    """The names whose sizes sum to the most bits within `capacity_bits` (0/1 knapsack, sizes
    rounded up to `GRANULE_BITS`; ties keep the earlier names)."""
    slots = int(capacity_bits // GRANULE_BITS)
    names = list(sizes)
    if slots <= 0 or not names:
        return set()
    best = np.zeros(slots + 1)
    taken = np.zeros((len(names), slots + 1), dtype=bool)
    for index, name in enumerate(names):
        need = math.ceil(sizes[name] / GRANULE_BITS)
        if need > slots:
            continue
        with_it = np.full(slots + 1, -1.0)
        with_it[need:] = best[: slots + 1 - need] + sizes[name]
        better = with_it > best
        taken[index] = better
        best = np.where(better, with_it, best)
    chosen: set[str] = set()
    slot = int(np.argmax(best))
    for index in range(len(names) - 1, -1, -1):
        if taken[index, slot]:
            chosen.add(names[index])
            slot -= math.ceil(sizes[names[index]] / GRANULE_BITS)
    return chosen


def _consumer(program: Program, start: int, buffer: str) -> Instruction | None:
    for ins in program.instructions[start:]:
        if buffer in ins.inputs:
            return ins
    return None


def plan_weights(
    program: Program,
    constants: Mapping[str, np.ndarray],
    hw: Hardware,
    level: str,
    weight_bits: int,
    load_opcode: str,
    activation_level: Mapping[str, str],
) -> WeightPlan:
    """Decide resident and streamed weights and write the plan into the program's weight loads
    (`LOAD_ATTRS`, and for a streamed load the buffer it waits for). `activation_level` names
    the level holding an activation of each buffer kind (`f32`, `spk`, `addr`)."""
    loads = [(i, ins) for i, ins in enumerate(program.instructions) if ins.opcode == load_opcode]
    sizes = {ins.inputs[0]: float(constants[ins.inputs[0]].size * weight_bits) for _, ins in loads}
    capacity = levels(hw)[level].capacity_bits
    total = sum(sizes.values())
    double = bool(hw["memory.double_buffer"])
    if total <= capacity:
        resident, staging, tile = set(sizes), 0.0, 0.0
    else:
        staging = capacity / 2
        resident = most_that_fit(sizes, capacity - staging)
        tile = staging / 2 if double else staging
    plan = WeightPlan(
        level, capacity, total, sum(sizes[n] for n in resident), staging, math.floor(tile)
    )
    waiting: list[str] = []
    """Outputs of the consumers of the streamed loads so far."""
    for index, ins in loads:
        name = ins.inputs[0]
        consumer = _consumer(program, index + 1, ins.outputs[0])
        if consumer is not None:
            ins.attrs["layer"] = consumer.layer  # its DRAM traffic is the reading layer's
        if name in resident:
            ins.attrs["resident"] = True
            plan.resident.append(name)
            continue
        plan.streamed.append(name)
        ins.attrs["resident"] = False
        ins.attrs["tile_bits"] = max(1, math.floor(tile))
        if consumer is None:
            continue
        activations = [n for n in consumer.inputs if not n.startswith("@") and n != ins.outputs[0]]
        if activations:
            kind = program.buffers[activations[0]].type.kind
            ins.attrs["tile_input"] = activations[0]
            ins.attrs["tile_input_level"] = activation_level[kind]
        behind = 2 if double else 1
        if len(waiting) >= behind and waiting[-behind]:
            ins.inputs = [name, waiting[-behind]]
        waiting.append(consumer.outputs[0] if consumer.outputs else "")
    return plan


def weight_load_cost(
    level: str, weight_bits_entry: str, activation_bits_entry: str
) -> CostFunction:
    """The cost of a planned weight load into `level` (see the module's docstring)."""

    def cost(e: Execution) -> Cost:
        hw = e.hardware
        attrs = e.instruction.attrs
        bits = float(size_of(e.inputs[0]) * hw.integer(weight_bits_entry))
        off_chip = dram(hw)
        result = Cost(0.0, e.timesteps, hw)
        if attrs.get("resident", True):
            result.access(off_chip.name, bits, purpose="fill")
            result.access(level, bits, write=True)
            moved = bits
        else:
            fetches, spilled, rereads, x_bits = _tiling(e, bits, activation_bits_entry)
            batch = e.batch
            result.access(off_chip.name, bits * batch, purpose="fill")
            if fetches > 1:
                result.access(off_chip.name, bits * (fetches - 1) * batch, purpose="refetch")
            result.access(level, bits * fetches * batch, write=True)
            moved = bits * fetches * batch
            if spilled:
                home = str(attrs["tile_input_level"])
                result.access(home, spilled * batch)
                result.access(off_chip.name, spilled * batch, write=True, purpose="spill")
                result.access(off_chip.name, spilled * rereads * batch, purpose="spill")
                result.access(home, spilled * rereads * batch, write=True)
                moved += spilled * (1 + rereads) * batch
            result.metrics.counters.update(
                {
                    "weight_fetches": float(fetches),
                    "input_rereads": float(rereads),
                    "input_bits": x_bits,
                }
            )
        result.cycles = float(off_chip.latency_cycles + math.ceil(moved / off_chip.bits_per_cycle))
        return result

    return cost


def _tiling(
    e: Execution, weight_bits: float, activation_bits_entry: str
) -> tuple[int, float, int, float]:
    """(weight fetches per inference, input bits spilled, times they are read back, the
    input's bits) of the cheaper loop order for this inference's real input."""
    attrs = e.instruction.attrs
    name = attrs.get("tile_input")
    found = e.peek(name) if isinstance(name, str) and e.peek is not None else None
    if found is None:
        return 1, 0.0, 0, 0.0
    value, declared = found
    hw = e.hardware
    x_bits = stored_bits(value, declared.kind, hw.integer(activation_bits_entry)) / e.batch
    room = levels(hw)[str(attrs["tile_input_level"])].capacity_bits
    if x_bits <= room:
        return 1, 0.0, 0, x_bits
    weight_tiles = math.ceil(weight_bits / max(1, integer(attrs, "tile_bits", 1)))
    input_tiles = math.ceil(x_bits / room)
    refetch_traffic = weight_bits * (input_tiles - 1)
    spill_traffic = x_bits * (1 + weight_tiles)
    if refetch_traffic <= spill_traffic:
        return input_tiles, 0.0, 0, x_bits
    return 1, x_bits, weight_tiles, x_bits


def weight_load_opcode(
    name: str, level: str, weight_bits_entry: str, activation_bits_entry: str
) -> Opcode:
    """The opcode of a planned weight load (its second input, if any, only orders it)."""

    def keep(args: Sequence[Value], attrs: dict[str, AttrValue], e: Execution) -> list[Value]:
        return [args[0]]

    return Opcode(
        name,
        (1, 2),
        1,
        keep,
        weight_load_cost(level, weight_bits_entry, activation_bits_entry),
        LOAD_ATTRS,
        f"weights from DRAM into {level} (resident for the run, or streamed in tiles)",
        transfer=True,
        results="first",
    )
