"""numpy semantics of the `spike` ops: the oracle every pass and target is checked against.

Pure numpy on float32 arrays (spikes are float32 0/1, as in ONNX); no xDSL here. Each function
follows the arithmetic order written in the op's documentation, because a neuron's threshold
comparison is only bit-exact when every backend rounds the same way. Loops run over timesteps,
heads, experts or groups, never over elements.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

F32 = np.float32
Array = np.ndarray


def _f(value: float) -> np.float32:
    return np.float32(value)


# ---------------------------------------------------------------------------------------------
# Neurons
# ---------------------------------------------------------------------------------------------


def lif(
    x: Array, tau: float, v_threshold: float, v_reset: float, decay_input: bool, soft_reset: bool
) -> Array:
    """SpikingJelly LIFNode, multi-step (see `spike.lif`)."""
    tau_, vth, vr = _f(tau), _f(v_threshold), _f(v_reset)
    v = np.full(x.shape[1:], vr, dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        if decay_input:
            h = v + (x[t] - (v - vr)) / tau_
        else:
            h = v - (v - vr) / tau_ + x[t]
        s = (h >= vth).astype(F32)
        v = h - vth * s if soft_reset else h * (_f(1.0) - s) + vr * s
        out[t] = s
    return out


def if_neuron(x: Array, v_threshold: float, v_reset: float, soft_reset: bool) -> Array:
    """SpikingJelly IFNode, multi-step (see `spike.if`)."""
    vth, vr = _f(v_threshold), _f(v_reset)
    v = np.full(x.shape[1:], vr, dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        h = v + x[t]
        s = (h >= vth).astype(F32)
        v = h - vth * s if soft_reset else h * (_f(1.0) - s) + vr * s
        out[t] = s
    return out


def leaky(x: Array, beta: float, threshold: float, mechanism: str) -> Array:
    """snnTorch Leaky (see `spike.leaky`)."""
    b, thr = _f(beta), _f(threshold)
    v = np.zeros(x.shape[1:], dtype=F32)
    out = np.empty(x.shape, dtype=F32)
    for t in range(x.shape[0]):
        r = (v - thr > 0).astype(F32)
        if mechanism == "subtract":
            v = (b * v + x[t]) - r * thr
        elif mechanism == "zero":
            v = b * ((_f(1.0) - r) * v) + x[t]
        else:
            v = b * v + x[t]
        out[t] = (v - thr > 0).astype(F32)
    return out


def bernoulli(p: Array, uniform: Array) -> Array:
    """Fire where the uniform number is below the probability."""
    return (uniform < p).astype(F32)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------


def linear(x: Array, w: Array, b: Array | None, transpose_weight: bool) -> Array:
    y = x @ (w.T if transpose_weight else w)
    return y if b is None else y + b


def _pad_hw(x: Array, pads: Sequence[int], value: float) -> Array:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, width, constant_values=value)


def _windows(
    x: Array, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int] = (1, 1)
) -> Array:
    """View of shape `[..., H', W', kh, kw]` over the last two axes."""
    kh, kw = kernel
    dh, dw = dilations
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    view = sliding_window_view(x, span, axis=(-2, -1))
    return view[..., :: strides[0], :: strides[1], ::dh, ::dw]


def conv2d(
    x: Array,
    w: Array,
    b: Array | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> Array:
    """ONNX Conv over the last three axes, as im2col + one matrix product per group."""
    lead = x.shape[:-3]
    c, h, wd = x.shape[-3:]
    items = x.reshape(-1, c, h, wd)
    win = _windows(_pad_hw(items, pads, 0.0), w.shape[2:], strides, dilations)
    n, _, ho, wo, kh, kw = win.shape
    c_out = w.shape[0]
    cg, og = c // group, c_out // group
    parts = []
    for g in range(group):
        cols = win[:, g * cg : (g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(-1, cg * kh * kw)
        parts.append(cols @ w[g * og : (g + 1) * og].reshape(og, -1).T)
    y = parts[0] if group == 1 else np.concatenate(parts, axis=1)
    if b is not None:
        y = y + b
    return np.ascontiguousarray(y.reshape(n, ho, wo, c_out).transpose(0, 3, 1, 2)).reshape(
        *lead, c_out, ho, wo
    )


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
    win = _windows(_pad_hw(x, pads, -np.inf), kernel, strides)
    return np.ascontiguousarray(win.max(axis=(-2, -1)))


def avgpool(
    x: Array,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    count_include_pad: bool,
) -> Array:
    sums = _windows(_pad_hw(x, pads, 0.0), kernel, strides).sum(axis=(-2, -1))
    if count_include_pad or not any(pads):
        return (sums / _f(kernel[0] * kernel[1])).astype(F32)
    ones = np.ones(x.shape[-2:], dtype=F32)
    counts = _windows(_pad_hw(ones, pads, 0.0), kernel, strides).sum(axis=(-2, -1))
    return (sums / counts).astype(F32)


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
    kv = (k * v).sum(axis=2, keepdims=True)
    return q * lif(kv, tau, v_threshold, v_reset, decay_input, soft_reset)


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
) -> Array:
    qh, kh, vh = (split_heads(a, heads) for a in (q, k, v))
    s = (u1 < (qh @ kh.swapaxes(-1, -2)) / _f(c1)).astype(F32)
    if mask_diagonal:
        n = s.shape[-1]
        s = s * (_f(1.0) - np.eye(n, dtype=F32))
    out = (u2 < (s @ vh) / _f(c2)).astype(F32)
    return merge_heads(out)


# ---------------------------------------------------------------------------------------------
# Mixture of experts
# ---------------------------------------------------------------------------------------------


def route_topk(logits: Array, k: int) -> Array:
    order = np.argsort(-logits, axis=-1, kind="stable")[..., :k]
    gates = np.zeros(logits.shape, dtype=F32)
    np.put_along_axis(gates, order, _f(1.0), axis=-1)
    return gates


def dispatch(x: Array, gates: Array, expert: int) -> Array:
    return x * gates[..., expert : expert + 1]


def combine(gates: Array, outputs: Sequence[Array]) -> Array:
    total = gates[..., 0:1] * outputs[0]
    for e in range(1, len(outputs)):
        total = total + gates[..., e : e + 1] * outputs[e]
    return total
