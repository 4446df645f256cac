"""Raising a PyTorch-style top-k MoE (Softmax -> TopK -> ScatterElements router, dense experts,
gated sum) into TopKRouter / Dispatch / Combine: raised where dispatching is exact, left with the
reason where it is not; the committed export is raised and runs on every target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from compiler.dialects import spike
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from targets import load_target, target_names
from tests.conftest import SAMPLES, model_from, run_sample_program
from tests.conftest import raised_copy as _raise
from tests.conftest import run_onnxruntime as _run

T, B, N, D, E = 4, 3, 5, 8, 4


@dataclass(frozen=True)
class MoE:
    k: int = 2
    softmax: bool = True  # False: ones at the top-k logits
    renormalise: bool = False  # the top-k probabilities divided by their sum (Mixtral)
    # near misses
    per_time: bool = False  # the router reads every timestep: gates [T, B, N, E]
    mixing: bool = False  # expert 1 mixes tokens (a product over the token axis)
    order: tuple[int, ...] = (0, 1, 2, 3)  # the order of the gated sum
    residual: bool = True  # Y = sum + S


def _lif(x: str, y: str, threshold: float = 1.0) -> onnx.NodeProto:
    node = helper.make_node("LIF", [x], [y], domain="spike")
    node.attribute.extend([helper.make_attribute("v_threshold", threshold)])
    return node


def _moe(p: MoE) -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    inits: dict[str, np.ndarray] = {
        "router.w": rng.normal(0, 1, (D, E)).astype(np.float32),
        "router.b": rng.normal(0, 0.5, (E,)).astype(np.float32),
        "zeros": np.zeros((T, B, N, E) if p.per_time else (B, N, E), np.float32),
        "k": np.array([p.k], np.int64),
        "ones": np.ones((T, B, N, p.k) if p.per_time else (B, N, p.k), np.float32),
        "axis0": np.array([0], np.int64),
        "axis_last": np.array([-1], np.int64),
        "step": np.array([1], np.int64),
    }
    nodes = [_lif("x", "s")]
    if p.per_time:
        nodes.append(helper.make_node("MatMul", ["s", "router.w"], ["logits0"]))
    else:
        nodes += [
            helper.make_node("ReduceMean", ["s"], ["mean"], axes=[0], keepdims=0),
            helper.make_node("MatMul", ["mean", "router.w"], ["logits0"]),
        ]
    nodes.append(helper.make_node("Add", ["logits0", "router.b"], ["logits"]))
    if p.softmax:
        nodes += [
            helper.make_node("Softmax", ["logits"], ["p"], axis=-1),
            helper.make_node("TopK", ["p", "k"], ["top", "index"], axis=-1),
        ]
        top = "top"
        if p.renormalise:
            nodes += [
                helper.make_node("ReduceSum", ["top", "axis_last"], ["top_sum"], keepdims=1),
                helper.make_node("Div", ["top", "top_sum"], ["top_norm"]),
            ]
            top = "top_norm"
        nodes.append(helper.make_node("ScatterElements", ["zeros", "index", top], ["g"], axis=-1))
    else:
        nodes += [
            helper.make_node("TopK", ["logits", "k"], ["top", "index"], axis=-1),
            helper.make_node("ScatterElements", ["zeros", "index", "ones"], ["g"], axis=-1),
        ]
    terms = {}
    for e in range(E):
        inits[f"e{e}"] = np.array([e], np.int64)
        inits[f"e{e}.end"] = np.array([e + 1], np.int64)
        inits[f"w{e}"] = rng.normal(0.3, 0.6, (D, D)).astype(np.float32)
        inits[f"b{e}"] = rng.normal(0.2, 0.3, (D,)).astype(np.float32)
        source = "s"
        if p.mixing and e == 1:  # tokens mixed: S^T S over the token axis, then S @ that
            nodes += [
                helper.make_node("Transpose", ["s"], ["st1"], perm=[0, 1, 3, 2]),
                helper.make_node("MatMul", ["st1", "s"], ["gram1"]),
                helper.make_node("MatMul", ["s", "gram1"], ["mixed1"]),
            ]
            source = "mixed1"
        nodes += [
            helper.make_node("MatMul", [source, f"w{e}"], [f"h{e}"]),
            helper.make_node("Add", [f"h{e}", f"b{e}"], [f"hb{e}"]),
            _lif(f"hb{e}", f"y{e}", 0.5),
            helper.make_node("Slice", ["g", f"e{e}", f"e{e}.end", "axis_last", "step"], [f"g{e}"]),
        ]
        gate = f"g{e}"
        if not p.per_time:
            nodes.append(helper.make_node("Unsqueeze", [f"g{e}", "axis0"], [f"gu{e}"]))
            gate = f"gu{e}"
        nodes.append(helper.make_node("Mul", [gate, f"y{e}"], [f"m{e}"]))
        terms[e] = f"m{e}"
    total = terms[p.order[0]]
    for j, e in enumerate(p.order[1:]):
        nodes.append(helper.make_node("Add", [total, terms[e]], [f"sum{j}"]))
        total = f"sum{j}"
    if p.residual:
        nodes.append(helper.make_node("Add", [total, "s"], ["y"]))
    else:
        nodes[-1].output[0] = "y"
    return model_from(nodes, [("x", [T, B, N, D])], [("y", [T, B, N, D])], inits)


def _input() -> np.ndarray:
    return np.random.default_rng(0).normal(1.0, 1.0, (T, B, N, D)).astype(np.float32)


@pytest.mark.parametrize(
    "variant",
    [
        MoE(),
        MoE(k=1),
        MoE(softmax=False),
        MoE(k=E),
        MoE(residual=False),
        MoE(order=(1, 0, 2, 3)),
        MoE(renormalise=True),
        MoE(k=3, renormalise=True),
        MoE(k=4, renormalise=True),
    ],
    ids=[
        "softmax_k2",
        "softmax_k1",
        "binary_k2",
        "softmax_all",
        "no_residual",
        "first_two_swapped",
        "renormalised_k2",
        "renormalised_k3",
        "renormalised_all",
    ],
)
def test_topk_moe_is_raised(variant: MoE, tmp_path: Path) -> None:
    model = _moe(variant)
    path = tmp_path / "moe.onnx"
    onnx.save(model, path)
    x = _input()
    original = _run(model, x)
    raised, report = _raise(model, path)
    assert [r.kind for r in report.raised] == ["MoE"], report.lines()
    assert f"k={variant.k}" in report.raised[0].details
    assert ("renormalised" in report.raised[0].details) == variant.renormalise
    ops = {n.op_type for n in raised.graph.node}
    assert {"TopKRouter", "Dispatch", "Combine"} <= ops
    assert not {"Softmax", "TopK", "ScatterElements", "Slice"} & ops
    assert np.allclose(_run(raised, x), original, rtol=1e-5, atol=1e-6)
    result = import_onnx(path)
    (moe,) = [op for op in result.module.walk() if isinstance(op, spike.MoEOp)]
    assert len(moe.experts) == E
    ours = evaluate(result.module, result.weights, {"x": x})["y"]
    assert np.allclose(ours, original, rtol=1e-5, atol=1e-6)


NEAR_MISSES = {
    "routing_over_time": (MoE(per_time=True), "routing changes over time"),
    "expert_mixes_tokens": (MoE(mixing=True), "token-wise"),
    "sum_out_of_order": (MoE(order=(0, 2, 1, 3)), "out of expert order"),
}


@pytest.mark.parametrize(("variant", "reason"), NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_moe_near_miss_is_left(variant: MoE, reason: str, tmp_path: Path) -> None:
    model = _moe(variant)
    path = tmp_path / "moe.onnx"
    onnx.save(model, path)
    raised, report = _raise(model, path)
    assert report.raised == []
    (left,) = [item for item in report.left if "ScatterElements" in item.node]
    assert reason in left.reason, left.reason
    assert "ScatterElements" in {n.op_type for n in raised.graph.node}
    assert np.array_equal(_run(raised, _input()), _run(model, _input()))
    # the near miss still imports, its nodes as generic ops, and evaluates as onnxruntime does
    # (reals within 1e-5: the generic ops sum in their own order)
    result = import_onnx(path)
    assert any(reason in item.reason for item in result.raising.left), result.raising.lines()
    ours = evaluate(result.module, result.weights, {"x": _input()})
    assert np.allclose(next(iter(ours.values())), _run(model, _input()), rtol=1e-5, atol=1e-5)


def test_committed_topk_moe_export(tmp_path: Path) -> None:
    path = SAMPLES / "export" / "sj_topk_moe.dynamo.onnx"
    result = import_onnx(path)
    kinds = [r.kind for r in result.raising.raised]
    assert kinds.count("LIF") == 5 and kinds.count("MoE") == 1 and not result.raising.left
    x = np.load(SAMPLES / "export" / "digits_test_x.npy")
    ours = evaluate(result.module, result.weights, {"x": x})["logits"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"x": x})
    assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert np.array_equal(ours.argmax(-1), theirs.argmax(-1))


DESIGNS = [(name, variant) for name in target_names() for variant in load_target(name).variants]


@pytest.mark.parametrize(("target", "variant"), DESIGNS)
def test_every_design_runs_a_renormalised_router_exactly(
    target: str, variant: str, tmp_path: Path
) -> None:
    path = tmp_path / "moe.onnx"
    onnx.save(_moe(MoE(renormalise=True)), path)
    result = import_onnx(path)
    expected = evaluate(result.module, result.weights, {"x": _input()})["y"]
    compile_model(str(path), target, tmp_path / "p", variant=variant)
    assert "normalize" in (tmp_path / "p" / "program.sasm").read_text()
    run = run_sample_program(tmp_path / "p", _input())
    assert np.array_equal(run.outputs["y"], expected)
