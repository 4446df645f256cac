"""The bundled samples: reference interpreter == onnxruntime, realistic firing rates, dynamic
batch, and IR that round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.compare import agreement, run_onnxruntime
from compiler.dialects.spike.types import is_spike
from compiler.driver import parse_ir, print_ir
from compiler.frontend.onnx_import import ImportResult, import_onnx
from compiler.reference import ActivityRecorder, evaluate, main_function
from tests.conftest import SAMPLES

NAMES = ["spikformer", "sdt", "xpikeformer", "moe"]


@pytest.fixture(scope="module", params=NAMES)
def sample(request: pytest.FixtureRequest) -> tuple[Path, ImportResult, np.ndarray]:
    path = SAMPLES / f"{request.param}.onnx"
    return path, import_onnx(path), np.load(SAMPLES / f"{request.param}_input.npy")


def _matches_onnxruntime(path: Path, result: ImportResult, x: np.ndarray) -> None:
    ours = evaluate(result.module, result.weights, {"x": x})
    theirs = run_onnxruntime(str(path), {"x": x})
    kinds = main_function(result.module).function_type.outputs.data
    for (name, value), kind in zip(ours.items(), kinds, strict=True):
        ok, account = agreement(is_spike(kind), value, theirs[name])
        assert ok, f"{path.name} {name}: {account}"


def test_matches_onnxruntime(sample: tuple[Path, ImportResult, np.ndarray]) -> None:
    _matches_onnxruntime(*sample)


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_is_dynamic(batch: int, sample: tuple[Path, ImportResult, np.ndarray]) -> None:
    path, result, x = sample
    assert "?" in str(main_function(result.module).function_type.inputs.data[0])
    other = np.random.default_rng(batch).permutation(np.resize(x[:, :1], x[:, :1].shape))
    stacked = np.ascontiguousarray(np.concatenate([x[:, :1], other] * 2, axis=1)[:, :batch])
    _matches_onnxruntime(path, result, stacked)


def test_firing_rates_are_realistic(sample: tuple[Path, ImportResult, np.ndarray]) -> None:
    _, result, x = sample
    recorder = ActivityRecorder()
    evaluate(result.module, result.weights, {"x": x}, (recorder,))
    assert len(recorder.records) >= 10
    for record in recorder.records:
        assert 0.05 <= record.rate <= 0.30, f"{record.label}: {100 * record.rate:.1f} %"


def test_ir_round_trips(sample: tuple[Path, ImportResult, np.ndarray]) -> None:
    _, result, _ = sample
    for generic in (False, True):
        text = print_ir(result.module, generic=generic)
        assert print_ir(parse_ir(text, "sample.mlir"), generic=generic) == text
