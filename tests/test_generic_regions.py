"""Generic regions: a neuron in SpikingJelly form whose charge matches no neuron model stays ONNX,
as one model-local function `spike.UnraisedK` that the frontend imports as `spike.onnx_region`;
the reference interpreter and every target's fallback unit run it with `onnx.reference`, bit for
bit what onnxruntime computes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from compiler.dialects import spike
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from runtime.onnx_region import decode_body, run_region
from targets.workload import region_work
from tests.conftest import run_cli, run_sample_program
from tests.test_raising import BASE, _input, _neuron, _run

# (X - V) * 1.25: a growth of no τ and no ParametricLIF decay; a MatMul after it, so that the
# region feeds a layer
NEAR_MISS = replace(BASE, leak_factor=1.25, batch=3, downstream=True)
T, B, N = 4, 3, 8


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generic") / "near_miss.onnx"
    onnx.save(_neuron(NEAR_MISS), path)
    return path


@pytest.fixture(scope="module")
def reference(model_path: Path) -> np.ndarray:
    return _run(onnx.load(model_path), {"x": _input(NEAR_MISS)})["y"]


def test_import_keeps_the_neuron_as_one_region(model_path: Path, reference: np.ndarray) -> None:
    result = import_onnx(model_path)
    regions = [op for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    assert len(regions) == 1
    (region,) = regions
    assert region.region_name.data == "Unraised0"
    assert region.reason.data.startswith("not raised: the charge matches no neuron model")
    assert list(region.outputs[0].type.get_shape()) == [T, B, N]
    function = decode_body(region.body.data)
    assert {n.op_type for n in function.node} >= {"Slice", "GreaterOrEqual", "Concat"}
    assert not function.node[0].input  # the constants are Constant nodes of the body
    got = evaluate(result.module, result.weights, {"x": _input(NEAR_MISS)})["y"]
    assert np.array_equal(got, reference)


def test_evaluator_counts_every_body_node(model_path: Path) -> None:
    result = import_onnx(model_path)
    (region,) = [op for op in result.module.walk() if isinstance(op, spike.OnnxRegionOp)]
    body = region.body.data
    run = run_region(body, [_input(NEAR_MISS)])
    assert run.outputs[0].dtype == np.float32 and run.outputs[0].shape == (T, B, N)
    ops = [op for op, _ in run.node_elements]
    step = B * N
    assert dict(run.node_elements) and ops.count("GreaterOrEqual") == T
    work = region_work(body, [(T, B, N)])
    assert work.compares == T * step  # one comparison per neuron and step
    assert work.logic == T * step  # the cast of each
    assert work.adds > 0 and work.mults > 0 and work.specials == 0


@pytest.mark.parametrize(
    ("target", "variant", "opcode"),
    [
        ("sparse", "sparse", "VEC.ONNX_REGION"),
        ("stacked3d", "3d", "VEC.ONNX_REGION"),
        ("xpikeformer", "xpikeformer", "DIG.ONNX_REGION"),
        ("xpikeformer", "digital-ann", "ANN.ONNX_REGION"),
    ],
)
def test_targets_run_the_region_on_their_fallback_unit(
    target: str,
    variant: str,
    opcode: str,
    model_path: Path,
    reference: np.ndarray,
    tmp_path: Path,
) -> None:
    path = tmp_path / f"{target}.{variant}"
    compile_model(str(model_path), target, path, variant=variant)
    assert opcode in (path / "program.sasm").read_text()
    run = run_sample_program(path, _input(NEAR_MISS))
    np.testing.assert_array_equal(run.outputs["y"], reference)
    (record,) = [r for r in run.record.records if r.opcode == opcode]
    assert record.cost.cycles > 0
    if variant != "digital-ann":
        metrics = record.cost.metrics
        assert metrics.membrane_updates == T * B * N
        assert metrics.neurons == T * B * N
        assert 0 < metrics.spikes < T * B * N


def test_explain_lists_the_region(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["import", model_path, "--explain"], capsys)
    assert code == 0, err
    assert "left generic: 1" in err
    assert "(kept as generic region Unraised0)" in err
    assert '"spike.onnx_region"' in out
