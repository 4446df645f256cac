"""The stacked design's instructions: semantics (the reference's) and costs, in 3D or 2D.

Units (`t<tier>.<unit>`): `systolic` the spiking-MLP array, `head<h>` the attention arrays (mode
A `Q K^T` by AND and accumulate, mode X `A V`; A never leaves the array; token attention's
channel sums, their LIF and the K mask), `expert<e>` the expert cores, `neuron` the LIF unit
(every neuron kind, and the leaky integrator and threshold it also does: a membrane without a
threshold, a threshold without a membrane), `router` top-k routing and the aligned merge,
`vector` the rest, `io` DRAM. Every operand is read from, and every result written to, a global
buffer: the bits cross the bond when the buffer is on another tier (`vertical`) and travel the
floorplan's mean planar wire (`noc`). Compute and buffer energy are the same in 2D and 3D; each
cost also counts what its transfers would cost in 2D (`noc_2d_pj`, `cycles_2d`), so a 3D run
reports where 3D wins or loses per component.

`--numerics pruned` applies dynamic head pruning (`pruning.keep` = p): a head whose Q holds fewer
spikes than the top ceil(p H) heads' outputs zeros and skips its attention, and the K and V
projections feeding the heads (their linear layers and neurons, given the whole Q as operand
`prune_by` by the lowering) compute only the kept heads' output channels: they read only those
columns of the weights, do only their arithmetic, write only them (the pruned heads' channels
read zero) and take the cycles of the narrower layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.isa import (
    AttrSpec,
    Cost,
    CostFunction,
    Execution,
    InstructionSet,
    Metrics,
    Opcode,
    Semantics,
    UnitMap,
)
from runtime.isa import Value as RuntimeValue
from runtime.memory import levels
from runtime.ops import RESULT_KINDS, SEMANTICS, dense, run_op
from runtime.program import AttrValue
from targets.instructions import (
    ADD16,
    ADD32,
    COMPARE16,
    LOGIC1,
    MULT8,
    MULT16,
    SPECIAL16,
    by_prefix,
    dram_cost,
    reference_opcode,
    transfer_opcode,
)
from targets.memory import weight_load_opcode
from targets.stacked3d.floorplan import Floorplan, floorplan
from targets.vector import VectorPrices, vector_cost
from targets.workload import (
    feedback_accumulates,
    integer,
    ints,
    neuron_update,
    nonzeros_per_position,
    routing_work,
    shape_of,
    size_of,
    spikes_per_step,
    stored_bits,
    token_sums,
    window_coverage,
)

WEIGHT_BUFFER = "weight_buffer"
ACTIVATION_BUFFER = "activation_buffer"
LOCAL = "local"
VERTICAL = "energy.link.vertical"
PLANAR = "energy.link.planar_per_mm"

PLACEMENT = {
    "tier": AttrSpec(int),
    "input_tiers": AttrSpec(list),
    "output_tier": AttrSpec(int),
}
"""Where the instruction's unit sits and where its operands and result are buffered."""
HEAD_ATTRS = {"head": AttrSpec(int, False), "head_count": AttrSpec(int, False)}
PRUNE_ATTRS = {"prune_by": AttrSpec(int, False), "head_count": AttrSpec(int, False)}
"""A K or V projection (or its neurons) under dynamic head pruning: `prune_by` is the index of
the operand holding the whole Q (the last), `head_count` the number of heads its output
channels are split into, in order."""

_PLANS: dict[int, tuple[Hardware, Floorplan, Floorplan]] = {}


def plans(hw: Hardware) -> tuple[Floorplan, Floorplan]:
    """(3D, 2D) floorplans of a description (cached while it lives)."""
    cached = _PLANS.get(id(hw))
    if cached is None or cached[0] is not hw:
        cached = (hw, floorplan(hw, "3d"), floorplan(hw, "2d"))
        _PLANS[id(hw)] = cached
        if len(_PLANS) > 64:
            _PLANS.pop(next(iter(_PLANS)))
    return cached[1], cached[2]


