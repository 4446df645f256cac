"""The `stacked3d` target: exact in 3D and 2D, 3D and 2D differing only in interconnect,
memory access and clock, parallel head and expert units, options checked, head pruning
reported as a deviation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.load import load_model
from compiler.interpreters.reference import evaluate
from compiler.runner import Run
from compiler.toolchain import compile_model
from runtime.report import Report, render_table
from targets import load_target
from tests.conftest import SAMPLE_NAMES, SAMPLES, compile_samples, run_cli, run_sample_program

NAMES = SAMPLE_NAMES
MOE = SAMPLES / "moe.onnx"
MOE_X = SAMPLES / "moe_input.npy"
run = run_sample_program


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("stacked3d")
    paths = compile_samples(folder, "stacked3d", ("3d", "2d"))
    lol = folder / "moe.lol"
    compile_model(str(MOE), "stacked3d", lol, settings=("mapping.mode=logic-on-logic",))
    paths["moe", "lol"] = lol
    return paths


def report_of(result: Run) -> Report:
    return result.report


@pytest.mark.parametrize("variant", ["3d", "2d"])
@pytest.mark.parametrize("name", NAMES)
def test_outputs_equal_the_reference(programs: dict, name: str, variant: str) -> None:
    x = np.load(SAMPLES / f"{name}_input.npy")
    module, weights, _ = load_model(str(SAMPLES / f"{name}.onnx"))
    expected = evaluate(module, weights, {"x": x})
    outputs = run(programs[name, variant], x).outputs
    for key, value in expected.items():
        np.testing.assert_array_equal(outputs[key], value)


def test_logic_on_logic_is_exact_and_uses_both_tiers(programs: dict) -> None:
    x = np.load(MOE_X)
    module, weights, _ = load_model(str(MOE))
    result = run(programs["moe", "lol"], x)
    np.testing.assert_array_equal(
        result.outputs["logits"], evaluate(module, weights, {"x": x})["logits"]
    )
    tiers = report_of(result).extra["tiers"]
    assert tiers["tier 0"] > 0 and tiers["tier 1"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_3d_and_2d_differ_only_in_interconnect_memory_access_and_clock(
    programs: dict, name: str
) -> None:
    x = np.load(SAMPLES / f"{name}_input.npy")
    three, two = (report_of(run(programs[name, v], x)) for v in ("3d", "2d"))
    for entry in set(three.per_entry) | set(two.per_entry):
        if entry.startswith(("energy.link.", "leakage.")) or entry.endswith(".leakage"):
            continue
        assert three.per_entry.get(entry, 0) == pytest.approx(two.per_entry.get(entry, 0)), entry
    for component in ("compute", "sram", "dram"):
        assert three.per_component[component] == pytest.approx(two.per_component[component])
    assert three.workload == two.workload  # same spikes, same synaptic operations
    spikes3 = {r["layer"]: r["spikes"] for r in three.per_layer}
    spikes2 = {r["layer"]: r["spikes"] for r in two.per_layer}
    assert spikes3 == spikes2
    assert two.per_component["vertical"] == 0 < three.per_component["vertical"]
    assert three.per_component["noc"] < two.per_component["noc"]  # shorter planar wires
    assert three.clock_mhz > two.clock_mhz
    assert three.extra["area"]["footprint_3d_mm2"] < three.extra["area"]["footprint_2d_mm2"]
    # the 3D run's own estimate of 2D matches the 2D run
    vs = three.extra["vs_2d"]
    assert vs["noc"]["2d"] == pytest.approx(two.per_component["noc"])
    assert vs["latency_s"]["2d"] == pytest.approx(two.totals["latency_s"], rel=1e-9)


def _latency_and_overlap(tmp_path: Path, unit: str, count: int) -> tuple[float, float]:
    path = tmp_path / f"{unit}{count}"
    compile_model(str(MOE), "stacked3d", path, settings=(f"units.{unit}={count}",))
    result = run(path, np.load(MOE_X))
    kind = "head" if unit == "heads" else "expert"
    spans = [
        (r.start, r.end)
        for r in result.record.records
        if r.unit.split(".", 1)[-1].startswith(kind) and r.end > r.start
    ]
    spans.sort()
    overlap = sum(max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for a, b in itertools.pairwise(spans))
    return result.record.latency_cycles, overlap


@pytest.mark.parametrize(("unit", "counts"), [("heads", (1, 2, 4, 8)), ("experts", (1, 2, 4))])
def test_more_units_never_increase_latency_and_overlap(
    tmp_path: Path, unit: str, counts: tuple[int, ...]
) -> None:
    figures = [_latency_and_overlap(tmp_path, unit, n) for n in counts]
    latencies = [f[0] for f in figures]
    assert all(b <= a for a, b in itertools.pairwise(latencies)), latencies
    assert latencies[-1] < latencies[0]
    assert figures[0][1] == 0  # one unit: its instructions run one after another
    assert figures[-1][1] > 0  # several: they run at the same time


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("pruning.keep=0", "pruning.keep (the fraction p of heads kept) must be in (0, 1]"),
        ("pruning.keep=1.5", "pruning.keep must be at most 1"),
        ("tiers.count=3", "tiers.count must be at most 2"),
        ("units.heads=0", "units.heads must be at least 1"),
        ("units.experts=0", "units.experts must be at least 1"),
        ("mapping.mode=sideways", "mapping.mode must be memory-on-logic or logic-on-logic"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, needle: str
) -> None:
    code, _, err = run_cli(
        ["compile", MOE, "-t", "stacked3d", "-o", tmp_path / "p", "--set", setting], capsys
    )
    assert code == 2 and needle in err, err
    assert not (tmp_path / "p").exists()


def test_head_pruning_is_reported_as_a_deviation(programs: dict) -> None:
    path, x = programs["moe", "3d"], np.load(MOE_X)
    exact = report_of(run(path, x))
    full = run(path, x, numerics="pruned").extra["numerics"]
    assert full["outputs"]["logits"]["max_abs_error"] == 0  # p = 1 keeps every head
    half = run(path, x, numerics="pruned", settings=("pruning.keep=0.5",))
    deviation = half.extra["numerics"]
    assert deviation["outputs"]["logits"]["max_abs_error"] > 0
    pruned = report_of(half)
    heads = [u for u in pruned.per_unit if ".head" in u["unit"]]
    assert sum(u.get("counters", {}).get("pruned", 0) for u in heads) == 8  # 4 of 8, 2 blocks
    head_energy = sum(u["energy_pj"] for u in heads)
    exact_heads = sum(u["energy_pj"] for u in exact.per_unit if ".head" in u["unit"])
    assert head_energy < exact_heads


def test_report_sections(programs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(programs["moe", "3d"], np.load(MOE_X))
    report = report_of(result)
    extra = report.extra
    assert extra["tiers"]["tier 0"] > 0 and extra["tiers"]["tier 1"] > 0
    assert extra["vertical"]["bits"] > 0 and extra["vertical"]["energy_pj"] > 0
    assert len(extra["heads_busy_cycles"]) == 8
    tokens = extra["experts_tokens"]
    assert len(tokens) == 4 and all(t > 0 for t in tokens.values())
    assert extra["expert_balance"] >= 1
    assert sum(extra["area"]["units_mm2"].values()) == pytest.approx(
        extra["area"]["footprint_2d_mm2"]
    )
    for figures in extra["vs_2d"].values():
        assert figures["3d_wins_by"] == pytest.approx(figures["2d"] - figures["3d"])
    table = render_table(report, load_target("stacked3d").machine.sections)
    assert "tiers:" in table and "vs_2d:" in table
    code, out, err = run_cli(["run", programs["moe", "3d"], "-i", MOE_X], capsys)
    assert code == 0, err
    assert "vertical" in out and "expert_balance" in out


def test_run_cannot_change_what_shaped_the_program(
    programs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["run", programs["moe", "3d"], "-i", MOE_X, "--set", "units.heads=2"], capsys
    )
    assert code == 2 and "units.heads shapes the compiled program" in err
    code, _, err = run_cli(
        ["run", programs["moe", "3d"], "-i", MOE_X, "--set", "energy.link.vertical=0.1"], capsys
    )
    assert code == 0, err
