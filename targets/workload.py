"""Counting the work an instruction did, from the values it actually saw: spikes per timestep,
spikes per input position, bits held by a buffer, window coverage of convolutions and pools, and
the operations of a generic vector unit. The targets' cost models price these counts with their
own hardware entries; nothing here knows a design.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from runtime.encoded import EncodedSpikes
from runtime.isa import Value
from runtime.onnx_region import node_work
from runtime.program import AttrValue, BufferType


def shape_of(value: Value) -> tuple[int, ...]:
    return tuple(value.shape)


def size_of(value: Value) -> int:
    if isinstance(value, np.ndarray):
        return value.size
    return math.prod(value.shape)


def address_bits(positions: int) -> int:
    """Bits of one address into `positions` positions."""
    return max(1, math.ceil(math.log2(max(positions, 2))))


def pointer_bits(positions: int) -> int:
    """Bits of a row's spike count (0..positions): what marks where a row's addresses end."""
    return address_bits(positions + 1)


def spikes_per_step(value: Value, timesteps: int) -> np.ndarray:
    """Non-zeros in each timestep of a time-leading value (float64 `[T]`)."""
    if isinstance(value, EncodedSpikes):
        return value.row_counts().reshape(timesteps, -1).sum(axis=1).astype(np.float64)
    return np.count_nonzero(value.reshape(timesteps, -1), axis=1).astype(np.float64)


def rows_of(value: Value, address_axes: int) -> int:
    """Rows of a value whose last `address_axes` axes form its positions."""
    return math.prod(shape_of(value)[:-address_axes]) if address_axes else size_of(value)


def stored_bits(value: Value, kind: str, activation_bits: int) -> float:
    """Bits a buffer holds: addresses and row counts (`addr`), one bit a position (`spk`), or
    `activation_bits` a real."""
    if isinstance(value, EncodedSpikes):
        return float(
            value.spikes * address_bits(value.positions)
            + value.rows * pointer_bits(value.positions)
        )
    if kind == "spk":
        return float(size_of(value))
    return float(size_of(value) * activation_bits)


def stored_bits_per_step(
    value: Value, kind: str, activation_bits: int, timesteps: int
) -> np.ndarray:
    """`stored_bits` of each timestep of a time-leading value."""
    if isinstance(value, EncodedSpikes):
        spikes = spikes_per_step(value, timesteps)
        rows = value.rows / timesteps
        return spikes * address_bits(value.positions) + rows * pointer_bits(value.positions)
    return np.full(timesteps, stored_bits(value, kind, activation_bits) / timesteps)


def nonzeros_per_position(value: Value, timesteps: int, positions: int) -> np.ndarray:
    """Non-zeros at each of the last `positions` flattened positions, per timestep (`[T, P]`):
    e.g. the spikes at each pixel (summed over batch and channels) for a convolution's costs."""
    if isinstance(value, EncodedSpikes) and value.dense is None:
        rows_per_step = value.rows // timesteps
        step = np.repeat(np.arange(value.rows) // rows_per_step, value.row_counts())
        where = value.addresses.astype(np.int64) % positions
        counts = np.bincount(step * positions + where, minlength=timesteps * positions)
        return counts.reshape(timesteps, positions).astype(np.float64)
    dense = value.to_dense() if isinstance(value, EncodedSpikes) else value
    matrix = dense.reshape(timesteps, -1, positions)
    return np.count_nonzero(matrix, axis=1).astype(np.float64)


def window_coverage(
    hw: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int] = (1, 1),
) -> np.ndarray:
    """For each input position `[H, W]`, how many (output position, kernel tap) pairs read it:
    the fan-out of a spike there in a convolution or pool (padding is never read)."""
    h, w = hw
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    top, left, bottom, right = pads
    ho = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    wo = (w + left + right - dw * (kw - 1) - 1) // sw + 1
    padded = np.zeros((h + top + bottom, w + left + right), dtype=np.int64)
    for p in range(kh):
        for q in range(kw):
            padded[
                p * dh : p * dh + (ho - 1) * sh + 1 : sh, q * dw : q * dw + (wo - 1) * sw + 1 : sw
            ] += 1
    return padded[top : top + h, left : left + w]


def integer(attrs: dict[str, AttrValue], key: str, default: int | None = None) -> int:
    """An integer attribute of an instruction (validated against its opcode on load)."""
    value = attrs.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"attribute {key} is {value!r}, not an integer")
    return value


