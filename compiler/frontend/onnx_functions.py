"""spikec's ONNX convention: the spiking ops as model-local functions in the domain `spike`.

A model that calls `spike.LIF`, `spike.SSA`, ... carries these FunctionProtos, whose bodies are
plain ONNX (a `Scan` over time for neurons), so onnxruntime runs the model as it is and gives the
reference output; spikec's frontend recognises each call by (domain, name) and emits one `spike`
op. The bodies compute in exactly the arithmetic order of the `spike` ops' documentation.

| function | inputs -> outputs | attributes (default) |
|---|---|---|
| LIF | X -> S | tau (2.0), v_threshold (1.0), v_reset (0.0), decay_input (1), soft_reset (0), |
|     |        | decay (0.0: divide by tau; k > 0: multiply by k, ParametricLIF) |
| IF | X -> S | v_threshold (1.0), v_reset (0.0), soft_reset (0) |
| Leaky | X -> S | beta, threshold (1.0), reset_mechanism (0 subtract, 1 zero, 2 none) |
| Synaptic | X -> S | alpha, beta, threshold (1.0), reset_mechanism (0 subtract, 1 zero, 2 none) |
| CubaLIF | X -> S | dt_tau_mem_inv, dt_tau_syn_inv, v_leak (0.0), v_threshold (1.0), v_reset (0.0)
| Bernoulli | X, U -> S | seed (0) |
| SSA | Q, K, V -> Y | heads, scale |
| SDSA | Q, K, V -> Y | heads, and LIF's attributes with v_threshold (0.5) |
| TokenAttention | Q, K -> Y | heads, and LIF's attributes with v_threshold (0.5) |
| StochasticAttention | Q, K, V, U1, U2 -> Y | heads, c1, c2, mask_diagonal (1), seed (0) |
| TopKRouter | L -> G | k, softmax (0), normalize (0: with softmax 1, the top-k renormalised) |
| Dispatch | X, G -> Xe | expert |
| Combine | G, Ystack -> Y | (none) |

Neuron inputs are time-major `[T, B, ...]`; attention inputs `[T, B, N, D]` (TokenAttention's
Q and K of one shape); router scores and
gates `[T, B, N, E]`, or `[B, N, E]` without the time axis (routed once for all timesteps, e.g.
a router on spikes averaged over time); `Ystack` is `[E, T, B, N, D]`, the experts' outputs
stacked (Unsqueeze on axis 0, then Concat). TopKRouter's gates are binary, or with `softmax` 1
the probabilities `Softmax(L)` of the top-k experts (top-k of the probabilities); Dispatch passes
the tokens whose gate is not zero, unscaled; Combine weights each expert's output by its gate.
Tensors are float32; spikes are 0.0 / 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx import AttributeProto, TensorProto, helper

DOMAIN = "spike"
OPSET = 17
"""The default-domain opset the function bodies are written in."""

IR_VERSION = 10
"""ONNX IR version written into models (onnxruntime 1.2x-1.3x read up to 10-13)."""

_F = TensorProto.FLOAT


def _ref(output: str, attr: str, kind: str) -> onnx.NodeProto:
    """A Constant node whose value is the function attribute `attr` (value_float or value_int)."""
    node = helper.make_node("Constant", [], [output])
    ref = helper.make_attribute_ref(
        kind, AttributeProto.FLOAT if kind == "value_float" else AttributeProto.INT
    )
    ref.ref_attr_name = attr
    node.attribute.append(ref)
    return node


def _info(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, _F, None)


def _reset_nodes(h: str, s: str, vth: str, vr: str, soft: str, out: str) -> list[onnx.NodeProto]:
    """V = soft ? H - vth * S : H * (1 - S) + vr * S."""
    return [
        helper.make_node("Sub", ["one", s], ["ns"]),
        helper.make_node("Mul", [h, "ns"], ["hard_a"]),
        helper.make_node("Mul", [vr, s], ["hard_b"]),
        helper.make_node("Add", ["hard_a", "hard_b"], ["v_hard"]),
        helper.make_node("Mul", [vth, s], ["soft_a"]),
        helper.make_node("Sub", [h, "soft_a"], ["v_soft"]),
        helper.make_node("Where", [soft, "v_soft", "v_hard"], [out]),
    ]


def _fire(h: str, vth: str, s: str, op: str = "GreaterOrEqual") -> list[onnx.NodeProto]:
    return [
        helper.make_node(op, [h, vth], [s + "_b"]),
        helper.make_node("Cast", [s + "_b"], [s], to=_F),
    ]


def _state_scan(
    x: str, out: str, init: str, step_nodes: list[onnx.NodeProto], tag: str
) -> list[onnx.NodeProto]:
    """Scan over axis 0 of `x` with one state `v` (starting at `init`'s value, broadcast to an
    item of x); the step computes `v_next` and `s` from `v` and `x_t`."""
    body = helper.make_graph(
        [*step_nodes, helper.make_node("Identity", ["s"], ["s_out"])],
        f"{tag}_step",
        [_info("v"), _info("x_t")],
        [_info("v_next"), _info("s_out")],
    )
    return [
        helper.make_node("Shape", [x], [f"{tag}_item_shape"], start=1),
        helper.make_node("Expand", [init, f"{tag}_item_shape"], [f"{tag}_v0"]),
        helper.make_node(
            "Scan", [f"{tag}_v0", x], [f"{tag}_v_last", out], body=body, num_scan_inputs=1
        ),
    ]


def _lif_nodes(x: str, out: str, tag: str, parametric: bool = False) -> list[onnx.NodeProto]:
    """SpikingJelly LIF over the time axis of x, reading the function's LIF attributes (and,
    when `parametric`, `decay`: ParametricLIF's factor k, multiplied in place of `/ tau` when it
    is > 0)."""

    def leak(a: str, out_name: str) -> list[onnx.NodeProto]:
        if not parametric:
            return [helper.make_node("Div", [a, "tau"], [out_name])]
        return [
            helper.make_node("Div", [a, "tau"], [f"{out_name}_div"]),
            helper.make_node("Mul", [a, "decay"], [f"{out_name}_mul"]),
            helper.make_node(
                "Where", ["by_decay", f"{out_name}_mul", f"{out_name}_div"], [out_name]
            ),
        ]

    step = [
        helper.make_node("Sub", ["v", "vr"], ["v_m_vr"]),
        # decay_input = 1: H = V + (X - (V - vr)) / tau
        helper.make_node("Sub", ["x_t", "v_m_vr"], ["di_a"]),
        *leak("di_a", "di_b"),
        helper.make_node("Add", ["v", "di_b"], ["h_di"]),
        # decay_input = 0: H = V - (V - vr) / tau + X
        *leak("v_m_vr", "nd_a"),
        helper.make_node("Sub", ["v", "nd_a"], ["nd_b"]),
        helper.make_node("Add", ["nd_b", "x_t"], ["h_nd"]),
        helper.make_node("Where", ["decay_input_b", "h_di", "h_nd"], ["h"]),
        *_fire("h", "vth", "s"),
        *_reset_nodes("h", "s", "vth", "vr", "soft_b", "v_next"),
    ]
    decay = (
        [
            _ref("decay", "decay", "value_float"),
            helper.make_node("Constant", [], ["no_decay"], value_float=0.0),
            helper.make_node("Greater", ["decay", "no_decay"], ["by_decay"]),
        ]
        if parametric
        else []
    )
    return [
        _ref("tau", "tau", "value_float"),
        *decay,
        _ref("vth", "v_threshold", "value_float"),
        _ref("vr", "v_reset", "value_float"),
        _ref("decay_input_i", "decay_input", "value_int"),
        _ref("soft_i", "soft_reset", "value_int"),
        helper.make_node("Cast", ["decay_input_i"], ["decay_input_b"], to=TensorProto.BOOL),
        helper.make_node("Cast", ["soft_i"], ["soft_b"], to=TensorProto.BOOL),
        helper.make_node("Constant", [], ["one"], value_float=1.0),
        *_state_scan(x, out, "vr", step, tag),
    ]


def _function(
    name: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    nodes: Sequence[onnx.NodeProto],
    required: Sequence[str] = (),
    defaults: dict[str, Any] | None = None,
) -> onnx.FunctionProto:
    return helper.make_function(
        DOMAIN,
        name,
        list(inputs),
        list(outputs),
        list(nodes),
        [helper.make_opsetid("", OPSET)],
        attributes=list(required),
        attribute_protos=[helper.make_attribute(k, v) for k, v in (defaults or {}).items()],
    )


_LIF_DEFAULTS = {
    "tau": 2.0,
    "v_threshold": 1.0,
    "v_reset": 0.0,
    "decay_input": 1,
    "soft_reset": 0,
}


def lif_function() -> onnx.FunctionProto:
    nodes = _lif_nodes("X", "S", "lif", parametric=True)
    return _function("LIF", ["X"], ["S"], nodes, defaults={**_LIF_DEFAULTS, "decay": 0.0})


def if_function() -> onnx.FunctionProto:
    step = [
        helper.make_node("Add", ["v", "x_t"], ["h"]),
        *_fire("h", "vth", "s"),
        *_reset_nodes("h", "s", "vth", "vr", "soft_b", "v_next"),
    ]
    nodes = [
        _ref("vth", "v_threshold", "value_float"),
        _ref("vr", "v_reset", "value_float"),
        _ref("soft_i", "soft_reset", "value_int"),
        helper.make_node("Cast", ["soft_i"], ["soft_b"], to=TensorProto.BOOL),
        helper.make_node("Constant", [], ["one"], value_float=1.0),
        *_state_scan("X", "S", "vr", step, "if"),
    ]
    defaults = {"v_threshold": 1.0, "v_reset": 0.0, "soft_reset": 0}
    return _function("IF", ["X"], ["S"], nodes, defaults=defaults)


def leaky_function() -> onnx.FunctionProto:
    step = [
        # R = (V - thr > 0), the previous step's spike
        helper.make_node("Sub", ["v", "thr"], ["v_shift"]),
        helper.make_node("Greater", ["v_shift", "zero"], ["r_b"]),
        helper.make_node("Cast", ["r_b"], ["r"], to=_F),
        helper.make_node("Mul", ["beta", "v"], ["bv"]),
        helper.make_node("Add", ["bv", "x_t"], ["v_none"]),
        # subtract: (beta * V + X) - R * thr
        helper.make_node("Mul", ["r", "thr"], ["r_thr"]),
        helper.make_node("Sub", ["v_none", "r_thr"], ["v_sub"]),
        # zero: beta * ((1 - R) * V) + X
        helper.make_node("Sub", ["one", "r"], ["keep"]),
        helper.make_node("Mul", ["keep", "v"], ["kv"]),
        helper.make_node("Mul", ["beta", "kv"], ["bkv"]),
        helper.make_node("Add", ["bkv", "x_t"], ["v_zero"]),
        helper.make_node("Where", ["is_sub", "v_sub", "v_zero"], ["v_a"]),
        helper.make_node("Where", ["is_none", "v_none", "v_a"], ["v_next"]),
        helper.make_node("Sub", ["v_next", "thr"], ["out_shift"]),
        helper.make_node("Greater", ["out_shift", "zero"], ["s_b"]),
        helper.make_node("Cast", ["s_b"], ["s"], to=_F),
    ]
    nodes = [
        _ref("beta", "beta", "value_float"),
        _ref("thr", "threshold", "value_float"),
        _ref("mech", "reset_mechanism", "value_int"),
        helper.make_node("Constant", [], ["one"], value_float=1.0),
        helper.make_node("Constant", [], ["zero"], value_float=0.0),
        helper.make_node("Constant", [], ["c_sub"], value_int=0),
        helper.make_node("Constant", [], ["c_none"], value_int=2),
        helper.make_node("Equal", ["mech", "c_sub"], ["is_sub"]),
        helper.make_node("Equal", ["mech", "c_none"], ["is_none"]),
        *_state_scan("X", "S", "zero", step, "leaky"),
    ]
    defaults = {"threshold": 1.0, "reset_mechanism": 0}
    return _function("Leaky", ["X"], ["S"], nodes, required=["beta"], defaults=defaults)


def synaptic_function() -> onnx.FunctionProto:
    """snnTorch's `Synaptic` (`spike.leaky` with `alpha`): a Scan over time with two states,
    the membrane `v` and the synaptic current `i`, both starting at 0."""
    step = [
        # R = (V - thr > 0), the previous step's spike
        helper.make_node("Sub", ["v", "thr"], ["v_shift"]),
        helper.make_node("Greater", ["v_shift", "zero"], ["r_b"]),
        helper.make_node("Cast", ["r_b"], ["r"], to=_F),
        # I = alpha * I + X; H = beta * V + I
        helper.make_node("Mul", ["alpha", "i"], ["ai"]),
        helper.make_node("Add", ["ai", "x_t"], ["i_new"]),
        helper.make_node("Mul", ["beta", "v"], ["bv"]),
        helper.make_node("Add", ["bv", "i_new"], ["h"]),
        # subtract: H - R * thr; zero: H - H * R (snnTorch leaves the current); none: H
        helper.make_node("Mul", ["r", "thr"], ["r_thr"]),
        helper.make_node("Sub", ["h", "r_thr"], ["v_sub"]),
        helper.make_node("Mul", ["h", "r"], ["h_r"]),
        helper.make_node("Sub", ["h", "h_r"], ["v_zero"]),
        helper.make_node("Where", ["is_sub", "v_sub", "v_zero"], ["v_a"]),
        helper.make_node("Where", ["is_none", "h", "v_a"], ["v_next"]),
        helper.make_node("Identity", ["i_new"], ["i_next"]),
        helper.make_node("Sub", ["v_next", "thr"], ["out_shift"]),
        helper.make_node("Greater", ["out_shift", "zero"], ["s_b"]),
        helper.make_node("Cast", ["s_b"], ["s"], to=_F),
        helper.make_node("Identity", ["s"], ["s_out"]),
    ]
    body = helper.make_graph(
        step,
        "synaptic_step",
        [_info("v"), _info("i"), _info("x_t")],
        [_info("v_next"), _info("i_next"), _info("s_out")],
    )
    nodes = [
        _ref("alpha", "alpha", "value_float"),
        _ref("beta", "beta", "value_float"),
        _ref("thr", "threshold", "value_float"),
        _ref("mech", "reset_mechanism", "value_int"),
        helper.make_node("Constant", [], ["zero"], value_float=0.0),
        helper.make_node("Constant", [], ["c_sub"], value_int=0),
        helper.make_node("Constant", [], ["c_none"], value_int=2),
        helper.make_node("Equal", ["mech", "c_sub"], ["is_sub"]),
        helper.make_node("Equal", ["mech", "c_none"], ["is_none"]),
        helper.make_node("Shape", ["X"], ["item_shape"], start=1),
        helper.make_node("Expand", ["zero", "item_shape"], ["v0"]),
        helper.make_node(
            "Scan", ["v0", "v0", "X"], ["v_last", "i_last", "S"], body=body, num_scan_inputs=1
        ),
    ]
    defaults = {"threshold": 1.0, "reset_mechanism": 0}
    return _function("Synaptic", ["X"], ["S"], nodes, required=["alpha", "beta"], defaults=defaults)


def cuba_lif_function() -> onnx.FunctionProto:
    """Norse's current-based LIF (`spike.cuba_lif`): a Scan over time with two states, the
    membrane `v` (starting at v_leak) and the synaptic current `i` (starting at 0)."""
    step = [
        # J = I + X
        helper.make_node("Add", ["i", "x_t"], ["j"]),
        # H = V + a * ((v_leak - V) + J)
        helper.make_node("Sub", ["vl", "v"], ["leak"]),
        helper.make_node("Add", ["leak", "j"], ["drive"]),
        helper.make_node("Mul", ["a_mem", "drive"], ["dv"]),
        helper.make_node("Add", ["v", "dv"], ["h"]),
        # I = J + (-b) * J
        helper.make_node("Mul", ["minus_b_syn", "j"], ["di"]),
        helper.make_node("Add", ["j", "di"], ["i_next"]),
        # S = (H - v_threshold > 0)
        helper.make_node("Sub", ["h", "vth"], ["h_shift"]),
        helper.make_node("Greater", ["h_shift", "zero"], ["s_b"]),
        helper.make_node("Cast", ["s_b"], ["s"], to=_F),
        # V = (1 - S) * H + S * v_reset
        helper.make_node("Sub", ["one", "s"], ["ns"]),
        helper.make_node("Mul", ["ns", "h"], ["keep"]),
        helper.make_node("Mul", ["s", "vr"], ["reset"]),
        helper.make_node("Add", ["keep", "reset"], ["v_next"]),
        helper.make_node("Identity", ["s"], ["s_out"]),
    ]
    body = helper.make_graph(
        step,
        "cuba_lif_step",
        [_info("v"), _info("i"), _info("x_t")],
        [_info("v_next"), _info("i_next"), _info("s_out")],
    )
    nodes = [
        _ref("a_mem", "dt_tau_mem_inv", "value_float"),
        _ref("b_syn", "dt_tau_syn_inv", "value_float"),
        _ref("vl", "v_leak", "value_float"),
        _ref("vth", "v_threshold", "value_float"),
        _ref("vr", "v_reset", "value_float"),
        helper.make_node("Neg", ["b_syn"], ["minus_b_syn"]),
        helper.make_node("Constant", [], ["one"], value_float=1.0),
        helper.make_node("Constant", [], ["zero"], value_float=0.0),
        helper.make_node("Shape", ["X"], ["item_shape"], start=1),
        helper.make_node("Expand", ["vl", "item_shape"], ["v0"]),
        helper.make_node("Expand", ["zero", "item_shape"], ["i0"]),
        helper.make_node(
            "Scan", ["v0", "i0", "X"], ["v_last", "i_last", "S"], body=body, num_scan_inputs=1
        ),
    ]
    defaults = {"v_leak": 0.0, "v_threshold": 1.0, "v_reset": 0.0}
    return _function(
        "CubaLIF",
        ["X"],
        ["S"],
        nodes,
        required=["dt_tau_mem_inv", "dt_tau_syn_inv"],
        defaults=defaults,
    )


def bernoulli_function() -> onnx.FunctionProto:
    nodes = [
        helper.make_node("Less", ["U", "X"], ["s_b"]),
        helper.make_node("Cast", ["s_b"], ["S"], to=_F),
    ]
    return _function("Bernoulli", ["X", "U"], ["S"], nodes, defaults={"seed": 0})


def _split_heads_nodes(x: str, out: str) -> list[onnx.NodeProto]:
    """[T, B, N, D] -> [T, B, H, N, dh] with H from the `heads` constant `heads_1d`."""
    return [
        helper.make_node("Concat", ["lead3", "heads_1d", "minus1"], [f"{x}_shape5"], axis=0),
        helper.make_node("Reshape", [x, f"{x}_shape5"], [f"{x}_5d"]),
        helper.make_node("Transpose", [f"{x}_5d"], [out], perm=[0, 1, 3, 2, 4]),
    ]


def _heads_prelude() -> list[onnx.NodeProto]:
    return [
        _ref("heads", "heads", "value_int"),
        helper.make_node("Constant", [], ["axis0"], value_ints=[0]),
        helper.make_node("Unsqueeze", ["heads", "axis0"], ["heads_1d"]),
        helper.make_node("Constant", [], ["lead3"], value_ints=[0, 0, 0]),
        helper.make_node("Constant", [], ["minus1"], value_ints=[-1]),
        helper.make_node("Constant", [], ["merged_shape"], value_ints=[0, 0, 0, -1]),
    ]


def _merge_heads_nodes(x: str, out: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("Transpose", [x], [f"{x}_t"], perm=[0, 1, 3, 2, 4]),
        helper.make_node("Reshape", [f"{x}_t", "merged_shape"], [out]),
    ]


def ssa_function() -> onnx.FunctionProto:
    nodes = [
        *_heads_prelude(),
        _ref("scale", "scale", "value_float"),
        *_split_heads_nodes("Q", "qh"),
        *_split_heads_nodes("K", "kh"),
        *_split_heads_nodes("V", "vh"),
        helper.make_node("Transpose", ["kh"], ["kh_t"], perm=[0, 1, 2, 4, 3]),
        helper.make_node("MatMul", ["qh", "kh_t"], ["attn"]),
        helper.make_node("Mul", ["attn", "scale"], ["attn_s"]),
        helper.make_node("MatMul", ["attn_s", "vh"], ["yh"]),
        *_merge_heads_nodes("yh", "Y"),
    ]
    return _function("SSA", ["Q", "K", "V"], ["Y"], nodes, required=["heads", "scale"])


def sdsa_function() -> onnx.FunctionProto:
    nodes = [
        helper.make_node("Mul", ["K", "V"], ["kv"]),
        helper.make_node("Constant", [], ["token_axis"], value_ints=[2]),
        helper.make_node("ReduceSum", ["kv", "token_axis"], ["kv_sum"], keepdims=1),
        *_lif_nodes("kv_sum", "kv_spikes", "sdsa"),
        helper.make_node("Mul", ["Q", "kv_spikes"], ["Y"]),
    ]
    defaults = dict(_LIF_DEFAULTS, v_threshold=0.5)
    return _function("SDSA", ["Q", "K", "V"], ["Y"], nodes, required=["heads"], defaults=defaults)


def token_attention_function() -> onnx.FunctionProto:
    """QKFormer's token attention (`spike.token_attention`): Q and K split into heads
    `[T, B, H, N, dh]`, Q summed over each head's channels (`[T, B, H, N, 1]`), a LIF over time on
    the sums, its spikes multiplied into every channel of K, the heads merged back."""
    nodes = [
        *_heads_prelude(),
        *_split_heads_nodes("Q", "qh"),
        *_split_heads_nodes("K", "kh"),
        helper.make_node("Constant", [], ["channel_axis"], value_ints=[-1]),
        helper.make_node("ReduceSum", ["qh", "channel_axis"], ["q_sum"], keepdims=1),
        *_lif_nodes("q_sum", "token_spikes", "token"),
        helper.make_node("Mul", ["token_spikes", "kh"], ["yh"]),
        *_merge_heads_nodes("yh", "Y"),
    ]
    defaults = dict(_LIF_DEFAULTS, v_threshold=0.5)
    return _function(
        "TokenAttention", ["Q", "K"], ["Y"], nodes, required=["heads"], defaults=defaults
    )


def stochastic_attention_function() -> onnx.FunctionProto:
    nodes = [
        *_heads_prelude(),
        _ref("c1", "c1", "value_float"),
        _ref("c2", "c2", "value_float"),
        _ref("mask_i", "mask_diagonal", "value_int"),
        helper.make_node("Cast", ["mask_i"], ["mask_b"], to=TensorProto.BOOL),
        helper.make_node("Constant", [], ["one"], value_float=1.0),
        *_split_heads_nodes("Q", "qh"),
        *_split_heads_nodes("K", "kh"),
        *_split_heads_nodes("V", "vh"),
        helper.make_node("Transpose", ["kh"], ["kh_t"], perm=[0, 1, 2, 4, 3]),
        helper.make_node("MatMul", ["qh", "kh_t"], ["qk"]),
        helper.make_node("Div", ["qk", "c1"], ["p1"]),
        helper.make_node("Less", ["U1", "p1"], ["s_b"]),
        helper.make_node("Cast", ["s_b"], ["s"], to=_F),
        # mask the diagonal: S * (1 - I) with I the N x N identity
        helper.make_node("Shape", ["Q"], ["n_1d"], start=2, end=3),
        helper.make_node("Concat", ["n_1d", "n_1d"], ["nn"], axis=0),
        helper.make_node("ConstantOfShape", ["nn"], ["zeros_nn"], value=_float_tensor(0.0)),
        helper.make_node("EyeLike", ["zeros_nn"], ["eye"]),
        helper.make_node("Sub", ["one", "eye"], ["off_diag"]),
        helper.make_node("Mul", ["s", "off_diag"], ["s_masked"]),
        helper.make_node("Where", ["mask_b", "s_masked", "s"], ["s_final"]),
        helper.make_node("MatMul", ["s_final", "vh"], ["sv"]),
        helper.make_node("Div", ["sv", "c2"], ["p2"]),
        helper.make_node("Less", ["U2", "p2"], ["o_b"]),
        helper.make_node("Cast", ["o_b"], ["o"], to=_F),
        *_merge_heads_nodes("o", "Y"),
    ]
    return _function(
        "StochasticAttention",
        ["Q", "K", "V", "U1", "U2"],
        ["Y"],
        nodes,
        required=["heads", "c1", "c2"],
        defaults={"mask_diagonal": 1, "seed": 0},
    )


def _float_tensor(value: float) -> onnx.TensorProto:
    return helper.make_tensor("value", _F, [1], [value])


def topk_router_function() -> onnx.FunctionProto:
    """`spike.route_topk`: ones at the top-k of L (`softmax` 0), or `P = Softmax(L)` at the
    top-k of P (`softmax` 1, `ScatterElements` of TopK's values into zeros), with `normalize` 1
    divided by their sum; all computed, the attributes select with Where."""
    nodes = [
        _ref("k", "k", "value_int"),
        helper.make_node("Constant", [], ["axis0"], value_ints=[0]),
        helper.make_node("Unsqueeze", ["k", "axis0"], ["k_1d"]),
        # binary: one-hot rows of the top-k indices, merged
        helper.make_node("TopK", ["L", "k_1d"], ["top_values", "top_index"], axis=-1),
        helper.make_node("Shape", ["L"], ["experts"], start=-1),
        helper.make_node("Constant", [], ["off_on"], value=_float_pair(0.0, 1.0)),
        helper.make_node("OneHot", ["top_index", "experts", "off_on"], ["one_hot"], axis=-1),
        helper.make_node("ReduceMax", ["one_hot"], ["binary"], axes=[-2], keepdims=0),
        # softmax-weighted: the top-k probabilities scattered into zeros
        helper.make_node("Softmax", ["L"], ["P"], axis=-1),
        helper.make_node("TopK", ["P", "k_1d"], ["p_values", "p_index"], axis=-1),
        helper.make_node("Shape", ["L"], ["l_shape"]),
        helper.make_node("ConstantOfShape", ["l_shape"], ["zeros"], value=_float_tensor(0.0)),
        # normalize: the top-k probabilities divided by their sum
        helper.make_node("Constant", [], ["minus1"], value_ints=[-1]),
        helper.make_node("ReduceSum", ["p_values", "minus1"], ["p_total"], keepdims=1),
        helper.make_node("Div", ["p_values", "p_total"], ["p_renormalised"]),
        _ref("normalize", "normalize", "value_int"),
        helper.make_node("Cast", ["normalize"], ["use_normalize"], to=TensorProto.BOOL),
        helper.make_node("Where", ["use_normalize", "p_renormalised", "p_values"], ["p_gates"]),
        helper.make_node("ScatterElements", ["zeros", "p_index", "p_gates"], ["weighted"], axis=-1),
        _ref("softmax", "softmax", "value_int"),
        helper.make_node("Cast", ["softmax"], ["use_softmax"], to=TensorProto.BOOL),
        helper.make_node("Where", ["use_softmax", "weighted", "binary"], ["G"]),
    ]
    defaults = {"softmax": 0, "normalize": 0}
    return _function("TopKRouter", ["L"], ["G"], nodes, required=["k"], defaults=defaults)


def _float_pair(a: float, b: float) -> onnx.TensorProto:
    return helper.make_tensor("value", _F, [2], [a, b])


def dispatch_function() -> onnx.FunctionProto:
    nodes = [
        _ref("expert", "expert", "value_int"),
        helper.make_node("Constant", [], ["axis0"], value_ints=[0]),
        helper.make_node("Unsqueeze", ["expert", "axis0"], ["expert_1d"]),
        helper.make_node("Gather", ["G", "expert_1d"], ["gate"], axis=-1),
        # X * [gate != 0]: routed tokens pass unscaled
        helper.make_node("Constant", [], ["zero"], value=_float_tensor(0.0)),
        helper.make_node("Equal", ["gate", "zero"], ["unrouted"]),
        helper.make_node("Not", ["unrouted"], ["routed"]),
        helper.make_node("Cast", ["routed"], ["mask"], to=_F),
        helper.make_node("Mul", ["X", "mask"], ["Xe"]),
    ]
    return _function("Dispatch", ["X", "G"], ["Xe"], nodes, required=["expert"])


def combine_function() -> onnx.FunctionProto:
    """Y = sum_e G[..., e:e+1] * Ystack[e], accumulated in expert order (a Scan over experts:
    G scanned along its last axis, Ystack along its first), matching `spike.combine`. Any rank
    of G works: time-major `[T, B, N, E]` or time-invariant `[B, N, E]`, whose gate column
    `[B, N, 1]` broadcasts over the time axis of Y."""
    step = [
        helper.make_node("Constant", [], ["last_axis"], value_ints=[-1]),
        helper.make_node("Unsqueeze", ["g_e", "last_axis"], ["g_col"]),
        helper.make_node("Mul", ["g_col", "y_e"], ["gy"]),
        helper.make_node("Add", ["acc", "gy"], ["acc_next"]),
    ]
    body = helper.make_graph(
        step, "combine_step", [_info("acc"), _info("g_e"), _info("y_e")], [_info("acc_next")]
    )
    nodes = [
        # acc starts at 0 (0 + x == x exactly) and adds the experts in order
        helper.make_node("Shape", ["Ystack"], ["item_shape"], start=1),
        helper.make_node("ConstantOfShape", ["item_shape"], ["acc0"], value=_float_tensor(0.0)),
        helper.make_node(
            "Scan",
            ["acc0", "G", "Ystack"],
            ["Y"],
            body=body,
            num_scan_inputs=2,
            scan_input_axes=[-1, 0],
        ),
    ]
    return _function("Combine", ["G", "Ystack"], ["Y"], nodes)


def spike_functions() -> list[onnx.FunctionProto]:
    """Every function of the convention; add them to a model with `make_model`."""
    return [
        lif_function(),
        if_function(),
        leaky_function(),
        synaptic_function(),
        cuba_lif_function(),
        bernoulli_function(),
        ssa_function(),
        sdsa_function(),
        token_attention_function(),
        stochastic_attention_function(),
        topk_router_function(),
        dispatch_function(),
        combine_function(),
    ]


NEURON_FUNCTIONS = frozenset({"LIF", "IF", "Leaky", "Synaptic", "CubaLIF"})
"""The functions that are a layer of membrane neurons (time-major input, binary spikes out)."""

FUNCTION_NAMES = (
    "LIF",
    "IF",
    "Leaky",
    "Synaptic",
    "CubaLIF",
    "Bernoulli",
    "SSA",
    "SDSA",
    "TokenAttention",
    "StochasticAttention",
    "TopKRouter",
    "Dispatch",
    "Combine",
)


def make_model(graph: onnx.GraphProto, **metadata: str) -> onnx.ModelProto:
    """A model of `graph` with the functions it calls, opset 17, readable by onnxruntime."""
    used = {n.op_type for n in graph.node if n.domain == DOMAIN}
    functions = [f for f in spike_functions() if f.name in used]
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, 1)],
        functions=functions,
        producer_name="spikec",
    )
    model.ir_version = IR_VERSION
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model