@dataclass
class Moves:
    """The transfers of one instruction, in the compiled design and as 2D would do them.

    An access to a buffer on the unit's own tier (every access, in 2D) crosses the planar wire
    of the floorplan and shares the planar bus (`buffer.bits_per_cycle`). In 3D an access to the
    banks on the other tier goes up the vertical links instead: no planar wire, the vertical
    link's latency, and the bandwidth of the links (`vertical.bits_per_cycle`) bounded by the
    level's own (banks x ports x word)."""

    e: Execution
    planar_bits: float = 0.0
    vertical_cycles: float = 0.0
    """Cycles the vertical transfers take at their bandwidth."""
    all_bits: float = 0.0
    wire_cycles: float = 0.0
    wire_cycles_2d: float = 0.0
    vertical_bits: float = 0.0
    noc_2d_pj: float = 0.0
    counters: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # What every move of the instruction needs, looked up once.
        hw = self.e.hardware
        self._tier = integer(self.e.instruction.attrs, "tier", 0)
        plan3, self._plan2 = plans(hw)
        self._three_d = self.e.variant != "2d"
        self._distance = (plan3 if self._three_d else self._plan2).distance_mm
        self._per_mm = hw.number("floorplan.cycles_per_mm")
        self._planar_pj = hw.number(PLANAR)
        self._levels = levels(hw)

    def move(self, bits: float, buffer_tier: int, cost: Cost, level: str) -> None:
        hw = self.e.hardware
        buffer = self._levels[level]
        self.all_bits += bits
        cost.access(level, bits)
        distance_2d = self._plan2.distance_mm
        self.noc_2d_pj += bits * distance_2d * self._planar_pj
        self.wire_cycles_2d = max(
            self.wire_cycles_2d, distance_2d * self._per_mm + buffer.latency_cycles
        )
        if buffer_tier != self._tier and self._three_d:
            if bits:
                cost.energy("vertical", VERTICAL, bits)
                self.vertical_bits += bits
                bandwidth = min(hw.integer("vertical.bits_per_cycle"), buffer.bits_per_cycle)
                self.vertical_cycles += bits / bandwidth
                self.wire_cycles = max(
                    self.wire_cycles, hw.integer("vertical.latency_cycles") + buffer.latency_cycles
                )
            return
        self.planar_bits += bits
        cost.energy("noc", PLANAR, bits * self._distance)
        self.wire_cycles = max(
            self.wire_cycles, self._distance * self._per_mm + buffer.latency_cycles
        )

    def finish(self, cost: Cost, compute_cycles: float) -> Cost:
        """Cycles: compute and streaming overlap; the wires add their latency once."""
        bus = self.e.hardware.integer("buffer.bits_per_cycle")
        streaming = max(self.planar_bits / bus, self.vertical_cycles)
        body = max(compute_cycles, streaming)
        body_2d = max(compute_cycles, self.all_bits / bus)
        cost.cycles = float(math.ceil(body + self.wire_cycles))
        cost.metrics.counters.update(
            {
                "vertical_bits": self.vertical_bits,
                "noc_2d_pj": self.noc_2d_pj,
                "cycles_2d": float(math.ceil(body_2d + self.wire_cycles_2d)),
                **self.counters,
            }
        )
        return cost


def _activation_bits(e: Execution) -> int:
    return e.hardware.integer("precision.accumulation_bits")


def _moves(
    e: Execution,
    cost: Cost,
    weights: Sequence[int] = (),
    inputs: Sequence[RuntimeValue] | None = None,
    outputs: Sequence[RuntimeValue] | None = None,
) -> Moves:
    """Read every input (weights at `precision.weight_bits`) and write every output; `inputs`
    and `outputs` replace the values when only part of them moves (a pruned projection's kept
    channels). The whole Q a pruned projection is ranked by (`prune_by`) is not read: the
    ranking needs only its spike count per head."""
    m = Moves(e)
    attrs = e.instruction.attrs
    listed = attrs.get("input_tiers", [0] * len(e.inputs))
    tiers = [int(t) for t in listed] if isinstance(listed, list) else [0] * len(e.inputs)  # type: ignore[arg-type]
    skipped = integer(attrs, "prune_by") if "prune_by" in attrs else -1
    for index, value in enumerate(e.inputs if inputs is None else inputs):
        if index == skipped:
            continue
        bits: float
        if index in weights:
            bits = size_of(value) * e.hardware.integer("precision.weight_bits")
        else:
            bits = stored_bits(value, e.input_types[index].kind, _activation_bits(e))
        m.move(bits, tiers[index], cost, WEIGHT_BUFFER if index in weights else ACTIVATION_BUFFER)
    out_tier = integer(attrs, "output_tier", 0)
    for index, value in enumerate(e.outputs if outputs is None else outputs):
        bits = stored_bits(value, e.output_types[index].kind, _activation_bits(e))
        m.move(bits, out_tier, cost, ACTIVATION_BUFFER)
    return m


