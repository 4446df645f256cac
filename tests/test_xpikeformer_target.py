"""The `xpikeformer` target: exact numerics equal the reference on every sample and variant,
weights are placed on crossbars exactly once, and the analog numerics deviate as physics says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compiler.errors import SpikecError
from compiler.frontend.load import load_model
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from runtime.report import render_table
from targets import load_target
from tests.conftest import SAMPLE_NAMES, SAMPLES, compile_samples, run_cli, run_sample_program

NAMES = SAMPLE_NAMES
VARIANTS = ("xpikeformer", "digital-snn", "digital-ann")
X = SAMPLES / "xpikeformer_input.npy"
run = run_sample_program


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return compile_samples(tmp_path_factory.mktemp("xpikeformer"), "xpikeformer", VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", NAMES)
def test_exact_numerics_equal_the_reference(programs: dict, name: str, variant: str) -> None:
    x = np.load(SAMPLES / f"{name}_input.npy")
    module, weights, _ = load_model(str(SAMPLES / f"{name}.onnx"))
    expected = evaluate(module, weights, {"x": x})
    outputs = run(programs[name, variant], x).outputs
    for key, value in expected.items():
        np.testing.assert_array_equal(outputs[key], value)


def _mapping(path: Path) -> dict[str, Any]:
    mapping: dict[str, Any] = json.loads((path / "manifest.json").read_text())["mapping"]
    return mapping


@pytest.mark.parametrize("name", NAMES)
def test_every_weight_is_placed_exactly_once(programs: dict, name: str) -> None:
    mapping = _mapping(programs[name, "xpikeformer"])
    rows, columns = mapping["crossbar"]
    devices = mapping["devices_per_weight"]
    seen_crossbars: set[int] = set()
    for layer in mapping["layers"]:
        k, m = layer["shape"]
        placed = np.zeros((layer["groups"], k, m), dtype=np.int64)
        for block in layer["blocks"]:
            (r0, r1), (c0, c1) = block["rows"], block["columns"]
            assert 0 < r1 - r0 <= rows and 0 < (c1 - c0) * devices <= columns
            placed[block["group"], r0:r1, c0:c1] += 1
            assert block["crossbar"] not in seen_crossbars  # a crossbar holds one block
            seen_crossbars.add(block["crossbar"])
        assert (placed == 1).all(), layer["layer"]
        assert 0 < layer["utilisation"] <= 1
    assert mapping["crossbars_used"] == len(seen_crossbars) <= mapping["crossbars_available"]
    assert 0 < mapping["utilisation"] <= 1


def test_large_layers_split_over_crossbars_and_stay_exact(tmp_path: Path) -> None:
    """On 32 x 32 crossbars a 64 x 256 layer takes 2 row blocks x 16 column blocks, and the
    partial sums of the row blocks are added digitally, exactly (and in analog numerics)."""
    path = tmp_path / "small"
    settings = ("crossbar.rows=32", "crossbar.columns=32")
    compile_model(str(SAMPLES / "xpikeformer.onnx"), "xpikeformer", path, settings=settings)
    layers = {layer["layer"]: layer for layer in _mapping(path)["layers"]}
    fc1 = layers["b0.ff.fc1"]
    assert (fc1["row_blocks"], fc1["column_blocks"], fc1["crossbars"]) == (2, 16, 32)
    x = np.load(X)
    module, weights, _ = load_model(str(SAMPLES / "xpikeformer.onnx"))
    expected = evaluate(module, weights, {"x": x})["logits"]
    np.testing.assert_array_equal(run(path, x).outputs["logits"], expected)
    analog = run(path, x, numerics="analog").extra["numerics"]
    assert analog["spike_agreement_mean"] > 0.5


def test_too_few_crossbars_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpikecError) as error:
        compile_model(
            str(SAMPLES / "xpikeformer.onnx"),
            "xpikeformer",
            tmp_path / "p",
            settings=("crossbar.count=5",),
        )
    message = str(error.value)
    assert "xpikeformer.onnx: the model needs 16 crossbars of 256 x 256" in message
    assert "crossbar.count = 5" in message and "b0.ff.fc1 is the first that does not fit" in message
    assert "--set crossbar.count=16" in message
    assert not (tmp_path / "p").exists()


# -- analog numerics -------------------------------------------------------------------------


def deviation(programs: dict, *settings: str, seed: int = 0) -> tuple[float, float]:
    """(output relative error, spike disagreement) of the analog numerics."""
    section = run(
        programs["xpikeformer", "xpikeformer"], np.load(X), numerics="analog", seed=seed,
        settings=settings,
    ).extra["numerics"]  # fmt: skip
    return section["outputs"]["logits"]["relative_error"], 1 - section["spike_agreement_mean"]


IDEAL = ("pcm.read_noise=0", "analog.drift_time=0")


def test_deviation_grows_with_programming_noise(programs: dict) -> None:
    errors = [
        deviation(programs, *IDEAL, f"pcm.programming_noise={sigma}") for sigma in (0.0, 0.05, 0.2)
    ]
    assert errors[0][0] < errors[1][0] < errors[2][0]
    assert errors[0][1] < errors[1][1] < errors[2][1]


def test_deviation_grows_with_read_noise(programs: dict) -> None:
    base = ("pcm.programming_noise=0", "analog.drift_time=0")
    errors = [deviation(programs, *base, f"pcm.read_noise={sigma}") for sigma in (0.0, 0.05, 0.2)]
    assert errors[0][0] < errors[1][0] < errors[2][0]


def test_deviation_grows_with_fewer_adc_bits(programs: dict) -> None:
    clean = ("pcm.programming_noise=0", *IDEAL, "pcm.levels_bits=12", "dac.bits=12")
    errors = [deviation(programs, *clean, f"adc.bits={bits}") for bits in (12, 6, 3)]
    assert errors[0][0] < errors[1][0] < errors[2][0]
    assert errors[0][1] < errors[2][1]


def test_drift_degrades_and_compensation_recovers_most_of_it(programs: dict) -> None:
    def error(seconds: float, compensation: bool) -> tuple[float, float]:
        return deviation(programs, "pcm.read_noise=0", f"analog.drift_time={seconds}",
                         f"analog.drift_compensation={str(compensation).lower()}")  # fmt: skip

    fresh = error(0, False)
    drifting = [error(seconds, False) for seconds in (1e2, 1e3, 1e4)]
    assert fresh[0] < drifting[0][0] < drifting[1][0] < drifting[2][0]
    assert fresh[1] < drifting[0][1] < drifting[1][1] < drifting[2][1]
    compensated = error(1e4, True)
    assert compensated[0] - fresh[0] < 0.2 * (drifting[2][0] - fresh[0])
    assert compensated[1] - fresh[1] < 0.2 * (drifting[2][1] - fresh[1])


def test_same_seed_same_result_and_another_seed_another(programs: dict) -> None:
    path, x = programs["xpikeformer", "xpikeformer"], np.load(X)
    a = run(path, x, numerics="analog", seed=3).outputs["logits"]
    b = run(path, x, numerics="analog", seed=3).outputs["logits"]
    c = run(path, x, numerics="analog", seed=4).outputs["logits"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ideal_analog_is_close_to_exact(programs: dict) -> None:
    ideal = ("pcm.programming_noise=0", *IDEAL, "pcm.levels_bits=16", "adc.bits=16", "dac.bits=16")
    error, disagreement = deviation(programs, *ideal)
    assert error < 0.02 and disagreement < 0.01


# -- the report -------------------------------------------------------------------------------


def test_report_shows_adc_dac_and_ssa_shares(
    programs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(programs["xpikeformer", "xpikeformer"], np.load(X))
    report = result.report
    assert report.per_component["adc_dac"] > 0
    units = {u["unit"]: u for u in report.per_unit}
    assert units["ssa"]["energy_pj"] > 0 and units["aimc"]["energy_pj"] > 0
    table = render_table(report, load_target("xpikeformer").machine.sections)
    assert "adc_dac" in table and "mapping:" in table
    assert [line for line in table.splitlines() if line.strip().startswith("ssa ")]
    code, out, err = run_cli(
        ["run", programs["xpikeformer", "xpikeformer"], "-i", X, "--numerics", "analog"], capsys
    )
    assert code == 0, err
    assert "numerics analog: deviation from exact numerics" in out and "spike agreement" in out


def test_costs_follow_the_data(programs: dict) -> None:
    """No input spikes on a crossbar layer: no row driven, no conversion."""
    path = programs["xpikeformer", "xpikeformer"]
    x = np.load(X)
    busy = run(path, x).report.per_entry
    quiet = run(path, np.zeros_like(x)).report.per_entry
    assert quiet.get("energy.adc.conversion_8bit", 0) < busy["energy.adc.conversion_8bit"]
    assert quiet.get("energy.ssa.and_count", 0) < busy["energy.ssa.and_count"]


def test_run_options_are_checked(programs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    snn = programs["xpikeformer", "digital-snn"]
    code, _, err = run_cli(["run", snn, "-i", X, "--numerics", "analog"], capsys)
    assert code == 2 and "models the xpikeformer variant" in err
    design = programs["xpikeformer", "xpikeformer"]
    code, _, err = run_cli(["run", design, "-i", X, "--numerics", "fuzzy"], capsys)
    assert code == 2 and "no numerics mode 'fuzzy'" in err
    code, _, err = run_cli(
        ["run", design, "-i", X, "--numerics", "analog", "--set", "pcm.read_noise=-1"], capsys
    )
    assert code == 2 and "pcm.read_noise must be at least 0" in err


def test_labels_give_accuracy(
    programs: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    design = programs["xpikeformer", "xpikeformer"]
    module, weights, _ = load_model(str(SAMPLES / "xpikeformer.onnx"))
    predicted = np.argmax(evaluate(module, weights, {"x": np.load(X)})["logits"], axis=1)
    labels = tmp_path / "labels.npy"
    np.save(labels, predicted.astype(np.int64))
    code, out, err = run_cli(
        ["run", design, "-i", X, "--labels", labels, "--numerics", "analog", "--report", "json"],
        capsys,
    )
    assert code == 0, err
    accuracy = json.loads(out)["extra"]["numerics"]["accuracy"]
    assert accuracy["exact"] == 1.0 and 0.0 <= accuracy["analog"] <= 1.0
    np.save(labels, np.zeros(5, np.int64))
    code, _, err = run_cli(["run", design, "-i", X, "--labels", labels], capsys)
    assert code == 2 and "labels must be integers [batch = 2]" in err