def ints(attrs: dict[str, AttrValue], key: str) -> list[int]:
    value = attrs[key]
    assert isinstance(value, list)
    return [int(v) for v in value]  # type: ignore[arg-type]


# -- the generic vector unit -------------------------------------------------------------------


@dataclass
class VectorWork:
    """Operations of an op run on a generic vector unit (no zero skipping), by kind."""

    adds: float = 0.0
    mults: float = 0.0
    compares: float = 0.0
    logic: float = 0.0
    """One-bit AND/OR (gating by a spike)."""
    specials: float = 0.0
    """Divisions and square roots."""
    randoms: float = 0.0
    """Random numbers drawn."""
    macs: float = 0.0
    """Of the adds and mults, the multiply-accumulates of products (a generic op's MatMul,
    Gemm, Conv or Einsum): its synaptic operations."""
    moves: bool = True
    """Whether the op reads and writes its data (a reshape only renames it)."""

    @property
    def simple_ops(self) -> float:
        return self.adds + self.mults + self.compares + self.logic + self.randoms


MEMBRANE_OPS = ("lif", "if", "leaky", "cuba_lif", "lif_box", "li")
"""Ops that keep a membrane: each input element is one membrane update. All fire but `li`, the
leaky integrator, whose result is the membrane itself (reals)."""

STATELESS_NEURONS = ("threshold",)
"""Ops that fire with no membrane (NIR's Threshold): a comparison per element, no state."""


@dataclass(frozen=True)
class NeuronUpdate:
    """The arithmetic of one membrane update (one neuron, one timestep) and the state words the
    neuron keeps between steps."""

    adds: int
    mults: int
    compares: int
    state_words: int


CUBA_LIF_UPDATE = NeuronUpdate(adds=5, mults=2, compares=1, state_words=2)
"""`spike.cuba_lif`: adds `J = I + X`, `v_leak - V`, `+ J`, `V + dV` and `J + dI`; mults
`dt_tau_mem_inv * (...)` and `(-dt_tau_syn_inv) * J`; one comparison `H > v_threshold` (the
`H - v_threshold > 0` of the source is that comparison). The reset selects `v_reset` or `H` (a
multiplexer, as for LIF's hard reset), so it is no arithmetic. State: membrane V and synaptic
current I, both read and written every step."""


SYNAPTIC_UPDATE = NeuronUpdate(adds=2, mults=2, compares=1, state_words=2)
"""`spike.leaky` with `alpha` (snnTorch `Synaptic`): adds `alpha * I + X` and `beta * V + I`,
mults `alpha * I` and `beta * V`, one comparison `V > threshold`; the reset is a select (as
for Leaky, whose update counts only `beta * V + X`). State: membrane V and synaptic current I."""


LIF_BOX_UPDATE = NeuronUpdate(adds=3, mults=1, compares=1, state_words=1)
"""`spike.lif_box` (Norse `LIFBoxCell`): adds `X + v_leak`, `- V` and `V + dV`; the mult
`dt_tau_mem_inv * (...)`; one comparison `H > v_threshold` (the source's `H - v_threshold > 0`).
The reset `(1 - S) H + S v_reset` selects `v_reset` or `H`, a multiplexer as for `cuba_lif`.
State: the membrane V."""


LI_UPDATE = NeuronUpdate(adds=3, mults=1, compares=0, state_words=1)
"""`spike.li` with `v_leak` (Norse `LIBoxCell`): `v_leak - V`, `+ X`, `dt_tau_mem_inv * (...)`
and `V + dV`; no comparison (it never fires). State: the membrane V, which is also its result."""


INTEGRATOR_UPDATE = NeuronUpdate(adds=1, mults=1, compares=0, state_words=1)
"""`spike.li` without `v_leak` (NIR's I): `V + dt_tau_mem_inv * X`, one mult and one add."""


THRESHOLD_UPDATE = NeuronUpdate(adds=0, mults=0, compares=1, state_words=0)
"""`spike.threshold`: one comparison `X > threshold`, no state."""


