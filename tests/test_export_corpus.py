"""Every file of the export corpus (samples/export: SpikingJelly, snnTorch and Norse models, both
torch.onnx exporters, dynamic batch, opset 20, a weights sidecar) imports; the reference
interpreter gives onnxruntime's logits on the digits test split, every design runs the program
with outputs equal to the reference, and the raising passes raise the neurons and attention
blocks listed below. The figures are the corpus's, so a change that loses a raise fails here."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.coverage import coverage
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from targets import load_target, target_names
from tests.conftest import SAMPLES, checked_reference, run_sample_program

EXPORTS = SAMPLES / "export"
FILES = sorted(EXPORTS.glob("*.onnx"))
DESIGNS = [(name, variant) for name in target_names() for variant in load_target(name).variants]

SPIKFORMER = {"LIF": 10, "SSA": 1}
SJ_NEURONS = {"IF": 1, "LIF": 3}  # ParametricLIFNode, soft reset and decay_input=False: LIF
RAISED: dict[str, dict[str, int]] = {
    "norse_dt.dynamo": {"CubaLIF": 2},
    "norse_dt.torchscript": {"CubaLIF": 2},
    "norse_lif.dynamo": {"CubaLIF": 2},
    "norse_lif.torchscript": {"CubaLIF": 2},
    "sj_hybrid.dynamo": {"LIF": 4},
    "sj_hybrid.torchscript": {"LIF": 4},
    "sj_neurons.dynamo": SJ_NEURONS,
    "sj_neurons.dynamo_batch": SJ_NEURONS,
    "sj_neurons.torchscript": SJ_NEURONS,
    "sj_neurons.torchscript_batch": SJ_NEURONS,
    "sj_neurons.torchscript_opset20": SJ_NEURONS,
    "sj_qkformer.dynamo": {"LIF": 25, "TokenAttention": 2, "SSA": 1},
    "sj_qkformer.torchscript": {"LIF": 25, "TokenAttention": 2, "SSA": 1},
    "sj_sdt.dynamo": {"LIF": 12, "SDSA": 1},
    "sj_sdt.torchscript": {"LIF": 12, "SDSA": 1},
    "sj_semm_moe.dynamo": {"LIF": 3, "MoE": 1},
    "sj_semm_moe.torchscript": {"LIF": 3, "MoE": 1},
    "sj_spikformer.dynamo": SPIKFORMER,
    "sj_spikformer.dynamo_batch": SPIKFORMER,
    "sj_spikformer.dynamo_opset20": SPIKFORMER,
    "sj_spikformer.dynamo_sidecar": SPIKFORMER,
    "sj_spikformer.torchscript": SPIKFORMER,  # Q, K, V sliced out of one fused neuron
    "sj_topk_moe.dynamo": {"LIF": 5, "MoE": 1},
    "sj_topk_moe.torchscript": {"LIF": 5, "MoE": 1},
    "snntorch_attention.dynamo": {"Leaky": 6, "SSA": 1},
    "snntorch_attention.torchscript": {"Leaky": 6, "SSA": 1},
    "snntorch_neurons.dynamo": {"Synaptic": 1, "Leaky": 1},
    "snntorch_neurons.torchscript": {"Synaptic": 1, "Leaky": 1},
}


def _stem(path: Path) -> str:
    return path.name.removesuffix(".onnx")


def _images() -> np.ndarray:
    return np.load(EXPORTS / "digits_test_x.npy")


def test_every_file_is_listed() -> None:
    assert {_stem(p) for p in FILES} == set(RAISED)
    manifest = json.loads((EXPORTS / "manifest.json").read_text())
    assert {f"{m}.{e}" for m, v in manifest.items() for e, s in v["exporters"].items()} >= set(
        RAISED
    )


@pytest.mark.parametrize("path", FILES, ids=_stem)
def test_export_imports_raised_and_equal_to_onnxruntime(path: Path) -> None:
    result = import_onnx(path)
    kinds: dict[str, int] = {}
    for raised in result.raising.raised:
        kinds[raised.kind] = kinds.get(raised.kind, 0) + 1
    assert kinds == RAISED[_stem(path)], result.raising.lines()
    share = coverage(result.module)
    assert share.dedicated_synops > 0 and share.generic_synops == 0
    checked_reference(path, {"x": _images()})


@functools.cache
def _expected(path: Path) -> dict[str, np.ndarray]:
    result = import_onnx(path)
    return evaluate(result.module, result.weights, {"x": _images()})


@pytest.mark.parametrize(("target", "variant"), DESIGNS)
@pytest.mark.parametrize("path", FILES, ids=_stem)
def test_every_design_runs_the_export_exactly(
    path: Path, target: str, variant: str, tmp_path: Path
) -> None:
    x = _images()
    expected = _expected(path)
    program = tmp_path / "program"
    compile_model(str(path), target, program, variant=variant)
    run = run_sample_program(program, x)
    assert run.outputs.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(run.outputs[key], value), key
