"""A sweep killed half-way (SIGKILL, no chance to clean up) resumes from its CSV: the finished
points are not run again and the rows are those of a sweep never interrupted. And the sweep's
table as Parquet."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MOE = ROOT / "samples" / "moe.onnx"
MOE_INPUT = ROOT / "samples" / "moe_input.npy"
GRID = "vector.lanes=8,16,32;clock.frequency=100,200,400"
KEYS = ("vector.lanes", "clock.frequency")
SWEEP: list[str | Path] = [
    "sweep",
    MOE,
    "-i",
    MOE_INPUT,
    "-t",
    "sparse",
    "--grid",
    GRID,
    "--jobs",
    "1",
]


def _rows(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    with open(path, newline="") as f:
        return {tuple(r[k] for k in KEYS): r for r in csv.DictReader(f)}


def _finished(path: Path) -> int:
    """Rows written so far (whole lines after the header)."""
    if not path.exists():
        return 0
    return max(path.read_text().count("\n") - 1, 0)


def test_killed_sweep_resumes_without_redoing_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    killed = tmp_path / "killed.csv"
    command = [sys.executable, "-m", "compiler.cli", *map(str, SWEEP), "-o", str(killed)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _finished(killed) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    done_before = _rows(killed)
    assert 3 <= len(done_before) < 9  # killed half-way, its finished rows on disk
    # mark the finished rows: a rerun point would write its true figure instead
    text = killed.read_text()
    for row in done_before.values():
        text = text.replace(f",{row['latency_us']},", f",{row['latency_us']}1,", 1)
    killed.write_text(text)

    code, table, err = run_cli([*SWEEP, "-o", killed], capsys)
    assert code == 0, err
    assert f"{len(done_before)} from the CSV" in table
    resumed = _rows(killed)
    code, _, err = run_cli([*SWEEP, "-o", tmp_path / "whole.csv"], capsys)
    assert code == 0, err
    whole = _rows(tmp_path / "whole.csv")
    assert len(resumed) == 9 and resumed.keys() == whole.keys()
    for point, row in resumed.items():
        if point in done_before:  # kept, not run again
            assert row["latency_us"] == whole[point]["latency_us"] + "1"
            row = {**row, "latency_us": whole[point]["latency_us"]}
        assert row == whole[point]


def test_parquet_has_the_rows_typed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    grid = "vector.lanes=0,16,32"
    code, _, err = run_cli(
        [*SWEEP[:-4], "--grid", grid, "--jobs", "1", "-o", tmp_path / "s.csv",
         "--parquet", tmp_path / "s.parquet"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.column_names == [
        "vector.lanes",
        "latency_us",
        "inferences_per_s",
        "energy_per_inference_uj",
        "edp_js",
        "top1_agreement_pct",
        "pareto",
        "status",
    ]
    assert str(table.schema.field("latency_us").type) == "double"
    assert str(table.schema.field("pareto").type) == "bool"
    assert b'"target": "sparse"' in table.schema.metadata[b"spikec"]
    rows = table.to_pylist()
    with open(tmp_path / "s.csv", newline="") as f:
        by_lanes = {r["vector.lanes"]: r for r in csv.DictReader(f)}
    assert [r["vector.lanes"] for r in rows] == ["0", "16", "32"]  # the grid's order
    failed, *ok = rows
    assert failed["latency_us"] is None and failed["status"].startswith("failed: ")
    assert failed["pareto"] is False and [r["pareto"] for r in ok] == [False, True]
    for row in ok:
        for key in ("latency_us", "energy_per_inference_uj", "edp_js"):
            assert row[key] == float(by_lanes[row["vector.lanes"]][key])


def test_parquet_needs_pyarrow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails
    code, out, err = run_cli(
        [*SWEEP, "-o", tmp_path / "s.csv", "--parquet", tmp_path / "s.parquet"], capsys
    )
    assert code == 2 and out == ""
    assert "install spikec[parquet]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.parquet").exists()


def test_parquet_into_a_folder_exits_2_before_any_point(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow")
    code, out, err = run_cli([*SWEEP, "-o", tmp_path / "s.csv", "--parquet", tmp_path], capsys)
    assert code == 2 and out == "" and "is a directory" in err and str(tmp_path) in err
    assert not (tmp_path / "s.csv").exists()