def neuron_update(op: str, attrs: dict[str, AttrValue]) -> NeuronUpdate | None:
    """The update of a neuron whose arithmetic is counted here, the same on every design: the
    two-state neurons (a synaptic current besides the membrane), Norse's box cell, the leaky
    integrator and the threshold; None for the one-state kinds (`lif`, `if`, Leaky), which each
    design counts as its neuron unit does them.

    Neither `spike.if`'s `strict` (a `>` comparator instead of `>=`) nor `spike.leaky`'s
    `immediate_reset` (the same reset, applied in the step that fired rather than the next:
    still one reset per spike) changes an update's arithmetic."""
    if op == "cuba_lif":
        return CUBA_LIF_UPDATE
    if op == "leaky" and attrs.get("alpha") is not None:
        return SYNAPTIC_UPDATE
    if op == "lif_box":
        return LIF_BOX_UPDATE
    if op == "li":
        return INTEGRATOR_UPDATE if attrs.get("v_leak") is None else LI_UPDATE
    if op == "threshold":
        return THRESHOLD_UPDATE
    return None


def token_sums(q_shape: Sequence[int], heads: int) -> int:
    """The channel sums of a token attention on Q of `q_shape` `[T, B, N, D]` with `heads` heads:
    one per timestep, item, token and head, each one membrane update of its LIF."""
    t, b, n, _ = q_shape
    return t * b * n * heads


SOFTMAX_PER_SCORE = VectorWork(adds=2, compares=1, specials=2)
"""Softmax over a row of scores, per score: the row maximum (a comparison), the subtraction of
the maximum and the row sum (two adds), an exponential and the division by the sum (two special
operations, each priced as an iterative special function)."""


def real_gates(kinds: Sequence[str], index: int) -> bool:
    """Whether the routing gates at input `index` are held as reals (softmax weights, or binary
    gates without a time axis): routing then compares each gate with zero and weighting
    multiplies; spike gates (`spk`/`addr`) just gate."""
    return index < len(kinds) and kinds[index] == "f32"


def routing_work(
    op: str,
    inputs: Sequence[Value],
    outputs: Sequence[Value],
    attrs: dict[str, AttrValue],
    kinds: Sequence[str] = (),
) -> VectorWork:
    """The operations of routing (`route_topk`, `dispatch`, `combine`), from what they saw.

    A router does k comparisons per score (the top-k), plus `SOFTMAX_PER_SCORE` with
    `softmax` and, with `normalize`, k - 1 adds and k divisions a token; its scores are
    `[T, B, N, E]`, or `[B, N, E]` for a router that routes once for all timesteps (B*N tokens,
    not T*B*N). Dispatch gates every element of X by its token's gate
    (one logic op), after comparing each of its gates with zero when they are reals. Combine
    weights each expert output element (a logic op for spike gates, a multiply for real ones)
    and adds the experts up."""
    n_in = size_of(inputs[0]) if inputs else 0
    n_out = sum(size_of(v) for v in outputs)
    if op == "route_topk":
        work = VectorWork(compares=n_in * integer(attrs, "k"))
        if attrs.get("softmax"):
            s = SOFTMAX_PER_SCORE
            work.adds += s.adds * n_in
            work.compares += s.compares * n_in
            work.specials += s.specials * n_in
        if attrs.get("normalize"):  # per token: the k chosen summed, each divided by the sum
            k = integer(attrs, "k")
            tokens = n_in // max(shape_of(inputs[0])[-1], 1) if inputs else 0
            work.adds += tokens * (k - 1)
            work.specials += tokens * k
        return work
    if op == "dispatch":
        gates = inputs[1]
        tokens = size_of(gates) // max(shape_of(gates)[-1], 1)
        return VectorWork(logic=n_out, compares=tokens if real_gates(kinds, 1) else 0)
    assert op == "combine", op
    experts = len(inputs) - 1
    if real_gates(kinds, 0):
        return VectorWork(mults=n_out * experts, adds=n_out * (experts - 1))
    return VectorWork(logic=n_out * experts, adds=n_out * (experts - 1))


ROUTING_OPS = ("route_topk", "dispatch", "combine")

