"""The sparse target's instructions: what each unit computes (the `spike` op's numpy semantics)
and what it costs, from the data it actually saw.

Units (HARDWARE.md): `enc` the spike encoder (membranes, thresholds, address writing), `tile` the
SPS tile engine (MACs on real inputs, accumulates on spikes), `slu` the spike linear unit, `smp`
the spike maxpool unit, `sma` the spike mask-add module (SDSA and QKFormer's token attention), `res`
the residual adder, `vec`
a fallback vector unit for ops the design has no unit for, and `dma` the DRAM interface.

Every cost reads how its spike operands are held: as addresses (`addr` buffers, the sparse
design) a unit visits only the spikes; as bitmaps (`spk`, the dense baseline) it visits every
position. Hardware entries are named in full where they are spent, so the ledger cites them.
"""

from __future__ import annotations

import math

import numpy as np

from runtime.isa import (
    Cost,
    CostFunction,
    Execution,
    InstructionSet,
    Metrics,
)
from runtime.ops import SEMANTICS, dense
from targets.instructions import (
    ADD16,
    ADD32,
    COMPARE16,
    LOGIC1,
    MULT8,
    MULT16,
    by_prefix,
    dram_cost,
    reference_opcode,
    transfer_opcode,
)
from targets.memory import weight_load_opcode
from targets.vector import VectorPrices, vector_cost
from targets.workload import (
    CUBA_LIF_UPDATE,
    NeuronUpdate,
    feedback_accumulates,
    integer,
    ints,
    neuron_update,
    nonzeros_per_position,
    shape_of,
    size_of,
    spikes_per_step,
    stored_bits,
    stored_bits_per_step,
    token_sums,
    window_coverage,
)

SPIKE_SRAM = "spike_sram"
MEMBRANE_SRAM = "membrane_sram"
ACTIVATION_BUFFER = "activation_buffer"
PSUM_BUFFER = "psum_buffer"
WEIGHT_SRAM = "weight_sram"


class Context:
    """An execution with the hardware numbers its costs use."""

    def __init__(self, e: Execution) -> None:
        self.e = e
        self.hw = e.hardware
        self.steps = e.timesteps
        self.weight_bits = self.hw.integer("precision.weight_bits")
        self.membrane_bits = self.hw.integer("precision.membrane_bits")
        self.activation_bits = self.hw.integer("precision.activation_bits")

    def cost(self, cycles: float) -> Cost:
        return Cost(float(cycles), self.steps, self.hw)

    def kind(self, index: int) -> str:
        return self.e.input_types[index].kind

    def out_kind(self, index: int = 0) -> str:
        return self.e.output_types[index].kind

    def bits_in(self, index: int) -> np.ndarray:
        """Bits read of input `index`, per timestep."""
        value = self.e.inputs[index]
        return stored_bits_per_step(value, self.kind(index), self.activation_bits, self.steps)

    def bits_out(self, index: int = 0) -> np.ndarray:
        value = self.e.outputs[index]
        return stored_bits_per_step(value, self.out_kind(index), self.activation_bits, self.steps)

    def spike_memory(self, index: int) -> str:
        """Where input `index` is held: spikes in the spike SRAM, reals in the activation
        buffer."""
        return SPIKE_SRAM if self.kind(index) in ("spk", "addr") else ACTIVATION_BUFFER


# -- the spike encoder ---------------------------------------------------------------------------


def _encoder_cycles(
    c: Context, positions_per_step: float, spikes: np.ndarray, addresses: bool
) -> float:
    """The encoder scans `neuron_lanes` positions a cycle; writing addresses, it also emits at
    most `addresses_per_cycle` of them a cycle, whichever is slower, timestep by timestep."""
    scan = math.ceil(positions_per_step / c.hw.integer("encoder.neuron_lanes"))
    if not addresses:
        return float(scan * c.steps)
    emit = np.ceil(spikes / c.hw.integer("encoder.addresses_per_cycle"))
    return float(np.maximum(scan, emit).sum())


