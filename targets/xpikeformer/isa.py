"""The xpikeformer target's instructions for its three variants, with semantics and costs.

`xpikeformer` (Song et al., arXiv 2408.08794): `aimc` PCM crossbars for every static-weight layer
(`AIMC.LINEAR`, `AIMC.CONV`; analog numerics opt-in), `ssa` the stochastic spiking attention
engine (`SSA.ATTN`: AND gates, counters, random numbers), `dig` a digital vector unit for
neurons, layer norms and the rest (`DIG.<op>`), `io` the DRAM interface.

`digital-snn`: the same spiking network on a digital SNN ASIC: `pe` accumulates a weight row from
SRAM per input spike (`PE.ACC`, `PE.CONV_AC`) and multiplies real inputs (`PE.MAC`,
`PE.CONV_MAC`); `datt` computes the same stochastic attention with counters fed from SRAM.

`digital-ann`: the ANN counterpart of the same dimensions on an 8-bit MAC accelerator, one pass
instead of T timesteps, softmax attention: `ANN.<op>` costs what the ANN does for that op. Its
instructions compute the spiking network's values (the ANN counterpart has no trained weights
of its own): the variant is a cost baseline, and its report says so.

Energies are named hardware entries; counts come from the data each instruction saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from runtime import kernels
from runtime.hardware import Hardware
from runtime.isa import (
    AttrSpec,
    Cost,
    CostFunction,
    Execution,
    InstructionSet,
    Metrics,
    Opcode,
    UnitMap,
)
from runtime.isa import Value as RuntimeValue
from runtime.memory import Footprint
from runtime.ops import SEMANTICS, dense, run_op, stochastic_stages
from runtime.program import AttrValue, BufferType
from targets.instructions import (
    ADD8,
    ADD16,
    ADD32,
    COMPARE16,
    LOGIC1,
    MULT8,
    RANDOM16,
    SPECIAL16,
    by_prefix,
    dram_cost,
    reference_opcode,
    transfer_opcode,
)
from targets.memory import weight_load_opcode
from targets.vector import VectorPrices, vector_cost
from targets.workload import (
    integer,
    ints,
    nonzeros_per_position,
    shape_of,
    size_of,
    spikes_per_step,
    stored_bits,
    token_sums,
    window_coverage,
)
from targets.xpikeformer.analog import AnalogParameters, analog_matmul

ROW_BINARY = "energy.aimc.row_binary_per_weight"
ROW_ANALOG = "energy.aimc.row_analog_per_weight"
ADC = "energy.adc.conversion_8bit"
DAC = "energy.dac.conversion_8bit"
AND_COUNT = "energy.ssa.and_count"
RNG_DRAW = "energy.ssa.rng_draw"
SRAM = "sram"
WEIGHT_SRAM = "weight_sram"

PLAN_ATTRS = {
    "row_blocks": AttrSpec(int),
    "column_blocks": AttrSpec(int),
    "first_crossbar": AttrSpec(int),
    "rows_per_block": AttrSpec(int),
}
"""Where a layer sits on the crossbars (targets.xpikeformer.mapping)."""


def _bits(e: Execution, index: int) -> float:
    value, kind = e.inputs[index], e.input_types[index].kind
    return stored_bits(value, kind, e.hardware.integer("precision.activation_bits"))


def _out_bits(e: Execution) -> float:
    return stored_bits(
        e.outputs[0], e.output_types[0].kind, e.hardware.integer("precision.activation_bits")
    )


# -- the analog crossbars ---------------------------------------------------------------------


def _aimc_linear_semantics(
    args: Sequence[RuntimeValue], attrs: dict[str, AttrValue], e: Execution
) -> list[RuntimeValue]:
    if e.numerics != "analog":
        return list(run_op("linear", args, attrs))
    x = dense(args[0])
    w = source = dense(args[1])
    if attrs.get("transpose_weight"):
        w = w.T
    y = analog_matmul(
        x.reshape(-1, x.shape[-1]),
        np.ascontiguousarray(w),
        integer(attrs, "rows_per_block"),
        AnalogParameters.of(e.hardware),
        e.seed,
        integer(attrs, "first_crossbar"),
        e.input_types[0].kind == "f32",
        source,
    ).reshape(*x.shape[:-1], w.shape[1])
    if len(args) == 3:
        y += dense(args[2])
    return [y]


def _patches(e: Execution, x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    attrs = e.instruction.attrs
    _, _, kh, kw = shape_of(e.inputs[1])
    return kernels.im2col(
        x,
        (kh, kw),
        integer(attrs, "group"),
        ints(attrs, "strides"),
        ints(attrs, "pads"),
        ints(attrs, "dilations"),
    )


def _aimc_conv_semantics(
    args: Sequence[RuntimeValue], attrs: dict[str, AttrValue], e: Execution
) -> list[RuntimeValue]:
    if e.numerics != "analog":
        return list(run_op("conv2d", args, attrs))
    x, w = dense(args[0]), dense(args[1])
    c_out = w.shape[0]
    group = integer(attrs, "group")
    og = c_out // group
    cols, (ho, wo) = _patches(e, x)
    n, _, k, positions = cols.shape
    p = AnalogParameters.of(e.hardware)
    per_group = integer(attrs, "row_blocks") * integer(attrs, "column_blocks")
    y = np.empty((n, group, og, positions), dtype=np.float32)
    for g in range(group):
        matrix = cols[:, g].transpose(0, 2, 1).reshape(-1, k)
        weights = w[g * og : (g + 1) * og].reshape(og, k).T
        out = analog_matmul(
            matrix,
            np.ascontiguousarray(weights),
            integer(attrs, "rows_per_block"),
            p,
            e.seed,
            integer(attrs, "first_crossbar") + g * per_group,
            e.input_types[0].kind == "f32",
            w,
        )
        y[:, g] = out.reshape(n, positions, og).transpose(0, 2, 1)
    y = y.reshape(*x.shape[:-3], c_out, ho, wo)
    if len(args) == 3:
        y += dense(args[2]).reshape(-1, 1, 1)
    return [y]


def _crossbar_cost(
    e: Execution, nonzero: np.ndarray, vectors_per_step: int, d_out: int, macs: float
) -> Cost:
    """`nonzero [steps, vectors, row_blocks]`: the non-zero inputs each input vector puts on
    each row block, per timestep (steps = T) or in all (steps = 1, for values after time is
    reduced). A row block with no non-zero input is not read: no integration, no conversion."""
    hw = e.hardware
    steps = e.timesteps
    attrs = e.instruction.attrs
    column_blocks = integer(attrs, "column_blocks")
    real = e.input_types[0].kind == "f32"
    active = (nonzero > 0).sum(axis=1).astype(np.float64)  # [steps, row_blocks]: MVMs
    per_step_active = active.sum(axis=1)
    inputs_driven = nonzero.sum(axis=(1, 2)).astype(np.float64)  # one row of each block
    rows_driven = inputs_driven * column_blocks  # a row driver (DAC) per crossbar
    weights_crossed = inputs_driven * d_out  # a driven row's energy is per weight on it
    conversions = per_step_active * d_out  # one ADC conversion per weight column read
    vectors = (nonzero.sum(axis=2) > 0).sum(axis=1).astype(np.float64)
    integration = hw.integer("crossbar.integration_cycles")
    if real:  # the input's pulse-width modulation: one of 2^bits lengths
        integration = max(integration, 2 ** hw.integer("dac.bits"))
    per_vector = max(integration, hw.integer("adc.sharing") * hw.integer("adc.conversion_cycles"))
    result = Cost(float(vectors.sum() * per_vector), steps, hw)
    extra_partials = np.clip(per_step_active - vectors, 0, None)  # digital partial sums

    def per_step(counts: np.ndarray) -> np.ndarray | float:
        """Counts by timestep; not time-major (time already reduced): spread evenly."""
        return counts if nonzero.shape[0] == steps else float(counts.sum())

    adc_scale = 2.0 ** (hw.integer("adc.bits") - 8)
    result.energy("adc_dac", ADC, per_step(conversions * adc_scale))
    if real:
        dac_scale = 2.0 ** (hw.integer("dac.bits") - 8)  # levels, and the pulse's length
        result.energy("compute", ROW_ANALOG, per_step(weights_crossed * dac_scale))
        result.energy("adc_dac", DAC, per_step(rows_driven * dac_scale))
    else:
        result.energy("compute", ROW_BINARY, per_step(weights_crossed))
    result.energy("compute", ADD16, per_step(extra_partials * d_out))
    if len(e.inputs) == 3:
        result.energy("compute", ADD16, vectors_per_step * steps * d_out)  # the bias
    result.access(SRAM, _bits(e, 0))
    result.access(SRAM, _out_bits(e))
    effective = float(np.count_nonzero(dense(e.inputs[0]))) * d_out
    result.metrics = Metrics(
        dense_synops=macs,
        effective_macs=effective if real else 0.0,
        effective_acs=0.0 if real else effective,
    )
    return result


def _aimc_linear_cost(e: Execution) -> Cost:
    x = dense(e.inputs[0])
    d_in = x.shape[-1]
    w_shape = shape_of(e.inputs[1])
    d_out = w_shape[0] if e.instruction.attrs.get("transpose_weight") else w_shape[1]
    rows = integer(e.instruction.attrs, "rows_per_block")
    blocks = math.ceil(d_in / rows)
    padded = np.zeros((*x.shape[:-1], blocks * rows), dtype=bool)
    padded[..., :d_in] = x != 0
    steps = _steps_of(e, x)
    nonzero = padded.reshape(steps, -1, blocks, rows).sum(axis=3)
    vectors = nonzero.shape[1] * steps // e.timesteps
    return _crossbar_cost(e, nonzero, vectors, d_out, float(x.size * d_out))


def _steps_of(e: Execution, x: np.ndarray) -> int:
    """T for a time-major value, else 1 (time already reduced)."""
    return e.timesteps if x.ndim > 1 and x.shape[0] == e.timesteps else 1


def _aimc_conv_cost(e: Execution) -> Cost:
    x = dense(e.inputs[0])
    c_out = shape_of(e.inputs[1])[0]
    cols, _ = _patches(e, (x != 0).astype(np.uint8))
    n, group, k, positions = cols.shape
    rows = integer(e.instruction.attrs, "rows_per_block")
    blocks = math.ceil(k / rows)
    counts = np.add.reduceat(cols, np.arange(0, k, rows), axis=2, dtype=np.int64)
    # vectors: one per (item, group, output position); d_out per group
    nonzero = counts.transpose(0, 1, 3, 2).reshape(_steps_of(e, x), -1, blocks)
    og = c_out // group
    return _crossbar_cost(e, nonzero, n * group * positions // e.timesteps, og,
                          float(n * group * positions * k * og))  # fmt: skip


# -- attention --------------------------------------------------------------------------------


def _attention_semantics(
    args: Sequence[RuntimeValue], attrs: dict[str, AttrValue], e: Execution
) -> list[RuntimeValue]:
    """The reference's stochastic attention; its intermediate counts are kept for the cost."""
    out, counts1, s, counts2 = stochastic_stages([dense(a) for a in args], attrs)
    e.notes["stages"] = (counts1, s, counts2)
    return [out]


