"""The bundled samples: the reference interpreter equals onnxruntime (every spike identical,
logits within 1e-5 relative) at the bundled batch and at batch 1 and 3, every spiking layer
fires at a realistic rate, the IR round-trips, and the builders take other sizes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from compiler.frontend.onnx_import import ImportResult, import_onnx
from compiler.interpreters.oracle import agreement, run_onnxruntime
from compiler.interpreters.reference import ActivityRecorder, evaluate, main_function
from compiler.ir.parse import parse_ir
from compiler.ir.printer import print_ir
from samples import builders
from samples.generate import check_against_onnxruntime, sample_input
from tests.conftest import SAMPLES

NAMES = ["spikformer", "sdt", "xpikeformer", "moe"]

Sample = tuple[Path, ImportResult, np.ndarray]


@pytest.fixture(scope="module", params=NAMES)
def sample(request: pytest.FixtureRequest) -> Sample:
    path = SAMPLES / f"{request.param}.onnx"
    return path, import_onnx(path), np.load(SAMPLES / f"{request.param}_input.npy")


def test_matches_onnxruntime(sample: Sample, tmp_path: Path) -> None:
    path, result, x = sample
    assert x.dtype == np.float32 and x.shape[:2] == (4, 2)
    check_against_onnxruntime(path, result, x, tmp_path)


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_is_dynamic(batch: int, sample: Sample, tmp_path: Path) -> None:
    path, result, x = sample
    assert "?" in str(main_function(result.module).function_type.inputs.data[0])
    other = sample_input((x.shape[0], batch, *x.shape[2:]), seed=300 + batch)
    check_against_onnxruntime(path, result, other, tmp_path)


def test_firing_rates_are_realistic(sample: Sample) -> None:
    _, result, x = sample
    recorder = ActivityRecorder()
    evaluate(result.module, result.weights, {"x": x}, (recorder,))
    assert len(recorder.records) >= 10
    outside = {
        r.label: f"{100 * r.rate:.1f} %" for r in recorder.records if not 0.05 <= r.rate <= 0.30
    }
    assert not outside


def test_ir_round_trips(sample: Sample) -> None:
    _, result, _ = sample
    for generic in (False, True):
        text = print_ir(result.module, generic=generic)
        assert print_ir(parse_ir(text, "sample.mlir"), generic=generic) == text


Build = Callable[..., tuple[onnx.ModelProto, list[builders.Step]]]
OTHER_SIZES: list[tuple[Build, dict[str, int], tuple[int, ...]]] = [
    (builders.spikformer, {"blocks": 1, "dim": 32, "heads": 2, "image": 16}, (3, 16, 16)),
    (builders.sdt, {"blocks": 1, "dim": 32, "heads": 2, "image": 16}, (3, 16, 16)),
    (builders.xpikeformer, {"blocks": 3, "dim": 32, "heads": 2, "tokens": 8, "patch": 12}, (8, 12)),
    (
        builders.moe,
        {"blocks": 3, "dim": 32, "heads": 4, "tokens": 8, "experts": 3, "k": 1},
        (8, 48),
    ),
]
"""Sizes other than the samples' (and T = 3, 5 classes), with the input's shape after [T, B]."""


@pytest.mark.parametrize("build, sizes, item", OTHER_SIZES, ids=NAMES)
def test_builders_take_other_sizes(
    build: Build, sizes: dict[str, int], item: tuple[int, ...], tmp_path: Path
) -> None:
    model, _ = build(**sizes, timesteps=3, classes=5, seed=7)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    result = import_onnx(path)
    x = sample_input((3, 2, *item), seed=1)
    ours = evaluate(result.module, result.weights, {"x": x})["logits"]
    ok, account = agreement(False, ours, run_onnxruntime(str(path), {"x": x})["logits"])
    assert ours.shape == (2, 5) and ok, account
