"""The CLI's working paths: import, opt and eval, and how IR files find their weights."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli, tiny_input


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, tiny_input())
    return path


def _eval(args: list[str | Path], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(["eval", *args], capsys)
    assert code == 0, err
    return out


def test_ir_in_another_folder_finds_its_weights(
    tiny_model_path: Path, input_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = tmp_path / "deep" / "er"
    nested.mkdir(parents=True)
    ir = nested / "m.mlir"
    assert run_cli(["import", tiny_model_path, "-o", ir], capsys)[0] == 0
    assert 'spike.weights = "../../tiny.onnx"' in ir.read_text()
    direct, via_ir = tmp_path / "a.npy", tmp_path / "b.npy"
    _eval([tiny_model_path, "--input", input_file, "-o", direct], capsys)
    _eval([ir, "--input", f"x={input_file}", "-o", via_ir], capsys)
    assert np.array_equal(np.load(direct), np.load(via_ir))


def test_opt_moves_the_weight_path_with_the_output(
    tiny_model_path: Path, input_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "m.mlir"
    assert run_cli(["import", tiny_model_path, "-o", first], capsys)[0] == 0
    (tmp_path / "sub").mkdir()
    second = tmp_path / "sub" / "m2.mlir"
    assert run_cli(["opt", first, "-p", "cse,dce", "-o", second], capsys)[0] == 0
    assert 'spike.weights = "../tiny.onnx"' in second.read_text()
    out = _eval([second, "--input", input_file], capsys)
    assert "output 'y': float32 [2, 6]" in out


def test_stdin_round_trip(
    tiny_model_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, printed, _ = run_cli(["import", tiny_model_path.name], capsys)
    assert code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(printed))
    code, again, _ = run_cli(["opt", "-", "-p", ""], capsys)
    assert code == 0 and again == printed
    monkeypatch.setattr("sys.stdin", io.StringIO(printed))
    code, generic, _ = run_cli(["opt", "-", "--generic"], capsys)
    assert code == 0 and '"spike.lif"' in generic
    monkeypatch.setattr("sys.stdin", io.StringIO(generic))
    code, custom, _ = run_cli(["opt", "-"], capsys)
    assert code == 0 and custom == printed


def test_print_ir_after_all(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir = tmp_path / "m.mlir"
    assert run_cli(["import", tiny_model_path, "-o", ir], capsys)[0] == 0
    code, out, err = run_cli(["opt", ir, "-p", "cse,dce", "--print-ir-after-all"], capsys)
    assert code == 0
    assert err.count("// -----// IR Dump After") == 2
    assert "IR Dump After cse" in err and "IR Dump After dce" in err
    assert out.startswith("builtin.module")


def test_eval_stats_and_reference(
    tiny_model_path: Path, input_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _eval(
        [tiny_model_path, "-i", input_file, "--stats", "--reference", "onnxruntime"], capsys
    )
    assert "firing rates" in out
    assert out.count("spike.lif") == 2
    assert "y: match" in out


def test_eval_writes_npz(
    tiny_model_path: Path, input_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "y.npz"
    _eval([tiny_model_path, "-i", input_file, "-o", out], capsys)
    with np.load(out) as archive:
        assert archive.files == ["y"] and archive["y"].shape == (2, 6)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".y")]  # no temporary file left


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("import", "opt", "eval"):
        code, out, _ = run_cli([command, "--help"], capsys)
        assert code == 0 and "Examples:" in out and f"spikec {command}" in out
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and "spikec" in out


def test_commands_that_read_no_onnx_do_not_import_it() -> None:
    """onnx (with ml_dtypes) can take over a second to import, and xdsl.interpreters (every
    dialect's interpreter) half a second: `spikec run`, `targets`, `opt` on IR and `--version`
    must not pay them. Checked in a fresh interpreter."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import compiler.cli, compiler.toolchain, compiler.interpreters.reference\n"
        "from compiler.runner import get_target\n"
        "from targets import target_names\n"
        "for name in target_names(): get_target(name).hardware()\n"
        "heavy = ('onnx', 'xdsl.interpreters')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith(('onnx.', 'ml_dtypes'))))\n"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