def _attention_counts(e: Execution) -> dict[str, np.ndarray]:
    """Per timestep: AND operations and counter increments of both stages, and random draws
    (a probability of zero needs none), from the intermediates the semantics kept."""
    attrs = e.instruction.attrs
    counts1, s, counts2 = e.notes["stages"]
    t, b, h, nq, nk = counts1.shape
    dh = counts2.shape[-1]
    q = kernels.split_heads(dense(e.inputs[0]), h)
    keep = np.ones((nq, nk), dtype=np.float32)
    if attrs.get("mask_diagonal"):
        offset = ints(attrs, "query_range")[0] if "query_range" in attrs else 0
        keep -= np.eye(nq, nk, k=offset, dtype=np.float32)

    def per_step(a: np.ndarray) -> np.ndarray:
        return a.reshape(t, -1).sum(axis=1, dtype=np.float64)

    return {
        "and1": per_step(q.sum(axis=-1)) * nk,
        "count1": per_step(counts1),
        "draws1": per_step((counts1 > 0) * keep),
        "and2": per_step(s.sum(axis=-1)) * dh,
        "count2": per_step(counts2),
        "draws2": per_step(counts2 > 0),
        "pairs": np.full(t, float(b * h * nq * nk * dh)),
    }


def _attention_cost(digital: bool) -> CostFunction:
    """The SSA engine (`digital` False): Q, K, V spikes latched in the tiles, AND gates and
    counters in `and_lanes` lanes of `tiles` tiles, one random number per non-zero probability.
    The digital baseline (`digital` True) does the same counting on adders fed from SRAM, one
    K or V row read per Q or S spike."""

    def cost(e: Execution) -> Cost:
        hw = e.hardware
        c = _attention_counts(e)
        ands = c["and1"] + c["and2"]
        draws = c["draws1"] + c["draws2"]
        if digital:
            lanes = hw.integer("pe.lanes")
            result = Cost(float(np.ceil(ands / lanes).sum() + np.ceil(draws / lanes).sum()),
                          e.timesteps, hw)  # fmt: skip
            result.energy("compute", ADD8, c["count1"] + c["count2"])
            result.energy("compute", LOGIC1, ands)
            result.energy("compute", RANDOM16, draws)
            result.energy("compute", COMPARE16, draws)
            result.access(SRAM, ands)  # a K or V bit read per AND
        else:
            tiles, lanes = hw.integer("ssa.tiles"), hw.integer("ssa.and_lanes")
            rngs = hw.integer("ssa.rngs")
            cycles = np.ceil(ands / (tiles * lanes)) + np.ceil(draws / (tiles * rngs))
            result = Cost(float(cycles.sum()), e.timesteps, hw)
            result.energy("compute", AND_COUNT, ands)
            result.energy("compute", RNG_DRAW, draws)
        for index in range(3):
            result.access(SRAM, _bits(e, index))
        result.access(SRAM, _out_bits(e))
        out = e.outputs[0]
        result.metrics = Metrics(
            dense_synops=float(2 * c["pairs"].sum()),
            effective_acs=float((c["count1"] + c["count2"]).sum()),
            spikes=int(spikes_per_step(out, e.timesteps).sum()),
            neurons=size_of(out),
        )
        return result

    return cost