_NEURON_UPDATES = {
    "lif": NeuronUpdate(adds=2, mults=0, compares=1, state_words=1),
    "if": NeuronUpdate(adds=1, mults=0, compares=1, state_words=1),
    "leaky": NeuronUpdate(adds=1, mults=1, compares=1, state_words=1),
    "cuba_lif": CUBA_LIF_UPDATE,
}
"""Per membrane update in an encoder lane: its arithmetic, and the state words read and written
in the membrane SRAM (the current-based LIF keeps its synaptic current there too). The kinds
`neuron_update` counts (Norse's box LIF, the leaky integrator, the threshold, ...) are its."""


def _neuron_cost(kind: str) -> CostFunction:
    """A layer of neurons: every membrane updated every timestep, then the spikes written as
    addresses or a bitmap. A lane completes one neuron's update a cycle, whatever its kind
    (pipelined); the kinds differ in the arithmetic and state traffic they are charged. The
    input is read where it is held (a real current from the activation buffer, spikes from the
    spike SRAM). The leaky integrator (assumption: an encoder lane with its comparison unused)
    writes its membrane, a real, to the activation buffer and fires nothing; the threshold (a
    lane's comparison alone) keeps no membrane. A recurrent neuron's feedback is spike-driven as
    the spike linear unit's products are: each spike of the step before reads its row of the
    recurrent weight from the weight SRAM and adds it (`slu.lanes` adds a cycle; assumption:
    the design has no recurrence, so it is priced as its own spike-driven accumulate)."""

    def cost(e: Execution) -> Cost:
        work = neuron_update(kind, e.instruction.attrs) or _NEURON_UPDATES[kind]
        c = Context(e)
        updates = size_of(e.inputs[0])
        fires = c.out_kind() != "f32"
        spikes = spikes_per_step(e.outputs[0], c.steps) if fires else np.zeros(c.steps)
        cycles = _encoder_cycles(c, updates / c.steps, spikes, c.out_kind() == "addr")
        feedback = feedback_accumulates(e.inputs, e.outputs, e.instruction.attrs)
        if feedback.size:
            cycles += float(np.ceil(feedback / c.hw.integer("slu.lanes")).sum())
        result = c.cost(cycles)
        if feedback.size:
            result.energy("compute", ADD16, feedback)
            result.access(WEIGHT_SRAM, feedback * c.weight_bits)
        result.energy("compute", ADD16, work.adds * updates)
        if work.mults:
            result.energy("compute", MULT16, work.mults * updates)
        result.energy("compute", COMPARE16, work.compares * updates)
        result.access(c.spike_memory(0), c.bits_in(0))
        if work.state_words:
            result.modify(MEMBRANE_SRAM, work.state_words * updates * c.membrane_bits)
        result.access(SPIKE_SRAM if fires else ACTIVATION_BUFFER, c.bits_out(), write=True)
        result.metrics = Metrics(
            membrane_updates=updates if work.state_words else 0,
            spikes=int(spikes.sum()),
            neurons=updates if fires else 0,
        )
        return result

    return cost


def _pack_cost(e: Execution) -> Cost:
    """Bitmap to addresses (`ENC.PACK`) or back (`ENC.UNPACK`) in the encoder."""
    c = Context(e)
    spikes = spikes_per_step(e.inputs[0], c.steps)
    positions = size_of(e.inputs[0]) / c.steps
    result = c.cost(_encoder_cycles(c, positions, spikes, True))
    result.access(SPIKE_SRAM, c.bits_in(0))
    result.access(SPIKE_SRAM, c.bits_out(), write=True)
    return result


# -- the spike linear unit -----------------------------------------------------------------------


