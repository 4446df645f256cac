"""Property test: random graphs of standard ONNX operators — elementwise, comparisons and logic,
shape arithmetic (Shape, Gather, Concat, Reshape, Expand), index ops (TopK, ArgMax, Gather),
reductions, normalisations and products — import and evaluate equal to onnxruntime.

Operators whose result flips on a last-bit difference (Floor, Sign, comparisons, ArgMax, ...)
are applied only to values both executors compute exactly (built from the input by exact ops),
so a comparison never fails on rounding that the contract allows (reals within 1e-5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from targets import load_target, target_names
from tests.conftest import run_sample_program

T, B, D = 2, 3, 4


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    exact: bool
    """Both executors compute it bit for bit (its every op is exactly rounded)."""
    batch_axis: int | None = 1
    """Where the batch is (its size varies under a dynamic batch: shapes below say 3)."""

    @property
    def key(self) -> tuple[tuple[int, ...], int | None]:
        return self.shape, self.batch_axis


EXACT_UNARY = ["Relu", "Abs", "Neg", "Identity"]
EXACT_ON_EXACT = ["Floor", "Ceil", "Sign", "Round"]
INEXACT_UNARY = ["Sigmoid", "Tanh", "Erf", "Softplus", "Elu", "Selu", "Sin", "Cos", "HardSwish"]
EXACT_BINARY = ["Add", "Sub", "Mul", "Max", "Min"]
COMPARE = ["Greater", "Less", "Equal", "GreaterOrEqual"]


@dataclass
class RandomOnnx:
    """Builds an ONNX graph node by node from hypothesis draws, on one input x [T, B, D]."""

    draw: st.DrawFn
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    values: list[Tensor] = field(default_factory=lambda: [Tensor("x", (T, B, D), True)])
    dynamic: bool = False
    """The batch is dynamic: ops sized by the last axis (weights, indices) avoid a batch
    there."""

    def fresh(self, stem: str) -> str:
        return f"{stem}{len(self.nodes)}"

    def node(
        self,
        op: str,
        inputs: list[str],
        like: Tensor,
        exact: bool,
        shape: tuple[int, ...] | None = None,
        batch_axis: int | str | None = "same",
        **kw: Any,
    ) -> None:
        """A node whose float output is shaped like `like` (or `shape`, with its batch where
        `like` has it unless `batch_axis` says otherwise)."""
        out = self.fresh(op.lower())
        self.nodes.append(h.make_node(op, inputs, [out], name=out, **kw))
        axis = like.batch_axis if batch_axis == "same" else batch_axis
        assert axis is None or isinstance(axis, int)
        self.values.append(Tensor(out, like.shape if shape is None else shape, exact, axis))

    def helper_node(self, op: str, inputs: list[str], **kw: Any) -> str:
        """A node whose output is an intermediate (int64, bool, ...) used by the next node."""
        out = self.fresh(f"{op.lower()}_")
        self.nodes.append(h.make_node(op, inputs, [out], name=out, **kw))
        return out

    def const(self, array: np.ndarray) -> str:
        name = f"c{len(self.initializers)}"
        self.initializers.append(nh.from_array(array, name))
        return name

    def pick(self, exact: bool = False, sized_last: bool = False) -> Tensor:
        """A value (computed exactly, if `exact`); with `sized_last`, one whose last axis is
        not a dynamic batch (an op will size a weight or indices by it)."""
        pool = [v for v in self.values if (v.exact or not exact)]
        if sized_last and self.dynamic:
            pool = [v for v in pool if v.batch_axis != len(v.shape) - 1]
        return self.draw(st.sampled_from(pool or [self.values[0]]))

    def step(self) -> None:
        kind = self.draw(
            st.sampled_from(
                [
                    "exact_unary",
                    "exact_on_exact",
                    "inexact_unary",
                    "binary",
                    "compare",
                    "where",
                    "logic",
                    "reduce",
                    "softmax",
                    "layernorm",
                    "matmul",
                    "slice_concat",
                    "shape_reshape",
                    "expand",
                    "topk",
                    "argmax",
                    "gather",
                    "tile_pad",
                    "cumsum",
                    "transpose",
                ]
            )
        )
        getattr(self, kind)()

    def exact_unary(self) -> None:
        a = self.pick()
        self.node(self.draw(st.sampled_from(EXACT_UNARY)), [a.name], a, a.exact)

    def exact_on_exact(self) -> None:
        a = self.pick(exact=True)
        self.node(self.draw(st.sampled_from(EXACT_ON_EXACT)), [a.name], a, True)

    def inexact_unary(self) -> None:
        a = self.pick()
        self.node(self.draw(st.sampled_from(INEXACT_UNARY)), [a.name], a, False)

    def _partner(self, a: Tensor, exact: bool = False) -> Tensor:
        """A value of a's shape, or one that broadcasts against it ([..., 1])."""
        keyed = ((*a.shape[:-1], 1), a.batch_axis if a.batch_axis != len(a.shape) - 1 else None)
        pool = [v for v in self.values if v.key in (a.key, keyed) and (v.exact or not exact)]
        return self.draw(st.sampled_from(pool))

    def binary(self) -> None:
        a = self.pick()
        b = self._partner(a)
        op = self.draw(st.sampled_from(EXACT_BINARY))
        self.node(op, [a.name, b.name], a, a.exact and b.exact)

    def compare(self) -> None:
        a = self.pick(exact=True)
        b = self._partner(a, exact=True)
        flag = self.helper_node(self.draw(st.sampled_from(COMPARE)), [a.name, b.name])
        self.node("Cast", [flag], a, True, to=TP.FLOAT)

    def where(self) -> None:
        a = self.pick(exact=True)
        b = self._partner(a, exact=True)
        flag = self.helper_node("Greater", [a.name, b.name])
        self.node("Where", [flag, a.name, b.name], a, True)

    def logic(self) -> None:
        a = self.pick(exact=True)
        b = self._partner(a, exact=True)
        p = self.helper_node("Greater", [a.name, self.const(np.array(0.0, np.float32))])
        q = self.helper_node("Less", [b.name, self.const(np.array(0.5, np.float32))])
        op = self.draw(st.sampled_from(["And", "Or", "Xor"]))
        r = self.helper_node(op, [p, q])
        if self.draw(st.booleans()):
            r = self.helper_node("Not", [r])
        self.node("Cast", [r], a, True, to=TP.FLOAT)

    def reduce(self) -> None:
        a = self.pick()
        op = self.draw(st.sampled_from(["ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean"]))
        axes = self.const(np.array([-1], np.int64))
        exact = a.exact and op in ("ReduceMax", "ReduceMin")
        last = len(a.shape) - 1
        axis = None if a.batch_axis == last else a.batch_axis
        shape = (*a.shape[:-1], 1)
        self.node(op, [a.name, axes], a, exact, shape, axis, keepdims=1)

    def softmax(self) -> None:
        a = self.pick()
        self.node(self.draw(st.sampled_from(["Softmax", "LogSoftmax"])), [a.name], a, False)

    def layernorm(self) -> None:
        a = self.pick(sized_last=True)
        n = a.shape[-1]
        if n < 2:
            return
        scale = self.const(np.linspace(0.5, 1.5, n, dtype=np.float32))
        bias = self.const(np.linspace(-0.25, 0.25, n, dtype=np.float32))
        self.node("LayerNormalization", [a.name, scale, bias], a, False, axis=-1)

    def matmul(self) -> None:
        a = self.pick(sized_last=True)
        out = self.draw(st.integers(1, 5))
        seed = self.draw(st.integers(0, 2**31))
        w = np.random.default_rng(seed).uniform(-1, 1, (a.shape[-1], out)).astype(np.float32)
        self.node("MatMul", [a.name, self.const(w)], a, False, (*a.shape[:-1], out))

    def slice_concat(self) -> None:
        a = self.pick(sized_last=True)
        n = a.shape[-1]
        start = self.draw(st.integers(0, n - 1))
        stop = self.draw(st.integers(start + 1, n))
        starts, ends = (
            self.const(np.array([start], np.int64)),
            self.const(np.array([stop], np.int64)),
        )
        axes = self.const(np.array([-1], np.int64))
        part = self.helper_node("Slice", [a.name, starts, ends, axes])
        shape = (*a.shape[:-1], stop - start + n)
        self.node("Concat", [part, a.name], a, a.exact, shape, axis=-1)

    def shape_reshape(self) -> None:
        """A Reshape whose target shape is computed from another tensor's Shape (as exporters
        write `x.view(y.shape)`)."""
        a = self.pick()
        same = [
            v
            for v in self.values
            if np.prod(v.shape) == np.prod(a.shape)
            and (v.batch_axis is None) == (a.batch_axis is None)
        ]
        b = self.draw(st.sampled_from(same))
        shape = self.helper_node("Shape", [b.name])
        if self.draw(st.booleans()):  # through Gather and Concat, one dimension at a time
            dims = [
                self.helper_node("Gather", [shape, self.const(np.array([i], np.int64))], axis=0)
                for i in range(len(b.shape))
            ]
            shape = self.helper_node("Concat", dims, axis=0)
        self.node("Reshape", [a.name, shape], b, a.exact)

    def expand(self) -> None:
        keyed = [v for v in self.values if v.shape[-1] == 1]
        if not keyed:
            return
        a = self.draw(st.sampled_from(keyed))
        b = self.draw(st.sampled_from([v for v in self.values if len(v.shape) == len(a.shape)]))
        if any(x != 1 and x != y for x, y in zip(a.shape, b.shape, strict=True)):
            return
        if a.batch_axis not in (None, b.batch_axis):
            return
        self.node("Expand", [a.name, self.helper_node("Shape", [b.name])], b, a.exact)

    def topk(self) -> None:
        a = self.pick(exact=True, sized_last=True)
        k = self.draw(st.integers(1, a.shape[-1]))
        out_v, out_i = self.fresh("topk_v"), self.fresh("topk_i")
        name = self.fresh("topk")
        ks = self.const(np.array([k], np.int64))
        self.nodes.append(h.make_node("TopK", [a.name, ks], [out_v, out_i], name=name, axis=-1))
        shape = (*a.shape[:-1], k)
        self.values.append(Tensor(out_v, shape, True, a.batch_axis))
        self.node("Cast", [out_i], a, True, shape, to=TP.FLOAT)

    def argmax(self) -> None:
        a = self.pick(exact=True, sized_last=True)
        op = self.draw(st.sampled_from(["ArgMax", "ArgMin"]))
        index = self.helper_node(op, [a.name], axis=-1, keepdims=1)
        self.node("Cast", [index], a, True, (*a.shape[:-1], 1), to=TP.FLOAT)

    def gather(self) -> None:
        a = self.pick(sized_last=True)
        n = a.shape[-1]
        idx = self.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))
        index = self.const(np.array(idx, np.int64))
        shape = (*a.shape[:-1], len(idx))
        self.node("Gather", [a.name, index], a, a.exact, shape, axis=-1)

    def tile_pad(self) -> None:
        a = self.pick(sized_last=True)
        if self.draw(st.booleans()):
            repeats = self.const(np.array([1] * (len(a.shape) - 1) + [2], np.int64))
            shape = (*a.shape[:-1], 2 * a.shape[-1])
            self.node("Tile", [a.name, repeats], a, a.exact, shape)
            return
        pads = [0] * (2 * len(a.shape))
        pads[len(a.shape) - 1], pads[-1] = 1, 2
        mode = self.draw(st.sampled_from(["constant", "edge", "reflect"]))
        if mode == "reflect" and a.shape[-1] < 3:
            mode = "edge"
        pad = self.const(np.array(pads, np.int64))
        shape = (*a.shape[:-1], a.shape[-1] + 3)
        self.node("Pad", [a.name, pad], a, a.exact, shape, mode=mode)

    def cumsum(self) -> None:
        a = self.pick()
        axis = self.const(np.array(-1, np.int64))
        reverse = int(self.draw(st.booleans()))
        self.node("CumSum", [a.name, axis], a, False, reverse=reverse)

    def transpose(self) -> None:
        a = self.pick()
        perm = self.draw(st.permutations(list(range(len(a.shape)))))
        shape = tuple(a.shape[i] for i in perm)
        axis = None if a.batch_axis is None else perm.index(a.batch_axis)
        self.node("Transpose", [a.name], a, a.exact, shape, axis, perm=perm)