# -- the digital SNN baseline's processing elements ----------------------------------------


def _channels_per_tile(spikes: np.ndarray, tile: int) -> np.ndarray:
    """Weight rows read per timestep when `tile` consecutive rows of `spikes` (`[T, R, C]`)
    share the accumulators: each input channel that spikes anywhere in a tile is read once
    for the whole tile (`[T]`)."""
    steps, rows, channels = spikes.shape
    padded = -(-rows // tile) * tile
    if padded != rows:
        padding = np.zeros((steps, padded - rows, channels), spikes.dtype)
        spikes = np.concatenate([spikes, padding], axis=1)
    active = spikes.reshape(steps, padded // tile, tile, channels).any(axis=2)
    return active.sum(axis=(1, 2)).astype(np.float64)


def _pe_linear_cost(e: Execution) -> Cost:
    """Per input spike a weight row's `pe.lanes` columns from SRAM into the accumulators; the
    `pe.accumulators` hold the partial sums of a tile of tokens, so a weight row is read once
    for every token of the tile that spiked on its channel (output-stationary over the tile);
    real inputs are multiplied (every input, weight-stationary)."""
    hw = e.hardware
    x = e.inputs[0]
    d_in = shape_of(x)[-1]
    w_shape = shape_of(e.inputs[1])
    d_out = w_shape[0] if e.instruction.attrs.get("transpose_weight") else w_shape[1]
    rows = size_of(x) // d_in
    lanes = hw.integer("pe.lanes")
    weight_bits = hw.integer("precision.weight_bits")
    if e.input_types[0].kind == "f32":
        macs = rows * d_in * d_out
        result = Cost(math.ceil(macs / (lanes * hw.integer("pe.mac_rows"))), e.timesteps, hw)
        result.energy("compute", MULT8, macs)
        result.energy("compute", ADD32, macs)
        result.access(WEIGHT_SRAM, size_of(e.inputs[1]) * weight_bits)
        effective = float(np.count_nonzero(dense(x))) * d_out
        result.metrics = Metrics(dense_synops=macs, effective_macs=effective)
    else:
        spikes = spikes_per_step(x, e.timesteps)
        result = Cost((spikes.sum() + rows) * math.ceil(d_out / lanes), e.timesteps, hw)
        result.energy("compute", ADD16, spikes * d_out)
        tile = max(1, hw.integer("pe.accumulators") // min(lanes, d_out))
        rows_read = _channels_per_tile(dense(x).reshape(e.timesteps, -1, d_in), tile)
        result.access(WEIGHT_SRAM, rows_read * d_out * weight_bits)
        result.metrics = Metrics(
            dense_synops=rows * d_in * d_out, effective_acs=spikes.sum() * d_out
        )
    if len(e.inputs) == 3:
        result.energy("compute", ADD16, rows * d_out)
    result.access(SRAM, _bits(e, 0) + _out_bits(e))
    return result


def _pe_conv_cost(e: Execution) -> Cost:
    hw = e.hardware
    x, w = e.inputs[0], e.inputs[1]
    c_in, h, wd = shape_of(x)[-3:]
    c_out, _, kh, kw = shape_of(w)
    attrs = e.instruction.attrs
    per_group = c_out // integer(attrs, "group")
    coverage = window_coverage(
        (h, wd), (kh, kw), ints(attrs, "strides"), ints(attrs, "pads"), ints(attrs, "dilations")
    ).reshape(-1)
    frames = size_of(x) // (c_in * h * wd)
    every = frames * c_in * float(coverage.sum()) * per_group
    effective = nonzeros_per_position(x, e.timesteps, h * wd) @ coverage * per_group
    lanes, mac_rows = hw.integer("pe.lanes"), hw.integer("pe.mac_rows")
    weight_bits = hw.integer("precision.weight_bits")
    if e.input_types[0].kind == "f32":
        result = Cost(math.ceil(every / (lanes * mac_rows)), e.timesteps, hw)
        result.energy("compute", MULT8, every)
        result.energy("compute", ADD32, every)
        result.access(WEIGHT_SRAM, size_of(w) * weight_bits)
        result.metrics = Metrics(dense_synops=every, effective_macs=float(effective.sum()))
    else:
        result = Cost(math.ceil(effective.sum() / lanes), e.timesteps, hw)
        result.energy("compute", ADD16, effective)
        tile = max(1, hw.integer("pe.accumulators") // min(lanes, per_group))
        positions = np.moveaxis(dense(x).reshape(e.timesteps, -1, c_in, h * wd), 2, 3)
        kernels_read = _channels_per_tile(positions.reshape(e.timesteps, -1, c_in), tile)
        reads = np.minimum(kernels_read * kh * kw * per_group, effective)  # no more than no reuse
        result.access(WEIGHT_SRAM, reads * weight_bits)
        result.metrics = Metrics(dense_synops=every, effective_acs=float(effective.sum()))
    result.access(SRAM, _bits(e, 0) + _out_bits(e))
    return result


# -- the ANN counterpart on an 8-bit MAC accelerator ----------------------------------------


def _one_pass(e: Execution, value: RuntimeValue | None = None) -> float:
    """The ANN runs once where the SNN runs T timesteps: time-major work counts 1/T. The work
    is judged by `value` (default: the first input), time-major when it is `[T, B, ...]` (a
    value without the time axis, `[B, ...]`, e.g. a router's time-invariant scores, counts
    once)."""
    if value is None and not e.inputs:
        return 1.0
    shape = shape_of(e.inputs[0] if value is None else value)
    time_major = len(shape) >= 2 and shape[0] == e.timesteps and shape[1] == e.batch
    return 1.0 / e.timesteps if time_major else 1.0


def footprint(hardware: Hardware, variant: str, timesteps: int) -> Footprint:
    """The SNN's values at their stored width; the ANN baseline's at its 8-bit activations and
    one pass (a time-major value holds one of its T timesteps)."""
    if variant != "digital-ann":
        width = hardware.integer("precision.activation_bits")
        return lambda value, declared: stored_bits(value, declared.kind, width)
    width = hardware.integer("ann.activation_bits")

    def ann(value: RuntimeValue, declared: BufferType) -> float:
        shape = shape_of(value)
        passes = timesteps if len(shape) >= 2 and shape[0] == timesteps else 1
        return float(np.prod(shape)) * width / passes

    return ann


def _ann_mac_cost(macs: float, weights: int, e: Execution) -> Cost:
    hw = e.hardware
    result = Cost(math.ceil(macs / (hw.integer("ann.rows") * hw.integer("ann.columns"))),
                  e.timesteps, hw)  # fmt: skip
    result.energy("compute", MULT8, macs)
    result.energy("compute", ADD32, macs)
    result.access(WEIGHT_SRAM, weights * hw.integer("precision.weight_bits"))
    f, bits = _one_pass(e), hw.integer("ann.activation_bits")
    result.access(SRAM, size_of(e.inputs[0]) * bits * f)
    result.access(SRAM, size_of(e.outputs[0]) * bits * f, write=True)
    result.metrics = Metrics(dense_synops=macs, effective_macs=macs)
    return result


def _ann_linear_cost(e: Execution) -> Cost:
    x = e.inputs[0]
    w_shape = shape_of(e.inputs[1])
    d_out = w_shape[0] if e.instruction.attrs.get("transpose_weight") else w_shape[1]
    return _ann_mac_cost(size_of(x) * d_out * _one_pass(e), size_of(e.inputs[1]), e)


def _ann_conv_cost(e: Execution) -> Cost:
    w = e.inputs[1]
    _, cg, kh, kw = shape_of(w)
    macs = size_of(e.outputs[0]) * cg * kh * kw
    return _ann_mac_cost(macs * _one_pass(e), size_of(w), e)


def _ann_attention_cost(e: Execution) -> Cost:
    """Softmax attention of one pass: Q K^T and A V on the MAC array, an exponential and a
    division per score."""
    hw = e.hardware
    t, b, nq, d = shape_of(e.inputs[0])
    nk = shape_of(e.inputs[1])[2]
    heads = integer(e.instruction.attrs, "heads", 1)
    f = _one_pass(e)
    macs = 2 * t * b * nq * nk * d * f
    scores = t * b * heads * nq * nk * f
    cycles = math.ceil(macs / (hw.integer("ann.rows") * hw.integer("ann.columns")))
    cycles += math.ceil(scores * hw.integer("digital.special_cycles") / hw.integer("digital.lanes"))
    result = Cost(cycles, e.timesteps, hw)
    result.energy("compute", MULT8, macs)
    result.energy("compute", ADD32, macs + scores)
    result.energy("compute", SPECIAL16, 2 * scores)
    bits = hw.integer("ann.activation_bits")
    # the scores are written once and read back once
    read = sum(size_of(v) for v in e.inputs[:3]) * f + scores
    result.access(SRAM, read * bits)
    result.access(SRAM, (size_of(e.outputs[0]) * f + scores) * bits, write=True)
    result.metrics = Metrics(dense_synops=macs, effective_macs=macs)
    return result


def _ann_token_attention_cost(e: Execution) -> Cost:
    """QKFormer's token attention in the ANN, one pass on the digital lanes: each token's Q
    channels of a head summed (an 8-bit value into a 32-bit accumulator), an activation on
    each sum (one comparison, the ReLU of a neuron), and every element of K multiplied by its
    token's activation (real values: a multiply, not an AND)."""
    hw = e.hardware
    f = _one_pass(e)
    q, k = e.inputs[0], e.inputs[1]
    sums = token_sums(shape_of(q), integer(e.instruction.attrs, "heads")) * f
    adds, mults = size_of(q) * f, size_of(k) * f
    result = Cost(math.ceil((adds + sums + mults) / hw.integer("digital.lanes")), e.timesteps, hw)
    result.energy("compute", ADD32, adds)
    result.energy("compute", COMPARE16, sums)
    result.energy("compute", MULT8, mults)
    bits = hw.integer("ann.activation_bits")
    result.access(SRAM, ((size_of(q) + size_of(k)) * f + sums) * bits)
    result.access(SRAM, (size_of(e.outputs[0]) * f + sums) * bits, write=True)
    result.metrics = Metrics(dense_synops=adds + mults)
    return result


def _ann_activation_cost(e: Execution) -> Cost:
    """A neuron of the SNN is a ReLU of the ANN: one comparison per value, one pass."""
    hw = e.hardware
    values = size_of(e.inputs[0]) * _one_pass(e)
    result = Cost(math.ceil(values / hw.integer("digital.lanes")), e.timesteps, hw)
    result.energy("compute", COMPARE16, values)
    result.access(SRAM, values * hw.integer("ann.activation_bits"))
    result.access(SRAM, values * hw.integer("ann.activation_bits"), write=True)
    return result


# -- DRAM ---------------------------------------------------------------------------------------


def _io_cost(what: str) -> CostFunction:
    """The model's input from DRAM or its output back; the ANN baseline moves one pass of its
    8-bit activations where the SNN moves T timesteps."""

    def cost(e: Execution) -> Cost:
        hw = e.hardware
        value = e.inputs[0]
        bits: float
        if e.variant == "digital-ann":
            bits = size_of(value) * hw.integer("ann.activation_bits") * _one_pass(e)
        elif what == "input":
            bits = size_of(value) * hw.integer("precision.input_bits")
        else:
            bits = stored_bits(
                value, e.input_types[0].kind, hw.integer("precision.activation_bits")
            )
        return dram_cost(e, bits, SRAM, store=what != "input")

    return cost


# -- the instruction set --------------------------------------------------------------------


def _prices(passes: float = 1.0) -> VectorPrices:
    return VectorPrices("digital", "precision.activation_bits", SRAM, passes)


def _ann_vector_cost(op: str) -> CostFunction:
    def cost(e: Execution) -> Cost:
        # dispatch and combine work on X's shape; their gates may have no time axis
        judged = e.outputs[0] if op in ("dispatch", "combine") else None
        return vector_cost(op, _prices(_one_pass(e, judged)))(e)

    return cost


def _ann_readout_cost(e: Execution) -> Cost:
    """The SNN's leaky-integrator readout (`spike.li`) accumulates its input over the T steps;
    the ANN, in one pass, reads the layer before it directly: the values move once (a copy),
    with no arithmetic and no membrane."""
    return vector_cost("copy", _prices(_one_pass(e)))(e)


def _attention_opcode(name: str, cost: CostFunction, doc: str) -> Opcode:
    _, inputs, outputs, attrs = SEMANTICS["stochastic_attention"]
    return Opcode(
        name,
        inputs,
        outputs,
        _attention_semantics,
        cost,
        attrs,
        doc,
        results="spikes",
        op="stochastic_attention",
    )


ANN_COSTS: dict[str, CostFunction] = {
    "linear": _ann_linear_cost,
    "conv2d": _ann_conv_cost,
    "stochastic_attention": _ann_attention_cost,
    "ssa": _ann_attention_cost,
    "sdsa": _ann_attention_cost,
    "token_attention": _ann_token_attention_cost,
    "lif": _ann_activation_cost,
    "if": _ann_activation_cost,
    "leaky": _ann_activation_cost,
    "cuba_lif": _ann_activation_cost,
    "lif_box": _ann_activation_cost,
    "threshold": _ann_activation_cost,
    "bernoulli": _ann_activation_cost,
    "li": _ann_readout_cost,
}


def _build() -> InstructionSet:
    linear_attrs = SEMANTICS["linear"][3]
    conv_attrs = SEMANTICS["conv2d"][3]
    opcodes = [
        Opcode(
            "AIMC.LINEAR",
            (2, 3),
            1,
            _aimc_linear_semantics,
            _aimc_linear_cost,
            {**linear_attrs, **PLAN_ATTRS},
            "a linear layer on its crossbars",
            results="reals",
            op="linear",
        ),
        Opcode(
            "AIMC.CONV",
            (2, 3),
            1,
            _aimc_conv_semantics,
            _aimc_conv_cost,
            {**conv_attrs, **PLAN_ATTRS},
            "a convolution on its crossbars (patches as input vectors)",
            results="reals",
            op="conv2d",
        ),
        _attention_opcode(
            "SSA.ATTN",
            _attention_cost(digital=False),
            "stochastic spiking attention on the SSA engine",
        ),
        _attention_opcode(
            "DATT.SSA",
            _attention_cost(digital=True),
            "stochastic attention with counters fed from SRAM (digital-snn)",
        ),
        reference_opcode(
            "PE.ACC",
            "linear",
            _pe_linear_cost,
            "linear layer on spikes, a row per spike",
            reads="spikes",
        ),
        reference_opcode(
            "PE.MAC", "linear", _pe_linear_cost, "linear layer on reals (MACs)", reads="reals"
        ),
        reference_opcode(
            "PE.CONV_AC",
            "conv2d",
            _pe_conv_cost,
            "convolution of spikes (accumulates)",
            reads="spikes",
        ),
        reference_opcode(
            "PE.CONV_MAC", "conv2d", _pe_conv_cost, "convolution of reals (MACs)", reads="reals"
        ),
        transfer_opcode("IO.LOAD_INPUT", _io_cost("input"), "input from DRAM"),
        weight_load_opcode(
            "IO.LOAD_WEIGHTS", WEIGHT_SRAM, "precision.weight_bits", "precision.activation_bits"
        ),
        weight_load_opcode(
            "IO.LOAD_CONSTANTS", SRAM, "precision.weight_bits", "precision.activation_bits"
        ),
        transfer_opcode("IO.STORE_OUTPUT", _io_cost("output"), "output to DRAM"),
    ]
    for op in SEMANTICS:
        opcodes.append(
            reference_opcode(
                f"DIG.{op.upper()}", op, vector_cost(op, _prices()), f"spike.{op} (digital)"
            )
        )
        opcodes.append(
            reference_opcode(
                f"ANN.{op.upper()}",
                op,
                ANN_COSTS.get(op, _ann_vector_cost(op)),
                f"the ANN counterpart of spike.{op}",
            )
        )
    return InstructionSet(
        "xpikeformer",
        {o.name: o for o in opcodes},
        _units([o.name for o in opcodes]),
        components=("adc_dac",),
    )


ANN_MAC_OPS = ("linear", "conv2d", "stochastic_attention", "ssa", "sdsa")
"""Ops the ANN accelerator runs on its MAC array."""


def _units(names: list[str]) -> UnitMap:
    """Each variant's units: crossbars (`aimc`), the SSA engine and the digital unit in the
    design; PEs and counter attention (`datt`) in the digital SNN; the MAC array and the digital
    unit in the ANN; `io` in all (constants onto the crossbars in the design, weights into SRAM in
    the baselines)."""
    io = by_prefix(names, "IO")
    mac = frozenset(f"ANN.{op.upper()}" for op in ANN_MAC_OPS)
    variants = {
        "xpikeformer": {
            "io": io - {"IO.LOAD_WEIGHTS"},
            **{unit: by_prefix(names, unit.upper()) for unit in ("aimc", "pe", "ssa", "dig")},
        },
        "digital-snn": {
            "io": io - {"IO.LOAD_CONSTANTS"},
            **{unit: by_prefix(names, unit.upper()) for unit in ("pe", "datt", "dig")},
        },
        "digital-ann": {
            "io": io - {"IO.LOAD_CONSTANTS"},
            "mac": mac,
            "dig": by_prefix(names, "ANN") - mac,
        },
    }
    return lambda hw, variant: variants.get(variant, {})


INSTRUCTION_SET = _build()


ACTIVATION_LEVELS = {"f32": "sram", "spk": "sram", "addr": "sram"}
"""Where an activation of each buffer kind is held."""
