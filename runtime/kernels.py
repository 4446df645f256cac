"""numpy semantics of the `spike` ops: the oracle every pass and target is checked against.

The reference interpreter (`compiler.interpreters.spike`) and the targets' instructions call these
same functions, through `runtime.ops`, so a target computes exactly what the reference computes
unless it models different numerics on purpose.

Pure numpy on float32 arrays (spikes are float32 0/1, as in ONNX); no xDSL here. Each function
follows the arithmetic order written in the op's documentation, because a neuron's threshold
comparison is only bit-exact when every backend rounds the same way. Loops run over timesteps,
heads, experts or groups, never over elements.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

F32 = np.float32
Array = np.ndarray


def _f(value: float) -> np.float32:
    return np.float32(value)


# ---------------------------------------------------------------------------------------------
# Neurons
# ---------------------------------------------------------------------------------------------


def _fire_and_reset(
    h: Array, vth: np.float32, vr: np.float32, soft: bool, out: Array, strict: bool = False
) -> Array:
    """Write the spikes `h >= vth` (`strict`: `h > vth`) into `out` and reset `h` in place.

    Value-equal to the formulas of `spike.lif`: hard reset `h * (1 - s) + vr * s` is `vr` where
    a spike fired and `h` elsewhere, and NaN where an infinite membrane fired (`inf * 0`, as
    IEEE arithmetic and onnxruntime give); soft reset `h - vth * s` subtracts `vth` where one
    fired. (Only the sign of a zero membrane can differ, which no comparison sees.)
    """
    fired = h > vth if strict else h >= vth
    np.copyto(out, fired)
    if soft:
        np.subtract(h, vth, out=h, where=fired)
    else:
        overflowed = h.size > 0 and h.max() == np.inf  # one reduction; rare, then the mask
        infinite = fired & np.isinf(h) if overflowed else None
        np.copyto(h, vr, where=fired)
        if infinite is not None:
            h[infinite] = np.nan
    return h


def lif(
    x: Array,
    tau: float,
    v_threshold: float,
    v_reset: float,
    decay_input: bool,
    soft_reset: bool,
    decay: float | None = None,
    *,
    trace: list[Array] | None = None,
) -> Array:
    """SpikingJelly LIFNode, multi-step (see `spike.lif`); with `decay` k, ParametricLIFNode
    (the leak multiplied by k instead of divided by tau). Every neuron kernel appends the
    membrane after each step to `trace` when given (NeuroBench's membrane updates)."""
    tau_, vth, vr = _f(tau), _f(v_threshold), _f(v_reset)
    k = None if decay is None else _f(decay)
    v = np.full(x.shape[1:], vr, dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        h = v - vr
        if decay_input:  # H = V + (X - (V - vr)) / tau
            np.subtract(x[t], h, out=h)
            if k is None:
                h /= tau_
            else:
                h *= k
            h += v
        else:  # H = V - (V - vr) / tau + X
            if k is None:
                h /= tau_
            else:
                h *= k
            np.subtract(v, h, out=h)
            h += x[t]
        v = _fire_and_reset(h, vth, vr, soft_reset, out[t])
        if trace is not None:
            trace.append(v.copy())
    return out


def if_neuron(
    x: Array,
    v_threshold: float,
    v_reset: float,
    soft_reset: bool,
    strict: bool = False,
    *,
    trace: list[Array] | None = None,
) -> Array:
    """SpikingJelly IFNode, multi-step (see `spike.if`); `strict`, Norse's IAFCell (fires where
    `H - v_threshold > 0`, which for IEEE floats with subnormals is `H > v_threshold`)."""
    vth, vr = _f(v_threshold), _f(v_reset)
    v = np.full(x.shape[1:], vr, dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        v = _fire_and_reset(v + x[t], vth, vr, soft_reset, out[t], strict)
        if trace is not None:
            trace.append(v.copy())
    return out


def leaky(
    x: Array,
    beta: float,
    threshold: float,
    mechanism: str,
    alpha: float | None = None,
    reset_delay: bool = True,
    recurrent: tuple[Array, Array | None] | None = None,
    *,
    trace: list[Array] | None = None,
) -> Array:
    """snnTorch Leaky, or with `alpha` snnTorch Synaptic (see `spike.leaky`); `reset_delay`
    False applies the reset in the step that fired, as snnTorch's `reset_delay=False` does;
    `recurrent` (W, b) feeds the previous step's spikes back as `S @ W.T + b`, as RLeaky and
    RSynaptic do."""
    if alpha is not None:
        a = _f(alpha)
        return _synaptic(
            x, a, _f(beta), _f(threshold), mechanism, reset_delay, recurrent, trace=trace
        )
    b, thr = _f(beta), _f(threshold)
    v = np.zeros(x.shape[1:], dtype=F32)
    s = np.zeros(x.shape[1:], dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        r = (v - thr > 0).astype(F32)
        if recurrent is not None:  # RLeaky: (beta * V + X) + W S, the reset on the sum
            h = (b * v + x[t]) + _feedback(s, recurrent)
            if mechanism == "subtract":
                v = h - r * thr
            elif mechanism == "zero":
                v = h - r * h
            else:
                v = h
        elif mechanism == "subtract":
            v = (b * v + x[t]) - r * thr
        elif mechanism == "zero":
            v = b * ((_f(1.0) - r) * v) + x[t]
        else:
            v = b * v + x[t]
        s = (v - thr > 0).astype(F32)
        if not reset_delay:
            v = _reset_now(v, s, r, thr, mechanism)
        out[t] = s
        if trace is not None:
            trace.append(v.copy())
    return out


def _feedback(s: Array, recurrent: tuple[Array, Array | None]) -> Array:
    """The recurrent current of the previous step's spikes, `S @ W.T + b`."""
    weight, bias = recurrent
    return linear(s, weight, bias, True)


def _reset_now(v: Array, s: Array, r: Array, thr: np.float32, mechanism: str) -> Array:
    """snnTorch's reset with `reset_delay=False`: `do_reset = S - R` (the spike, less the reset
    the state function already applied), then `V - do_reset * thr` or `V - do_reset * V`."""
    if mechanism == "none":
        return v
    do_reset = s - r
    return v - do_reset * (thr if mechanism == "subtract" else v)


def _synaptic(
    x: Array,
    a: np.float32,
    b: np.float32,
    thr: np.float32,
    mechanism: str,
    reset_delay: bool,
    recurrent: tuple[Array, Array | None] | None = None,
    *,
    trace: list[Array] | None = None,
) -> Array:
    """snnTorch Synaptic in its own order: the reset from the previous membrane, the current
    charged (RSynaptic: `(alpha * I + X) + W S`), the membrane charged by the current, then the
    reset applied (to the membrane only: snnTorch's reset to zero leaves the current)."""
    i = np.zeros(x.shape[1:], dtype=F32)
    v = np.zeros(x.shape[1:], dtype=F32)
    s = np.zeros(x.shape[1:], dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        r = (v - thr > 0).astype(F32)
        i = a * i + x[t]
        if recurrent is not None:
            i = i + _feedback(s, recurrent)
        h = b * v + i
        if mechanism == "subtract":
            v = h - r * thr
        elif mechanism == "zero":
            v = h - h * r
        else:
            v = h
        s = (v - thr > 0).astype(F32)
        if not reset_delay:
            v = _reset_now(v, s, r, thr, mechanism)
        out[t] = s
        if trace is not None:
            trace.append(v.copy())
    return out


def cuba_lif(
    x: Array,
    dt_tau_mem_inv: float,
    dt_tau_syn_inv: float,
    v_leak: float,
    v_threshold: float,
    v_reset: float,
    *,
    trace: list[Array] | None = None,
) -> Array:
    """Norse LIFCell, current-based (see `spike.cuba_lif`): two states, the membrane `v` and
    the synaptic current `i`, in Norse's order and with its reset formula written out."""
    a, b = _f(dt_tau_mem_inv), _f(dt_tau_syn_inv)
    vl, vth, vr, one = _f(v_leak), _f(v_threshold), _f(v_reset), _f(1.0)
    minus_b = -b
    v = np.full(x.shape[1:], vl, dtype=F32)
    i = np.zeros(x.shape[1:], dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        j = i + x[t]
        h = v + a * ((vl - v) + j)
        i = j + minus_b * j
        s = (h - vth > 0).astype(F32)
        v = (one - s) * h + s * vr
        out[t] = s
        if trace is not None:
            trace.append(v)
    return out


def lif_box(
    x: Array,
    dt_tau_mem_inv: float,
    v_leak: float,
    v_threshold: float,
    v_reset: float,
    *,
    trace: list[Array] | None = None,
) -> Array:
    """Norse LIFBoxCell (see `spike.lif_box`): one state, the membrane, in Norse's order."""
    a, vl, vth, vr, one = _f(dt_tau_mem_inv), _f(v_leak), _f(v_threshold), _f(v_reset), _f(1.0)
    v = np.full(x.shape[1:], vl, dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        h = v + a * ((x[t] + vl) - v)
        s = (h - vth > 0).astype(F32)
        v = (one - s) * h + s * vr
        out[t] = s
        if trace is not None:
            trace.append(v)
    return out


def leaky_integrator(x: Array, dt_tau_mem_inv: float, v_leak: float | None) -> Array:
    """Norse LIBoxCell, or without `v_leak` a pure integrator (see `spike.li`): the membrane
    after each step."""
    a = _f(dt_tau_mem_inv)
    v = np.full(x.shape[1:], 0.0 if v_leak is None else v_leak, dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        if v_leak is None:
            v = v + a * x[t]
        else:
            v = v + a * ((_f(v_leak) - v) + x[t])
        out[t] = v
    return out


def delay(x: Array, steps: int) -> Array:
    """`Y[t] = X[t - steps]`, zeros before (see `spike.delay`)."""
    out = np.zeros_like(x)
    if steps < x.shape[0]:
        out[steps:] = x[: x.shape[0] - steps]
    return out


def threshold(x: Array, theta: float) -> Array:
    """NIR's Threshold: `x > theta`, no state."""
    return (x > _f(theta)).astype(F32)


def bernoulli(p: Array, uniform: Array) -> Array:
    """Fire where the uniform number is below the probability."""
    return (uniform < p).astype(F32)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------


def linear(x: Array, w: Array, b: Array | None, transpose_weight: bool) -> Array:
    weight = w.T if transpose_weight else w
    # One 2-D product (one BLAS call) rather than a stack of them.
    y = (x.reshape(-1, x.shape[-1]) @ weight).reshape(*x.shape[:-1], weight.shape[-1])
    if b is not None:
        y += b
    return y


def _pad_hw(x: Array, pads: Sequence[int], value: float) -> Array:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    h, w = x.shape[-2:]
    padded = np.full((*x.shape[:-2], top + h + bottom, left + w + right), value, dtype=x.dtype)
    padded[..., top : top + h, left : left + w] = x
    return padded


def _offsets(
    kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], out_hw: Sequence[int]
) -> list[tuple[int, int, slice, slice]]:
    """For each kernel position (p, q): the slices of the padded input it reads for every output
    position, so that window ops become kh * kw whole-array operations."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilations, out_hw
    return [
        (
            p,
            q,
            slice(p * dh, p * dh + (ho - 1) * sh + 1, sh),
            slice(q * dw, q * dw + (wo - 1) * sw + 1, sw),
        )
        for p in range(kh)
        for q in range(kw)
    ]


def _out_hw(
    hw: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int] = (1, 1),
) -> tuple[int, int]:
    h = (hw[0] + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    w = (hw[1] + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    return h, w


def im2col(
    x: Array,
    kernel: Sequence[int],
    group: int,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
) -> tuple[Array, tuple[int, int]]:
    """The patches of `x [..., C, H, W]` as columns `[N, group, C/group * kh * kw, ho * wo]`,
    rows in the weights' own order (c, p, q); every copy moves whole rows. Also the output
    size."""
    c, h, wd = x.shape[-3:]
    kh, kw = kernel
    cg = c // group
    ho, wo = _out_hw((h, wd), (kh, kw), strides, pads, dilations)
    items = _pad_hw(x.reshape(-1, c, h, wd), pads, 0)
    n = items.shape[0]
    grouped = items.reshape(n, group, cg, *items.shape[-2:])
    cols = np.empty((n, group, cg, kh, kw, ho, wo), dtype=x.dtype)
    for p, q, rows, columns in _offsets((kh, kw), strides, dilations, (ho, wo)):
        cols[:, :, :, p, q] = grouped[:, :, :, rows, columns]
    return cols.reshape(n, group, cg * kh * kw, ho * wo), (ho, wo)


def conv2d(
    x: Array,
    w: Array,
    b: Array | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> Array:
    """ONNX Conv over the last three axes: one product `weights @ columns` per group, which
    gives NCHW directly."""
    c_out, cg, kh, kw = w.shape
    cols, (ho, wo) = im2col(x, (kh, kw), group, strides, pads, dilations)
    y = np.matmul(w.reshape(group, c_out // group, cg * kh * kw), cols)  # [n, group, og, P]
    y = y.reshape(*x.shape[:-3], c_out, ho, wo)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def matmul(a: Array, b: Array) -> Array:
    return a @ b


def batch_norm(
    x: Array, scale: Array, bias: Array, mean: Array, var: Array, epsilon: float, axis: int
) -> Array:
    shape = [1] * x.ndim
    shape[axis] = -1

    def per_channel(v: Array) -> Array:
        return v.reshape(shape)

    std = np.sqrt(per_channel(var) + _f(epsilon))
    return (x - per_channel(mean)) / std * per_channel(scale) + per_channel(bias)


def layer_norm(x: Array, gamma: Array, beta: Array | None, epsilon: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=-1, keepdims=True)
    y = d / np.sqrt(var + _f(epsilon)) * gamma
    return y if beta is None else y + beta


def maxpool(x: Array, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int]) -> Array:
    padded = _pad_hw(x, pads, -np.inf)
    out_hw = _out_hw(x.shape[-2:], kernel, strides, pads)
    result: Array | None = None
    for _, _, rows, columns in _offsets(kernel, strides, (1, 1), out_hw):
        window = padded[..., rows, columns]
        result = window.copy() if result is None else np.maximum(result, window, out=result)
    assert result is not None
    return result


def avgpool(
    x: Array,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    count_include_pad: bool,
) -> Array:
    out_hw = _out_hw(x.shape[-2:], kernel, strides, pads)
    offsets = _offsets(kernel, strides, (1, 1), out_hw)

    def window_sums(a: Array) -> Array:
        padded = _pad_hw(a, pads, 0.0)
        total = np.zeros((*a.shape[:-2], *out_hw), dtype=F32)
        for _, _, rows, columns in offsets:
            total += padded[..., rows, columns]
        return total

    sums = window_sums(x)
    if count_include_pad or not any(pads):
        return sums / _f(kernel[0] * kernel[1])
    return sums / window_sums(np.ones(x.shape[-2:], dtype=F32))


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------


def split_heads(x: Array, heads: int) -> Array:
    """`[T, B, N, D]` -> `[T, B, H, N, dh]`."""
    t, b, n, d = x.shape
    return x.reshape(t, b, n, heads, d // heads).transpose(0, 1, 3, 2, 4)


def merge_heads(x: Array) -> Array:
    """`[T, B, H, N, dh]` -> `[T, B, N, D]`."""
    t, b, h, n, dh = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 3, 2, 4)).reshape(t, b, n, h * dh)


def ssa(q: Array, k: Array, v: Array, heads: int, scale: float) -> Array:
    qh, kh, vh = (split_heads(a, heads) for a in (q, k, v))
    attn = (qh @ kh.swapaxes(-1, -2)) * _f(scale)
    return merge_heads(attn @ vh)


def sdsa(
    q: Array,
    k: Array,
    v: Array,
    tau: float,
    v_threshold: float,
    v_reset: float,
    decay_input: bool,
    soft_reset: bool,
) -> Array:
    return q * lif(sdsa_current(k, v), tau, v_threshold, v_reset, decay_input, soft_reset)


def sdsa_current(k: Array, v: Array) -> Array:
    """What SDSA's LIF integrates: `Σ_tokens K ⊙ V` (`[T, B, 1, D]`)."""
    return (k * v).sum(axis=2, keepdims=True)


def token_sums(q: Array, heads: int) -> Array:
    """What token attention's LIF integrates: each head's and token's Q channels summed
    (`[T, B, H, N, 1]`; counts of spikes, exact in float32 in any order)."""
    return split_heads(q, heads).sum(axis=-1, keepdims=True, dtype=F32)


def token_attention(
    q: Array,
    k: Array,
    heads: int,
    tau: float,
    v_threshold: float,
    v_reset: float,
    decay_input: bool,
    soft_reset: bool,
) -> Array:
    """QKFormer's token attention (see `spike.token_attention`): per head, the LIF over time of
    the sum of each token's Q channels (`[T, B, H, N, 1]`) masks every channel of that token's K.
    The sums are counts of spikes (exact in float32, in any order)."""
    mask = lif(token_sums(q, heads), tau, v_threshold, v_reset, decay_input, soft_reset)
    return merge_heads(mask * split_heads(k, heads))


def stochastic_attention_stages(
    q: Array,
    k: Array,
    v: Array,
    u1: Array,
    u2: Array,
    heads: int,
    c1: float,
    c2: float,
    mask_diagonal: bool,
    query_offset: int = 0,
) -> tuple[Array, Array, Array, Array]:
    """`stochastic_attention` with its intermediates, per head: the output, the counts of the
    first stage `Q K^T`, its Bernoulli spikes S (masked), and the counts of the second `S V`
    (what a hardware model counts its AND operations and random draws from)."""
    qh, kh, vh = (split_heads(a, heads) for a in (q, k, v))
    counts1 = qh @ kh.swapaxes(-1, -2)
    s = (u1 < counts1 / _f(c1)).astype(F32)
    if mask_diagonal:
        nq, nk = s.shape[-2:]
        s = s * (_f(1.0) - np.eye(nq, nk, k=query_offset, dtype=F32))
    counts2 = s @ vh
    out = (u2 < counts2 / _f(c2)).astype(F32)
    return merge_heads(out), counts1, s, counts2


def stochastic_attention(
    q: Array,
    k: Array,
    v: Array,
    u1: Array,
    u2: Array,
    heads: int,
    c1: float,
    c2: float,
    mask_diagonal: bool,
    query_offset: int = 0,
) -> Array:
    """Query token i of this op is token `query_offset + i` of the whole attention; the masked
    diagonal is that of the whole attention."""
    return stochastic_attention_stages(q, k, v, u1, u2, heads, c1, c2, mask_diagonal, query_offset)[
        0
    ]


# ---------------------------------------------------------------------------------------------
# Mixture of experts
# ---------------------------------------------------------------------------------------------


def softmax(logits: Array) -> Array:
    """Softmax over the last axis in float32, as ONNX defines it: subtract the row's maximum,
    exponentiate, divide by the row's sum."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted, dtype=F32)
    return exp / exp.sum(axis=-1, keepdims=True, dtype=F32)


def route_topk(
    logits: Array, k: int, softmax_weights: bool = False, normalize: bool = False
) -> Array:
    """Top-k gates (see `spike.route_topk`): 1 at the k largest scores of each token; with
    `softmax_weights`, `P = softmax(L)` at the k largest P (0 elsewhere), with `normalize`
    divided by their sum (added in rank order). Ties go to the lower expert index, as in ONNX
    TopK."""
    scores = softmax(logits) if softmax_weights else logits
    order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    gates = np.zeros(logits.shape, dtype=F32)
    if softmax_weights:
        chosen = np.take_along_axis(scores, order, axis=-1)
        if normalize:
            total = chosen[..., :1].copy()
            for j in range(1, k):  # one add at a time, in rank order (not numpy's pairwise sum)
                total += chosen[..., j : j + 1]
            chosen = chosen / total
        np.put_along_axis(gates, order, chosen, axis=-1)
    else:
        np.put_along_axis(gates, order, _f(1.0), axis=-1)
    return gates


def _gate(gates: Array, expert: int, tokens: tuple[int, int] | None) -> Array:
    """`G[..., e:e+1]`, zero outside the token range. The token axis is the gates'
    second-to-last (`[T, B, N, E]` or time-invariant `[B, N, E]`)."""
    gate = gates[..., expert : expert + 1]
    if tokens is None:
        return gate
    axis = gates.ndim - 2
    window = (slice(None),) * axis + (slice(tokens[0], tokens[1]),)
    masked = np.zeros_like(gate)
    masked[window] = gate[window]
    return masked


def dispatch(x: Array, gates: Array, expert: int, tokens: tuple[int, int] | None = None) -> Array:
    """`X * [G[..., e:e+1] != 0]`: the tokens routed to expert e, unscaled (gates without a
    time axis apply to every timestep)."""
    return x * (_gate(gates, expert, tokens) != 0).astype(F32)


def combine(
    gates: Array,
    outputs: Sequence[Array],
    experts: Sequence[int] | None = None,
    tokens: Sequence[tuple[int, int] | None] | None = None,
) -> Array:
    """Sum of the gated expert outputs in input order: `g_0 * y_0`, then `total + g_j * y_j`
    (gates without a time axis apply to every timestep)."""
    experts = list(range(len(outputs))) if experts is None else experts
    tokens = [None] * len(outputs) if tokens is None else tokens
    total = _gate(gates, experts[0], tokens[0]) * outputs[0]
    for j in range(1, len(outputs)):
        total = total + _gate(gates, experts[j], tokens[j]) * outputs[j]
    return total
