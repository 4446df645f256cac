"""Seeded fuzzing of spikec's command lines (issue 16): valid invocations of every command with
tokens dropped, repeated, swapped, replaced by odd values or other files of the case, and
options inserted. Each ends in exit 0 (an `eval` that wrote outputs: onnxruntime's), exit 2
with one message (spikec's, or click's usage error) and no file written, never a traceback or a
hang. Every path a mutant can name lives in the case's own folders, the working directory
included."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES
from tests.fuzz import mutate
from tests.fuzz.harness import Outcome, Tally, onnxruntime_outputs, read_outputs, run_spikec

CASES = int(os.environ.get("FUZZ_CASES", "0")) or 60
SEED = int(os.environ.get("FUZZ_SEED", "16"))
MODEL = SAMPLES / "export" / "sj_neurons.dynamo.onnx"
IMAGES = SAMPLES / "export" / "digits_test_x.npy"


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files every case copies: a model, its input and IR, a sample and its program."""
    from compiler.frontend.onnx_import import import_onnx
    from compiler.ir.printer import print_ir
    from compiler.toolchain import compile_model

    folder = tmp_path_factory.mktemp("cli")
    shutil.copy(MODEL, folder / "m.onnx")
    shutil.copy(IMAGES, folder / "x.npy")
    (folder / "m.mlir").write_text(print_ir(import_onnx(MODEL, inline_weights=True).module))
    shutil.copy(SAMPLES / "sdt.onnx", folder / "sdt.onnx")
    shutil.copy(SAMPLES / "sdt_input.npy", folder / "sdt_input.npy")
    compile_model(str(SAMPLES / "sdt.onnx"), "sparse", folder / "sdt.sparse")
    return folder


COMMANDS = [
    ["eval", "{in}/m.onnx", "-i", "{in}/x.npy", "-o", "{out}/y.npz"],
    ["eval", "{in}/m.onnx", "-i", "{in}/x.npy", "--reference", "onnxruntime", "--stats"],
    ["import", "{in}/m.onnx", "-o", "{out}/m.mlir", "--explain"],
    ["opt", "{in}/m.mlir", "-p", "cse,dce", "-o", "{out}/o.mlir"],
    ["eval", "{in}/m.mlir", "-i", "{in}/x.npy", "-o", "{out}/y.npz"],
    [
        "run",
        "{in}/sdt.sparse",
        "-i",
        "{in}/sdt_input.npy",
        "-o",
        "{out}/y.npy",
        "--report-file",
        "{out}/r.json",
    ],
    ["compile", "{in}/m.onnx", "-t", "sparse", "-o", "{out}/m.sparse"],
    ["targets"],
]


def _flags(command: str) -> list[str]:
    """The options `spikec <command>` takes (and the group's)."""
    import click

    from compiler.cli import cli

    group = [o for p in cli.params if isinstance(p, click.Option) for o in p.opts]
    found = cli.get_command(click.Context(cli), command)
    assert found is not None, command
    own = found.params
    return [o for p in own if isinstance(p, click.Option) for o in p.opts] + group


def _compare(tally: Tally, case: str, args: list[str], inputs: Path, out: Path) -> None:
    """An `eval` of the model on its input that wrote outputs wrote onnxruntime's."""
    written = out / "y.npz"
    if args[:1] != ["eval"] or not written.exists():
        tally.counts["accepted"] += 1
        return
    if str(inputs / "m.onnx") not in args or args.count("-i") != 1:
        tally.counts["accepted"] += 1
        return
    given = args[args.index("-i") + 1]
    if given != str(inputs / "x.npy"):
        tally.counts["accepted"] += 1
        return
    theirs = onnxruntime_outputs(inputs / "m.onnx", {"x": np.load(inputs / "x.npy")})
    tally.compare(case, read_outputs(written), theirs)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def _check(tally: Tally, case: str, outcome: Outcome, out: Path) -> bool:
    usage = outcome.stderr.lstrip().startswith(("Usage:", "Error:"))  # click's usage errors
    if outcome.code == 2 and usage:
        written = sorted(p.name for p in out.iterdir())
        if written:
            tally.failures.append(f"{case}: usage error but wrote {written}")
        tally.counts["refused (usage)"] += 1
        return False
    accepted = tally.check(case, outcome, out / "y.npz")
    if outcome.code == 2 and any(out.iterdir()):
        tally.failures.append(f"{case}: exit 2 but wrote {sorted(p.name for p in out.iterdir())}")
    return accepted


def test_mutated_command_lines_are_refused_or_run(
    originals: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tally = Tally()
    for case in range(CASES):
        rng = random.Random(f"{SEED}-cli-{case}")
        inputs, out = tmp_path / f"in{case}", tmp_path / f"out{case}"
        shutil.copytree(originals, inputs)
        out.mkdir()
        monkeypatch.chdir(out)  # a relative path a mutant names (`-o bogus`) lands here too
        paths = [str(p) for p in sorted(inputs.iterdir())] + [str(out), str(out / "new.npz")]
        command = [t.format(**{"in": inputs, "out": out}) for t in rng.choice(COMMANDS)]
        args = mutate.cli_args(command, _flags(command[0]), paths, rng)
        name = f"cli {case} {args}"
        before = _snapshot(inputs)
        outcome = run_spikec(["-q", *args])
        if _check(tally, name, outcome, out):
            _compare(tally, name, args, inputs, out)
        elif outcome.code == 2 and _snapshot(inputs) != before:
            tally.failures.append(f"{name}: exit 2 but the case's input files changed")
        monkeypatch.chdir(tmp_path)
        shutil.rmtree(inputs)
        shutil.rmtree(out)
    print(f"fuzz cli: {dict(tally.counts)}, failures {len(tally.failures)}")
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert tally.counts["refused"] + tally.counts["refused (usage)"] > 0
