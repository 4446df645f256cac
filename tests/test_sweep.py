"""`spikec sweep`: one row per point of a grid of hardware settings, whose figures are those of
a separate `spikec compile --set ...` + `spikec run --report json`; resumable from its CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compiler.errors import SpikecError
from compiler.explore.grid import parse_grid
from compiler.explore.sweep import pareto
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MOE = ROOT / "samples" / "moe.onnx"
MOE_INPUT = ROOT / "samples" / "moe_input.npy"
GRID = "vector.lanes=8,16,32;clock.frequency=100,200,400"
KEYS = ["vector.lanes", "clock.frequency"]


def _sweep(
    capsys: pytest.CaptureFixture[str], csv_file: Path, grid: str = GRID, *extra: str | Path
) -> tuple[str, list[dict[str, str]]]:
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", grid, "-o", csv_file, *extra],
        capsys,
    )
    assert code == 0, err
    with open(csv_file, newline="") as f:
        return out, list(csv.DictReader(f))


def _by_point(rows: list[dict[str, str]]) -> dict[tuple[str, ...], dict[str, str]]:
    return {tuple(r[k] for k in KEYS): r for r in rows}


def _separate_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings: list[str]
) -> dict[str, Any]:
    program = tmp_path / "program"
    sets = [a for s in settings for a in ("--set", s)]
    code, _, err = run_cli(["compile", MOE, "-t", "sparse", "-o", program, *sets], capsys)
    assert code == 0, err
    code, out, err = run_cli(["run", program, "-i", MOE_INPUT, "--report", "json"], capsys)
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def test_grid_rows_equal_separate_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table, rows = _sweep(capsys, tmp_path / "sweep.csv", GRID, "--jobs", "1")
    assert list(rows[0]) == [
        *KEYS,
        "latency_us",
        "inferences_per_s",
        "energy_per_inference_uj",
        "edp_js",
        "top1_agreement_pct",
        "status",
    ]
    assert len(rows) == 9 and len(_by_point(rows)) == 9
    assert all(r["status"] == "ok" for r in rows)
    assert len({r["latency_us"] for r in rows}) == 9  # both keys change the figures
    assert len({r["energy_per_inference_uj"] for r in rows}) == 9
    for point in [("8", "100"), ("32", "400")]:
        row = _by_point(rows)[point]
        totals = _separate_run(
            capsys, tmp_path, [f"{k}={v}" for k, v in zip(KEYS, point, strict=True)]
        )["totals"]
        assert float(row["latency_us"]) == totals["latency_s"] * 1e6
        assert float(row["inferences_per_s"]) == totals["inferences_per_s"]
        per_inference_j = totals["energy_per_inference_pj"] * 1e-12
        assert float(row["energy_per_inference_uj"]) == per_inference_j * 1e6
        assert float(row["edp_js"]) == per_inference_j * totals["latency_s"]
        assert float(row["top1_agreement_pct"]) == 100.0
    lines = table.splitlines()
    assert "pareto" in lines[0] and len(lines) == 11
    # more lanes and a faster clock are better on both: only (32, 400) is Pareto-optimal
    marked = [line.split()[:2] for line in lines[1:10] if " * " in line]
    assert marked == [["32", "400"]]


def test_resume_keeps_finished_rows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv_file = tmp_path / "sweep.csv"
    _, rows = _sweep(capsys, csv_file, GRID, "--jobs", "1")
    lines = csv_file.read_text().splitlines(keepends=True)
    kept = lines[1:5]
    first = kept[0].split(",")
    first[2] = "12345.5"  # a figure no point gives: it survives only if the row is not rerun
    kept[0] = ",".join(first)
    # killed in the middle of writing the sixth line
    csv_file.write_text(lines[0] + "".join(kept) + lines[5][:7])
    table, resumed = _sweep(capsys, csv_file, GRID, "--jobs", "1")
    assert len(resumed) == 9 and len(_by_point(resumed)) == 9
    assert resumed[0]["latency_us"] == "12345.5"
    assert "12345.50" in table and "4 from the CSV" in table
    original = _by_point(rows)
    for point, row in list(_by_point(resumed).items())[1:]:
        assert row == original[point]
    # run again: nothing to do, the file is unchanged
    before = csv_file.read_text()
    _sweep(capsys, csv_file, GRID, "--jobs", "1")
    assert csv_file.read_text() == before


def test_header_of_another_grid_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "sweep.csv"
    csv_file.write_text("slu.lanes,latency_us\n32,1.0\n")
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", GRID, "-o", csv_file], capsys
    )
    assert code == 2 and out == ""
    assert "does not match the grid" in err and len(err.strip().splitlines()) == 1
    assert csv_file.read_text() == "slu.lanes,latency_us\n32,1.0\n"


def test_failing_point_is_reported_and_the_rest_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    table, rows = _sweep(capsys, tmp_path / "sweep.csv", "vector.lanes=0,16", "--jobs", "1")
    status = {r["vector.lanes"]: r["status"] for r in rows}
    assert status["16"] == "ok"
    assert status["0"].startswith("failed: ") and "at least 1" in status["0"]
    failed = next(r for r in rows if r["vector.lanes"] == "0")
    assert failed["latency_us"] == "" and failed["energy_per_inference_uj"] == ""
    assert "1 ok, 1 failed" in table


def test_parallel_rows_equal_in_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    grid = "vector.lanes=8,16;clock.frequency=100,400"
    table1, serial = _sweep(capsys, tmp_path / "one.csv", grid, "--jobs", "1")
    table2, parallel = _sweep(capsys, tmp_path / "two.csv", grid, "--jobs", "2")
    assert _by_point(serial) == _by_point(parallel)
    assert table1 == table2  # the table is in the grid's order, whatever order points finish


def test_labels_give_accuracy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([0, 0], dtype=np.int64))
    _, rows = _sweep(capsys, tmp_path / "sweep.csv", "vector.lanes=16", "--labels", labels)
    assert "accuracy_pct" in rows[0] and "top1_agreement_pct" not in rows[0]
    assert rows[0]["status"] == "ok" and 0 <= float(rows[0]["accuracy_pct"]) <= 100


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("vector.lanes", "is not key=value"),
        ("vector.lanes=8,,16", "is not key=value"),
        ("vector.lanes=8;vector.lanes=16", "given twice"),
        ("", "the grid is empty"),
        (" ; ", "the grid is empty"),
        ("vector.lane=8,16", "unknown hardware parameter 'vector.lane'"),
    ],
)
def test_bad_grid_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, grid: str, message: str
) -> None:
    csv_file = tmp_path / "sweep.csv"
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", grid, "-o", csv_file], capsys
    )
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not csv_file.exists()


def test_pareto() -> None:
    def row(energy: float | None, latency: float | None, status: str = "ok") -> dict[str, Any]:
        return {"energy_per_inference_uj": energy, "latency_us": latency, "status": status}

    rows = [
        row(1, 5),
        row(2, 2),
        row(5, 1),
        row(2, 3),  # dominated by (2, 2)
        row(2, 2),  # a tie: neither dominates the other
        row(None, None, "failed: x"),
        row(0.5, 0.5, "failed: y"),  # failed rows take no part
    ]
    assert pareto(rows) == [0, 1, 2, 4]


def test_parse_grid() -> None:
    assert parse_grid(" a.b = 1, 2 ;c=x;") == {"a.b": ["1", "2"], "c": ["x"]}
    with pytest.raises(SpikecError):
        parse_grid("a=1,1")


def test_dask_local_cluster_rows_equal_local_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("dask.distributed")
    table1, local = _sweep(capsys, tmp_path / "local.csv", GRID, "--jobs", "2")
    table2, dask = _sweep(
        capsys, tmp_path / "dask.csv", GRID, "--scheduler", "local", "--jobs", "2"
    )
    assert len(dask) == 9 and all(r["status"] == "ok" for r in dask)
    assert sorted(local, key=lambda r: [r[k] for k in KEYS]) == sorted(
        dask, key=lambda r: [r[k] for k in KEYS]
    )
    assert table1 == table2
    # resumed like a local run: nothing left to do, no cluster started, the file unchanged
    before = (tmp_path / "dask.csv").read_text()
    _sweep(capsys, tmp_path / "dask.csv", GRID, "--scheduler", "local", "--jobs", "2")
    assert (tmp_path / "dask.csv").read_text() == before


def test_unreachable_scheduler_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    csv_file = tmp_path / "sweep.csv"
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", GRID, "-o", csv_file,
         "--scheduler", "tcp://127.0.0.1:9"],
        capsys,
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert not csv_file.exists()


def test_scheduler_without_dask_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    csv_file = tmp_path / "sweep.csv"
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", GRID, "-o", csv_file,
         "--scheduler", "local"],
        capsys,
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "install spikec[distributed]" in err
    assert not csv_file.exists()


GRID_TOML = """\
# the same grid as GRID
[grid]
"vector.lanes" = [8, 16, 32]
clock.frequency = [100, 200, 400]  # a dotted key: the same parameter
"""


def test_grid_file_rows_equal_grid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    grid_file = tmp_path / "sweep.toml"
    grid_file.write_text(GRID_TOML)
    table1, _ = _sweep(capsys, tmp_path / "grid.csv", GRID, "--jobs", "1")
    code, table2, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid-file", grid_file,
         "-o", tmp_path / "file.csv", "--jobs", "1"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    # in-process, rows are written in the grid's order: the same file
    assert (tmp_path / "file.csv").read_text() == (tmp_path / "grid.csv").read_text()
    assert table1 == table2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[grid]\n"vector.lanes" = [8, 16\n', "not valid TOML"),
        ('[grid]\n"vector.lanes" = 8\n', "vector.lanes is 8, not a list of values"),
        ('[grid]\n"vector.lanes" = []\n', "vector.lanes has an empty list"),
        ('[grid]\n"vector.lanes" = [8, 8]\n', "a value given twice"),
        ('[grid]\n"vector.lanes" = [[8]]\n', "each value must be"),
        ('[grid]\n"vector.lane" = [8, 16]\n', "unknown hardware parameter 'vector.lane'"),
        ("[grid]\n", "the [grid] table is empty"),
        ('target = "sparse"\n', "unknown top-level key(s) target"),
        ('lanes = [8]\n[grid]\n"vector.lanes" = [8]\n', "unknown top-level key(s) lanes"),
        ('[other]\n"vector.lanes" = [8]\n', "unknown top-level key(s) other"),
        ("", "no [grid] table"),
    ],
)
def test_bad_grid_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    grid_file = tmp_path / "sweep.toml"
    grid_file.write_text(text)
    csv_file = tmp_path / "sweep.csv"
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid-file", grid_file, "-o", csv_file],
        capsys,
    )
    assert code == 2 and out == ""
    assert message in err and str(grid_file) in err, err
    assert len(err.strip().splitlines()) == 1
    assert not csv_file.exists()


def test_grid_file_syntax_error_names_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    grid_file = tmp_path / "sweep.toml"
    grid_file.write_text('[grid]\n"vector.lanes" = [8, 16]\n"clock.frequency" = 100 200\n')
    code, _, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid-file", grid_file], capsys
    )
    assert code == 2 and "line 3" in err and str(grid_file) in err, err


@pytest.mark.parametrize("both", [True, False])
def test_grid_and_grid_file_exactly_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, both: bool
) -> None:
    grid_file = tmp_path / "sweep.toml"
    grid_file.write_text(GRID_TOML)
    extra: list[str | Path] = ["--grid", GRID, "--grid-file", grid_file] if both else []
    csv_file = tmp_path / "sweep.csv"
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "-o", csv_file, *extra], capsys
    )
    assert code == 2 and out == ""
    assert "exactly one of --grid and --grid-file" in err
    assert not csv_file.exists()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_the_pareto_chart(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    plots = tmp_path / "plots" / "sweep"  # created, parents too
    # a failing point too: it is left out of the chart
    _sweep(capsys, tmp_path / "sweep.csv", "vector.lanes=0,8,16;clock.frequency=100,400",
           "--jobs", "1", "--plot", plots)  # fmt: skip
    assert [p.name for p in plots.iterdir()] == ["pareto.png"]  # no temporary files
    data = (plots / "pareto.png").read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
    image = matplotlib.image.imread(plots / "pareto.png")
    height, width = image.shape[:2]
    assert width >= 400 and height >= 300
    assert image.std() > 0.01  # not a blank canvas


def test_sweep_plot_refuses_a_file_and_needs_matplotlib(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    taken = tmp_path / "plots"
    taken.write_text("not a folder")
    csv_file = tmp_path / "sweep.csv"
    args: list[str | Path] = ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", GRID]
    code, out, err = run_cli([*args, "-o", csv_file, "--plot", taken], capsys)
    assert code == 2 and "not a folder" in err and str(taken) in err and out == ""
    assert not csv_file.exists() and taken.read_text() == "not a folder"

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    fresh = tmp_path / "fresh"
    code, out, err = run_cli([*args, "-o", csv_file, "--plot", fresh], capsys)
    assert code == 2 and "install spikec[plot]" in err and err.count("\n") == 1, err
    assert not fresh.exists() and not csv_file.exists() and out == ""


def test_pareto_plot_of_a_front_and_of_no_ok_point(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from compiler.explore.plots import write_pareto_plot

    def row(lanes: int, energy: float | None, latency: float | None, status: str = "ok") -> Any:
        return {"lanes": lanes, "latency_us": latency, "energy_per_inference_uj": energy,
                "status": status}  # fmt: skip

    rows = [row(1, 1, 5), row(2, 2, 2), row(3, 5, 1), row(4, 3, 3), row(5, None, None, "failed")]
    path = write_pareto_plot(rows, pareto(rows), ["lanes"], "front", str(tmp_path / "a"))
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 10_000
    failed = [row(5, None, None, "failed: x")]
    path = write_pareto_plot(failed, [], ["lanes"], "none", str(tmp_path / "b"))
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_a_key_no_point_reads_is_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """vertical.pitch is described (the bond's pitch) but no stacked3d cost reads it: sweeping
    it changes nothing, which the sweep says rather than print identical rows silently."""
    csv_file = tmp_path / "s.csv"
    code, table, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "stacked3d", "--jobs", "1", "-o", csv_file,
         "--grid", "mapping.mode=memory-on-logic,logic-on-logic;vertical.pitch=1,9"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert err.startswith("spikec: warning: vertical.pitch: no point's compile or run read it")
    assert "mapping.mode" not in err  # read: it changes the mapping
    assert "vertical.pitch: read by no point's compile or run" in table
    with open(csv_file, newline="") as f:
        rows = list(csv.DictReader(f))
    assert "_read" not in rows[0]
    by_pitch = {
        (r["mapping.mode"], r["vertical.pitch"]): r["energy_per_inference_uj"] for r in rows
    }
    assert by_pitch["logic-on-logic", "1"] == by_pitch["logic-on-logic", "9"]


def test_recording_reads_sees_every_accessor() -> None:
    from compiler.runner import get_target
    from runtime.hardware import recording_reads

    hardware = get_target("stacked3d").hardware()
    hardware.number("clock.frequency_3d")  # outside: not recorded anywhere
    with recording_reads() as reads:
        hardware.number("clock.frequency_3d")
        hardware.integer("mapping.neuron_tier")
        _ = hardware["mapping.mode"]
    assert reads == {"clock.frequency_3d", "mapping.neuron_tier", "mapping.mode"}