def _slu_cost(e: Execution) -> Cost:
    """For each input address, read that weight row and add it to the row's accumulators
    (`lanes` a cycle); a bitmap row visits every position. Accumulators start from the bias and
    are written out once per row."""
    c = Context(e)
    x, out = e.inputs[0], e.outputs[0]
    d_in, d_out = shape_of(x)[-1], shape_of(out)[-1]
    rows = size_of(x) // d_in
    spikes = spikes_per_step(x, c.steps)
    visited = spikes if c.kind(0) == "addr" else np.full(c.steps, rows / c.steps * d_in)
    groups = math.ceil(d_out / c.hw.integer("slu.lanes"))
    result = c.cost((visited.sum() + rows) * groups)
    result.energy("compute", ADD16, visited * d_out)
    if len(e.inputs) == 3:
        result.energy("compute", ADD16, rows * d_out)
    result.access(WEIGHT_SRAM, visited * d_out * c.weight_bits)
    result.access(SPIKE_SRAM, c.bits_in(0))
    result.access(ACTIVATION_BUFFER, rows * d_out * c.activation_bits, write=True)
    result.metrics = Metrics(dense_synops=rows * d_in * d_out, effective_acs=spikes.sum() * d_out)
    return result


# -- the SPS tile engine -------------------------------------------------------------------------


def _array(c: Context) -> tuple[int, int]:
    return c.hw.integer("tile.rows"), c.hw.integer("tile.columns")


def _mac_cost(
    c: Context,
    macs: float,
    effective: float,
    reduction: int,
    out_channels: int,
    outputs: int,
    weights: int,
) -> Cost:
    """A weight-stationary MAC array: each weight read once, each input once per block of
    `columns` output channels, partial sums spilled once per block of `rows` reduction terms."""
    rows, columns = _array(c)
    e = c.e
    result = c.cost(math.ceil(macs / (rows * columns)))
    result.energy("compute", MULT8, macs)
    result.energy("compute", ADD32, macs)
    reuse = math.ceil(out_channels / columns)
    result.access(ACTIVATION_BUFFER, size_of(e.inputs[0]) * c.activation_bits * reuse)
    result.access(WEIGHT_SRAM, weights * c.weight_bits)
    spills = math.ceil(reduction / rows) - 1
    if spills:
        result.modify(PSUM_BUFFER, spills * outputs * c.membrane_bits)
    result.access(ACTIVATION_BUFFER, outputs * c.activation_bits, write=True)
    result.metrics = Metrics(dense_synops=macs, effective_macs=effective)
    return result


def _conv_cost(e: Execution) -> Cost:
    """A convolution: on a real input (the first conv, the image) every MAC is done; on spikes
    each input spike adds its kernel slice into the partial sums of every output it reaches
    (`rows x columns` accumulates a cycle), and a bitmap visits every position. Weights are
    stationary (each read once); the input is read once per block of `columns` output
    channels; every accumulate reads and writes its partial sum."""
    c = Context(e)
    x, w, out = e.inputs[0], e.inputs[1], e.outputs[0]
    c_in, h, wd = shape_of(x)[-3:]
    c_out, c_group, kh, kw = shape_of(w)
    per_group = c_out // integer(e.instruction.attrs, "group")
    attrs = e.instruction.attrs
    coverage = window_coverage(
        (h, wd), (kh, kw), ints(attrs, "strides"), ints(attrs, "pads"), ints(attrs, "dilations")
    ).reshape(-1)
    frames_per_step = size_of(x) // (c.steps * c_in * h * wd)
    every = np.full(c.steps, frames_per_step * c_in * float(coverage.sum()) * per_group)
    effective = nonzeros_per_position(x, c.steps, h * wd) @ coverage * per_group
    if c.kind(0) == "f32":
        reduction = c_group * kh * kw
        return _mac_cost(
            c,
            float(every.sum()),
            float(effective.sum()),
            reduction,
            c_out,
            size_of(out),
            size_of(w),
        )
    visited = effective if c.kind(0) == "addr" else every
    rows, columns = _array(c)
    result = c.cost(math.ceil(visited.sum() / (rows * columns)))
    result.energy("compute", ADD16, visited)
    result.access(WEIGHT_SRAM, size_of(w) * c.weight_bits)
    result.modify(PSUM_BUFFER, visited * c.membrane_bits)
    result.access(SPIKE_SRAM, c.bits_in(0) * math.ceil(per_group / columns))
    if len(e.inputs) == 3:
        result.energy("compute", ADD16, size_of(out))
    result.access(ACTIVATION_BUFFER, size_of(out) * c.activation_bits, write=True)
    result.metrics = Metrics(dense_synops=float(every.sum()), effective_acs=float(effective.sum()))
    return result


