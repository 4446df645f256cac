"""A generic vector unit, priced by a target's own hardware entries: what every design needs for
the ops it has no dedicated unit for (layer norms, reshapes, routing, ...). It does every element,
with no zero skipping; its work is counted by `targets.workload.vector_work`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from runtime.isa import Cost, CostFunction, Execution, Metrics
from runtime.onnx_region import UNRAISED
from targets.instructions import ADD16, COMPARE16, LOGIC1, MULT16, RANDOM16, SPECIAL16
from targets.workload import (
    MEMBRANE_OPS,
    STATELESS_NEURONS,
    moved_bits,
    size_of,
    spikes_per_step,
    vector_work,
)

SPIKING_OPS = (*MEMBRANE_OPS, *STATELESS_NEURONS, "bernoulli", "stochastic_attention")
"""Ops whose work is neurons: their membrane updates, and the spikes they fire (none for the
leaky integrator, whose result is real)."""


@dataclass(frozen=True)
class VectorPrices:
    """The hardware entries a vector unit's costs read: `<unit>.lanes`, `<unit>.special_cycles`
    and `<unit>.port_bits` of its own table, the width of a value, the memory it reads and
    writes, and the standard compute energies."""

    unit: str
    activation_bits: str
    memory: str
    """Energy per bit of the buffer the unit reads and writes."""
    passes: float = 1.0
    """Fraction of the work done (e.g. 1/T for an ANN counterpart that runs once)."""
    add: str = ADD16
    mult: str = MULT16
    compare: str = COMPARE16
    logic: str = LOGIC1
    special: str = SPECIAL16
    random: str = RANDOM16


def vector_cost(op: str, prices: VectorPrices) -> CostFunction:
    def cost(e: Execution) -> Cost:
        hw = e.hardware
        kinds = [t.kind for t in e.input_types]
        work = vector_work(op, e.inputs, e.outputs, e.instruction.attrs, kinds)
        result = Cost(0.0, e.timesteps, hw)
        if not work.moves:
            return result
        bits_per_value = hw.integer(prices.activation_bits)
        read = moved_bits(e.inputs, e.input_types, bits_per_value)
        written = moved_bits(e.outputs, e.output_types, bits_per_value)
        bits = read + written
        f = prices.passes
        compute = float(math.ceil(work.simple_ops * f / hw.integer(f"{prices.unit}.lanes")))
        compute += work.specials * f * hw.integer(f"{prices.unit}.special_cycles")
        result.cycles = float(
            max(compute, math.ceil(bits * f / hw.integer(f"{prices.unit}.port_bits")))
        )
        result.energy("compute", prices.add, work.adds * f)
        result.energy("compute", prices.mult, work.mults * f)
        result.energy("compute", prices.compare, work.compares * f)
        result.energy("compute", prices.logic, work.logic * f)
        result.energy("compute", prices.special, work.specials * f)
        result.energy("compute", prices.random, work.randoms * f)
        result.access(prices.memory, read * f)
        result.access(prices.memory, written * f, write=True)
        if op in SPIKING_OPS:
            fires = e.output_types[0].kind != "f32"
            fired = int(spikes_per_step(e.outputs[0], e.timesteps).sum()) if fires else 0
            result.metrics = Metrics(
                dense_synops=work.adds * f,
                membrane_updates=size_of(e.inputs[0]) * f if op in MEMBRANE_OPS else 0,
                spikes=fired,
                neurons=size_of(e.outputs[0]) if fires else 0,
            )
        elif op == "onnx_region" and str(e.instruction.attrs.get("name", "")).startswith(
            UNRAISED
        ):  # a neuron spikec recognised but could not raise: its outputs' neurons
            fired = sum(int(spikes_per_step(v, e.timesteps).sum()) for v in e.outputs)
            result.metrics = Metrics(
                dense_synops=work.adds * f,
                membrane_updates=sum(size_of(v) for v in e.outputs) * f,
                spikes=fired,
                neurons=sum(size_of(v) for v in e.outputs),
            )
        elif op == "onnx_region":  # a generic op: the products of its nodes, on real values
            result.metrics = Metrics(dense_synops=work.macs * f, effective_macs=work.macs * f)
        elif op in ("ssa", "sdsa"):
            result.metrics = Metrics(dense_synops=work.adds * f)
        elif op == "token_attention":  # its LIF: one membrane update per channel sum
            spikes = spikes_per_step(e.outputs[0], e.timesteps)
            result.metrics = Metrics(
                dense_synops=size_of(e.inputs[0]) * f,
                membrane_updates=work.compares * f,
                spikes=int(spikes.sum()),
                neurons=size_of(e.outputs[0]),
            )
        return result

    return cost
