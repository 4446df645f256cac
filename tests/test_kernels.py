"""The numpy kernels (the oracle) against plain-loop definitions, and the interpreter on IR that
no ONNX model produces (generated random numbers, dispatch/combine)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.interpreters.reference import evaluate
from compiler.ir.parse import parse_ir
from compiler.ir.weights import WeightStore
from runtime import kernels
from runtime.random import uniform_tables

RNG = np.random.default_rng(42)


def _naive_conv(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride, pads, dil, group
) -> np.ndarray:
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]), np.float64)
    xp[:, :, pads[0] : pads[0] + h, pads[1] : pads[1] + wd] = x
    ho = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, co, ho, wo))
    og = co // group
    for i in range(n):
        for o in range(co):
            g = o // og
            for p in range(ho):
                for q in range(wo):
                    acc = b[o]
                    for ci in range(cg):
                        for a in range(kh):
                            for e in range(kw):
                                acc += (
                                    w[o, ci, a, e]
                                    * xp[
                                        i,
                                        g * cg + ci,
                                        p * stride[0] + a * dil[0],
                                        q * stride[1] + e * dil[1],
                                    ]
                                )
                    y[i, o, p, q] = acc
    return y


@pytest.mark.parametrize(
    ("stride", "pads", "dil", "group"),
    [
        ((1, 1), (1, 1, 1, 1), (1, 1), 1),
        ((2, 1), (0, 1, 2, 0), (1, 2), 2),
        ((1, 2), (2, 2, 2, 2), (2, 2), 4),
    ],
)
def test_conv2d(stride, pads, dil, group) -> None:
    x = RNG.normal(size=(2, 3, 4, 7, 6)).astype(np.float32)
    w = RNG.normal(size=(8, 4 // group, 3, 2)).astype(np.float32)
    b = RNG.normal(size=8).astype(np.float32)
    got = kernels.conv2d(x, w, b, stride, pads, dil, group)
    want = _naive_conv(x.reshape(6, 4, 7, 6), w, b, stride, pads, dil, group)
    assert got.shape == (2, 3, *want.shape[1:])
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-5)


def test_pooling_with_padding() -> None:
    x = RNG.normal(size=(2, 3, 5, 6)).astype(np.float32)
    pads = (1, 0, 1, 1)
    mx = kernels.maxpool(x, (3, 2), (2, 2), pads)
    avg_in = kernels.avgpool(x, (3, 2), (2, 2), pads, count_include_pad=True)
    avg_ex = kernels.avgpool(x, (3, 2), (2, 2), pads, count_include_pad=False)
    padded = np.full((2, 3, 7, 7), np.nan)
    padded[:, :, 1:6, 0:6] = x
    for i in range(mx.shape[-2]):
        for j in range(mx.shape[-1]):
            window = padded[..., 2 * i : 2 * i + 3, 2 * j : 2 * j + 2]
            assert np.array_equal(
                mx[..., i, j], np.nanmax(window, axis=(-2, -1)).astype(np.float32)
            )
            np.testing.assert_allclose(
                avg_in[..., i, j], np.nansum(window, axis=(-2, -1)) / 6, rtol=1e-6
            )
            np.testing.assert_allclose(
                avg_ex[..., i, j], np.nanmean(window, axis=(-2, -1)), rtol=1e-6
            )


def _scalar_lif(
    xs: list[float], tau: float, vth: float, vr: float, decay_input: bool, soft: bool
) -> list[float]:
    f = np.float32
    v, out = f(vr), []
    for value in xs:
        x = f(value)
        h = v + (x - (v - f(vr))) / f(tau) if decay_input else v - (v - f(vr)) / f(tau) + x
        s = f(1.0) if h >= f(vth) else f(0.0)
        v = h - f(vth) * s if soft else h * (f(1.0) - s) + f(vr) * s
        out.append(float(s))
    return out


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("soft", [True, False])
def test_lif_matches_the_scalar_recurrence(decay_input: bool, soft: bool) -> None:
    x = (RNG.normal(size=(8, 5)) * 1.5).astype(np.float32)
    got = kernels.lif(x, 1.2, 0.8, -0.1, decay_input, soft)
    for j in range(5):
        assert got[:, j].tolist() == _scalar_lif(
            x[:, j].tolist(), 1.2, 0.8, -0.1, decay_input, soft
        )


def test_leaky_fires_strictly_above_threshold_and_resets_next_step() -> None:
    x = np.array([[1.0], [0.5], [0.0], [2.0]], np.float32)
    # subtract: V = 1.0 (not > 1: no spike), then 0.5*1 + 0.5 = 1.0 again, ...
    assert kernels.leaky(x, 0.5, 1.0, "subtract")[:, 0].tolist() == [0, 0, 0, 1]
    x = np.array([[1.5], [0.0], [0.0]], np.float32)
    # spike at t0 (1.5 > 1); the reset is applied at t1 from t0's membrane: 0.5*1.5 - 1 < 0
    assert kernels.leaky(x, 0.5, 1.0, "subtract")[:, 0].tolist() == [1, 0, 0]
    assert kernels.leaky(x, 1.0, 1.0, "none")[:, 0].tolist() == [1, 1, 1]


def test_topk_ties_go_to_the_lower_expert() -> None:
    logits = np.array([[0.5, 1.0, 1.0, 0.5]], np.float32)
    assert kernels.route_topk(logits, 1).tolist() == [[0, 1, 0, 0]]
    assert kernels.route_topk(logits, 3).tolist() == [[1, 1, 1, 0]]


def test_uniform_tables_are_keyed_by_seed_and_stream() -> None:
    a1, a2 = uniform_tables(5, 0, [(2, 3), (4,)])
    b1, b2 = uniform_tables(5, 0, [(2, 3), (4,)])
    c1, _ = uniform_tables(5, 1, [(2, 3), (4,)])
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert not np.array_equal(a1, c1)
    assert a1.dtype == np.float32 and a1.min() >= 0 and a1.max() < 1
    # drawn in order from one generator: the second table continues the first
    (flat,) = uniform_tables(5, 0, [(10,)])
    assert np.array_equal(flat, np.concatenate([a1.reshape(-1), a2]))


STOCHASTIC_IR = """
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x6x8xf32>) -> (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>) {
    %p = spike.bernoulli %x {seed = 11 : i64, stream = 0 : i64} : (tensor<4x?x6x8xf32>) -> !spike.train<4x?x6x8>
    %a = spike.stochastic_attention %p, %p, %p {heads = 2 : i64, c1 = 4.0 : f32, c2 = 2.0 : f32, mask_diagonal = true, seed = 11 : i64, stream = 1 : i64} : (!spike.train<4x?x6x8>, !spike.train<4x?x6x8>, !spike.train<4x?x6x8>) -> !spike.train<4x?x6x8>
    func.return %p, %a : !spike.train<4x?x6x8>, !spike.train<4x?x6x8>
  }
}
"""


def test_generated_random_numbers_follow_the_documented_order() -> None:
    module = parse_ir(STOCHASTIC_IR, "stochastic.mlir")
    x = RNG.random((4, 2, 6, 8), dtype=np.float32)
    out = evaluate(module, WeightStore(), {"arg0": x})
    (u,) = uniform_tables(11, 0, [x.shape])
    assert np.array_equal(out["out0"], (u < x).astype(np.float32))
    u1, u2 = uniform_tables(11, 1, [(4, 2, 2, 6, 6), (4, 2, 2, 6, 4)])
    p = out["out0"]
    want = kernels.stochastic_attention(p, p, p, u1, u2, 2, 4.0, 2.0, True)
    assert np.array_equal(out["out1"], want)
    again = evaluate(module, WeightStore(), {"arg0": x})
    assert all(np.array_equal(out[k], again[k]) for k in out)


MOE_IR = """
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x5x3xf32>, %l: tensor<4x?x5x2xf32>) -> (tensor<4x?x5x3xf32>, tensor<4x?x5x3xf32>) {
    %g = spike.route_topk %l {k = 1 : i64} : (tensor<4x?x5x2xf32>) -> !spike.train<4x?x5x2>
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%a: tensor<4x?x5x3xf32>):
      %s = spike.lif %a {tau = 2.0 : f32, v_threshold = 0.5 : f32, v_reset = 0.0 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x5x3xf32>) -> !spike.train<4x?x5x3>
      spike.yield %s : !spike.train<4x?x5x3>
    }, {
    ^bb0(%b: tensor<4x?x5x3xf32>):
      %r = spike.add %b, %b : (tensor<4x?x5x3xf32>, tensor<4x?x5x3xf32>) -> tensor<4x?x5x3xf32>
      spike.yield %r : tensor<4x?x5x3xf32>
    }) : (tensor<4x?x5x3xf32>, !spike.train<4x?x5x2>) -> tensor<4x?x5x3xf32>
    %d0 = spike.dispatch %x, %g {expert = 0 : i64} : (tensor<4x?x5x3xf32>, !spike.train<4x?x5x2>) -> tensor<4x?x5x3xf32>
    %d1 = spike.dispatch %x, %g {expert = 1 : i64} : (tensor<4x?x5x3xf32>, !spike.train<4x?x5x2>) -> tensor<4x?x5x3xf32>
    %s0 = spike.lif %d0 {tau = 2.0 : f32, v_threshold = 0.5 : f32, v_reset = 0.0 : f32, decay_input = true, reset = #spike<reset hard>} : (tensor<4x?x5x3xf32>) -> !spike.train<4x?x5x3>
    %r1 = spike.add %d1, %d1 : (tensor<4x?x5x3xf32>, tensor<4x?x5x3xf32>) -> tensor<4x?x5x3xf32>
    %c = spike.combine %g, %s0, %r1 : (!spike.train<4x?x5x2>, !spike.train<4x?x5x3>, tensor<4x?x5x3xf32>) -> tensor<4x?x5x3xf32>
    func.return %m, %c : tensor<4x?x5x3xf32>, tensor<4x?x5x3xf32>
  }
}
"""


def test_moe_equals_dispatch_experts_combine() -> None:
    module = parse_ir(MOE_IR, "moe.mlir")
    x = RNG.normal(size=(4, 3, 5, 3)).astype(np.float32)
    logits = RNG.normal(size=(4, 3, 5, 2)).astype(np.float32)
    out = evaluate(module, WeightStore(), {"arg0": x, "arg1": logits})
    assert np.array_equal(out["out0"], out["out1"])
    gates = kernels.route_topk(logits, 1)
    by_hand = gates[..., :1] * kernels.lif(x * gates[..., :1], 2.0, 0.5, 0.0, True, False)
    by_hand = by_hand + gates[..., 1:] * (2 * (x * gates[..., 1:]))
    assert np.array_equal(out["out0"], by_hand)