def _tile_linear_cost(e: Execution) -> Cost:
    """A linear layer on real inputs, on the tile engine's MAC array."""
    c = Context(e)
    x, w, out = e.inputs[0], e.inputs[1], e.outputs[0]
    d_in, d_out = shape_of(x)[-1], shape_of(out)[-1]
    rows = size_of(x) // d_in
    effective = float(np.count_nonzero(dense(x))) * d_out
    return _mac_cost(c, rows * d_in * d_out, effective, d_in, d_out, size_of(out), size_of(w))


# -- the spike maxpool unit and the spike mask-add module ---------------------------------------


def _smp_cost(e: Execution) -> Cost:
    """A max pool of spikes is an OR: each input spike sets every window that covers it; a
    bitmap ORs every window position."""
    c = Context(e)
    x = e.inputs[0]
    h, wd = shape_of(x)[-2:]
    attrs = e.instruction.attrs
    coverage = window_coverage(
        (h, wd), ints(attrs, "kernel"), ints(attrs, "strides"), ints(attrs, "pads")
    ).reshape(-1)
    if c.kind(0) == "addr":
        ors = nonzeros_per_position(x, c.steps, h * wd) @ coverage
    else:
        ors = np.full(c.steps, size_of(x) / c.steps / (h * wd) * float(coverage.sum()))
    result = c.cost(math.ceil(ors.sum() / c.hw.integer("smp.lanes")))
    result.energy("compute", LOGIC1, ors)
    result.access(SPIKE_SRAM, c.bits_in(0))
    result.access(SPIKE_SRAM, c.bits_out(), write=True)
    return result


def _sma_cost(e: Execution) -> Cost:
    """SDSA `Q AND LIF(sum over tokens of K AND V)`: with addresses, each token's K and V
    address lists are merged (one comparison per address), matches count into per-channel
    sums, a LIF fires on the sums, and each Q address is kept if its channel fired; with bitmaps
    every position is ANDed, counted and masked."""
    c = Context(e)
    q, k, v = e.inputs[:3]
    t, b, n, d = shape_of(q)
    lanes = c.hw.integer("sma.lanes")
    matches = (dense(k) * dense(v)).reshape(c.steps, -1).sum(axis=1, dtype=np.float64)
    channels = b * d  # per timestep
    if c.kind(1) == "addr":
        compares = spikes_per_step(k, c.steps) + spikes_per_step(v, c.steps)
        masks = spikes_per_step(q, c.steps)
        cycles = np.ceil(compares / lanes) + math.ceil(channels / lanes) + np.ceil(masks / lanes)
        result = c.cost(cycles.sum())
        result.energy("compute", COMPARE16, compares)
        result.energy("compute", ADD16, matches)
        result.energy("compute", LOGIC1, masks)
    else:
        positions = np.full(c.steps, float(b * n * d))
        cycles = 2 * np.ceil(positions / lanes) + math.ceil(channels / lanes)
        result = c.cost(cycles.sum())
        result.energy("compute", LOGIC1, 2 * positions)
        result.energy("compute", ADD16, positions)
    spike_bits = c.bits_in(0) + c.bits_in(1) + c.bits_in(2)
    return _sma_lif(result, c, e, channels, spike_bits, float(t * b * n * d), float(matches.sum()))


