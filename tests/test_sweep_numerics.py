"""`spikec sweep --numerics MODE`: every point run in a hardware numerics mode, its agreement,
spike agreement and output error equal to a separate `spikec run --numerics MODE` of the point;
the Pareto front weighs energy against the output error; the CSV keeps the mode and seed."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from compiler.explore.sweep import pareto
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
XPK = ROOT / "samples" / "xpikeformer.onnx"
XPK_INPUT = ROOT / "samples" / "xpikeformer_input.npy"
SWEEP: list[str | Path] = ["sweep", XPK, "-i", XPK_INPUT, "-t", "xpikeformer", "--jobs", "1"]
ANALOG = ["--grid", "adc.bits=4,8", "--numerics", "analog", "--seed", "1"]


def _separate_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, bits: str) -> dict[str, Any]:
    program = tmp_path / f"xpk{bits}"
    code, _, err = run_cli(
        ["compile", XPK, "-t", "xpikeformer", "-o", program, "--set", f"adc.bits={bits}"], capsys
    )
    assert code == 0, err
    code, out, err = run_cli(
        ["run", program, "-i", XPK_INPUT, "--numerics", "analog", "--seed", "1",
         "--report", "json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def test_rows_equal_separate_runs_in_that_numerics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "adc.csv"
    parquet = tmp_path / "adc.parquet"
    code, table, err = run_cli([*SWEEP, *ANALOG, "-o", csv_file, "--parquet", parquet], capsys)
    assert code == 0, err
    with open(csv_file, newline="") as f:
        rows = {r["adc.bits"]: r for r in csv.DictReader(f)}
    assert list(next(iter(rows.values()))) == [
        "adc.bits",
        "latency_us",
        "inferences_per_s",
        "energy_per_inference_uj",
        "edp_js",
        "top1_agreement_pct",
        "numerics",
        "spike_agreement_pct",
        "output_relative_error",
        "status",
    ]
    for bits in ("4", "8"):
        row = rows[bits]
        report = _separate_run(capsys, tmp_path, bits)
        measured = report["extra"]["numerics"]
        logits = measured["outputs"]["logits"]
        assert row["numerics"] == "analog (seed 1)" and row["status"] == "ok"
        assert float(row["latency_us"]) == report["totals"]["latency_s"] * 1e6
        per_inference_j = report["totals"]["energy_per_inference_pj"] * 1e-12
        assert float(row["energy_per_inference_uj"]) == per_inference_j * 1e6
        # the targets are exact in exact numerics: agreement with the reference interpreter is
        # agreement with the exact run
        assert float(row["top1_agreement_pct"]) == 100 * logits["top1_agreement"]
        assert float(row["spike_agreement_pct"]) == 100 * measured["spike_agreement_mean"]
        assert float(row["output_relative_error"]) == logits["relative_error"]
    # the setting reaches the numerics: a 4-bit ADC flips more spikes than an 8-bit one
    assert float(rows["4"]["spike_agreement_pct"]) < float(rows["8"]["spike_agreement_pct"])
    assert "spike agr. %" in table and "numerics analog (seed 1)" in table
    assert "energy per inference and output relative error" in table
    pq = pytest.importorskip("pyarrow.parquet")
    written = pq.read_table(parquet)
    assert str(written.schema.field("numerics").type) == "string"
    assert written.column("spike_agreement_pct").to_pylist() == [
        float(rows[b]["spike_agreement_pct"]) for b in ("4", "8")
    ]
    assert b'"numerics": "analog", "seed": 1' in written.schema.metadata[b"spikec"]


def test_resuming_with_another_seed_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "adc.csv"
    code, _, err = run_cli(
        [*SWEEP, "--grid", "adc.bits=6", "--numerics", "analog", "-o", csv_file], capsys
    )
    assert code == 0, err
    before = csv_file.read_text()
    code, out, err = run_cli(
        [*SWEEP, "--grid", "adc.bits=6", "--numerics", "analog", "--seed", "2", "-o", csv_file],
        capsys,
    )
    assert code == 2 and out == ""
    assert "ran with analog (seed 0), not analog (seed 2)" in err
    assert csv_file.read_text() == before
    # an exact sweep's CSV has other columns: refused by its header
    code, _, err = run_cli([*SWEEP, "--grid", "adc.bits=6", "-o", csv_file], capsys)
    assert code == 2 and "does not match the grid" in err


def test_a_mode_the_design_lacks_exits_2_writing_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "s.csv"
    code, out, err = run_cli(
        [*SWEEP, "--variant", "digital-snn", "--grid", "pe.lanes=32", "--numerics", "analog",
         "-o", csv_file],
        capsys,
    )  # fmt: skip
    assert code == 2 and out == "" and "numerics 'analog' models the xpikeformer variant" in err
    code, _, err = run_cli([*SWEEP, "--grid", "adc.bits=6", "--numerics", "noisy"], capsys)
    assert code == 2 and "no numerics mode 'noisy'" in err
    assert not csv_file.exists()


def test_pareto_against_the_output_error() -> None:
    def row(energy: float, latency: float, error: float) -> dict[str, Any]:
        return {
            "energy_per_inference_uj": energy,
            "latency_us": latency,
            "output_relative_error": error,
            "status": "ok",
        }

    rows = [row(1.0, 5.0, 0.6), row(2.0, 1.0, 0.2), row(2.5, 9.0, 0.1), row(3.0, 0.5, 0.3)]
    assert pareto(rows) == [0, 1, 3]  # energy vs latency
    assert pareto(rows, "output_relative_error") == [0, 1, 2]


def test_several_seeds_give_means_and_deviations_of_single_seed_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import statistics

    def rows(csv_file: Path, *extra: str) -> dict[str, str]:
        code, _, err = run_cli(
            [*SWEEP, "--grid", "adc.bits=4", "--numerics", "analog", "-o", csv_file, *extra],
            capsys,
        )
        assert code == 0, err
        with open(csv_file, newline="") as f:
            (row,) = csv.DictReader(f)
        return row

    single = [rows(tmp_path / f"seed{s}.csv", "--seed", str(s)) for s in (1, 2, 3)]
    several = rows(tmp_path / "seeds.csv", "--seed", "1", "--seeds", "3")
    assert several["numerics"] == "analog (seeds 1-3)"
    for key in ("latency_us", "energy_per_inference_uj", "top1_agreement_pct",
                "spike_agreement_pct", "output_relative_error"):  # fmt: skip
        values = [float(r[key]) for r in single]
        assert float(several[key]) == statistics.fmean(values), key
        if key not in ("latency_us", "energy_per_inference_uj"):
            assert float(several[key + "_std"]) == statistics.stdev(values), key
    assert len({r["output_relative_error"] for r in single}) == 3  # the seeds differ


def test_seeds_need_a_hardware_numerics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(
        [*SWEEP, "--grid", "adc.bits=4", "--seeds", "3", "-o", tmp_path / "s.csv"], capsys
    )
    assert code == 2 and out == "" and "--seeds needs --numerics MODE" in err
    assert not (tmp_path / "s.csv").exists()


def test_pareto_plot_of_the_output_error_with_error_bars(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from compiler.explore.plots import write_pareto_plot

    rows = [
        {"bits": str(b), "energy_per_inference_uj": e, "output_relative_error": x,
         "output_relative_error_std": d, "latency_us": 1.0, "status": "ok"}
        for b, e, x, d in ((3, 1.84, 0.58, 0.08), (4, 1.85, 0.43, 0.02), (8, 2.03, 0.32, 0.05))
    ]  # fmt: skip
    front = pareto(rows, "output_relative_error")
    assert front == [0, 1, 2]
    path = write_pareto_plot(rows, front, ["bits"], "adc", str(tmp_path), "output_relative_error")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[1] >= 400 and image.std() > 0.01