REGION_SPECIAL_OPS = frozenset(
    {
        "Exp", "Log", "Div", "Sqrt", "Reciprocal", "Pow", "Tanh", "Sigmoid", "Erf", "Gelu",
        "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Mish", "Elu", "Selu", "Celu",
        "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
        "Mod", "Round", "Floor", "Ceil",
    }
)  # fmt: skip
"""Generic-region body ops a vector unit prices as special functions, one an output element."""
REGION_MULT_OPS = frozenset({"Mul", "PRelu", "LeakyRelu", "ThresholdedRelu"})
REGION_ADD_OPS = frozenset({"Add", "Sub", "Neg", "Sum", "Abs", "Mean", "CumSum"})
REGION_COMPARE_OPS = frozenset(
    {
        "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "Max", "Min", "Clip",
        "Relu", "IsNaN", "IsInf", "Shrink",
    }
)  # fmt: skip
REGION_LOGIC_OPS = frozenset({"Cast", "Not", "And", "Or", "Xor", "Where", "Sign", "BitShift"})
REGION_PRODUCT_OPS = frozenset(
    {"MatMul", "MatMulInteger", "Gemm", "Conv", "ConvTranspose", "Einsum"}
)
"""A multiply and an add per multiply-accumulate."""
REGION_REDUCE_OPS = frozenset(
    {
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ArgMax", "ArgMin",
        "TopK", "GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool", "LpPool",
    }
)  # fmt: skip
"""An add (or compare) per input element."""
REGION_NORMALISE_OPS = frozenset(
    {
        "Softmax", "LogSoftmax", "LayerNormalization", "GroupNormalization",
        "InstanceNormalization", "BatchNormalization", "LpNormalization",
        "MeanVarianceNormalization",
    }
)  # fmt: skip
"""Per input element: two adds and a multiply, and for a softmax an exponential (a
normalisation's one square root a group is left out)."""
"""Everything else (Slice, Squeeze, Unsqueeze, Concat, Gather, Split, Scatter, Constant, Shape,
...) moves data only."""


def region_work(body: str, shapes: Sequence[Sequence[int]]) -> VectorWork:
    """The element operations of a generic region's body nodes on inputs of these shapes (by
    node kind, from each node's element counts; data movement is free)."""
    work = VectorWork()
    for node in node_work(body, tuple(tuple(int(d) for d in s) for s in shapes)):
        op_type, n = node.op_type, node.outputs
        if op_type in REGION_PRODUCT_OPS:
            work.mults += node.macs
            work.adds += node.macs
            work.macs += node.macs
        elif op_type in REGION_REDUCE_OPS:
            if op_type in ("ReduceMax", "ReduceMin", "ArgMax", "ArgMin", "TopK", "MaxPool"):
                work.compares += node.inputs
            else:
                work.adds += node.inputs
        elif op_type in REGION_NORMALISE_OPS:
            work.adds += 2 * node.inputs
            work.mults += node.inputs
            if "Softmax" in op_type:
                work.specials += node.inputs
        elif op_type in REGION_SPECIAL_OPS:
            work.specials += n
        elif op_type in REGION_MULT_OPS:
            work.mults += n
        elif op_type in REGION_ADD_OPS:
            work.adds += n
        elif op_type in REGION_COMPARE_OPS:
            work.compares += n
        elif op_type in REGION_LOGIC_OPS:
            work.logic += n
    return work


def feedback_accumulates(
    inputs: Sequence[Value], outputs: Sequence[Value], attrs: dict[str, AttrValue]
) -> np.ndarray:
    """Per timestep, the weights a recurrent neuron (a neuron instruction whose second operand
    is a recurrent weight `W[N, N]`, `spike.leaky`'s) adds into its membranes: each spike of the
    step before reads its column of W, `N` weights, and accumulates them (spike-driven: nothing
    for a silent neuron); empty for a neuron without one. A design that appends an input of its
    own marks it (`prune_by`)."""
    own = integer(attrs, "prune_by") if "prune_by" in attrs else len(inputs)
    if own < 2 or not outputs or len(shape_of(inputs[1])) != 2:
        return np.zeros(0)
    weight = shape_of(inputs[1])
    steps = shape_of(outputs[0])[0]
    fired = spikes_per_step(outputs[0], steps)
    per_step = np.zeros(steps)
    per_step[1:] = fired[:-1] * weight[0]
    return per_step


