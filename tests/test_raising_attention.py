"""Raising attention (compiler/frontend/raising/attention.py): what remains of spiking
self-attention between the neuron calls becomes one `spike.SSA` / `spike.SDSA` /
`spike.TokenAttention` call, bit for bit, and near misses stay as they were with a reason.

The committed exports are raised completely; the hand-built graphs below write SSA the ways the
exporters do (token-major heads `[T, B, H, N, dh]` as snnTorch, channel-major `[T, B, H, dh, N]`
as SpikingJelly), with either association order and the scale before or after the second
product; and QKFormer's token attention as SpikingJelly writes it (one `[T, B, 2H, dh, N]` tensor
split into q and k), with separate q and k, token-major, or without heads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from compiler.dialects import spike
from compiler.frontend.onnx_import import _infer_shapes, import_onnx
from compiler.frontend.raising import RaiseReport, raise_model
from compiler.interpreters.reference import evaluate
from compiler.ir.weights import OnnxTensors
from tests.conftest import SAMPLES, model_from

EXPORTS = SAMPLES / "export"
T, BATCH, N, H, DH = 4, 2, 8, 2, 16
D = H * DH


def _raise(path: Path) -> tuple[onnx.ModelProto, RaiseReport]:
    model = onnx.load(path)
    report = raise_model(model, OnnxTensors(model, path), _infer_shapes(model))
    model.ir_version = 10
    return model, report


def _run(model: onnx.ModelProto | Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return [np.asarray(r) for r in session.run(None, feeds)]


def _attention_ops(path: Path) -> list[str]:
    module = import_onnx(path).module
    return [op.name for op in module.walk() if isinstance(op, spike.SSAOp | spike.SDSAOp)]


# -- 1. the committed exports --------------------------------------------------------------------

EXPORTED = {
    "sj_spikformer.dynamo": ("SSA", "spike.ssa"),
    "sj_sdt.dynamo": ("SDSA", "spike.sdsa"),
    "sj_qkformer.dynamo": ("SSA", "spike.ssa"),
    "snntorch_attention.dynamo": ("SSA", "spike.ssa"),
    "snntorch_attention.torchscript": ("SSA", "spike.ssa"),
}


@pytest.mark.parametrize("name", EXPORTED, ids=EXPORTED.keys())
def test_export_attention_is_raised_bit_exact(name: str) -> None:
    kind, op_name = EXPORTED[name]
    path = EXPORTS / f"{name}.onnx"
    model, report = _raise(path)
    assert report.count(kind) == 1, report.lines()
    assert report.count("SSA") + report.count("SDSA") == 1
    assert report.left == []
    raised = next(r for r in report.raised if r.kind == kind)
    assert "heads=2" in raised.details
    if kind == "SSA":
        assert "scale=0.125" in raised.details
    else:
        assert "v_threshold=0.5" in raised.details
    calls = [n for n in model.graph.node if n.domain == "spike" and n.op_type == kind]
    assert len(calls) == 1
    weights = {t.name for t in model.graph.initializer}
    weights |= {  # a rolled Gemm with transB: a MatMul by a stored weight, transposed
        n.output[0] for n in model.graph.node if n.op_type == "Transpose" and n.input[0] in weights
    }
    products = [n for n in model.graph.node if n.op_type == "MatMul" and not set(n.input) & weights]
    assert products == []

    x = np.load(EXPORTS / "digits_test_x.npy")
    (theirs,) = _run(path, {"x": x})
    (ours,) = _run(model, {"x": np.ascontiguousarray(np.broadcast_to(x, (T, *x.shape)))})
    assert np.array_equal(ours, theirs)
    assert _attention_ops(path) == [op_name]
    assert report.count("TokenAttention") == (2 if name == "sj_qkformer.dynamo" else 0)


def test_qkformer_raises_two_token_attentions_and_one_ssa() -> None:
    """QKFormer's stages 1 and 2 (the qk conv's spikes reshaped to [T, B, 2H, dh, N] and split
    into q and k; q summed over each head's channels; a LIF with threshold 0.5; its spikes
    gating k) each become one `spike.TokenAttention`, stage 3 one `spike.SSA`; nothing is left,
    and the raised model computes the export's logits bit for bit."""
    path = EXPORTS / "sj_qkformer.dynamo.onnx"
    model, report = _raise(path)
    assert report.count("TokenAttention") == 2 and report.count("SSA") == 1, report.lines()
    assert report.count("SDSA") == 0 and report.left == []
    details = [r.details for r in report.raised if r.kind == "TokenAttention"]
    assert details[0].startswith("heads=1, N=4, D=8, tau=2, v_threshold=0.5")
    assert details[1].startswith("heads=2, N=1, D=16, tau=2, v_threshold=0.5")
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("TokenAttention") == 2 and "ReduceSum" not in ops
    x = np.load(EXPORTS / "digits_test_x.npy")
    (theirs,) = _run(path, {"x": x})
    (ours,) = _run(model, {"x": np.ascontiguousarray(np.broadcast_to(x, (T, *x.shape)))})
    assert np.array_equal(ours, theirs)
    result = import_onnx(path)
    calls = [op for op in result.module.walk() if isinstance(op, spike.TokenAttentionOp)]
    assert [op.num_heads for op in calls] == [1, 2]
    assert all(op.v_threshold.value.data == 0.5 for op in calls)
    reference = evaluate(result.module, result.weights, {"x": x})["logits"]
    assert np.abs(reference - theirs).max() <= 1e-5 * max(1.0, float(np.abs(theirs).max()))


