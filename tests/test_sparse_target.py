"""The `sparse` target on the bundled samples: compiled programs compute exactly what the
reference interpreter computes, in both variants, and their accounts are consistent."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.load import load_model
from compiler.interpreters.reference import evaluate
from compiler.runner import run_program
from compiler.toolchain import compile_model
from runtime.asm import parse_program
from runtime.interpreter import RunRecord
from runtime.report import Report, build_report
from tests.conftest import SAMPLES

NAMES = ("spikformer", "sdt", "xpikeformer", "moe")


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[dict[str, np.ndarray], RunRecord, Path]]:
    """Every sample compiled for both variants and run on its bundled input."""
    folder = tmp_path_factory.mktemp("programs")
    results = {}
    for name in NAMES:
        for variant in ("sparse", "dense"):
            path = folder / f"{name}.{variant}"
            compile_model(str(SAMPLES / f"{name}.onnx"), "sparse", path, variant=variant)
            x = np.load(SAMPLES / f"{name}_input.npy")
            outputs, record = run_program(path, {"x": x})
            results[name, variant] = (outputs, record, path)
    return results


@pytest.fixture(scope="module")
def references() -> dict[str, dict[str, np.ndarray]]:
    results = {}
    for name in NAMES:
        module, weights, _ = load_model(str(SAMPLES / f"{name}.onnx"))
        results[name] = evaluate(module, weights, {"x": np.load(SAMPLES / f"{name}_input.npy")})
    return results


@pytest.mark.parametrize("variant", ["sparse", "dense"])
@pytest.mark.parametrize("name", NAMES)
def test_run_equals_reference_exactly(
    runs: dict, references: dict[str, dict[str, np.ndarray]], name: str, variant: str
) -> None:
    outputs, _, _ = runs[name, variant]
    expected = references[name]
    assert outputs.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(outputs[key], value)


@pytest.mark.parametrize("name", NAMES)
def test_sparse_beats_dense_on_the_samples(runs: dict, name: str) -> None:
    sparse = build_report(runs[name, "sparse"][1]).totals
    dense = build_report(runs[name, "dense"][1]).totals
    assert sparse["cycles"] < dense["cycles"]
    assert sparse["energy_pj"] < dense["energy_pj"]


def _check_sums(report: Report) -> None:
    total = report.totals["energy_pj"]
    dynamic = report.totals["dynamic_pj"]
    assert total == pytest.approx(dynamic + report.totals["leakage_pj"], rel=1e-12)
    for breakdown in (
        report.per_component.values(),
        report.per_entry.values(),
        report.per_timestep,
        [row.picojoules for row in report.ledger],
    ):
        assert sum(breakdown) == pytest.approx(total, rel=1e-9)
    assert sum(u["energy_pj"] for u in report.per_unit) == pytest.approx(dynamic, rel=1e-9)
    assert sum(r["energy_pj"] for r in report.per_layer) == pytest.approx(dynamic, rel=1e-9)
    by_key: defaultdict[tuple[str, str], float] = defaultdict(float)
    for row in report.ledger:
        by_key[row.component, row.entry] += row.picojoules
    for component, energy in report.per_component.items():
        assert sum(v for (c, _), v in by_key.items() if c == component) == pytest.approx(
            energy, rel=1e-9
        )


@pytest.mark.parametrize("variant", ["sparse", "dense"])
@pytest.mark.parametrize("name", NAMES)
def test_breakdowns_sum_to_totals(runs: dict, name: str, variant: str) -> None:
    _check_sums(build_report(runs[name, variant][1]))


@pytest.mark.parametrize("name", NAMES)
def test_units_never_overlap_themselves_and_wait_for_operands(runs: dict, name: str) -> None:
    _, record, path = runs[name, "sparse"]
    by_unit: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in record.records:
        by_unit[r.unit].append((r.start, r.end))
    for unit, spans in by_unit.items():
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, unit
    program = parse_program((path / "program.sasm").read_text(), "program.sasm")
    ready: dict[str, float] = {}
    for ins, r in zip(program.instructions, record.records, strict=True):
        assert all(r.start >= ready.get(name, 0.0) for name in ins.inputs)
        ready.update({name: r.end for name in ins.outputs})
    # Independent units do overlap: the latency is less than the sum of busy times.
    assert record.latency_cycles < sum(r.end - r.start for r in record.records)


def test_sdt_uses_the_designs_units(runs: dict) -> None:
    _, record, path = runs["sdt", "sparse"]
    opcodes = {r.opcode for r in record.records}
    assert {"TILE.CONV_MAC", "TILE.CONV_AC", "SLU.ACC", "SMP.OR", "SMA.SDSA", "RES.ADD"} <= opcodes
    assert {"ENC.LIF", "DMA.LOAD_INPUT", "DMA.LOAD_WEIGHTS", "DMA.STORE_OUTPUT"} <= opcodes
    program = parse_program((path / "program.sasm").read_text(), "program.sasm")
    # The first conv reads the image (reals, MACs); the others read spike addresses.
    convs = [i for i in program.instructions if i.opcode.startswith("TILE.CONV")]
    assert convs[0].opcode == "TILE.CONV_MAC"
    assert all(program.buffers[c.inputs[0]].type.kind == "addr" for c in convs[1:])
    _, _dense_record, dense_path = runs["sdt", "dense"]
    dense = parse_program((dense_path / "program.sasm").read_text(), "program.sasm")
    assert all(b.type.kind != "addr" for b in dense.buffers.values())


def test_workload_metrics(runs: dict) -> None:
    report = build_report(runs["sdt", "sparse"][1])
    w = report.workload
    assert 0 < w["effective_synops"] < w["dense_synops"]
    assert w["effective_macs"] > 0 and w["effective_acs"] > 0
    assert 0.5 < w["activation_sparsity"] < 1.0
    layers = {row["layer"]: row for row in report.per_layer}
    lif = layers["b0.attn.q_lif"]
    assert 0 < lif["spikes"] < lif["neurons"]
    # The same spikes in both variants: the network is the same.
    dense = {row["layer"]: row for row in build_report(runs["sdt", "dense"][1]).per_layer}
    assert dense["b0.attn.q_lif"]["spikes"] == lif["spikes"]
    for unit in report.per_unit:
        assert 0 <= unit["utilisation"] <= 1


def test_batch_of_one_and_three_run_exactly(tmp_path: Path) -> None:
    """The batch is known only when the program runs."""
    path = tmp_path / "sdt"
    compile_model(str(SAMPLES / "sdt.onnx"), "sparse", path)
    module, weights, _ = load_model(str(SAMPLES / "sdt.onnx"))
    x = np.load(SAMPLES / "sdt_input.npy")
    for batch in (x[:, :1], np.concatenate([x, x[:, :1]], axis=1)):
        outputs, record = run_program(path, {"x": batch})
        expected = evaluate(module, weights, {"x": batch})
        np.testing.assert_array_equal(outputs["logits"], expected["logits"])
        assert record.batch == batch.shape[1]
