"""-q/-v and progress bars: bars only on a terminal and never with -q, log lines with -v (each
stage, each pass, each design or point), -vv every instruction, warnings by default."""

from __future__ import annotations

from pathlib import Path

import pytest

import compiler.progress
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MOE = ROOT / "samples" / "moe.onnx"
MOE_INPUT = ROOT / "samples" / "moe_input.npy"
SWEEP: list[str | Path] = ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--jobs", "1"]


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr taken for a terminal, bars drawn at once and at every step (whatever the speed of
    the machine)."""
    monkeypatch.setattr(compiler.progress, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(compiler.progress, "BAR_DELAY_S", 0)
    monkeypatch.setattr(compiler.progress, "BAR_REDRAW_S", 0)


def _compile(capsys: pytest.CaptureFixture[str], tmp_path: Path, *flags: str) -> str:
    code, _, err = run_cli(
        [*flags, "compile", MOE, "-t", "sparse", "-o", tmp_path / "moe.sparse"], capsys
    )
    assert code == 0, err
    return err


def test_off_a_terminal_nothing_but_results(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _compile(capsys, tmp_path) == ""
    code, out, err = run_cli(["run", tmp_path / "moe.sparse", "-i", MOE_INPUT], capsys)
    assert code == 0 and err == "" and "latency" in out


def test_bars_on_a_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, terminal: None
) -> None:
    err = _compile(capsys, tmp_path)
    assert "compile moe.onnx" in err and "step" in err
    code, _, err = run_cli(
        [*SWEEP, "--grid", "vector.lanes=8,16,32", "-o", tmp_path / "s.csv"], capsys
    )
    assert code == 0
    # one bar, the sweep's: 3 points; not the bars of each point's compile and run
    assert "sweep:" in err and "3/3" in err and "point" in err
    assert "compile moe.onnx" not in err and "run (exact)" not in err
    assert "\r" in err  # redrawn in place, not a line a step


def test_quiet_shows_no_bar_and_no_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, terminal: None
) -> None:
    code, out, err = run_cli(
        ["-q", *SWEEP, "--grid", "vector.lanes=0,16", "-o", tmp_path / "s.csv"], capsys
    )
    assert code == 0 and err == "" and "1 ok, 1 failed" in out
    assert _compile(capsys, tmp_path, "--quiet") == ""


def test_failed_point_is_a_warning_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        [*SWEEP, "--grid", "vector.lanes=0,16", "-o", tmp_path / "s.csv"], capsys
    )
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikec: warning: vector.lanes=0: failed: ")


def test_verbose_logs_stages_passes_and_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = _compile(capsys, tmp_path, "-v")
    lines = err.splitlines()
    assert lines[0].startswith(f"spikec: import {MOE}: ") and lines[0].endswith(" s")
    passes = [line.split()[2].rstrip(":") for line in lines if line.startswith("spikec: pass ")]
    assert passes[0] == "fold-batchnorm" and "sparsity-encoding" in passes
    assert any(line.startswith("spikec: lowering for sparse (sparse): ") for line in lines)
    assert lines[-1].startswith(f"spikec: write {tmp_path / 'moe.sparse'}: ")
    # -v after the command's name works as well
    code, _, err = run_cli(
        [*SWEEP, "--grid", "vector.lanes=8,16", "-o", tmp_path / "s.csv", "-v"], capsys
    )
    assert code == 0
    assert "spikec: vector.lanes=8: " in err and "uJ/inference" in err
    assert "spikec: reference interpreter: " in err
    # a point's stages only with -vv: one line a point, not a dozen
    assert "spikec: pass " not in err and "spikec: lowering " not in err
    code, _, err = run_cli(
        [*SWEEP, "--grid", "vector.lanes=8,16", "-o", tmp_path / "s2.csv", "-vv"], capsys
    )
    assert code == 0 and err.count("spikec: lowering for sparse (sparse): ") == 2


def test_very_verbose_logs_every_instruction(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _compile(capsys, tmp_path)
    code, _, err = run_cli(["run", tmp_path / "moe.sparse", "-i", MOE_INPUT, "-vv"], capsys)
    assert code == 0
    instructions = [line for line in err.splitlines() if line.startswith("spikec: #")]
    ran = next(line for line in err.splitlines() if " instructions in " in line)
    assert ran.startswith(f"spikec: run {tmp_path / 'moe.sparse'} (exact numerics): ")
    assert len(instructions) == int(ran.split(" instructions in ")[0].split()[-1]) > 50
    assert instructions[0].startswith("spikec: #0 line ") and " pJ" in instructions[0]
    # and a run afterwards without -v logs nothing (each command sets the level anew)
    code, _, err = run_cli(["run", tmp_path / "moe.sparse", "-i", MOE_INPUT], capsys)
    assert code == 0 and err == ""
