"""Generic ops: a standard ONNX node that has no dedicated `spike` op, or whose dedicated op
refuses it, is imported as it is (a one-node `spike.onnx_region`) instead of refusing the model.
Each model here mixes such nodes with dedicated ones; the reference interpreter must match
onnxruntime and every target's run must match the reference exactly."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh
from xdsl.dialects import func

from compiler.dialects import spike
from compiler.frontend.coverage import coverage
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from runtime.onnx_region import decode_body, node_work
from targets import load_target, target_names
from targets.workload import region_work
from tests.conftest import checked_reference, run_cli, run_sample_program

T, B, D = 4, 2, 8
RNG = np.random.default_rng(7)


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return nh.from_array(RNG.standard_normal(shape).astype(np.float32), name)


def _i(name: str, values: list[int] | int) -> onnx.TensorProto:
    return nh.from_array(np.asarray(values, dtype=np.int64), name)


def _model(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    *,
    x: list[int | str] | None = None,
    y: list[int | str] | None = None,
    opset: int = 17,
    y_type: int = TP.FLOAT,
) -> onnx.ModelProto:
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", TP.FLOAT, x or [T, B, D])],
        [h.make_tensor_value_info("y", y_type, y or x or [T, B, D])],
        inits,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def activations() -> onnx.ModelProto:
    """Elementwise functions spikec has no op for, between two linear layers."""
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["m"]),
        h.make_node("Sigmoid", ["m"], ["a"]),
        h.make_node("Erf", ["m"], ["b"]),
        h.make_node("Tanh", ["m"], ["c"]),
        h.make_node("Relu", ["m"], ["r"]),
        h.make_node("Gelu", ["m"], ["g"], approximate="tanh"),
        h.make_node("Softmax", ["m"], ["s"], axis=-1),
        h.make_node("Clip", ["m", "lo", "hi"], ["k"]),
        h.make_node("Sum", ["a", "b", "c", "r", "g", "s", "k"], ["z"]),
        h.make_node("MatMul", ["z", "w2"], ["y"]),
    ]
    lo = nh.from_array(np.array(-0.5, np.float32), "lo")
    hi = nh.from_array(np.array(0.7, np.float32), "hi")
    return _model(nodes, [_w("w1", D, D), _w("w2", D, D), lo, hi], opset=20)


def indices() -> onnx.ModelProto:
    """Integer and boolean values at run time: TopK, ArgMax, integer division, Gather by
    computed indices, Where, CumSum; a constant Range folded at import."""
    nodes = [
        h.make_node("TopK", ["x", "k"], ["tv", "ti"], axis=-1),
        h.make_node("ArgMax", ["x"], ["am"], axis=-1, keepdims=1),
        h.make_node("ArgMin", ["x"], ["an"], axis=-1, keepdims=1),
        h.make_node("Add", ["an", "two"], ["divisor"]),
        h.make_node("Div", ["am", "divisor"], ["half"]),  # int64 by int64: floors
        h.make_node("Cast", ["half"], ["halff"], to=TP.FLOAT),
        h.make_node("GatherElements", ["x", "ti"], ["picked"], axis=2),
        h.make_node("ReduceSum", ["picked", "last"], ["ps"], keepdims=1),
        h.make_node("Greater", ["x", "ps"], ["gt"]),
        h.make_node("Range", ["zero", "d", "one"], ["rng"]),
        h.make_node("Cast", ["rng"], ["rngf"], to=TP.FLOAT),
        h.make_node("Where", ["gt", "rngf", "x"], ["w"]),
        h.make_node("CumSum", ["w", "axis"], ["cs"]),
        h.make_node("Add", ["cs", "halff"], ["y"]),
    ]
    inits = [
        _i("k", [3]),
        _i("two", 2),
        _i("last", [-1]),
        _i("axis", -1),
        _i("zero", 0),
        _i("d", D),
        _i("one", 1),
    ]
    return _model(nodes, inits)


def folded() -> onnx.ModelProto:
    """Generic ops on a time-folded `[T*B, C, H, W]` tensor between a Conv and the Reshape back."""
    nodes = [
        h.make_node("Reshape", ["x", "fold"], ["xf"]),
        h.make_node("Conv", ["xf", "wc"], ["c"], pads=[1, 1, 1, 1]),
        h.make_node("HardSwish", ["c"], ["hs"]),
        h.make_node("Pad", ["hs", "pads"], ["p"], mode="reflect"),
        h.make_node("Reshape", ["p", "unfold"], ["y"]),
    ]
    inits = [
        _i("fold", [T * B, 2, 4, 4]),
        _w("wc", 3, 2, 3, 3),
        _i("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
        _i("unfold", [T, B, 3, 6, 6]),
    ]
    return _model(nodes, inits, x=[T, B, 2, 4, 4], y=[T, B, 3, 6, 6])


def control_flow() -> onnx.ModelProto:
    """A Loop whose body reads an activation of the enclosing graph, an If, an Einsum."""
    body = h.make_graph(
        [
            h.make_node("Mul", ["acc_in", "half"], ["scaled"]),
            h.make_node("Add", ["scaled", "m"], ["acc_out"]),  # m: read from the outer graph
            h.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            h.make_tensor_value_info("i", TP.INT64, []),
            h.make_tensor_value_info("cond_in", TP.BOOL, []),
            h.make_tensor_value_info("acc_in", TP.FLOAT, [T, B, D]),
        ],
        [
            h.make_tensor_value_info("cond_out", TP.BOOL, []),
            h.make_tensor_value_info("acc_out", TP.FLOAT, [T, B, D]),
        ],
        [nh.from_array(np.array(0.5, np.float32), "half")],
    )
    then = h.make_graph(
        [h.make_node("Neg", ["e"], ["t_out"])],
        "then",
        [],
        [h.make_tensor_value_info("t_out", TP.FLOAT, [T, B, D])],
    )
    other = h.make_graph(
        [h.make_node("Abs", ["e"], ["o_out"])],
        "else",
        [],
        [h.make_tensor_value_info("o_out", TP.FLOAT, [T, B, D])],
    )
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["m"]),
        h.make_node("Loop", ["trips", "true", "m"], ["acc"], body=body),
        h.make_node("Einsum", ["acc", "w2"], ["e"], equation="tbi,ij->tbj"),
        h.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        h.make_node("Greater", ["total", "zero"], ["positive"]),
        h.make_node("If", ["positive"], ["y"], then_branch=then, else_branch=other),
    ]
    inits = [
        _w("w1", D, D),
        _w("w2", D, D),
        _i("trips", 3),
        nh.from_array(np.array(True), "true"),
        nh.from_array(np.array(0.0, np.float32), "zero"),
    ]
    return _model(nodes, inits)


def dynamic_batch() -> onnx.ModelProto:
    """A dynamic batch `N` through generic ops (their shapes keep it `?`)."""
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["m"]),
        h.make_node("Softplus", ["m"], ["s"]),
        h.make_node("TopK", ["s", "k"], ["y", "ti"], axis=-1),
    ]
    return _model(nodes, [_w("w1", D, D), _i("k", [5])], x=[T, "N", D], y=[T, "N", 5])


def untimed_ann() -> onnx.ModelProto:
    """An ANN on `[N, D]`: no time axis at all (it is given one of T = 1)."""
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["a"]),
        h.make_node("Relu", ["a"], ["r"]),
        h.make_node("MatMul", ["r", "w2"], ["l"]),
        h.make_node("Softmax", ["l"], ["y"], axis=-1),
    ]
    return _model(nodes, [_w("w1", D, 6), _w("w2", 6, 3)], x=["N", D], y=["N", 3])


def untimed_repeat() -> onnx.ModelProto:
    """An image `[N, 2, 3]` repeated over T by an Expand to a shape computed at run time (which
    the repeated-input raising does not take) and averaged over time: imported with T = 1."""
    nodes = [
        h.make_node("Unsqueeze", ["x", "zero"], ["u"]),
        h.make_node("Shape", ["x"], ["xs"]),
        h.make_node("Concat", ["t", "xs"], ["target"], axis=0),
        h.make_node("Expand", ["u", "target"], ["e"]),
        h.make_node("CumSum", ["e", "zero_axis"], ["c"]),
        h.make_node("ReduceMean", ["c"], ["y"], axes=[0], keepdims=0),
    ]
    inits = [_i("zero", [0]), _i("t", [T]), nh.from_array(np.asarray(0, np.int64), "zero_axis")]
    return _model(nodes, inits, x=["N", 2, 3], y=["N", 2, 3])


def batched_matmul() -> onnx.ModelProto:
    """A MatMul by a 3-D weight (one matrix a timestep), which no dedicated op takes."""
    nodes = [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Softmax", ["m"], ["y"])]
    return _model(nodes, [_w("w", T, D, D)])


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "batched_matmul": batched_matmul,
    "untimed_ann": untimed_ann,
    "untimed_repeat": untimed_repeat,
    "activations": activations,
    "indices": indices,
    "folded": folded,
    "control_flow": control_flow,
    "dynamic_batch": dynamic_batch,
}
DESIGNS = [(name, variant) for name in target_names() for variant in load_target(name).variants]


def _input(model: onnx.ModelProto) -> np.ndarray:
    dims = [d.dim_value or 3 for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(11).standard_normal(dims).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray]]:
    folder = tmp_path_factory.mktemp("generic_ops")
    out = {}
    for name, build in MODELS.items():
        model = build()
        onnx.save(model, folder / f"{name}.onnx")
        out[name] = (folder / f"{name}.onnx", _input(model))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_matches_onnxruntime(
    name: str, saved: dict[str, tuple[Path, np.ndarray]]
) -> None:
    path, x = saved[name]
    result = import_onnx(path)
    generic = [op for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    assert generic, "the model is meant to need generic ops"
    assert all(op.region_name.data.startswith("Generic") for op in generic)
    checked_reference(path, {"x": x})


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize(("target", "variant"), DESIGNS)
def test_every_target_runs_generic_ops_exactly(
    name: str,
    target: str,
    variant: str,
    saved: dict[str, tuple[Path, np.ndarray]],
    tmp_path: Path,
) -> None:
    path, x = saved[name]
    result = import_onnx(path)
    expected = evaluate(result.module, result.weights, {"x": x})
    program = tmp_path / "program"
    compile_model(str(path), target, program, variant=variant)
    run = run_sample_program(program, x)
    for key, value in expected.items():
        assert np.array_equal(run.outputs[key], value), key
    regions = [r for r in run.record.records if r.opcode.endswith("ONNX_REGION")]
    assert regions and all(r.end > r.start for r in regions)
    assert sum(item.picojoules for r in regions for item in r.cost.items) > 0


def test_dedicated_ops_are_kept_where_they_apply(saved: dict[str, tuple[Path, np.ndarray]]) -> None:
    result = import_onnx(saved["activations"][0])
    ops = [op.name for op in result.module.walk()]
    assert ops.count("spike.linear") == 2  # the MatMuls stay dedicated
    reasons = [op.reason.data for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    assert any(r.endswith("(Sigmoid): no dedicated spike op for Sigmoid") for r in reasons)


def test_explain_lists_each_generic_op_and_why(
    saved: dict[str, tuple[Path, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["import", saved["activations"][0], "--explain"], capsys)
    assert code == 0, err
    lines = err.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("generic ops: "))
    listed = [line for line in lines[header + 1 :] if line.startswith("  Generic")]
    assert lines[-1].startswith("coverage: ") and "in dedicated spike ops" in lines[-1]
    assert lines[header] == f"generic ops: {len(listed)}, each one ONNX node run as it is " + (
        "(onnx.reference)"
    )
    assert any(
        re.fullmatch(r"  Generic\d+: node '.*' \(Gelu\): no dedicated spike op for Gelu", x)
        for x in listed
    ), listed


def test_integer_arithmetic_is_not_done_in_float(saved: dict[str, tuple[Path, np.ndarray]]) -> None:
    """`Div` of int64 values floors: it must not become spikec's float division."""
    result = import_onnx(saved["indices"][0])
    regions = [op for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    divisions = [
        r for r in regions if any(n.op_type == "Div" for n in decode_body(r.body.data).node)
    ]
    assert len(divisions) == 1
    assert "is int64, not float32" in divisions[0].reason.data
    assert not [op for op in result.module.walk() if op.name == "spike.div"]


def test_folded_generic_ops_keep_time_major_ir(saved: dict[str, tuple[Path, np.ndarray]]) -> None:
    result = import_onnx(saved["folded"][0])
    regions = [op for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    assert [list(r.outputs[0].type.get_shape()) for r in regions] == [
        [T, B, 3, 4, 4],
        [T, B, 3, 6, 6],
    ]


def test_untimed_inputs_are_given_a_time_axis(
    saved: dict[str, tuple[Path, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    result = import_onnx(saved["untimed_ann"][0])
    (main,) = [op for op in result.module.walk() if isinstance(op, func.FuncOp)]
    assert str(main.function_type.inputs.data[0]) == f"tensor<1x?x{D}xf32>"
    assert result.raising.untimed_inputs == ["x"]
    code, _, err = run_cli(["import", saved["untimed_repeat"][0], "--explain"], capsys)
    assert code == 0, err
    assert "input 'x' has no time axis: given one of T = 1" in err


def test_coverage_counts_nodes_and_synaptic_operations(
    saved: dict[str, tuple[Path, np.ndarray]],
) -> None:
    ann = coverage(import_onnx(saved["untimed_ann"][0]).module)
    # the MatMuls are dedicated, Relu and Softmax generic (the step-0 read is not the export's)
    assert (ann.export_nodes, ann.dedicated_nodes, ann.generic_nodes) == (4, 2, 2)
    assert (ann.dedicated_synops, ann.generic_synops) == (D * 6 + 6 * 3, 0)
    assert ann.node_share == 0.5 and ann.synop_share == 1.0
    batched = coverage(import_onnx(saved["batched_matmul"][0]).module)
    assert batched.generic_synops == T * B * D * D  # one run: B is static here
    assert batched.dedicated_synops == 0 and batched.synop_share == 0.0
    # an Expand to a shape computed at run time cannot run on zeros: shapes are inferred
    repeat = coverage(import_onnx(saved["untimed_repeat"][0]).module)
    assert repeat.generic_synops == 0 and repeat.generic_nodes == 6


def test_dynamic_batch_stays_dynamic(saved: dict[str, tuple[Path, np.ndarray]]) -> None:
    result = import_onnx(saved["dynamic_batch"][0])
    (main,) = [op for op in result.module.walk() if isinstance(op, func.FuncOp)]
    assert "?" in str(main.function_type)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((T, batch, D)).astype(np.float32)
        checked_reference(saved["dynamic_batch"][0], {"x": x})


def test_region_work_counts_products_and_reductions(tmp_path: Path) -> None:
    """A generic MatMul is priced by its multiply-accumulates, a Softmax per element."""
    result = import_onnx(
        _save_tmp(
            tmp_path,
            _model(
                [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Softmax", ["m"], ["y"])],
                [
                    nh.from_array(RNG.standard_normal((T, D, D)).astype(np.float32), "w")
                ],  # batched: generic
            ),
        )
    )
    regions = [op for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    assert [decode_body(r.body.data).node[-2].op_type for r in regions] == ["MatMul", "Softmax"]
    shapes = [(T, B, D)]  # the 3-D weight is small: a constant of the body
    (matmul,) = [w for w in node_work(regions[0].body.data, tuple(shapes)) if w.op_type == "MatMul"]
    assert matmul.macs == T * B * D * D
    work = region_work(regions[0].body.data, shapes)
    assert (work.mults, work.adds) == (T * B * D * D, T * B * D * D)
    softmax = region_work(regions[1].body.data, [(T, B, D)])
    assert softmax.specials == T * B * D and softmax.adds == 2 * T * B * D


def _save_tmp(folder: Path, model: onnx.ModelProto) -> Path:
    path = folder / "m.onnx"
    onnx.save(model, path)
    return path


def test_non_float_output_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(
        [h.make_node("ArgMax", ["x"], ["y"], axis=-1, keepdims=1)], [], y=[T, B, 1], y_type=TP.INT64
    )
    onnx.save(model, tmp_path / "argmax.onnx")
    code, _, err = run_cli(["import", tmp_path / "argmax.onnx"], capsys)
    assert code == 2
    assert "output 'y'" in err and "int64" in err and "float32" in err
    assert "Traceback" not in err


def test_integers_float32_cannot_hold_are_refused_at_run_time(tmp_path: Path) -> None:
    """An int64 value beyond 2^24 that leaves a generic op would be rounded as float32."""
    model = _model(
        [
            h.make_node("Cast", ["x"], ["xi"], to=TP.INT64),
            h.make_node("Mul", ["xi", "big"], ["yi"]),
            h.make_node("Cast", ["yi"], ["y"], to=TP.FLOAT),
        ],
        [_i("big", 1 << 26)],
    )
    onnx.save(model, tmp_path / "big.onnx")
    result = import_onnx(tmp_path / "big.onnx")
    x = np.full((T, B, D), 3.0, np.float32)
    with pytest.raises(Exception, match="float32 cannot hold exactly"):
        evaluate(result.module, result.weights, {"x": x})
