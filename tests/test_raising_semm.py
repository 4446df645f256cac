"""Raising a SEMM-style spike-gated MoE (a neuron's spikes gate dense, stateless experts; the gated
sum written as a ReduceSum over stacked experts or as gated Adds) into Dispatch / Combine: raised
where dispatching is exact, left with the reason where it is not; the committed export raises
to one spike.moe and agrees with onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from compiler.dialects import spike
from compiler.frontend.onnx_import import _infer_shapes, import_onnx
from compiler.frontend.raising import raise_model
from compiler.frontend.raising.semm import IN_ORDER_EXPERTS
from compiler.interpreters.reference import evaluate
from compiler.ir.weights import OnnxTensors
from tests.conftest import SAMPLES, model_from
from tests.conftest import raised_copy as _raise
from tests.conftest import run_onnxruntime as _run

T, B, N, D = 4, 3, 5, 8


@dataclass(frozen=True)
class SEMM:
    form: str = "stacked"  # stacked (experts on axis -2), stacked_last (on -1), adds, gather
    experts: int = 4
    neuron_after: bool = True  # a LIF reads the sum (else Y = sum + S, real)
    spiking_input: bool = True  # the experts read S = LIF(X) (else X, a graph input)
    # near misses
    stateful: bool = False  # expert 1 ends in a LIF
    real_gates: bool = False  # Sigmoid gates instead of a LIF's spikes
    mixing: bool = False  # expert 1 mixes tokens
    order: tuple[int, ...] | None = None  # the order of the gated adds (default: expert order)


def _lif(x: str, y: str, threshold: float = 1.0) -> onnx.NodeProto:
    node = helper.make_node("LIF", [x], [y], domain="spike")
    node.attribute.extend([helper.make_attribute("v_threshold", threshold)])
    return node


def _semm(p: SEMM) -> onnx.ModelProto:
    rng = np.random.default_rng(5)
    E = p.experts
    inits: dict[str, np.ndarray] = {
        "router.w": rng.normal(0.2, 1, (D, E)).astype(np.float32),
        "router.b": rng.normal(0.3, 0.5, (E,)).astype(np.float32),
        "axis_m2": np.array([-2], np.int64),
        "axis_m1": np.array([-1], np.int64),
        "axis_last": np.array([3], np.int64),
        "step": np.array([1], np.int64),
    }
    nodes = [
        _lif("x", "s"),
        helper.make_node("MatMul", ["s", "router.w"], ["logits0"]),
        helper.make_node("Add", ["logits0", "router.b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["r"]) if p.real_gates else _lif("logits", "r"),
    ]
    outputs = []
    for e in range(E):
        inits[f"w{e}"] = rng.normal(0.1, 0.5, (D, D)).astype(np.float32)
        inits[f"b{e}"] = rng.normal(0.2, 0.3, (D,)).astype(np.float32)
        source = "s"
        if p.mixing and e == 1:  # tokens mixed: S S^T S over the token axis
            nodes += [
                helper.make_node("Transpose", ["s"], ["st1"], perm=[0, 1, 3, 2]),
                helper.make_node("MatMul", ["st1", "s"], ["gram1"]),
                helper.make_node("MatMul", ["s", "gram1"], ["mixed1"]),
            ]
            source = "mixed1"
        nodes += [
            helper.make_node("MatMul", [source, f"w{e}"], [f"h{e}"]),
            helper.make_node("Add", [f"h{e}", f"b{e}"], [f"y{e}"]),
        ]
        if p.stateful and e == 1:
            nodes[-1].output[0] = "h1b"
            nodes.append(_lif("h1b", "y1", 0.5))
        outputs.append(f"y{e}")
    if p.form in ("stacked", "stacked_last"):
        axis, gate_axis = ("axis_m2", "axis_m1") if p.form == "stacked" else ("axis_m1", "axis_m2")
        for e in range(E):
            nodes.append(helper.make_node("Unsqueeze", [f"y{e}", axis], [f"row{e}"]))
        nodes += [
            helper.make_node(
                "Concat",
                [f"row{e}" for e in range(E)],
                ["stacked"],
                axis=-2 if axis == "axis_m2" else -1,
            ),
            helper.make_node("Unsqueeze", ["r", gate_axis], ["r_col"]),
            helper.make_node("Mul", ["r_col", "stacked"], ["weighted"]),
            helper.make_node("ReduceSum", ["weighted", axis], ["total"], keepdims=0),
        ]
    else:
        terms = []
        for e in range(E):
            if p.form == "adds":
                inits[f"e{e}"] = np.array([e], np.int64)
                inits[f"e{e}.end"] = np.array([e + 1], np.int64)
                nodes.append(
                    helper.make_node(
                        "Slice", ["r", f"e{e}", f"e{e}.end", "axis_m1", "step"], [f"g{e}"]
                    )
                )
            else:  # gather: R[..., e] then unsqueeze(-1)
                inits[f"e{e}"] = np.array(e, np.int64)
                nodes += [
                    helper.make_node("Gather", ["r", f"e{e}"], [f"c{e}"], axis=-1),
                    helper.make_node("Unsqueeze", [f"c{e}", "axis_m1"], [f"g{e}"]),
                ]
            nodes.append(helper.make_node("Mul", [f"g{e}", f"y{e}"], [f"m{e}"]))
            terms.append(f"m{e}")
        order = p.order or tuple(range(E))
        total = terms[order[0]]
        for j, e in enumerate(order[1:]):
            nodes.append(helper.make_node("Add", [total, terms[e]], [f"sum{j}"]))
            total = f"sum{j}"
        nodes[-1].output[0] = "total"
    if p.neuron_after:
        nodes.append(_lif("total", "y", 0.7))
    else:
        nodes.append(helper.make_node("Add", ["total", "s"], ["y"]))
    if not p.spiking_input:
        del nodes[0]
        for node in nodes:
            node.input[:] = ["x" if name == "s" else name for name in node.input]
    return model_from(nodes, [("x", [T, B, N, D])], [("y", [T, B, N, D])], inits)


def _input() -> np.ndarray:
    return np.random.default_rng(0).normal(1.0, 1.0, (T, B, N, D)).astype(np.float32)


RAISED = {
    "stacked": (SEMM(), True),
    "stacked_real_output": (SEMM(neuron_after=False), True),
    "gated_adds": (SEMM(form="adds"), True),
    "gathered_columns": (SEMM(form="gather"), True),
    "two_experts": (SEMM(experts=2), True),
    "experts_read_the_graph_input": (SEMM(spiking_input=False), True),
    # ReduceSum that onnxruntime does not add in expert order: raised when no neuron reads it
    "stacked_last_axis": (SEMM(form="stacked_last", neuron_after=False), False),
    "stacked_many_experts": (SEMM(experts=IN_ORDER_EXPERTS + 1, neuron_after=False), False),
}


@pytest.mark.parametrize(("variant", "exact"), RAISED.values(), ids=RAISED.keys())
def test_semm_is_raised(variant: SEMM, exact: bool, tmp_path: Path) -> None:
    model = _semm(variant)
    path = tmp_path / "semm.onnx"
    onnx.save(model, path)
    x = _input()
    original = _run(model, x)
    raised, report = _raise(model, path)
    assert [r.kind for r in report.raised] == ["MoE"], report.lines()
    assert not report.left, report.lines()
    details = report.raised[0].details
    assert details.startswith(f"SEMM, experts={variant.experts}, binary gates")
    assert ("not in expert order" in details) is not exact
    ops = {n.op_type for n in raised.graph.node}
    assert {"Dispatch", "Combine"} <= ops
    assert not {"ReduceSum", "Slice", "Gather"} & ops
    if exact:
        assert np.array_equal(_run(raised, x), original)
    else:
        assert np.allclose(_run(raised, x), original, rtol=1e-5, atol=1e-6)
    result = import_onnx(path)
    (moe,) = [op for op in result.module.walk() if isinstance(op, spike.MoEOp)]
    assert len(moe.experts) == variant.experts
    assert isinstance(moe.gates.owner, spike.LIFOp)
    ours = evaluate(result.module, result.weights, {"x": x})["y"]
    assert np.allclose(ours, original, rtol=1e-5, atol=1e-6)


NEAR_MISSES = {
    "stateful_expert": (SEMM(stateful=True), "holds the neuron", "ReduceSum"),
    "real_gates": (SEMM(real_gates=True), "not from a raised spiking neuron", "ReduceSum"),
    "expert_mixes_tokens": (SEMM(mixing=True), "token-wise", "ReduceSum"),
    "adds_out_of_order": (SEMM(form="adds", order=(0, 2, 1, 3)), "out of expert order", "LIF"),
    "stateful_expert_adds": (SEMM(form="adds", stateful=True), "holds the neuron", "Add"),
    "reduce_order_read_by_neuron": (SEMM(form="stacked_last"), "reads the sum", "ReduceSum"),
}


@pytest.mark.parametrize(
    ("variant", "reason", "anchor"), NEAR_MISSES.values(), ids=NEAR_MISSES.keys()
)
def test_semm_near_miss_is_left(variant: SEMM, reason: str, anchor: str, tmp_path: Path) -> None:
    model = _semm(variant)
    path = tmp_path / "semm.onnx"
    onnx.save(model, path)
    raised, report = _raise(model, path)
    assert report.count("MoE") == 0, report.lines()
    (left,) = [item for item in report.left if "SEMM" in item.reason]  # the attention pass may
    assert f"({anchor})" in left.node, left  # also see S S^T S in a token-mixing expert
    assert reason in left.reason, left.reason
    assert not {"Dispatch", "Combine"} & {n.op_type for n in raised.graph.node}
    assert np.array_equal(_run(raised, _input()), _run(model, _input()))


@pytest.mark.parametrize("experts", range(2, IN_ORDER_EXPERTS + 1))
def test_onnxruntime_reduce_sum_adds_the_experts_in_order(experts: int) -> None:
    """What the pass relies on for an exact raise: onnxruntime's ReduceSum over the expert axis of
    `[T, B, N, E, D]` (not the last) is `((y_0 + y_1) + y_2) + ...`, as Combine computes."""
    shape = [T, 64, 8, experts, 32]
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["p", "axis"], ["s"], keepdims=0)],
        "reduce",
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [-2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(experts)
    scale = rng.choice(np.array([1e-3, 1.0, 1e3], np.float32), shape)
    p = (rng.normal(0, 1, shape) * (rng.random(shape) < 0.6) * scale).astype(np.float32)
    (total,) = session.run(None, {"p": p})
    expected = np.zeros_like(p[..., 0, :])
    for e in range(experts):
        expected = expected + p[..., e, :]
    assert np.array_equal(total, expected)


def test_committed_semm_export() -> None:
    path = SAMPLES / "export" / "sj_semm_moe.dynamo.onnx"
    x = np.load(SAMPLES / "export" / "digits_test_x.npy")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"x": x})
    model = onnx.load(path)
    report = raise_model(model, OnnxTensors(model, path), _infer_shapes(model))
    kinds = [r.kind for r in report.raised]
    assert kinds.count("LIF") == 3 and kinds.count("MoE") == 1 and not report.left
    assert "SEMM, experts=4" in report.raised[-1].details
    assert "in expert order" in report.raised[-1].details
    assert "not in expert order" not in report.raised[-1].details
    # the raised model takes the repeated image time-major, and gives the same logits bit for bit
    steps = np.broadcast_to(x, (T, *x.shape)).copy()
    assert np.array_equal(_run(model, steps), theirs)
    result = import_onnx(path)
    (moe,) = [op for op in result.module.walk() if isinstance(op, spike.MoEOp)]
    assert len(moe.experts) == 4 and isinstance(moe.gates.owner, spike.LIFOp)
    ours = evaluate(result.module, result.weights, {"x": x})["logits"]
    assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert np.array_equal(ours.argmax(-1), theirs.argmax(-1))
