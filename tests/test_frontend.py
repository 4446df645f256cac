"""The ONNX frontend: every converted operator and layout rule, checked against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from xdsl.dialects.builtin import ModuleOp

from compiler.dialects import spike
from compiler.errors import SpikecError, UnsupportedModelError
from compiler.frontend.onnx_import import import_onnx
from compiler.frontend.reshape import reshape_target
from compiler.frontend.values import Layout, NodeError, Value
from compiler.interpreters.oracle import agreement
from compiler.interpreters.reference import evaluate, main_function
from compiler.ir.parse import parse_ir
from compiler.ir.printer import print_ir
from compiler.ir.weights import WeightStore
from tests.conftest import dyadic, model_from, tiny_input, tiny_spiking_model

T = 4


def _check(model: onnx.ModelProto, inputs: dict[str, np.ndarray], tmp_path: Path) -> ModuleOp:
    """Import, evaluate and compare every output with onnxruntime."""
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    result = import_onnx(path)
    ours = evaluate(result.module, result.weights, inputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    theirs = dict(zip(names, session.run(names, inputs), strict=True))
    kinds = main_function(result.module).function_type.outputs.data
    for name, kind in zip(names, kinds, strict=True):
        from compiler.dialects.spike.types import is_spike

        ok, account = agreement(is_spike(kind), ours[name], theirs[name])
        assert ok, f"{name}: {account}"
    return result.module


def _ops(module: ModuleOp) -> list[str]:
    return [op.name for op in module.walk()]


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_tiny_model_matches_onnxruntime(batch: int, tmp_path: Path) -> None:
    module = _check(tiny_spiking_model(), {"x": tiny_input(batch)}, tmp_path)
    names = _ops(module)
    # folding time into the batch costs no op; only flattening H x W into tokens is a reshape
    assert names.count("spike.reshape") == 1
    assert names.count("spike.lif") == 2
    # MatMul + Add(bias) became one linear layer with a bias
    linears = [op for op in module.walk() if isinstance(op, spike.LinearOp)]
    assert len(linears) == 1 and linears[0].bias is not None


def _spikes(shape: tuple[int, ...], rate: float = 0.3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.float32)


def _real(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return dyadic(np.random.default_rng(seed).normal(size=shape), bits=8)


def _lif(x: str, y: str, **attrs: float) -> onnx.NodeProto:
    node = helper.make_node("LIF", [x], [y], domain="spike")
    node.attribute.extend(helper.make_attribute(k, v) for k, v in attrs.items())
    return node


STANDARD_CASES = {
    "gemm_transB": (
        [
            _lif("x", "s"),
            helper.make_node("ReduceMean", ["s"], ["m"], axes=[0], keepdims=0),
            helper.make_node("Gemm", ["m", "w", "b"], ["y"], transB=1),
        ],
        (T, 2, 8),
        {"w": _real((5, 8)), "b": _real((5,), 1)},
    ),
    "conv_bn_pool_folded": (
        [
            helper.make_node("Reshape", ["x", "fold"], ["f"]),
            helper.make_node("Conv", ["f", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
            helper.make_node("BatchNormalization", ["c", "g", "b", "mu", "var"], ["n"]),
            helper.make_node(
                "MaxPool", ["n"], ["p"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]
            ),
            helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Reshape", ["a", "unfold"], ["u"]),
            _lif("u", "y"),
        ],
        (T, 2, 3, 8, 8),
        {
            "fold": np.array([-1, 3, 8, 8], np.int64),
            "w": _real((6, 3, 3, 3)),
            "g": _real((6,), 1) + 1,
            "b": _real((6,), 2),
            "mu": _real((6,), 3),
            "var": np.abs(_real((6,), 4)) + 0.5,
            "unfold": np.array([T, -1, 6, 2, 2], np.int64),
        },
    ),
    "grouped_dilated_conv": (
        [
            helper.make_node("Flatten", ["x"], ["f"], axis=2),
            helper.make_node("Reshape", ["f", "shape4"], ["f4"]),
            helper.make_node(
                "Conv", ["f4", "w", "b"], ["c"], group=2, dilations=[2, 2], pads=[2, 2, 2, 2]
            ),
            helper.make_node("Reshape", ["c", "unfold"], ["y"]),
        ],
        (T, 2, 4, 6, 6),
        {
            "shape4": np.array([-1, 4, 6, 6], np.int64),
            "w": _real((6, 2, 3, 3)),
            "b": _real((6,), 1),
            "unfold": np.array([T, -1, 6, 6, 6], np.int64),
        },
    ),
    "transpose_split_concat": (
        [
            _lif("x", "s"),
            helper.make_node("Transpose", ["s"], ["t"], perm=[0, 1, 3, 2]),
            helper.make_node("Split", ["t", "sizes"], ["a", "b"], axis=3),
            helper.make_node("Concat", ["b", "a"], ["c"], axis=-1),
            helper.make_node("Mul", ["c", "c2"], ["y"]),
        ],
        (T, 2, 6, 5),
        {"sizes": np.array([2, 4], np.int64), "c2": _real((6,), 3)},
    ),
    "squeeze_unsqueeze_reduce": (
        [
            helper.make_node("Unsqueeze", ["x", "ax"], ["u"]),
            helper.make_node("ReduceSum", ["u", "ax_sum"], ["r"], keepdims=1),
            helper.make_node("Squeeze", ["r", "ax"], ["q"]),
            helper.make_node("ReduceMax", ["q"], ["y"], axes=[3], keepdims=0),
        ],
        (T, 2, 3, 4),
        {"ax": np.array([2], np.int64), "ax_sum": np.array([4], np.int64)},
    ),
    "layernorm_sub_div_constants": (
        [
            helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"], epsilon=1e-5),
            helper.make_node("Sub", ["n", "x"], ["d"]),
            helper.make_node("Div", ["d", "two"], ["q"]),
            helper.make_node("Constant", [], ["half"], value_float=0.5),
            helper.make_node("Constant", [], ["shape"], value_ints=[0, 0, 40]),
            helper.make_node("Mul", ["q", "half"], ["h"]),
            helper.make_node("Reshape", ["h", "shape"], ["y"]),
        ],
        (T, 2, 5, 8),
        {"g": _real((8,), 1) + 1, "b": _real((8,), 2), "two": np.array(2.0, np.float32)},
    ),
    "activation_matmul": (
        [
            _lif("x", "s"),
            helper.make_node("Transpose", ["s"], ["st"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", ["s", "st"], ["y"]),
        ],
        (T, 2, 5, 8),
        {},
    ),
    "neurons": (
        [
            helper.make_node("IF", ["x"], ["a"], domain="spike", v_threshold=0.75, soft_reset=1),
            helper.make_node("Leaky", ["x"], ["b"], domain="spike", beta=0.875, reset_mechanism=1),
            _lif("x", "c", tau=1.25, decay_input=0, v_reset=-0.25),
            helper.make_node("Add", ["a", "b"], ["ab"]),
            helper.make_node("Add", ["ab", "c"], ["y"]),
        ],
        (T, 2, 16),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(STANDARD_CASES))
def test_standard_operators(case: str, tmp_path: Path) -> None:
    nodes, shape, inits = STANDARD_CASES[case]
    out_name = nodes[-1].output[0]
    model = model_from(nodes, [("x", [T, "B", *shape[2:]])], [(out_name, None)], inits)
    _check(model, {"x": _real(shape, 7) * 2}, tmp_path)


def test_bias_not_folded_when_product_is_reused(tmp_path: Path) -> None:
    nodes = [
        _lif("x", "s"),
        helper.make_node("MatMul", ["s", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["h"]),
        helper.make_node("Add", ["h", "m"], ["y"]),
    ]
    model = model_from(
        nodes, [("x", [T, "B", 8])], [("y", None)], {"w": _real((8, 4)), "b": _real((4,))}
    )
    module = _check(model, {"x": _real((T, 2, 8))}, tmp_path)
    linears = [op for op in module.walk() if isinstance(op, spike.LinearOp)]
    assert len(linears) == 1 and linears[0].bias is None


def test_attention_and_stochastic_ops(tmp_path: Path) -> None:
    h, n, d = 2, 6, 8
    nodes = [
        _lif("x", "q", v_threshold=0.5),
        _lif("x", "k", tau=1.5),
        _lif("x", "v", v_threshold=0.25),
        helper.make_node("SSA", ["q", "k", "v"], ["a"], domain="spike", heads=h, scale=0.125),
        helper.make_node("SDSA", ["q", "k", "v"], ["b"], domain="spike", heads=h),
        helper.make_node(
            "StochasticAttention",
            ["q", "k", "v", "u1", "u2"],
            ["c"],
            domain="spike",
            heads=h,
            c1=4.0,
            c2=2.0,
        ),
        helper.make_node("Bernoulli", ["p", "u3"], ["e"], domain="spike", seed=3),
    ]
    rng = np.random.default_rng(5)
    inits = {
        "u1": rng.random((T, 1, h, n, n), dtype=np.float32),
        "u2": rng.random((T, 1, h, n, d // h), dtype=np.float32),
        "u3": rng.random((T, 1, n, d), dtype=np.float32),
        "p": rng.random((T, 1, n, d), dtype=np.float32),
    }
    nodes.insert(0, helper.make_node("Identity", ["x"], ["x_id"]))
    outs = [("a", None), ("b", None), ("c", None), ("e", None)]
    model = model_from(nodes, [("x", [T, "B", n, d])], outs, inits)
    # Bernoulli on a constant probability is not time-major: expect a clear error instead
    with pytest.raises(UnsupportedModelError, match="Bernoulli"):
        path = tmp_path / "bern.onnx"
        onnx.save(model, path)
        import_onnx(path)
    nodes[-1] = helper.make_node("Bernoulli", ["xp", "u3"], ["e"], domain="spike", seed=3)
    nodes.insert(1, helper.make_node("Mul", ["x", "quarter"], ["xp"]))
    inits["quarter"] = np.array(0.25, np.float32)
    del inits["p"]
    model = model_from(nodes, [("x", [T, "B", n, d])], outs, inits)
    x = np.abs(_real((T, 3, n, d))) * 2
    module = _check(model, {"x": x}, tmp_path)
    streams = [
        op.stream.value.data
        for op in module.walk()
        if isinstance(op, spike.StochasticAttentionOp | spike.BernoulliOp)
    ]
    assert sorted(streams) == [0, 1]


def _moe_nodes(experts: int, k: int) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    d = 8
    nodes = [
        _lif("x", "s"),
        helper.make_node("MatMul", ["s", "router.w"], ["logits"], name="router"),
        helper.make_node("TopKRouter", ["logits"], ["g"], domain="spike", k=k, name="route"),
    ]
    inits: dict[str, np.ndarray] = {
        "router.w": _real((d, experts), 9),
        "ax0": np.array([0], np.int64),
    }
    stacked = []
    for e in range(experts):
        inits[f"e{e}.w"] = _real((d, d), 10 + e)
        nodes += [
            helper.make_node("Dispatch", ["s", "g"], [f"x{e}"], domain="spike", expert=e),
            helper.make_node("MatMul", [f"x{e}", f"e{e}.w"], [f"h{e}"], name=f"expert{e}.fc"),
            _lif(f"h{e}", f"y{e}", v_threshold=0.5),
            helper.make_node("Unsqueeze", [f"y{e}", "ax0"], [f"u{e}"]),
        ]
        stacked.append(f"u{e}")
    nodes += [
        helper.make_node("Concat", stacked, ["stack"], axis=0),
        helper.make_node("Combine", ["g", "stack"], ["y"], domain="spike", name="combine"),
    ]
    return nodes, inits


@pytest.mark.parametrize(("experts", "k"), [(3, 1), (3, 2), (1, 1), (4, 4)])
def test_moe_block(experts: int, k: int, tmp_path: Path) -> None:
    nodes, inits = _moe_nodes(experts, k)
    model = model_from(nodes, [("x", [T, "B", 5, 8])], [("y", None)], inits)
    module = _check(model, {"x": _real((T, 2, 5, 8)) * 3}, tmp_path)
    (moe,) = [op for op in module.walk() if isinstance(op, spike.MoEOp)]
    assert len(moe.experts) == experts
    assert ("spike.train" in str(moe.output.type)) == (k == 1)


def test_moe_expert_reading_an_outside_value_is_refused(tmp_path: Path) -> None:
    nodes, inits = _moe_nodes(2, 1)
    nodes[4] = helper.make_node("MatMul", ["s", "e0.w"], ["h0"], name="expert0.fc")
    model = model_from(nodes, [("x", [T, "B", 5, 8])], [("y", None)], inits)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedModelError, match="computed outside the expert"):
        import_onnx(path)


def test_imported_ir_round_trips(tiny_model_path: Path) -> None:
    result = import_onnx(tiny_model_path)
    for generic in (False, True):
        text = print_ir(result.module, generic=generic)
        again = print_ir(parse_ir(text, "t.mlir"), generic=generic)
        assert again == text


def test_inline_weights_need_no_file(tiny_model_path: Path, tmp_path: Path) -> None:
    result = import_onnx(tiny_model_path, inline_weights=True)
    text = print_ir(result.module)
    assert "spike.weights" not in text and "dense<" in text
    module = parse_ir(text, "inline.mlir")
    x = {"x": tiny_input()}
    inline = evaluate(module, WeightStore.for_module(module), x)
    referenced = evaluate(result.module, import_onnx(tiny_model_path).weights, x)
    assert np.array_equal(inline["y"], referenced["y"])


def _value(layout: Layout, shape: tuple[int, ...]) -> Value:
    from xdsl.utils.test_value import create_ssa_value

    from compiler.dialects.spike.types import real_type

    return Value(layout, ssa=create_ssa_value(real_type(shape)))


@pytest.mark.parametrize(
    ("layout", "shape", "target", "expected"),
    [
        (Layout.TIME, (4, -1, 3, 8), [-1, 3, 8], (Layout.FOLDED, (4, -1, 3, 8))),
        (Layout.TIME, (4, -1, 3, 8), [0, 0, 24], (Layout.TIME, (4, -1, 24))),
        (Layout.FOLDED, (4, -1, 3, 8), [4, -1, 24], (Layout.TIME, (4, -1, 24))),
        (Layout.FOLDED, (4, 2, 3, 8), [8, 24], (Layout.FOLDED, (4, 2, 24))),
        (Layout.TIME, (4, 1, 6), [4, 6], (Layout.FOLDED, (4, 1, 6))),
        (Layout.STATIC, (-1, 6), [-1, 2, 3], (Layout.STATIC, (-1, 2, 3))),
    ],
)
def test_reshape_layouts(
    layout: Layout,
    shape: tuple[int, ...],
    target: list[int],
    expected: tuple[Layout, tuple[int, ...]],
) -> None:
    from compiler.dialects.spike.types import DYNAMIC

    ir_shape = tuple(DYNAMIC if d == -1 else d for d in shape)
    batch = ir_shape[0] if layout is Layout.STATIC else ir_shape[1]
    got_layout, got_shape = reshape_target(_value(layout, ir_shape), target, 4, batch)
    want_shape = tuple(DYNAMIC if d == -1 else d for d in expected[1])
    assert (got_layout, got_shape) == (expected[0], want_shape)


@pytest.mark.parametrize(
    ("layout", "shape", "target"),
    [
        (Layout.TIME, (4, -1, 3, 8), [-1, 4, 24]),  # batch and time swapped
        (Layout.TIME, (4, -1, 3, 8), [4, 3, -1]),  # batch merged into features
        (Layout.FOLDED, (4, -1, 8), [-1, 7]),  # sizes do not match
    ],
)
def test_reshape_that_moves_time_is_refused(
    layout: Layout, shape: tuple[int, ...], target: list[int]
) -> None:
    from compiler.dialects.spike.types import DYNAMIC

    ir_shape = tuple(DYNAMIC if d == -1 else d for d in shape)
    with pytest.raises(NodeError):
        reshape_target(_value(layout, ir_shape), target, 4, DYNAMIC)


def test_metadata_timesteps_must_agree(tmp_path: Path) -> None:
    model = tiny_spiking_model()
    entry = model.metadata_props.add()
    entry.key, entry.value = "spike.timesteps", "8"
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(SpikecError, match=r"spike\.timesteps = 8"):
        import_onnx(path)
