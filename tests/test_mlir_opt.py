"""The IR survives real MLIR: every sample's generic IR goes through `mlir-opt` (which renumbers
every SSA value) and back, and the program compiled from it reports the same rows per layer,
because the layer names ride in the ops' locations. Skipped where no `mlir-opt` is installed
(Debian: `apt install mlir-19-tools`)."""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.load import load_model
from compiler.frontend.nir_options import NirOptions, using
from compiler.ir.parse import parse_ir
from compiler.ir.printer import print_ir

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ["spikformer", "sdt", "xpikeformer", "moe"]
TARGETS = {
    "spikformer": "sparse",
    "sdt": "sparse",
    "xpikeformer": "xpikeformer",
    "moe": "stacked3d",
}


def _mlir_opt() -> str | None:
    found = shutil.which("mlir-opt")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/bin/mlir-opt-*")) + sorted(
        glob.glob("/usr/lib/llvm-*/bin/mlir-opt")
    )
    return candidates[-1] if candidates else None


MLIR_OPT = _mlir_opt()
pytestmark = pytest.mark.skipif(MLIR_OPT is None, reason="mlir-opt is not installed")


def _through_mlir_opt(text: str, tmp_path: Path) -> str:
    assert MLIR_OPT is not None
    flags = [
        "--allow-unregistered-dialect",
        "--mlir-print-op-generic",
        "--mlir-print-debuginfo",
        "--mlir-print-local-scope",
    ]
    help_text = subprocess.run([MLIR_OPT, "--help"], capture_output=True, text=True).stdout
    if "--mlir-use-nameloc-as-prefix" in help_text:  # LLVM 20 on: SSA names from locations
        flags.append("--mlir-use-nameloc-as-prefix")
    source = tmp_path / "in.mlir"
    source.write_text(text)
    done = subprocess.run(
        [MLIR_OPT, *flags, str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "%0 = " in done.stdout or "%0:" in done.stdout  # the values were renumbered
    return done.stdout


def _layer_rows(module_text: str, target: str, tmp_path: Path, feeds: dict[str, np.ndarray]):
    from compiler.runner import RunOptions, execute_package, open_program
    from compiler.toolchain import compile_model

    ir = tmp_path / "model.mlir"
    ir.write_text(module_text)
    program = tmp_path / "program"
    compile_model(str(ir), target, program)
    package, built_for = open_program(program)
    run = execute_package(package, built_for, feeds, None, RunOptions())
    return run.report.per_layer, run.outputs


@pytest.mark.parametrize("sample", SAMPLES)
def test_generic_ir_round_trips_through_mlir_opt(sample: str, tmp_path: Path) -> None:
    module, _, _ = load_model(str(ROOT / "samples" / f"{sample}.onnx"))
    generic = print_ir(module, generic=True)
    back = _through_mlir_opt(generic, tmp_path)
    parse_ir(back, "mlir-opt output")  # parses and verifies
    x = np.load(ROOT / "samples" / f"{sample}_input.npy")
    target = TARGETS[sample]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    want_rows, want_out = _layer_rows(generic, target, tmp_path / "a", {"x": x})
    got_rows, got_out = _layer_rows(back, target, tmp_path / "b", {"x": x})
    assert [r["layer"] for r in got_rows] == [r["layer"] for r in want_rows]
    assert got_rows == want_rows
    for name, value in want_out.items():
        assert np.array_equal(got_out[name], value)
    layers = {r["layer"] for r in got_rows}
    assert not any(name.isdigit() for name in layers)  # names, not mlir-opt's numbers


def test_a_nir_model_round_trips_with_its_layer_names(tmp_path: Path) -> None:
    """NIR node names ("0", "1.lif") are not SSA names: only the locations carry them."""
    model = ROOT / "samples" / "export" / "snntorch_rleaky.nir"
    with using(NirOptions(dt=1e-4, timesteps=6)):
        module, _, _ = load_model(str(model))
    back = _through_mlir_opt(print_ir(module, generic=True), tmp_path)
    x = np.load(ROOT / "samples" / "export" / "nir_test_x.npy")[:, :4]
    rows, _ = _layer_rows(back, "sparse", tmp_path, {"input": x})
    layers = [r["layer"] for r in rows]
    assert "1.lif" in layers and "3" in layers


def test_compile_dumps_generic_ir_mlir_opt_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import run_cli

    dumps = tmp_path / "ir"
    code, _, err = run_cli(
        [
            "compile",
            str(ROOT / "samples" / "sdt.onnx"),
            "-t",
            "sparse",
            "-o",
            str(tmp_path / "p"),
            "--ir-dump-dir",
            str(dumps),
            "--generic",
        ],
        capsys,
    )
    assert code == 0, err
    files = sorted(dumps.glob("*.mlir"))
    assert len(files) >= 3
    for path in files:
        text = path.read_text()
        assert text.startswith('"builtin.module"()') and 'loc("' in text
        _through_mlir_opt(text, tmp_path)