def _sma_token_cost(e: Execution) -> Cost:
    """QKFormer's token attention `K AND LIF(sum over a head's channels of Q)` on the mask-add
    module, the mirror of SDSA's mask-add: with addresses, each Q address adds one into the
    counter of its (token, head) (a row of addresses is a token, its head is the address
    divided by dh), a LIF fires on every counter, and each K address is kept if its (token,
    head) fired (one gate); with bitmaps every Q position is added and every K position gated.
    The LIF's membranes (one per token and head) live in the membrane SRAM, as SDSA's do."""
    c = Context(e)
    q, k = e.inputs[:2]
    t, b, n, d = shape_of(q)
    lanes = c.hw.integer("sma.lanes")
    sums = token_sums((1, b, n, d), integer(e.instruction.attrs, "heads"))  # per timestep
    q_spikes = spikes_per_step(q, c.steps)
    positions = np.full(c.steps, float(b * n * d))
    adds = q_spikes if c.kind(0) == "addr" else positions
    gates = spikes_per_step(k, c.steps) if c.kind(1) == "addr" else positions
    cycles = np.ceil(adds / lanes) + math.ceil(sums / lanes) + np.ceil(gates / lanes)
    result = c.cost(cycles.sum())
    result.energy("compute", ADD16, adds)
    result.energy("compute", LOGIC1, gates)
    spike_bits = c.bits_in(0) + c.bits_in(1)
    return _sma_lif(result, c, e, sums, spike_bits, float(t * b * n * d), float(q_spikes.sum()))


def _sma_lif(
    result: Cost,
    c: Context,
    e: Execution,
    neurons: int,
    spike_bits: np.ndarray,
    dense_synops: float,
    acs: float,
) -> Cost:
    """The mask-add module's LIF on its sums, as SDSA and token attention both use it: every
    step, each of `neurons` membranes is updated (two adds and a comparison) and read and
    written in the membrane SRAM; then the instruction's `spike_bits` read from the spike SRAM,
    its result written there, and its workload metrics."""
    result.energy("compute", ADD16, 2 * neurons * c.steps)
    result.energy("compute", COMPARE16, neurons * c.steps)
    result.modify(MEMBRANE_SRAM, neurons * c.steps * c.membrane_bits)
    result.access(SPIKE_SRAM, spike_bits)
    result.access(SPIKE_SRAM, c.bits_out(), write=True)
    spikes = spikes_per_step(e.outputs[0], c.steps)
    result.metrics = Metrics(
        dense_synops=dense_synops,
        effective_acs=acs,
        membrane_updates=float(neurons * c.steps),
        spikes=int(spikes.sum()),
        neurons=size_of(e.outputs[0]),
    )
    return result


# -- the residual adder, the vector unit and DRAM ---------------------------------------------


def _residual_cost(e: Execution) -> Cost:
    """Element-wise add in the residual adder; an address operand adds only at its spikes."""
    c = Context(e)
    out = e.outputs[0]
    kinds = [c.kind(i) for i in range(len(e.inputs))]
    if all(kind == "addr" for kind in kinds):
        adds = sum(spikes_per_step(v, c.steps) for v in e.inputs)
        streamed = adds
    else:
        adds = sum(
            (spikes_per_step(v, c.steps) if kind == "addr" else np.zeros(c.steps))
            for v, kind in zip(e.inputs, kinds, strict=True)
        )
        if not any(kind == "addr" for kind in kinds):
            adds = np.full(c.steps, size_of(out) / c.steps)
        streamed = np.full(c.steps, size_of(out) / c.steps)
    result = c.cost(np.ceil(np.maximum(adds, streamed) / c.hw.integer("residual.lanes")).sum())
    result.energy("compute", ADD16, adds)
    for index in range(len(e.inputs)):
        result.access(c.spike_memory(index), c.bits_in(index))
    result.access(ACTIVATION_BUFFER, size_of(out) * c.activation_bits, write=True)
    return result


VECTOR = VectorPrices("vector", "precision.activation_bits", ACTIVATION_BUFFER)
"""The fallback vector unit: every element, no zero skipping."""


def _dma_cost(what: str) -> CostFunction:
    """A DRAM transfer: the model's input into the activation buffer, or an output back to
    DRAM (weights: `targets.memory`)."""

    def cost(e: Execution) -> Cost:
        c = Context(e)
        value = e.inputs[0]
        bits: float
        if what == "input":
            bits, memory = size_of(value) * c.hw.integer("precision.input_bits"), ACTIVATION_BUFFER
        else:
            bits, memory = stored_bits(value, c.kind(0), c.activation_bits), c.spike_memory(0)
        return dram_cost(e, bits, memory, store=what == "output")

    return cost


