"""`spikec compare`: one table over every design, whose figures are those of separate
`spikec compile` + `spikec run --report json` of the same programs."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.explore.comparison import MISSING, REFERENCE, Design, plan_designs
from compiler.explore.plots import CHARTS
from targets import load_target, target_names
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MOE = ROOT / "samples" / "moe.onnx"
MOE_INPUT = ROOT / "samples" / "moe_input.npy"
EXPORT = ROOT / "samples" / "export" / "sj_sdt.dynamo.onnx"
DIGITS_X = ROOT / "samples" / "export" / "digits_test_x.npy"
DIGITS_Y = ROOT / "samples" / "export" / "digits_test_y.npy"


def _all_designs() -> list[Design]:
    return [
        Design(name, variant) for name in target_names() for variant in load_target(name).variants
    ]


def _compare(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: object
) -> tuple[str, list[dict[str, Any]], list[dict[str, str]]]:
    """Run `spikec compare`; (table, JSON rows, CSV rows)."""
    json_file, csv_file = tmp_path / "rows.json", tmp_path / "rows.csv"
    code, out, err = run_cli(
        ["compare", *map(str, args), "--json", json_file, "--csv", csv_file], capsys
    )
    assert code == 0, err
    assert err == ""  # progress goes to stderr only when it is a terminal
    document = json.loads(json_file.read_text())
    rows = document["rows"]
    share = document["coverage"]["dedicated_synop_share"]
    assert share is None or 0.0 <= share <= 1.0
    with open(csv_file, newline="") as f:
        csv_rows = list(csv.DictReader(f))
    return out, rows, csv_rows


def _separate_run(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    model: Path,
    design: Design,
    inputs: Path,
    *extra: object,
    node: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON report of `spikec compile` then `spikec run` of one design (priced at `node`,
    nm and V, if given)."""
    program = tmp_path / f"{model.stem}.{design.target}-{design.variant}"
    if not program.exists():
        at = []
        if node is not None:
            at = ["--set", f"technology.node_nm={node[0]}", "--set", f"technology.vdd={node[1]}"]
        code, _, err = run_cli(
            [
                "compile",
                model,
                "-t",
                design.target,
                "--variant",
                design.variant,
                "-o",
                program,
                *at,
            ],
            capsys,
        )
        assert code == 0, err
    args: list[str | Path] = ["run", program, "-i", inputs, "--report", "json"]
    args += ["--numerics", design.numerics]
    code, out, err = run_cli([*args, *map(str, extra)], capsys)
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def _same_rows(rows: list[dict[str, Any]], csv_rows: list[dict[str, str]]) -> None:
    assert len(rows) == len(csv_rows)
    for row, written in zip(rows, csv_rows, strict=True):
        assert list(row) == list(written)
        for key, value in row.items():
            if value is None:
                assert written[key] == ""
            elif isinstance(value, str):
                assert written[key] == value
            else:
                assert float(written[key]) == value, key


def test_plan_has_every_target_and_variant() -> None:
    assert plan_designs(()) == _all_designs()
    assert [d.name for d in plan_designs((), variants=False)] == [
        f"{name}:{load_target(name).default_variant}" for name in target_names()
    ]
    with_numerics = plan_designs(("xpikeformer", "sparse:dense"), numerics=("analog", "exact"))
    assert [d.name for d in with_numerics] == [
        "xpikeformer:xpikeformer",
        "xpikeformer:xpikeformer [analog]",  # analog models only the xpikeformer variant
        "xpikeformer:digital-snn",
        "xpikeformer:digital-ann",
        "sparse:dense",
    ]


