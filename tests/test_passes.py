"""Every pass, and every pipeline the targets compose, leaves the reference semantics identical
on every sample; plus the CLI's IR dumps and the files that derived weights go to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.ir.parse import parse_ir
from compiler.ir.printer import print_ir
from compiler.ir.weights import WeightStore
from compiler.transforms.pipeline import run_pipeline
from tests.conftest import SAMPLES, run_cli

NAMES = ["spikformer", "sdt", "xpikeformer", "moe"]

SINGLE_PASSES = [
    "sparsity-encoding",
    "sparsity-encoding{consumers=linear,maxpool producers=lif}",
    "partition-heads{units=1}",
    "partition-heads{units=3}",
    "partition-heads{units=16 policy=balanced}",
    "partition-experts{units=1}",
    "partition-experts{units=3 policy=balanced}",
    "partition-experts{units=9 policy=balanced}",
    "tier-map{tiers=1}",
    "tier-map{tiers=2 mode=memory-on-logic neuron-tier=1}",
    "fold-batchnorm",
    "decompose",
    "canonicalize",
    "cse",
    "dce",
]

PIPELINES = {
    "sparse": "fold-batchnorm,sparsity-encoding{consumers=linear,conv2d,maxpool,sdsa,add,mul "
    "producers=lif},canonicalize,dce",
    "stacked3d-3d": "fold-batchnorm,partition-heads{units=8 policy=balanced},"
    "partition-experts{units=4},tier-map{tiers=2 neuron-tier=1},canonicalize,dce",
    "stacked3d-lol": "partition-heads{units=4},partition-experts{units=6 policy=balanced},"
    "tier-map{tiers=2 mode=logic-on-logic},sparsity-encoding",
    "stacked3d-2d": "fold-batchnorm,partition-heads{units=8},partition-experts{units=4},"
    "tier-map{tiers=1},canonicalize,dce",
    "xpikeformer": "fold-batchnorm,partition-heads{units=4},decompose{ops=moe},canonicalize,dce",
    "fallback": "decompose,sparsity-encoding,canonicalize,cse,dce",
}


@pytest.fixture(scope="module", params=NAMES)
def sample(request: pytest.FixtureRequest) -> tuple[ModuleOp, WeightStore, dict[str, np.ndarray]]:
    result = import_onnx(SAMPLES / f"{request.param}.onnx")
    x = {"x": np.load(SAMPLES / f"{request.param}_input.npy")}
    return result.module, result.weights, x


def _reference(module: ModuleOp, weights: WeightStore, x: dict[str, np.ndarray]) -> dict:
    return evaluate(module, weights, x)


def _identical(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        assert np.array_equal(before[name], after[name]), name


@pytest.mark.parametrize("spec", SINGLE_PASSES)
def test_each_pass_preserves_semantics(
    spec: str, sample: tuple[ModuleOp, WeightStore, dict[str, np.ndarray]]
) -> None:
    module, weights, x = sample
    transformed = module.clone()
    run_pipeline(transformed, spec)
    transformed.verify()
    _identical(
        _reference(module, weights, x),
        evaluate(transformed, WeightStore.for_module(transformed), x),
    )


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_target_pipelines_preserve_semantics_and_round_trip(
    pipeline: str, sample: tuple[ModuleOp, WeightStore, dict[str, np.ndarray]]
) -> None:
    module, weights, x = sample
    transformed = module.clone()
    run_pipeline(transformed, PIPELINES[pipeline])
    text = print_ir(transformed)
    reparsed = parse_ir(text, "pipeline.mlir")
    assert print_ir(reparsed) == text
    _identical(
        _reference(module, weights, x), evaluate(reparsed, WeightStore.for_module(reparsed), x)
    )


def test_partitioning_records_assignments(
    sample: tuple[ModuleOp, WeightStore, dict[str, np.ndarray]],
) -> None:
    module, _, _ = sample
    transformed = module.clone()
    run_pipeline(transformed, "partition-heads{units=3},partition-experts{units=2},tier-map")
    text = print_ir(transformed)
    assert "spike.head_units = array<i64: 0, 1, 2, 0" in text
    assert "#spike.unit<head 2>" in text and "#spike.unit<head 3>" not in text
    if "spike.combine" in text:
        assert "spike.expert_units = array<i64: 0, 1, 0, 1>" in text
    assert 'spike.tier_map = {mode = "memory-on-logic", tiers = 2 : i64' in text


def test_ir_dumps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir = tmp_path / "moe.mlir"
    assert run_cli(["import", SAMPLES / "moe.onnx", "-o", ir], capsys)[0] == 0
    dumps = tmp_path / "dumps"
    code, _, err = run_cli(
        [
            "opt",
            ir,
            "-p",
            "partition-heads{units=2},partition-experts{units=2},dce",
            "--ir-dump-dir",
            dumps,
            "--print-ir-before",
            "dce",
            "--print-ir-after",
            "partition-heads",
            "-o",
            tmp_path / "out.mlir",
        ],
        capsys,
    )
    assert code == 0, err
    names = sorted(p.name for p in dumps.iterdir())
    assert names == [
        "00-input.mlir",
        "01-partition-heads.mlir",
        "02-partition-experts.mlir",
        "03-dce.mlir",
    ]
    assert "spike.moe" in (dumps / "01-partition-heads.mlir").read_text()
    assert "spike.moe" not in (dumps / "02-partition-experts.mlir").read_text()
    assert err.count("IR Dump After partition-heads") == 1
    assert err.count("IR Dump Before dce") == 1
    assert "IR Dump After dce" not in err
    code, _, err = run_cli(["opt", ir, "-p", "dce", "--print-ir-after", "cse"], capsys)
    assert code == 2 and "--print-ir-after: cse is not in the pipeline 'dce'" in err


def test_derived_weights_are_written_beside_the_ir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir = tmp_path / "sdt.mlir"
    assert run_cli(["import", SAMPLES / "sdt.onnx", "-o", ir], capsys)[0] == 0
    out_dir = tmp_path / "compiled"
    out_dir.mkdir()
    folded = out_dir / "sdt.folded.mlir"
    code, _, err = run_cli(["opt", ir, "-p", "fold-batchnorm,dce", "-o", folded], capsys)
    assert code == 0, err
    sidecar = out_dir / "sdt.folded.mlir.weights.npz"
    assert sidecar.is_file()
    text = folded.read_text()
    assert 'spike.weights = ["../../samples/sdt.onnx"' not in text
    assert "sdt.folded.mlir.weights.npz" in text and "dense<" not in text
    assert "spike.batch_norm" not in text
    x = tmp_path / "x.npy"
    np.save(x, np.load(SAMPLES / "sdt_input.npy"))
    outputs: list[np.ndarray] = []
    for model in (SAMPLES / "sdt.onnx", folded):
        result = tmp_path / f"y{len(outputs)}.npy"
        code, _, err = run_cli(["eval", model, "--input", x, "-o", result], capsys)
        assert code == 0, err
        outputs.append(np.load(result))
    assert np.array_equal(outputs[0], outputs[1])