def _build() -> InstructionSet:
    opcodes = [
        reference_opcode("ENC.LIF", "lif", _neuron_cost("lif"), "LIF neurons in the spike encoder"),
        reference_opcode("ENC.IF", "if", _neuron_cost("if"), "IF neurons in the spike encoder"),
        reference_opcode("ENC.LEAKY", "leaky", _neuron_cost("leaky"), "snnTorch Leaky neurons"),
        reference_opcode(
            "ENC.CUBA_LIF", "cuba_lif", _neuron_cost("cuba_lif"), "Norse current-based LIF neurons"
        ),
        reference_opcode(
            "ENC.LIF_BOX", "lif_box", _neuron_cost("lif_box"), "Norse box LIF neurons (LIFBoxCell)"
        ),
        reference_opcode(
            "ENC.LI", "li", _neuron_cost("li"), "leaky integrators (a membrane read out as reals)"
        ),
        reference_opcode(
            "ENC.THRESHOLD", "threshold", _neuron_cost("threshold"), "stateless thresholds"
        ),
        reference_opcode("ENC.PACK", "encode", _pack_cost, "a spike bitmap to addresses"),
        reference_opcode("ENC.UNPACK", "decode", _pack_cost, "spike addresses to a bitmap"),
        reference_opcode(
            "SLU.ACC",
            "linear",
            _slu_cost,
            "linear layer on spikes, a weight row per spike",
            reads="spikes",
        ),
        reference_opcode(
            "TILE.CONV_MAC", "conv2d", _conv_cost, "convolution of reals (MACs)", reads="reals"
        ),
        reference_opcode(
            "TILE.CONV_AC",
            "conv2d",
            _conv_cost,
            "convolution of spikes (accumulates)",
            reads="spikes",
        ),
        reference_opcode(
            "TILE.LINEAR",
            "linear",
            _tile_linear_cost,
            "linear layer on reals (MACs)",
            reads="reals",
        ),
        reference_opcode("SMP.OR", "maxpool", _smp_cost, "max pool of spikes (OR)", reads="spikes"),
        reference_opcode("SMA.SDSA", "sdsa", _sma_cost, "spike-driven self-attention (mask-add)"),
        reference_opcode(
            "SMA.TOKEN_ATTENTION",
            "token_attention",
            _sma_token_cost,
            "QKFormer's token attention (channel sums, LIF, K mask)",
        ),
        reference_opcode("RES.ADD", "add", _residual_cost, "residual add"),
        weight_load_opcode(
            "DMA.LOAD_WEIGHTS", WEIGHT_SRAM, "precision.weight_bits", "precision.activation_bits"
        ),
        transfer_opcode("DMA.LOAD_INPUT", _dma_cost("input"), "a model input from DRAM"),
        transfer_opcode("DMA.STORE_OUTPUT", _dma_cost("output"), "a model output to DRAM"),
    ]
    for op in SEMANTICS:
        opcodes.append(
            reference_opcode(
                f"VEC.{op.upper()}", op, vector_cost(op, VECTOR), f"spike.{op} on the vector unit"
            )
        )
    names = [o.name for o in opcodes]
    units = {unit: by_prefix(names, unit.upper()) for unit in SPARSE_UNITS}
    return InstructionSet("sparse", {o.name: o for o in opcodes}, lambda hw, variant: units)


SPARSE_UNITS = ("dma", "enc", "slu", "tile", "smp", "sma", "res", "vec")
"""The units (each runs the opcodes named after it): DRAM, the spike encoder, the sparse linear
unit, the convolution tiles, the spike max-pool, the spike mask-add attention, the residual
adder, the vector unit."""


INSTRUCTION_SET = _build()


ACTIVATION_LEVELS = {"f32": "activation_buffer", "spk": "spike_sram", "addr": "spike_sram"}
"""Where an activation of each buffer kind is held."""
