"""Seeded fuzzing of spikec's inputs (issue 16): mutated ONNX models (protobuf structure, byte
flips, names that are not UTF-8) and mutated IR text, each run through `spikec eval`. A mutant is
refused (exit 2, one message, no output file) or accepted with onnxruntime's outputs wherever
onnxruntime runs it; no traceback, no hang. `make fuzz` runs many more cases
(FUZZ_CASES=10000)."""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path

import numpy as np
import onnx
import pytest

from compiler.frontend.onnx_import import import_onnx
from compiler.ir.printer import print_ir
from tests.conftest import SAMPLES
from tests.fuzz import mutate
from tests.fuzz.harness import (
    Tally,
    nudged_feeds,
    onnxruntime_outputs,
    read_outputs,
    run_spikec,
)

EXPORTS = SAMPLES / "export"
MODELS = [
    EXPORTS / "sj_neurons.dynamo.onnx",
    EXPORTS / "snntorch_neurons.torchscript.onnx",
    EXPORTS / "sj_topk_moe.dynamo.onnx",
]
IMAGES = EXPORTS / "digits_test_x.npy"
CASES = int(os.environ.get("FUZZ_CASES", "0"))
"""Cases per kind (0: the suite's own numbers below)."""
SEED = int(os.environ.get("FUZZ_SEED", "16"))


@functools.cache
def _model(path: Path) -> onnx.ModelProto:
    return onnx.load(path)


def _onnx_mutant(kind: str, rng: random.Random) -> tuple[Path, bytes]:
    source = rng.choice(MODELS)
    data = source.read_bytes()
    if kind == "bytes":
        return source, mutate.flip_bytes(data, rng)
    if kind == "names":
        return source, mutate.invalid_utf8_name(data, _model(source), rng)
    return source, mutate.structured(_model(source), rng).SerializeToString()


def _nudged_outputs(model: Path, x: np.ndarray) -> list[list[np.ndarray] | None]:
    return [onnxruntime_outputs(model, feeds) for feeds in nudged_feeds({"x": x})]


ONNX_KINDS = {"structure": 150, "bytes": 80, "names": 20}


@pytest.mark.parametrize("kind", ONNX_KINDS)
def test_mutated_onnx_models_are_refused_or_run_as_onnxruntime(kind: str, tmp_path: Path) -> None:
    tally = Tally()
    x = np.load(IMAGES)
    for case in range(CASES or ONNX_KINDS[kind]):
        rng = random.Random(f"{SEED}-{kind}-{case}")
        _, data = _onnx_mutant(kind, rng)
        model, output = tmp_path / f"m{case}.onnx", tmp_path / f"y{case}.npz"
        model.write_bytes(data)
        outcome = run_spikec(["eval", model, "-i", IMAGES, "-o", output])
        if tally.check(f"{kind} {case}", outcome, output):
            tally.compare(
                f"{kind} {case}",
                read_outputs(output),
                onnxruntime_outputs(model, {"x": x}),
                functools.partial(_nudged_outputs, model, x),
            )
        model.unlink()
    print(f"fuzz {kind}: {dict(tally.counts)}, failures {len(tally.failures)}")
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert tally.counts["refused"] > 0


@functools.cache
def _ir_text(path: Path) -> str:
    return print_ir(import_onnx(path, inline_weights=True).module)


IR_CASES = 150


def test_mutated_ir_is_refused_or_runs(tmp_path: Path) -> None:
    """IR mutants have no onnxruntime counterpart (a changed weight changes the model): the
    contract is a clean refusal or a run, never a traceback or a hang."""
    tally = Tally()
    for case in range(CASES or IR_CASES):
        rng = random.Random(f"{SEED}-ir-{case}")
        text = mutate.ir_text(_ir_text(rng.choice(MODELS[:2])), rng)
        model, output = tmp_path / f"m{case}.mlir", tmp_path / f"y{case}.npz"
        model.write_text(text)
        if tally.check(
            f"ir {case}", run_spikec(["eval", model, "-i", IMAGES, "-o", output]), output
        ):
            tally.counts["accepted"] += 1
            output.unlink()
    print(f"fuzz ir: {dict(tally.counts)}, failures {len(tally.failures)}")
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert tally.counts["refused"] > 0


PROGRAM_CASES = 120


@pytest.fixture(scope="module")
def program_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from compiler.toolchain import compile_model

    folder = tmp_path_factory.mktemp("fuzz") / "sdt.sparse"
    compile_model(str(SAMPLES / "sdt.onnx"), "sparse", folder)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_mutated_program_folders_are_refused_or_run(
    program_files: dict[str, bytes], tmp_path: Path
) -> None:
    """The manifest's JSON, the assembly, the hardware description and the constants' bytes
    mutated: `spikec run` refuses cleanly or runs (an edited assembly is a program of its own)."""
    import shutil

    tally = Tally()
    for case in range(CASES or PROGRAM_CASES):
        rng = random.Random(f"{SEED}-program-{case}")
        folder, output = tmp_path / f"p{case}", tmp_path / f"y{case}.npy"
        folder.mkdir()
        for name, data in mutate.program_folder(program_files, rng).items():
            (folder / name).write_bytes(data)
        outcome = run_spikec(["run", folder, "-i", SAMPLES / "sdt_input.npy", "-o", output])
        if tally.check(f"program {case}", outcome, output):
            tally.counts["accepted"] += 1
            output.unlink()
        shutil.rmtree(folder)
    print(f"fuzz program: {dict(tally.counts)}, failures {len(tally.failures)}")
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert tally.counts["refused"] > 0