# -- 2. hand-built SSA ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attn:
    layout: str = "token"  # "token": [T, B, N, D] spikes; "channel": [T, B, D, N]
    association: str = "left"  # "left": (M1 M2) M3; "right": M1 (M2 M3)
    scale: float | None = 0.125
    scale_at: str = "inner"  # "inner": on the first product; "outer": after the second
    fused: bool = False  # channel-major: one [T, B, 3D, N] tensor split into q, k, v
    divide: bool = False  # Div by 1 / scale instead of Mul by scale
    neuron_after: bool = True  # a LIF on the result (which the raising moves onto the SSA)
    batch: int | str = BATCH
    infer_batch: bool = False  # channel-major fused: Reshape targets [T, -1, ...], not [0, 0, ...]
    v_alias: str = ""  # V's spikes written through "cast" (to bool and back), "mul1", "where"
    # near misses ("mul2" for v_alias: V's spikes doubled)
    fold_batch: bool = False  # ... whose -1 takes in half the tokens besides the batch
    real_v: bool = False  # V from a Linear without a neuron
    k_reshaped: bool = False  # K reshaped straight to [T, B, H, dh, N] (tokens scrambled)


def _ssa_graph(a: Attn) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    nodes: list[onnx.NodeProto] = []
    inits: dict[str, np.ndarray] = {}

    def const(value: object, dtype: type = np.int64) -> str:
        name = f"c{len(inits)}"
        inits[name] = np.asarray(value, dtype=dtype)
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = f"v{len(nodes)}"
        domain = "spike" if op == "LIF" else ""
        nodes.append(helper.make_node(op, inputs, [out], domain=domain, **attrs))
        return out

    token = a.layout == "token"
    item = (N, D) if token else (D, N)
    feeds: dict[str, np.ndarray] = {}
    inputs: list[tuple[str, list[int | str]]] = []
    names = ("xq", "xk", "xv") if not a.fused else ("xqkv",)
    for name in names:
        shape = (T, BATCH, *item) if not a.fused else (T, BATCH, 3 * D, N)
        feeds[name] = (rng.normal(size=shape) * 1.5 + 0.6).astype(np.float32)
        inputs.append((name, [T, a.batch, *shape[2:]]))
    if a.fused:
        s = node("LIF", ["xqkv"])
        if a.fold_batch:
            heads = node("Reshape", [s, const([T, -1, 3 * H, DH, N // 2])])
        elif a.infer_batch:
            heads = node("Reshape", [s, const([T, -1, 3 * H, DH, N])])
        else:
            heads = node("Reshape", [s, const([0, 0, 3 * H, DH, N])])
        sizes = const([H, H, H])
        nodes.append(helper.make_node("Split", [heads, sizes], ["sq", "sk", "sv"], axis=2))
        q, k, v = "sq", "sk", "sv"
    else:
        q, k = node("LIF", ["xq"]), node("LIF", ["xk"])
        if a.real_v:
            w = const(rng.normal(size=(item[1], item[1])) * 0.25, np.float32)
            v = node("MatMul", ["xv", w])
        else:
            v = node("LIF", ["xv"])
        if a.v_alias == "cast":
            b = node("Cast", [v], to=onnx.TensorProto.BOOL)
            v = node("Identity", [node("Cast", [b], to=onnx.TensorProto.FLOAT)])
        elif a.v_alias in ("mul1", "mul2"):
            v = node("Mul", [v, const(1.0 if a.v_alias == "mul1" else 2.0, np.float32)])
        elif a.v_alias == "where":
            b = node("Cast", [v], to=onnx.TensorProto.BOOL)
            v = node("Where", [b, const(1.0, np.float32), const(0.0, np.float32)])
        if token:
            to_heads = const([0, 0, N, H, -1])
            q = node("Transpose", [node("Reshape", [q, to_heads])], perm=[0, 1, 3, 2, 4])
            if a.k_reshaped:
                k = node("Reshape", [k, const([0, 0, H, DH, N])])
            else:
                k = node("Transpose", [node("Reshape", [k, to_heads])], perm=[0, 1, 3, 4, 2])
            v = node("Transpose", [node("Reshape", [v, to_heads])], perm=[0, 1, 3, 2, 4])
        else:
            to_heads = const([0, 0, H, DH, N])
            q, k, v = (node("Reshape", [x, to_heads]) for x in (q, k, v))
    if not token:  # [T, B, H, dh, N]: Yᵀ = Vᵀ K Qᵀ
        k = node("Transpose", [k], perm=[0, 1, 2, 4, 3])
        m1, m2, m3 = v, k, q
    else:
        m1, m2, m3 = q, k, v

    def scaled(x: str, at: str) -> str:
        if a.scale is None or a.scale_at != at:
            return x
        if a.divide:
            return node("Div", [x, const(1.0 / a.scale, np.float32)])
        return node("Mul", [x, const(a.scale, np.float32)])

    if a.association == "left":
        y = node("MatMul", [scaled(node("MatMul", [m1, m2]), "inner"), m3])
    else:
        y = node("MatMul", [m1, scaled(node("MatMul", [m2, m3]), "inner")])
    y = scaled(y, "outer")
    if token:
        y = node("Transpose", [y], perm=[0, 1, 3, 2, 4])
        y = node("Reshape", [y, const([0, 0, N, D])])
    if a.neuron_after:
        y = node("LIF", [y], v_threshold=0.5)
    if not token:
        y = node("Reshape", [y, const([T, -1, D, N] if a.infer_batch else [0, 0, D, N])])
    nodes[-1].output[0] = "y"
    model = model_from(nodes, inputs, [("y", None)], inits)
    return model, feeds


def _check_raised(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path: Path) -> str:
    """Raise the model; returns the SSA's details after checking that it is bit-exact."""
    path = tmp_path / "attention.onnx"
    onnx.save(model, path)
    raised, report = _raise(path)
    assert report.count("SSA") == 1 and report.left == [], report.lines()
    (theirs,) = _run(path, feeds)
    (ours,) = _run(raised, feeds)
    assert np.array_equal(ours, theirs)
    assert theirs.any()
    result = import_onnx(path)
    ops = [op for op in result.module.walk() if isinstance(op, spike.SSAOp)]
    assert len(ops) == 1 and ops[0].num_heads == H
    reference = evaluate(result.module, result.weights, feeds)["y"]
    assert np.abs(reference - theirs).max() <= 1e-5 * max(1.0, float(np.abs(theirs).max()))
    return next(r.details for r in report.raised if r.kind == "SSA")


RAISED = {
    "token-left-inner": Attn(),
    "token-left-outer": Attn(scale_at="outer"),
    "token-right-inner": Attn(association="right"),
    "token-right-outer": Attn(association="right", scale_at="outer"),
    "token-no-scale": Attn(scale=None),
    "token-divided-by-8": Attn(scale=0.125, scale_at="outer", divide=True),
    "token-no-neuron": Attn(neuron_after=False),
    "token-dynamic-batch": Attn(batch="B"),
    "token-left-inner-0.1": Attn(
        scale=0.1, neuron_after=False
    ),  # where SSA applies it: exact for any scale
    "channel-left-inner": Attn(layout="channel"),
    "channel-left-outer": Attn(layout="channel", scale_at="outer"),
    "channel-right-inner": Attn(layout="channel", association="right"),
    "channel-right-outer": Attn(layout="channel", association="right", scale_at="outer"),
    "channel-fused-split": Attn(layout="channel", fused=True),
    "token-value-cast-to-bool-and-back": Attn(v_alias="cast"),
    "token-value-times-one": Attn(v_alias="mul1"),
    "token-value-where-1-0": Attn(v_alias="where"),
    "channel-fused-inferred-dynamic-batch": Attn(
        layout="channel", fused=True, batch="B", infer_batch=True
    ),
    "channel-right-inner-0.1": Attn(
        layout="channel", association="right", scale=0.1, neuron_after=False
    ),
}


@pytest.mark.parametrize("variant", RAISED.values(), ids=RAISED.keys())
def test_hand_built_ssa_is_raised(variant: Attn, tmp_path: Path) -> None:
    model, feeds = _ssa_graph(variant)
    details = _check_raised(model, feeds, tmp_path)
    scale = 1.0 if variant.scale is None else variant.scale
    assert f"heads={H}, scale={scale:g}, N={N}, D={D}" in details


NEAR_MISSES = {
    "scale-0.1-after-second-product": (
        Attn(scale=0.1, scale_at="outer"),
        "the scale 0.1 is applied after the second product",
    ),
    "scale-0.1-on-kv": (
        Attn(scale=0.1, association="right"),
        "the scale 0.1 is applied to Kᵀ V (or its transpose)",
    ),
    "channel-scale-0.1-on-vk": (
        Attn(layout="channel", scale=0.1),
        "not a power of two",
    ),
    "divided-by-3-after-second-product": (
        Attn(scale=1 / 3, scale_at="outer", divide=True),
        "divides by 3, which SSA can only represent",
    ),
    "value-not-spikes": (Attn(real_v=True), "is not spikes: it is computed by"),
    "value-spikes-doubled": (Attn(v_alias="mul2"), "is not spikes: it is computed by"),
    "key-heads-reshape-mismatch": (Attn(k_reshaped=True), "is not split into heads"),
    "inferred-batch-takes-in-tokens": (
        Attn(layout="channel", fused=True, batch="B", infer_batch=True, fold_batch=True),
        "does not keep the time and batch axes",
    ),
}


@pytest.mark.parametrize(("variant", "reason"), NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_near_miss_is_left_with_reason(variant: Attn, reason: str, tmp_path: Path) -> None:
    model, feeds = _ssa_graph(variant)
    path = tmp_path / "attention.onnx"
    onnx.save(model, path)
    raised, report = _raise(path)
    assert report.count("SSA") == 0
    assert len(report.left) == 1, report.lines()
    assert reason in report.left[0].reason
    assert "MatMul" in report.left[0].node
    (theirs,) = _run(path, feeds)
    (ours,) = _run(raised, feeds)
    assert np.array_equal(ours, theirs)


# -- 3. hand-built SDSA --------------------------------------------------------------------------


def _sdsa_graph(
    heads: bool, lif_attrs: dict[str, float], axis: int | None = None
) -> tuple[onnx.ModelProto, dict]:
    rng = np.random.default_rng(3)
    feeds = {
        n: (rng.normal(size=(T, BATCH, N, D)) * 1.5 + 0.5).astype(np.float32)
        for n in ("xq", "xk", "xv")
    }
    inits = {
        "heads": np.asarray([0, 0, N, H, -1], np.int64),
        "axis": np.asarray([axis if axis is not None else 3 if heads else 2], np.int64),
        "merged": np.asarray([0, 0, N, D], np.int64),
    }
    nodes = [helper.make_node("LIF", [x], [x[1]], domain="spike") for x in feeds]
    q, k, v = "q", "k", "v"
    if heads:
        for x in (q, k, v):
            nodes.append(helper.make_node("Reshape", [x, "heads"], [f"{x}5"]))
            nodes.append(helper.make_node("Transpose", [f"{x}5"], [f"{x}h"], perm=[0, 1, 3, 2, 4]))
        q, k, v = "qh", "kh", "vh"
    kv_lif = helper.make_node("LIF", ["kv_sum"], ["kv_s"], domain="spike")
    kv_lif.attribute.extend(helper.make_attribute(a, val) for a, val in lif_attrs.items())
    nodes += [
        helper.make_node("Mul", [k, v], ["kv"]),
        helper.make_node("ReduceSum", ["kv", "axis"], ["kv_sum"], keepdims=1),
        kv_lif,
        helper.make_node("Mul", [q, "kv_s"], ["y" if not heads else "yh"]),
    ]
    if heads:
        nodes.append(helper.make_node("Transpose", ["yh"], ["yt"], perm=[0, 1, 3, 2, 4]))
        nodes.append(helper.make_node("Reshape", ["yt", "merged"], ["y"]))
    inputs: list[tuple[str, list[int | str]]] = [(n, [T, BATCH, N, D]) for n in feeds]
    return model_from(nodes, inputs, [("y", None)], inits), feeds


@pytest.mark.parametrize(
    ("heads", "lif_attrs"),
    [
        (True, {"v_threshold": 0.5}),
        (False, {"v_threshold": 0.5}),
        (True, {"tau": 1.5, "soft_reset": 1}),  # v_threshold left out: the LIF's 1.0
    ],
    ids=["heads", "no-heads", "lif-defaults"],
)
def test_hand_built_sdsa_is_raised(heads: bool, lif_attrs: dict, tmp_path: Path) -> None:
    model, feeds = _sdsa_graph(heads, lif_attrs)
    path = tmp_path / "sdsa.onnx"
    onnx.save(model, path)
    raised, report = _raise(path)
    assert report.count("SDSA") == 1 and report.left == [], report.lines()
    (call,) = [n for n in raised.graph.node if n.op_type == "SDSA"]
    attrs = {a.name: helper.get_attribute_value(a) for a in call.attribute}
    assert attrs["heads"] == (H if heads else 1)
    assert attrs["v_threshold"] == lif_attrs.get("v_threshold", 1.0)
    assert attrs["tau"] == lif_attrs.get("tau", 2.0)
    assert attrs["soft_reset"] == lif_attrs.get("soft_reset", 0)
    (theirs,) = _run(path, feeds)
    (ours,) = _run(raised, feeds)
    assert np.array_equal(ours, theirs) and theirs.any()
    result = import_onnx(path)
    assert [op.name for op in result.module.walk() if isinstance(op, spike.SDSAOp)] == [
        "spike.sdsa"
    ]
    assert np.array_equal(evaluate(result.module, result.weights, feeds)["y"], theirs)


def test_sdsa_summing_channels_is_left(tmp_path: Path) -> None:
    """K ⊙ V summed over the channels of a head (not the tokens) is not SDSA."""
    model, feeds = _sdsa_graph(True, {"v_threshold": 0.5}, axis=4)
    path = tmp_path / "sdsa.onnx"
    onnx.save(model, path)
    raised, report = _raise(path)
    assert report.count("SDSA") == 0
    (left,) = report.left
    assert left.node == "'kv_sum' (ReduceSum)"
    assert left.reason.endswith("sums over the channels axis, not the tokens")
    (theirs,) = _run(path, feeds)
    (ours,) = _run(raised, feeds)
    assert np.array_equal(ours, theirs)


# -- 4. hand-built token attention ---------------------------------------------------------------


@dataclass(frozen=True)
class Tok:
    layout: str = "fused"  # "fused": [T, B, 2D, N] split into q, k (QKFormer); "channel": q and k
    # apart, [T, B, D, N]; "token": [T, B, N, D] heads [T, B, N, H, dh]; "token-transposed": heads
    # moved to [T, B, H, N, dh]; "flat": [T, B, N, D] without heads
    gate_first: bool = False  # Mul(k, spikes) instead of Mul(spikes, k)
    lif: tuple[tuple[str, float], ...] = (("v_threshold", 0.5),)
    # near misses
    axis: str = "channels"  # "tokens": the sum over the tokens (SDSA's sum)
    neuron: str = "LIF"
    real_q: bool = False  # q from a MatMul without a neuron
    k_scrambled: bool = False  # k token-major [T, B, N, D] reshaped straight to [T, B, H, dh, N]


def _token_graph(a: Tok) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    nodes: list[onnx.NodeProto] = []
    inits: dict[str, np.ndarray] = {}

    def const(value: object, dtype: type = np.int64) -> str:
        name = f"c{len(inits)}"
        inits[name] = np.asarray(value, dtype=dtype)
        return name

    def node(op: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        out = f"v{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], domain=domain, **attrs))
        return out

    def lif(x: str) -> str:
        return node("LIF", [x], "spike")

    token = a.layout in ("token", "token-transposed", "flat")
    feeds: dict[str, np.ndarray] = {}
    inputs: list[tuple[str, list[int | str]]] = []

    def feed(name: str, shape: tuple[int, ...]) -> str:
        feeds[name] = (rng.normal(size=shape) * 1.5 + 0.6).astype(np.float32)
        inputs.append((name, list(shape)))
        return name

    if a.layout == "fused":
        s = lif(feed("xqk", (T, BATCH, 2 * D, N)))
        heads = node("Reshape", [s, const([0, 0, 2 * H, DH, N])])
        nodes.append(helper.make_node("Split", [heads, const([H, H])], ["sq", "sk"], axis=2))
        q, k = "sq", "sk"
        sum_axis, token_axis = 3, 4
    else:
        item = (N, D) if token else (D, N)
        xq = feed("xq", (T, BATCH, *item))
        xk = feed("xk", (T, BATCH, *((N, D) if a.k_scrambled else item)))
        if a.real_q:
            q = node("MatMul", [xq, const(rng.normal(size=(item[1], item[1])), np.float32)])
        else:
            q = lif(xq)
        k = lif(xk)
        if a.layout == "channel":
            q = node("Reshape", [q, const([0, 0, H, DH, N])])
            k = node("Reshape", [k, const([0, 0, H, DH, N])])
            sum_axis, token_axis = 3, 4
        elif a.layout in ("token", "token-transposed"):
            q = node("Reshape", [q, const([0, 0, N, H, DH])])
            k = node("Reshape", [k, const([0, 0, N, H, DH])])
            sum_axis, token_axis = 4, 2
            if a.layout == "token-transposed":
                q = node("Transpose", [q], perm=[0, 1, 3, 2, 4])
                k = node("Transpose", [k], perm=[0, 1, 3, 2, 4])
                token_axis = 3
        else:
            sum_axis, token_axis = 3, 2
    axis = sum_axis if a.axis == "channels" else token_axis
    total = node("ReduceSum", [q, const([axis])], keepdims=1)
    neuron = helper.make_node(a.neuron, [total], [f"v{len(nodes)}"], domain="spike")
    if a.neuron == "LIF":
        neuron.attribute.extend(helper.make_attribute(n, v) for n, v in a.lif)
    elif a.neuron == "Leaky":
        neuron.attribute.append(helper.make_attribute("beta", 0.5))
    nodes.append(neuron)
    spikes = neuron.output[0]
    y = node("Mul", [k, spikes] if a.gate_first else [spikes, k])
    if a.layout == "token-transposed":
        y = node("Transpose", [y], perm=[0, 1, 3, 2, 4])
    if a.layout != "flat":
        y = node("Reshape", [y, const([0, 0, N, D] if token else [0, 0, D, N])])
    nodes[-1].output[0] = "y"
    return model_from(nodes, inputs, [("y", None)], inits), feeds


TOKEN_RAISED = {
    "qkformer-fused-split": (Tok(), H),
    "channel-major": (Tok(layout="channel"), H),
    "token-major": (Tok(layout="token"), H),
    "token-major-transposed": (Tok(layout="token-transposed"), H),
    "no-heads": (Tok(layout="flat"), 1),
    "gate-first": (Tok(gate_first=True), H),
    "lif-soft-reset": (Tok(lif=(("tau", 1.5), ("soft_reset", 1), ("v_threshold", 2.0))), H),
    "lif-defaults": (Tok(layout="token", lif=(("decay_input", 0),)), H),
}


@pytest.mark.parametrize(("variant", "heads"), TOKEN_RAISED.values(), ids=TOKEN_RAISED.keys())
def test_hand_built_token_attention_is_raised(variant: Tok, heads: int, tmp_path: Path) -> None:
    model, feeds = _token_graph(variant)
    path = tmp_path / "token.onnx"
    onnx.save(model, path)
    raised, report = _raise(path)
    assert report.count("TokenAttention") == 1 and report.left == [], report.lines()
    (call,) = [n for n in raised.graph.node if n.op_type == "TokenAttention"]
    attrs = {a.name: helper.get_attribute_value(a) for a in call.attribute}
    lif = dict(variant.lif)
    assert attrs["heads"] == heads
    assert attrs["v_threshold"] == lif.get("v_threshold", 1.0)  # the LIF's, not the function's
    assert attrs["tau"] == lif.get("tau", 2.0)
    assert attrs["soft_reset"] == lif.get("soft_reset", 0)
    assert attrs["decay_input"] == lif.get("decay_input", 1)
    assert not {"ReduceSum", "Mul"} & {n.op_type for n in raised.graph.node}
    (theirs,) = _run(path, feeds)
    (ours,) = _run(raised, feeds)
    assert np.array_equal(ours, theirs) and theirs.any()
    result = import_onnx(path)
    ops = [op for op in result.module.walk() if isinstance(op, spike.TokenAttentionOp)]
    assert len(ops) == 1 and ops[0].num_heads == heads
    assert np.array_equal(evaluate(result.module, result.weights, feeds)["y"], theirs)


TOKEN_NEAR_MISSES = {
    "sum-over-tokens": (
        Tok(axis="tokens"),
        "sums over the tokens axis, not the channels of a head: a sum over tokens is SDSA's",
    ),
    "token-major-sum-over-tokens": (Tok(layout="token", axis="tokens"), "sums over the tokens"),
    "if-neuron": (Tok(neuron="IF"), "the neuron on the sums is IF, not LIF (QKFormer's token"),
    "leaky-neuron": (Tok(neuron="Leaky"), "the neuron on the sums is Leaky, not LIF"),
    "query-not-spikes": (Tok(layout="channel", real_q=True), "Q 'v"),
    "key-tokens-scrambled": (
        Tok(layout="channel", k_scrambled=True),
        "are not split into heads alike",
    ),
}


@pytest.mark.parametrize(
    ("variant", "reason"), TOKEN_NEAR_MISSES.values(), ids=TOKEN_NEAR_MISSES.keys()
)
def test_token_attention_near_miss_is_left_with_reason(
    variant: Tok, reason: str, tmp_path: Path
) -> None:
    model, feeds = _token_graph(variant)
    path = tmp_path / "token.onnx"
    onnx.save(model, path)
    raised, report = _raise(path)
    assert report.count("TokenAttention") == 0 and report.count("SDSA") == 0
    (left,) = report.left
    assert reason in left.reason, left.reason
    assert "(ReduceSum)" in left.node
    if variant.real_q:
        assert "is not spikes: it is computed by" in left.reason
    assert "ReduceSum" in {n.op_type for n in raised.graph.node}
    (theirs,) = _run(path, feeds)
    (ours,) = _run(raised, feeds)
    assert np.array_equal(ours, theirs)


def test_a_sum_fired_elsewhere_is_no_candidate(tmp_path: Path) -> None:
    """A LIF on a sum of spikes whose spikes gate nothing (here they are the output) is not a
    token attention, and no near miss is reported for it."""
    nodes = [
        helper.make_node("LIF", ["x"], ["s"], domain="spike"),
        helper.make_node("ReduceSum", ["s", "axis"], ["total"], keepdims=1),
        helper.make_node("LIF", ["total"], ["y"], domain="spike"),
    ]
    model = model_from(
        nodes, [("x", [T, BATCH, N, D])], [("y", None)], {"axis": np.asarray([3], np.int64)}
    )
    path = tmp_path / "sum.onnx"
    onnx.save(model, path)
    _, report = _raise(path)
    assert report.count("TokenAttention") == 0 and report.left == []