@st.composite
def onnx_graphs(draw: st.DrawFn, batch: int | str = B) -> tuple[onnx.ModelProto, list[str]]:
    """A random graph on x [T, batch, D] (a string batch is a dynamic one) and its outputs."""
    builder = RandomOnnx(draw, dynamic=isinstance(batch, str))
    for _ in range(draw(st.integers(1, 10))):
        builder.step()
    computed = [v for v in builder.values[1:]]
    if not computed:
        builder.exact_unary()
        computed = builder.values[1:]
    outputs = draw(st.lists(st.sampled_from(computed), min_size=1, max_size=2, unique=True))
    graph = h.make_graph(
        builder.nodes,
        "random",
        [h.make_tensor_value_info("x", TP.FLOAT, [T, batch, D])],
        [h.make_tensor_value_info(v.name, TP.FLOAT, _declared(v.shape, batch)) for v in outputs],
        initializer=builder.initializers,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model, [v.name for v in outputs]


def examples(count: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings of these tests: `count` examples, no deadline (imports vary)."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


def _declared(shape: tuple[int, ...], batch: int | str) -> list[int | None]:
    """An output's declared shape: its rank only under a dynamic batch (B = 3 could be any
    axis)."""
    return list(shape) if isinstance(batch, int) else [None] * len(shape)


@examples(150)
@given(data=st.data())
def test_random_standard_graphs_evaluate_as_onnxruntime(
    data: st.DataObject, tmp_path: Path
) -> None:
    dynamic = data.draw(st.booleans())
    model, outputs = data.draw(onnx_graphs("batch" if dynamic else B))
    path = tmp_path / "random.onnx"
    onnx.save(model, path)
    seed = data.draw(st.integers(0, 2**31))
    batch = data.draw(st.integers(1, 3)) if dynamic else B
    x = (np.round(np.random.default_rng(seed).uniform(-2, 2, (T, batch, D)) * 8) / 8).astype(
        np.float32
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = dict(zip(outputs, session.run(outputs, {"x": x}), strict=True))
    result = import_onnx(path)
    ours = evaluate(result.module, result.weights, {"x": x})
    text = "\n".join(
        f"{n.op_type}({', '.join(n.input)}) -> {n.output[0]}" for n in model.graph.node
    )
    for name in outputs:
        assert ours[name].shape == theirs[name].shape, (name, text)
        np.testing.assert_allclose(
            ours[name], theirs[name], rtol=1e-5, atol=1e-5, err_msg=f"{name}\n{text}"
        )


@examples(40)
@given(data=st.data())
def test_random_standard_graphs_run_exactly_on_every_target(
    data: st.DataObject, tmp_path: Path
) -> None:
    """A target runs what it has no unit for on its fallback unit: outputs equal the
    reference interpreter's exactly."""
    model, outputs = data.draw(onnx_graphs())
    path = tmp_path / "random.onnx"
    onnx.save(model, path)
    x = (np.round(np.random.default_rng(0).uniform(-2, 2, (T, B, D)) * 8) / 8).astype(np.float32)
    result = import_onnx(path)
    expected = evaluate(result.module, result.weights, {"x": x})
    target = data.draw(st.sampled_from(target_names()))
    variant = data.draw(st.sampled_from(sorted(load_target(target).variants)))
    program = tmp_path / f"{target}-{variant}"
    compile_model(str(path), target, program, variant=variant)
    run = run_sample_program(program, x)
    for name in outputs:
        assert np.array_equal(run.outputs[name], expected[name]), (target, variant, name)