# -- dynamic head pruning --------------------------------------------------------------------

KEPT = "kept_channels"
"""`Execution.notes` key: the kept-channel mask of a pruned projection (semantics to cost)."""


def _kept_heads(q: np.ndarray, heads: int, keep: float) -> np.ndarray:
    """The heads dynamic head pruning keeps: the ceil(keep x heads) whose channels of Q (its last
    axis cut into `heads` equal blocks, in order) hold the most spikes over every position,
    timestep and sample of the run (a tie keeps the lower head)."""
    counts = q.reshape(*q.shape[:-1], heads, -1).sum(axis=(*range(q.ndim - 1), q.ndim))
    return np.argsort(-counts, kind="stable")[: math.ceil(keep * heads)]


def _kept_channels(e: Execution, channels: int) -> np.ndarray | None:
    """The output channels a K or V projection (or its neurons) computes under dynamic head
    pruning: a mask over its `channels`, true in the blocks of the heads `_kept_heads` keeps by
    the whole Q operand `prune_by` (the ranking the heads' attention uses, so the same heads).
    None when every channel is computed: outside `pruned` numerics, without `prune_by`, or
    with every head kept."""
    attrs = e.instruction.attrs
    if e.numerics != "pruned" or "prune_by" not in attrs:
        return None
    if KEPT in e.notes:
        found: np.ndarray | None = e.notes[KEPT]
        return found
    heads = integer(attrs, "head_count")
    if channels % heads:
        raise ProgramError(
            f"{e.instruction.opcode}: {channels} output channels do not split into "
            f"head_count={heads} heads"
        )
    q = dense(e.inputs[integer(attrs, "prune_by")])
    kept = _kept_heads(q, heads, e.hardware.number("pruning.keep"))
    mask = None
    if len(kept) < heads:
        chosen = np.zeros(heads, dtype=bool)
        chosen[kept] = True
        mask = np.repeat(chosen, channels // heads)
    e.notes[KEPT] = mask
    return mask


def _projection_semantics(op: str, most: int) -> Semantics:
    """`spike.<op>` (a linear layer or a neuron layer, at most `most` operands of its own),
    which a K or V projection may follow with the whole Q (`prune_by`): pruned, the channels
    of the pruned heads are not computed (zero)."""

    def semantics(
        args: Sequence[RuntimeValue], attrs: dict[str, AttrValue], e: Execution
    ) -> list[RuntimeValue]:
        operands = list(args)
        if "prune_by" in attrs:
            if integer(attrs, "prune_by") != len(args) - 1 or "head_count" not in attrs:
                raise ProgramError(
                    f"{e.instruction.opcode}: prune_by must be the index of the last operand "
                    "(the whole Q), with head_count"
                )
            operands.pop()
        if len(operands) > most:
            raise ProgramError(
                f"{e.instruction.opcode}: {len(operands)} operands, at most {most} without prune_by"
            )
        own = {k: v for k, v in attrs.items() if k not in PRUNE_ATTRS}
        (result,) = run_op(op, operands, own, e.membranes)
        values = dense(result)
        kept = _kept_channels(e, values.shape[-1])
        if kept is not None:
            result = np.where(kept, values, np.zeros((), values.dtype))
        return [result]

    return semantics


def _without_pruning_q(attrs: dict[str, AttrValue], inputs: int) -> int:
    """The op's own operands: all but the whole Q a pruning instruction takes last."""
    return inputs - 1 if "prune_by" in attrs else inputs


def _without_head_q(attrs: dict[str, AttrValue], inputs: int) -> int:
    """An attention head's own operands: all but the whole Q it takes last (with `head`)."""
    return inputs - 1 if "head" in attrs else inputs


def _prunable_opcode(name: str, op: str, cost: CostFunction, doc: str) -> Opcode:
    """An opcode computing `spike.<op>` that, as a K or V projection, takes the whole Q last
    (`prune_by`, `head_count`) to skip the pruned heads' channels."""
    _, (low, high), outputs, attrs = SEMANTICS[op]
    return Opcode(
        name,
        (low, high + 1),
        outputs,
        _projection_semantics(op, high),
        cost,
        {**attrs, **PLACEMENT, **PRUNE_ATTRS},
        f"{doc} (a K or V projection: the whole Q last, to skip pruned heads)",
        results=RESULT_KINDS[op],
        op=op,
        own_inputs=_without_pruning_q,
    )


# -- the systolic array and the expert cores -----------------------------------------------


def _array_cost(rows_entry: str, columns_entry: str, expert: bool) -> CostFunction:
    """Weight-stationary: each weight tile is loaded once and every (token, timestep) row of
    the input streams through it; a row with no non-zero input (no spike, or a token not routed
    to this expert) is skipped. Spikes gate accumulates; real inputs are multiplied. A pruned K
    or V projection computes only the kept heads' output columns (`_kept_channels`): their
    weight columns (and biases) are read and packed into the tiles, their outputs written."""

    def cost(e: Execution) -> Cost:
        hw = e.hardware
        attrs = e.instruction.attrs
        x = dense(e.inputs[0])
        d_in = x.shape[-1]
        transposed = bool(attrs.get("transpose_weight"))
        w_shape = shape_of(e.inputs[1])
        d_out = w_shape[0] if transposed else w_shape[1]
        biased = len(e.inputs) - ("prune_by" in attrs) == 3
        kept = _kept_channels(e, d_out)
        width = d_out if kept is None else int(np.count_nonzero(kept))
        matrix = x.reshape(-1, d_in)
        nonzero = int(np.count_nonzero(matrix))
        active = int(np.count_nonzero(matrix.any(axis=1)))
        rows, columns = hw.integer(rows_entry), hw.integer(columns_entry)
        tiles = math.ceil(d_in / rows) * math.ceil(width / columns)
        result = Cost(0.0, e.timesteps, hw)
        spikes = e.input_types[0].kind != "f32"
        if spikes:
            result.energy("compute", ADD16, nonzero * width)
        else:
            result.energy("compute", MULT8, nonzero * width)
            result.energy("compute", ADD32, nonzero * width)
        result.access(LOCAL, 2 * nonzero * width * _activation_bits(e))
        if biased:
            result.energy("compute", ADD16, active * width)
        inputs: list[RuntimeValue] | None = None
        outputs: list[RuntimeValue] | None = None
        if kept is not None:
            weight = dense(e.inputs[1])
            inputs = list(e.inputs)
            inputs[1] = weight[kept] if transposed else weight[:, kept]
            if biased:
                inputs[2] = dense(e.inputs[2])[kept]
            outputs = [dense(e.outputs[0])[..., kept]]
        m = _moves(e, result, weights=(1,), inputs=inputs, outputs=outputs)
        if expert:
            m.counters["tokens"] = float(active)
        if kept is not None:
            m.counters["pruned_channels"] = float(d_out - width)
        effective = float(nonzero * width)
        result.metrics = Metrics(
            dense_synops=float(matrix.size * width),
            effective_acs=effective if spikes else 0.0,
            effective_macs=0.0 if spikes else effective,
        )
        return m.finish(result, tiles * (active + rows + columns) if active else 0)

    return cost


def _conv_cost(e: Execution) -> Cost:
    """A convolution on the systolic array, its kernels as weight tiles: each output position
    of each frame streams through every tile; an input spike (or non-zero real) is multiplied
    into every output channel of every window covering it."""
    hw = e.hardware
    x, w = e.inputs[0], e.inputs[1]
    c_in, h, wd = shape_of(x)[-3:]
    c_out, c_group, kh, kw = shape_of(w)
    attrs = e.instruction.attrs
    per_group = c_out // integer(attrs, "group")
    coverage = window_coverage(
        (h, wd), (kh, kw), ints(attrs, "strides"), ints(attrs, "pads"), ints(attrs, "dilations")
    ).reshape(-1)
    frames = size_of(x) // (c_in * h * wd)
    every = float(frames * c_in * coverage.sum() * per_group)
    effective = float((nonzeros_per_position(x, e.timesteps, h * wd) @ coverage).sum() * per_group)
    rows, columns = hw.integer("systolic.rows"), hw.integer("systolic.columns")
    tiles = math.ceil(c_group * kh * kw / rows) * math.ceil(c_out / columns)
    positions = size_of(e.outputs[0]) // c_out
    result = Cost(0.0, e.timesteps, hw)
    spikes = e.input_types[0].kind != "f32"
    if spikes:
        result.energy("compute", ADD16, effective)
    else:
        result.energy("compute", MULT8, effective)
        result.energy("compute", ADD32, effective)
    result.access(LOCAL, 2 * effective * _activation_bits(e))
    m = _moves(e, result, weights=(1,))
    result.metrics = Metrics(
        dense_synops=every,
        effective_acs=effective if spikes else 0.0,
        effective_macs=0.0 if spikes else effective,
    )
    return m.finish(result, tiles * (positions + rows + columns))


# -- the attention arrays -------------------------------------------------------------------


def _kept(e: Execution) -> bool:
    """Whether this head survives dynamic head pruning (always, outside `pruned` numerics)."""
    attrs = e.instruction.attrs
    operands = 2 if e.instruction.opcode == "ATT.TOKEN_ATTENTION" else 3  # the whole Q follows
    if e.numerics != "pruned" or "head" not in attrs or len(e.inputs) <= operands:
        return True
    kept = _kept_heads(
        dense(e.inputs[-1]), integer(attrs, "head_count"), e.hardware.number("pruning.keep")
    )
    return integer(attrs, "head") in kept


def _attention_semantics(op: str) -> Semantics:
    def semantics(
        args: Sequence[RuntimeValue], attrs: dict[str, AttrValue], e: Execution
    ) -> list[RuntimeValue]:
        own = {k: v for k, v in attrs.items() if k not in ("head", "head_count")}
        operands = list(args[:-1]) if "head" in attrs else list(args)
        (result,) = run_op(op, operands, own, e.membranes)
        if not _kept(e):
            result = np.zeros_like(result)
        return [result]

    return semantics


def _attention_cost(e: Execution) -> Cost:
    """Mode A: an AND per Q spike and key, an accumulate per match; mode X: an accumulate of an
    A entry per V spike and query. A stays in the array (local), Q, K, V and the result move."""
    hw = e.hardware
    result = Cost(0.0, e.timesteps, hw)
    if not _kept(e):
        result.metrics = Metrics(counters={"pruned": 1.0})
        return result
    q, k, v = (dense(a) for a in e.inputs[:3])
    nq, nk = q.shape[-2], k.shape[-2]
    ands = float(q.sum()) * nk
    matches = float((q @ k.swapaxes(-1, -2)).sum()) if q.ndim == k.ndim else ands
    accumulates = float(v.sum()) * nq
    result.energy("compute", LOGIC1, ands)
    result.energy("compute", ADD16, matches + accumulates)
    result.access(LOCAL, 2 * (matches + accumulates) * _activation_bits(e))
    m = _moves(e, result)
    cells = hw.integer("attention.rows") * hw.integer("attention.columns")
    pairs = q.size // q.shape[-1] * nk * q.shape[-1]
    result.metrics = Metrics(
        dense_synops=2.0 * pairs,
        effective_acs=matches + accumulates,
        spikes=int(spikes_per_step(e.outputs[0], e.timesteps).sum())
        if e.output_types[0].kind != "f32"
        else 0,
        neurons=size_of(e.outputs[0]) if e.output_types[0].kind != "f32" else 0,
    )
    return m.finish(result, math.ceil(2 * pairs / cells))


def _token_attention_cost(e: Execution) -> Cost:
    """QKFormer's token attention on a head unit's array: mode A's accumulate cells sum each
    token's Q channels of the head (an accumulate per Q spike), the channel sums charge one LIF
    membrane per token and head held in the array (two adds and a comparison per update, the
    membrane read and written locally), and each K spike is kept by an AND with its token's
    spike. The array streams Q's and K's positions (`attention.rows x attention.columns` a
    cycle) and updates `attention.rows` membranes a cycle (assumption: one LIF per row of
    accumulators). Q, K and the result move."""
    hw = e.hardware
    result = Cost(0.0, e.timesteps, hw)
    if not _kept(e):
        result.metrics = Metrics(counters={"pruned": 1.0})
        return result
    q, k = (dense(a) for a in e.inputs[:2])
    updates = token_sums(q.shape, integer(e.instruction.attrs, "heads"))
    accumulates = float(q.sum())
    ands = float(k.sum())
    result.energy("compute", ADD16, accumulates + 2 * updates)
    result.energy("compute", COMPARE16, updates)
    result.energy("compute", LOGIC1, ands)
    result.access(LOCAL, 2 * (accumulates + updates) * _activation_bits(e))
    m = _moves(e, result)
    rows = hw.integer("attention.rows")
    cells = rows * hw.integer("attention.columns")
    result.metrics = Metrics(
        dense_synops=float(q.size),
        effective_acs=accumulates,
        membrane_updates=float(updates),
        spikes=int(spikes_per_step(e.outputs[0], e.timesteps).sum()),
        neurons=size_of(e.outputs[0]),
    )
    return m.finish(result, math.ceil((q.size + k.size) / cells) + math.ceil(updates / rows))


# -- neurons, routing, the rest -------------------------------------------------------------


def _neuron_work(e: Execution) -> tuple[int, list[RuntimeValue] | None, list[RuntimeValue] | None]:
    """A neuron layer's membrane updates; when it belongs to a pruned K or V projection, only
    the kept heads' channels, and those channels of its input and output (what moves)."""
    x = e.inputs[0]
    updates = size_of(x)
    channels = shape_of(x)[-1]
    kept = _kept_channels(e, channels)
    if kept is None:
        return updates, None, None
    inputs = [dense(x)[..., kept], *e.inputs[1:]]
    outputs: list[RuntimeValue] = [dense(e.outputs[0])[..., kept]]
    return updates // channels * int(np.count_nonzero(kept)), inputs, outputs


def _neuron_cost(e: Execution) -> Cost:
    hw = e.hardware
    updates, inputs, outputs = _neuron_work(e)
    result = Cost(0.0, e.timesteps, hw)
    result.energy("compute", ADD16, 2 * updates)
    result.energy("compute", COMPARE16, updates)
    result.access(LOCAL, 2 * updates * _activation_bits(e))
    return _neuron_finish(e, result, updates, inputs, outputs)


def _update_cost(kind: str) -> CostFunction:
    """A neuron whose update `neuron_update` counts on the neuron unit: the two-state ones
    (Norse's current-based LIF, snnTorch's Synaptic), Norse's box LIF, the leaky integrator and
    the threshold. A lane still completes one neuron a cycle, but each update does its own
    arithmetic and reads and writes its state words in the unit's local memory (two for a
    synaptic current besides the membrane, none for the threshold). A one-state Leaky is priced
    as every other neuron."""

    def cost(e: Execution) -> Cost:
        work = neuron_update(kind, e.instruction.attrs)
        if work is None:
            return _neuron_cost(e)
        updates, inputs, outputs = _neuron_work(e)
        result = Cost(0.0, e.timesteps, e.hardware)
        result.energy("compute", ADD16, work.adds * updates)
        result.energy("compute", MULT16, work.mults * updates)
        result.energy("compute", COMPARE16, work.compares * updates)
        if work.state_words:
            result.access(LOCAL, 2 * work.state_words * updates * _activation_bits(e))
        return _neuron_finish(e, result, updates, inputs, outputs, stateful=work.state_words > 0)

    return cost


def _neuron_finish(
    e: Execution,
    result: Cost,
    updates: int,
    inputs: list[RuntimeValue] | None = None,
    outputs: list[RuntimeValue] | None = None,
    stateful: bool = True,
) -> Cost:
    """The transfers, workload metrics and cycles (`neuron.lanes` updates a cycle) of a layer
    of neurons (`inputs`, `outputs`: the kept channels of a pruned one). A layer without a
    membrane (`stateful` False, the threshold) makes no membrane update; one with a real result
    (the leaky integrator) fires no spike and counts no neuron of the spike output. A recurrent
    neuron adds, for each spike of the step before, its row of the recurrent weight (read in
    with the inputs) on the same lanes (assumption: the design has no recurrent path, so the
    feedback is priced as the neuron unit's own adds)."""
    feedback = float(feedback_accumulates(e.inputs, e.outputs, e.instruction.attrs).sum())
    if feedback:
        result.energy("compute", ADD16, feedback)
        updates_and_feedback = updates + feedback
    else:
        updates_and_feedback = updates
    m = _moves(e, result, inputs=inputs, outputs=outputs)
    if outputs is not None:
        m.counters["pruned_channels"] = float(shape_of(e.outputs[0])[-1] - shape_of(outputs[0])[-1])
    fires = e.output_types[0].kind != "f32"
    spikes = spikes_per_step(e.outputs[0] if outputs is None else outputs[0], e.timesteps)
    result.metrics = Metrics(
        membrane_updates=updates if stateful else 0,
        spikes=int(spikes.sum()) if fires else 0,
        neurons=updates if fires else 0,
    )
    return m.finish(result, math.ceil(updates_and_feedback / e.hardware.integer("neuron.lanes")))


def _router_cost(op: str) -> CostFunction:
    """The router unit (`vector.lanes` elements a cycle): the top-k comparisons (and a softmax's
    exponentials and divisions on its iterative special-function unit, `vector.special_cycles`
    each), gating by spike gates or weighting by real ones, the merge's adds
    (`targets.workload.routing_work`)."""

    def cost(e: Execution) -> Cost:
        hw = e.hardware
        result = Cost(0.0, e.timesteps, hw)
        n = size_of(e.outputs[0])
        kinds = [t.kind for t in e.input_types]
        work = routing_work(op, e.inputs, e.outputs, e.instruction.attrs, kinds)
        result.energy("compute", COMPARE16, work.compares)
        result.energy("compute", ADD16, work.adds)
        result.energy("compute", MULT16, work.mults)
        result.energy("compute", LOGIC1, work.logic)
        result.energy("compute", SPECIAL16, work.specials)
        m = _moves(e, result)
        cycles = math.ceil(n / hw.integer("vector.lanes"))
        cycles += int(work.specials) * hw.integer("vector.special_cycles")
        return m.finish(result, cycles)

    return cost


PRICES = VectorPrices("vector", "precision.accumulation_bits", ACTIVATION_BUFFER)


def _vector(op: str) -> CostFunction:
    """The vector unit's work, with its transfers priced by where the data sit (its buffer
    accesses are those transfers)."""
    base = vector_cost(op, PRICES)

    def cost(e: Execution) -> Cost:
        result = base(e)
        if result.cycles == 0 and not result.items:  # a reshape renames its data
            return result
        compute = result.cycles
        result.items = [i for i in result.items if i.level != ACTIVATION_BUFFER]
        m = _moves(e, result)
        return m.finish(result, compute)

    return cost


def _io_cost(what: str) -> CostFunction:
    def cost(e: Execution) -> Cost:
        hw = e.hardware
        value = e.inputs[0]
        bits: float
        if what == "input":
            bits = size_of(value) * hw.integer("precision.input_bits")
        else:
            bits = stored_bits(value, e.input_types[0].kind, _activation_bits(e))
        result = dram_cost(e, bits, ACTIVATION_BUFFER, store=what != "input")
        result.metrics = Metrics(counters={"cycles_2d": result.cycles})  # no wires to DRAM
        return result

    return cost


def _opcode(name: str, op: str, cost: CostFunction, doc: str) -> Opcode:
    return reference_opcode(name, op, cost, doc, PLACEMENT)


ATTENTION_OPS: dict[str, CostFunction] = {
    "ssa": _attention_cost,
    "sdsa": _attention_cost,
    "token_attention": _token_attention_cost,
    "stochastic_attention": _attention_cost,
}


def _build() -> InstructionSet:
    opcodes = [
        _prunable_opcode(
            "SYS.LINEAR",
            "linear",
            _array_cost("systolic.rows", "systolic.columns", False),
            "a spiking-MLP layer on the systolic array",
        ),
        _prunable_opcode(
            "EXP.LINEAR",
            "linear",
            _array_cost("expert.rows", "expert.columns", True),
            "an expert's layer on its expert core (routed tokens only)",
        ),
        _opcode("SYS.CONV", "conv2d", _conv_cost, "a convolution on the systolic array"),
        _prunable_opcode("NEU.LIF", "lif", _neuron_cost, "LIF neurons"),
        _prunable_opcode("NEU.IF", "if", _neuron_cost, "IF neurons"),
        _prunable_opcode(
            "NEU.LEAKY", "leaky", _update_cost("leaky"), "snnTorch Leaky (and Synaptic) neurons"
        ),
        _prunable_opcode(
            "NEU.CUBA_LIF",
            "cuba_lif",
            _update_cost("cuba_lif"),
            "Norse current-based LIF neurons",
        ),
        _prunable_opcode(
            "NEU.LIF_BOX", "lif_box", _update_cost("lif_box"), "Norse box LIF neurons (LIFBoxCell)"
        ),
        _prunable_opcode(
            "NEU.LI", "li", _update_cost("li"), "leaky integrators (a membrane read out as reals)"
        ),
        _prunable_opcode(
            "NEU.THRESHOLD", "threshold", _update_cost("threshold"), "stateless thresholds"
        ),
        _opcode("RTR.TOPK", "route_topk", _router_cost("route_topk"), "top-k routing"),
        _opcode("RTR.DISPATCH", "dispatch", _router_cost("dispatch"), "tokens to an expert"),
        _opcode("RTR.COMBINE", "combine", _router_cost("combine"), "the aligned merge"),
        transfer_opcode("IO.LOAD_INPUT", _io_cost("input"), "input from DRAM"),
        weight_load_opcode(
            "IO.LOAD_WEIGHTS", WEIGHT_BUFFER, "precision.weight_bits", "precision.accumulation_bits"
        ),
        transfer_opcode("IO.STORE_OUTPUT", _io_cost("output"), "to DRAM"),
    ]
    for op, attention_cost in ATTENTION_OPS.items():
        _, (low, high), outputs, attrs = SEMANTICS[op]
        opcodes.append(
            Opcode(
                f"ATT.{op.upper()}",
                (low, high + 1),
                outputs,
                _attention_semantics(op),
                attention_cost,
                {**attrs, **PLACEMENT, **HEAD_ATTRS},
                f"spike.{op} on a head unit's attention array (the full Q last when pruning)",
                results=RESULT_KINDS[op],
                op=op,
                own_inputs=_without_head_q,
            )
        )
    for op in SEMANTICS:
        opcodes.append(_opcode(f"VEC.{op.upper()}", op, _vector(op), f"spike.{op} (vector unit)"))
    return InstructionSet(
        "stacked3d",
        {o.name: o for o in opcodes},
        _units([o.name for o in opcodes]),
        components=("vertical", "noc"),
    )


def _units(names: list[str]) -> UnitMap:
    """`t<tier>.<unit>` on every tier (one in 2D), `units.heads` head units and `units.experts`
    expert cores on each, and `io`."""
    kinds = {
        "systolic": by_prefix(names, "SYS"),
        "neuron": by_prefix(names, "NEU"),
        "router": by_prefix(names, "RTR"),
        "vector": by_prefix(names, "VEC"),
    }
    attention, expert = by_prefix(names, "ATT"), by_prefix(names, "EXP")

    def units(hw: Hardware, variant: str) -> dict[str, frozenset[str]]:
        tier_units = dict(kinds)
        tier_units.update({f"head{h}": attention for h in range(hw.integer("units.heads"))})
        tier_units.update({f"expert{e}": expert for e in range(hw.integer("units.experts"))})
        tiers = 1 if variant == "2d" else hw.integer("tiers.count")
        found = {f"t{t}.{unit}": ops for t in range(tiers) for unit, ops in tier_units.items()}
        return {**found, "io": by_prefix(names, "IO")}

    return units


INSTRUCTION_SET = _build()


ACTIVATION_LEVELS = {
    "f32": "activation_buffer",
    "spk": "activation_buffer",
    "addr": "activation_buffer",
}
"""Where an activation of each buffer kind is held."""