def vector_work(
    op: str,
    inputs: Sequence[Value],
    outputs: Sequence[Value],
    attrs: dict[str, AttrValue],
    kinds: Sequence[str] = (),
) -> VectorWork:
    """The operations of `spike.<op>` on these values, as a vector unit would do them
    (`kinds`: how each input is held, `f32`, `spk` or `addr`)."""
    if op in ROUTING_OPS:
        return routing_work(op, inputs, outputs, attrs, kinds)
    ins = [shape_of(v) for v in inputs]
    n_in = math.prod(ins[0]) if ins else 0
    n_out = sum(size_of(v) for v in outputs)
    if op in ("add", "sub"):
        return VectorWork(adds=n_out)
    if op == "mul":
        return VectorWork(mults=n_out)
    if op == "div":
        return VectorWork(specials=n_out)
    if op == "reduce_sum":
        return VectorWork(adds=n_in)
    if op == "reduce_mean":
        return VectorWork(adds=n_in, mults=n_out)
    if op == "reduce_max":
        return VectorWork(compares=n_in)
    if op in ("maxpool", "avgpool"):
        lead = math.prod(ins[0][:-2])
        taps = float(
            window_coverage(
                ins[0][-2:], ints(attrs, "kernel"), ints(attrs, "strides"), ints(attrs, "pads")
            ).sum()
        )
        if op == "maxpool":
            return VectorWork(compares=lead * taps)
        return VectorWork(adds=lead * taps, mults=n_out)
    if op == "batch_norm":
        return VectorWork(adds=2 * n_in, mults=2 * n_in, specials=ins[1][0])
    if op == "layer_norm":
        rows = n_in // ins[0][-1]
        return VectorWork(adds=4 * n_in, mults=3 * n_in, specials=rows)
    if op == "linear":
        macs = float(n_in * (ins[1][0] if attrs.get("transpose_weight") else ins[1][1]))
        return VectorWork(adds=macs, mults=macs)
    if op == "conv2d":
        c_out, _, kh, kw = ins[1]
        coverage = window_coverage(
            ins[0][-2:],
            (kh, kw),
            ints(attrs, "strides"),
            ints(attrs, "pads"),
            ints(attrs, "dilations"),
        )
        macs = n_in * float(coverage.mean()) * c_out / integer(attrs, "group")
        return VectorWork(adds=macs, mults=macs)
    if op == "matmul":
        macs = float(n_out * ins[0][-1])
        return VectorWork(adds=macs, mults=macs)
    if op in ("ssa", "stochastic_attention"):
        t, b, nq, d = ins[0]
        nk = ins[1][2]
        pairs = t * b * nq * nk * d  # query-key pairs x head channels, over all heads
        if op == "ssa":
            heads = integer(attrs, "heads")
            scores = t * b * heads * nq * nk
            return VectorWork(logic=pairs, adds=2 * pairs, mults=pairs + scores)
        heads = integer(attrs, "heads")
        draws = t * b * heads * nq * nk + t * b * nq * d
        return VectorWork(logic=2 * pairs, adds=2 * pairs, compares=draws, randoms=draws)
    if op == "sdsa":
        t, b, _, d = ins[0]
        channels = t * b * d  # the LIF over the column sums of K AND V
        return VectorWork(logic=2 * n_in, adds=n_in + 2 * channels, compares=channels)
    if op == "token_attention":
        sums = token_sums(ins[0], integer(attrs, "heads"))  # the LIF over each token and head
        return VectorWork(adds=n_in + 2 * sums, compares=sums, logic=size_of(inputs[1]))
    update = neuron_update(op, attrs)
    feedback = float(feedback_accumulates(inputs, outputs, attrs).sum()) if op == "leaky" else 0.0
    if update is not None:
        u = update
        adds = u.adds * n_in + feedback
        return VectorWork(adds=adds, mults=u.mults * n_in, compares=u.compares * n_in)
    if op in ("lif", "if", "leaky"):
        mults = n_in if op == "leaky" else 0
        return VectorWork(adds=2 * n_in + feedback, compares=n_in, mults=mults)
    if op == "bernoulli":
        return VectorWork(compares=n_in, randoms=0 if len(inputs) == 2 else n_in)
    if op == "onnx_region":  # every body node's output elements, at every step
        return region_work(str(attrs["body"]), ins)
    if op == "reshape":
        return VectorWork(moves=False)
    # transpose, concat, split, copy, encode, decode, and delay (a delay line: X read, and
    # written `steps` timesteps later): data movement only
    return VectorWork()


def moved_bits(values: Sequence[Value], types: Sequence[BufferType], activation_bits: int) -> float:
    return sum(stored_bits(v, t.kind, activation_bits) for v, t in zip(values, types, strict=True))