def test_moe_table_equals_separate_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plots = tmp_path / "charts" / "moe"  # created, parents too
    table, rows, csv_rows = _compare(
        capsys, tmp_path, MOE, "--input", MOE_INPUT, "--numerics", "analog", "--plot", plots
    )
    _check_charts(plots)
    designs = _all_designs()
    analog = Design("xpikeformer", "xpikeformer", "analog")
    expected = [*designs[:3], analog, *designs[3:]]  # each design's numerics after its exact row
    assert [r["design"] for r in rows] == [d.name for d in expected]
    _same_rows(rows, csv_rows)

    lines = table.splitlines()
    header = lines[0]
    for column in ("latency (µs)", "inferences/s", "energy/inf (µJ)", "EDP (J·s)", "area (mm²)"):
        assert column in header
    for column in ("compute %", "sram %", "dram %", "vertical %", "noc %", "leakage %"):
        assert column in header  # components some report has
    assert "top-1 agr. %" in header and "accuracy %" not in header
    assert "spike agr. %" in header and "output rel. err" in header  # a design in analog
    for design, line in zip(expected, lines[1:], strict=False):
        assert line.startswith(design.name + " ")
        assert (MISSING in line) == (design.target != "stacked3d")  # area: stacked3d only

    base = rows[0]
    for design, row in zip(expected, rows, strict=True):
        # every design priced at the baseline's (stacked3d's) 28 nm, 0.9 V
        report = _separate_run(capsys, tmp_path, MOE, design, MOE_INPUT, node=("28", "0.9"))
        totals = report["totals"]
        assert row["latency_us"] == pytest.approx(totals["latency_s"] * 1e6, rel=1e-12)
        assert row["inferences_per_s"] == pytest.approx(totals["inferences_per_s"], rel=1e-12)
        energy_uj = totals["energy_per_inference_pj"] * 1e-6
        assert row["energy_per_inference_uj"] == pytest.approx(energy_uj, rel=1e-12)
        assert row["edp_js"] == pytest.approx(energy_uj * 1e-6 * totals["latency_s"], rel=1e-12)
        for component, pj in report["per_component"].items():
            share = 100 * pj / totals["energy_pj"]
            assert row.get(f"{component}_pct", 0.0) == pytest.approx(share, rel=1e-9, abs=1e-12)
        if design.target == "stacked3d":
            area = report["extra"]["area"][f"footprint_{design.variant}_mm2"]
            assert row["area_mm2"] == area
        else:
            assert row["area_mm2"] is None
        if design.numerics == "exact":
            assert row["top1_agreement_pct"] == 100.0  # exact numerics: the reference's classes
            assert (row["spike_agreement_pct"], row["output_relative_error"]) == (100.0, 0.0)
        else:
            measured = report["extra"]["numerics"]
            (figures,) = measured["outputs"].values()
            assert row["top1_agreement_pct"] == pytest.approx(100 * figures["top1_agreement"])
            assert row["spike_agreement_pct"] == 100 * measured["spike_agreement_mean"] < 100
            assert row["output_relative_error"] == figures["relative_error"] > 0
        # ratios against the baseline, the first design
        assert row["latency_ratio"] == pytest.approx(row["latency_us"] / base["latency_us"])
        assert row["energy_ratio"] == pytest.approx(
            row["energy_per_inference_uj"] / base["energy_per_inference_uj"]
        )
        assert row["edp_ratio"] == pytest.approx(row["edp_js"] / base["edp_js"])
    assert (base["latency_ratio"], base["energy_ratio"], base["edp_ratio"]) == (1.0, 1.0, 1.0)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_charts(folder: Path) -> None:
    """The three charts, valid PNGs of a real size, and nothing else (no temporary files)."""
    pytest.importorskip("matplotlib")
    import matplotlib.image

    assert sorted(p.name for p in folder.iterdir()) == sorted(CHARTS)
    for name in CHARTS:
        data = (folder / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE, name
        image = matplotlib.image.imread(folder / name)
        height, width = image.shape[:2]
        assert width >= 400 and height >= 200, (name, image.shape)
        assert image.std() > 0.01, name  # not a blank canvas


def test_plot_refuses_a_file_and_needs_matplotlib(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = tmp_path / "plots"
    taken.write_text("not a folder")
    json_file = tmp_path / "rows.json"
    args: list[str | Path] = ["compare", MOE, "-i", MOE_INPUT, "-t", "sparse"]
    code, out, err = run_cli([*args, "--json", json_file, "--plot", taken], capsys)
    assert code == 2 and err.startswith("spikec: error: ") and "not a folder" in err, err
    assert str(taken) in err and out == ""
    assert taken.read_text() == "not a folder" and not json_file.exists()

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    fresh = tmp_path / "fresh"
    code, out, err = run_cli([*args, "--plot", fresh], capsys)
    assert code == 2 and "install spikec[plot]" in err and err.count("\n") == 1, err
    assert not fresh.exists() and out == ""


def test_export_accuracy_and_baseline(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table, rows, csv_rows = _compare(
        capsys,
        tmp_path,
        EXPORT,
        "-i",
        DIGITS_X,
        "--labels",
        DIGITS_Y,
        "-t",
        "sparse",
        "--baseline",
        "sparse:dense",
    )
    _same_rows(rows, csv_rows)
    assert [r["design"] for r in rows] == ["sparse:sparse", "sparse:dense", REFERENCE]
    assert "accuracy %" in table.splitlines()[0]
    assert "spike agr." not in table and "spike_agreement_pct" not in rows[0]  # exact only
    code, out, err = run_cli(["eval", EXPORT, "-i", DIGITS_X, "--labels", DIGITS_Y], capsys)
    assert code == 0, err
    reference = rows[2]
    assert f"accuracy: reference {reference['accuracy_pct']:.1f} %" in out
    assert all(v is None for k, v in reference.items() if k not in ("design", "accuracy_pct"))
    for row in rows[:2]:
        design = Design("sparse", row["design"].split(":")[1])
        report = _separate_run(capsys, tmp_path, EXPORT, design, DIGITS_X, "--labels", DIGITS_Y)
        assert row["accuracy_pct"] == pytest.approx(100 * report["extra"]["accuracy"]["exact"])
        assert row["latency_us"] == pytest.approx(report["totals"]["latency_s"] * 1e6, rel=1e-12)
    sparse, dense = rows[0], rows[1]
    assert (dense["latency_ratio"], dense["energy_ratio"], dense["edp_ratio"]) == (1.0, 1.0, 1.0)
    assert sparse["energy_ratio"] == pytest.approx(
        sparse["energy_per_inference_uj"] / dense["energy_per_inference_uj"]
    )
    assert "ratios: against sparse:dense" in table


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["-t", "quantum"], ["unknown target 'quantum'", "sparse"]),
        (["-t", "sparse:wide"], ["no variant 'wide'", "dense"]),
        (["-t", "sparse", "--baseline", "nowhere:3d"], ["unknown target 'nowhere'"]),
        (["-t", "sparse", "--baseline", "sparse:wide"], ["--baseline sparse:wide", "dense"]),
        (["-t", "sparse", "--baseline", "stacked3d:2d"], ["not among the compared", "sparse"]),
        (["--numerics", "quantum"], ["numerics mode 'quantum'", "analog"]),
        (["-t", "sparse", "--numerics", "analog"], ["numerics mode 'analog'", "exact"]),
    ],
)
def test_bad_options_exit_2_without_files(
    options: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    json_file, csv_file = tmp_path / "rows.json", tmp_path / "rows.csv"
    args: list[str | Path] = ["compare", MOE, "-i", MOE_INPUT, *options]
    args += ["--json", json_file, "--csv", csv_file]
    code, out, err = run_cli(args, capsys)
    assert code == 2, (out, err)
    assert err.startswith("spikec: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not json_file.exists() and not csv_file.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    json_file = tmp_path / "rows.json"
    absent = tmp_path / "absent.npy"
    code, _, err = run_cli(["compare", MOE, "-i", absent, "--json", json_file], capsys)
    assert code == 2 and err.startswith("spikec: error: ") and "no such file" in err, err
    assert str(absent) in err and not json_file.exists()
    code, _, err = run_cli(["compare", MOE, "--json", json_file], capsys)
    assert code == 2 and "--input" in err and not json_file.exists(), err
    code, _, err = run_cli(
        ["compare", MOE, "-i", MOE_INPUT, "--csv", tmp_path / "no" / "rows.csv"], capsys
    )
    assert code == 2 and "the output folder does not exist" in err, err


def test_designs_are_priced_at_one_node_unless_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["-t", "xpikeformer:digital-ann", "-t", "sparse:dense"]
    table, rows, _ = _compare(capsys, tmp_path, MOE, "--input", MOE_INPUT, *args)
    assert [r["node_nm"] for r in rows] == [14.0, 14.0]  # the baseline's node
    assert "every design priced at 14 nm, 0.8 V" in table and "(n/n0)(V/V0)^2" in table
    (tmp_path / "own").mkdir()
    (tmp_path / "45").mkdir()
    _, own, _ = _compare(capsys, tmp_path / "own", MOE, "--input", MOE_INPUT, *args, "--own-node")
    assert [r["node_nm"] for r in own] == [14.0, 45.0]
    # the ANN baseline's energies are given at 45 nm: priced at 14 nm they cost less
    assert rows[0]["energy_per_inference_uj"] == pytest.approx(own[0]["energy_per_inference_uj"])
    assert rows[1]["energy_per_inference_uj"] < own[1]["energy_per_inference_uj"]
    _, at_45, _ = _compare(
        capsys, tmp_path / "45", MOE, "--input", MOE_INPUT, *args, "--node", "45", "--vdd", "0.9"
    )
    assert [r["node_nm"] for r in at_45] == [45.0, 45.0]
    assert at_45[1]["energy_per_inference_uj"] == pytest.approx(own[1]["energy_per_inference_uj"])


def test_settings_apply_to_the_designs_that_have_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["--input", MOE_INPUT, "-t", "stacked3d:3d", "-t", "sparse:dense"]
    _, rows, _ = _compare(capsys, tmp_path, MOE, *args, "--numerics", "pruned")
    (tmp_path / "half").mkdir()
    _, half, _ = _compare(
        capsys, tmp_path / "half", MOE, *args, "--numerics", "pruned", "--set", "pruning.keep=0.5"
    )
    names = [r["design"] for r in rows]
    assert names == ["stacked3d:3d", "stacked3d:3d [pruned]", "sparse:dense"]
    assert half[0] == rows[0] and half[2] == rows[2]  # exact, and a design without the key
    assert half[1]["spike_agreement_pct"] < rows[1]["spike_agreement_pct"] == 100.0
    code, _, err = run_cli(
        ["compare", MOE, "--input", MOE_INPUT, "-t", "sparse", "--set", "pruning.keep=0.5"],
        capsys,
    )
    assert code == 2 and "no compared design has a hardware parameter 'pruning.keep'" in err
