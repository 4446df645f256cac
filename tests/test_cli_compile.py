"""`spikec compile`, `spikec run` and `spikec targets`: what a user types, and every bad input
refused with exit status 2, one message and nothing half-written."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, run_cli, tiny_input

SDT = SAMPLES / "sdt.onnx"
SDT_INPUT = SAMPLES / "sdt_input.npy"


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from compiler.toolchain import compile_model

    path = tmp_path_factory.mktemp("compiled") / "sdt.sparse"
    compile_model(str(SDT), "sparse", path)
    return path


def test_compile_then_run_equals_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["compile", SDT, "-t", "sparse", "--variant", "dense"], capsys)
    assert code == 0, err
    folder = tmp_path / "sdt.sparse-dense"  # the default name: MODEL.TARGET-VARIANT
    assert "target sparse (dense)" in out and "instructions" in out
    assert sorted(p.name for p in folder.iterdir()) == [
        "constants.npz",
        "hardware.toml",
        "manifest.json",
        "program.sasm",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["target"] == "sparse" and manifest["variant"] == "dense"
    assert manifest["inputs"][0]["name"] == "x" and manifest["timesteps"] == 4
    assert len(manifest["hardware"]["sha256"]) == 64
    code, out, err = run_cli(["run", folder, "-i", SDT_INPUT, "-o", tmp_path / "y.npy"], capsys)
    assert code == 0, err
    assert "output 'logits': float32 [2, 10]" in out
    assert "energy by component:" in out and "units:" in out and "layers:" in out
    code, _, err = run_cli(["eval", SDT, "-i", SDT_INPUT, "-o", tmp_path / "ref.npy"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "ref.npy"))


def test_reports_as_json_and_csv(
    program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["run", program, "-i", SDT_INPUT, "--report", "json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["target"] == "sparse" and report["batch"] == 2
    assert report["totals"]["energy_pj"] == pytest.approx(sum(report["per_component"].values()))
    assert {"dense_synops", "effective_synops", "activation_sparsity"} <= report["workload"].keys()
    assert all("utilisation" in unit for unit in report["per_unit"])
    path = tmp_path / "report.csv"
    code, out, err = run_cli(
        ["run", program, "-i", SDT_INPUT, "--report", "csv", "--report-file", path], capsys
    )
    assert code == 0 and out == "", err
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["section", "key", "metric", "value"]
    sections = {row[0] for row in rows[1:]}
    assert {"total", "component", "unit", "layer", "timestep", "hardware_entry"} <= sections
    ledger = sum(float(row[3]) for row in rows if row[0] == "ledger")
    assert ledger == pytest.approx(report["totals"]["energy_pj"])


def test_set_and_config_change_the_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, faster = tmp_path / "base", tmp_path / "faster"
    config = tmp_path / "faster.toml"
    config.write_text('[slu]\nlanes = { value = 128, source = "what if: a wider SLU" }\n')
    assert run_cli(["compile", SDT, "-t", "sparse", "-o", base], capsys)[0] == 0
    code, _, err = run_cli(
        ["compile", SDT, "-t", "sparse", "-o", faster, "--config", config, "--set",
         "clock.frequency=400"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    hardware = (faster / "hardware.toml").read_text()
    assert "what if: a wider SLU" in hardware and "override: --set clock.frequency=400" in hardware
    reports = []
    for folder in (base, faster):
        code, out, err = run_cli(["run", folder, "-i", SDT_INPUT, "--report", "json"], capsys)
        assert code == 0, err
        reports.append(json.loads(out))
    assert reports[1]["clock_mhz"] == 400
    assert reports[1]["totals"]["latency_s"] < reports[0]["totals"]["latency_s"] / 2
    slu = [{u["unit"]: u for u in r["per_unit"]}["slu"]["busy_cycles"] for r in reports]
    assert slu[1] < slu[0]


def test_targets_lists_variants_and_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["targets"], capsys)
    assert code == 0
    assert "sparse:" in out and "--variant dense" in out and "--variant sparse (default)" in out
    code, out, _ = run_cli(["targets", "sparse"], capsys)
    assert code == 0
    assert "slu.lanes" in out and "64 count" in out and "Horowitz, ISSCC 2014" in out


def test_print_ir_after_all_shows_each_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["compile", SDT, "-t", "sparse", "-o", tmp_path / "p", "--print-ir-after-all"], capsys
    )
    assert code == 0
    for name in ("fold-batchnorm", "sparsity-encoding", "canonicalize", "dce"):
        assert f"IR Dump After {name}" in err or name in err
    assert "!spike.encoded<addr" in err


def _refused(args: list[str | Path], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code, out, err = run_cli(args, capsys)
    assert code == 2, (out, err)
    assert err.startswith("spikec: error: ") or "Error:" in err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err
    return err


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["-t", "tpu"], ["unknown target 'tpu'", "targets: stacked3d, xpikeformer, sparse"]),
        (["-t", "sparse", "--variant", "fast"], ["no variant 'fast'", "sparse, dense"]),
        (["-t", "sparse", "--set", "slu.lanez=2"], ["unknown hardware parameter", "slu.lanes"]),
        (["-t", "sparse", "--set", "slu.lanes=wide"], ["slu.lanes is a int"]),
        (["-t", "sparse", "--set", "memory.dram.read_energy=-3"], ["cannot be negative"]),
        (["-t", "sparse", "--set", "tile.rows=0"], ["tile.rows must be at least 1"]),
        (["-t", "sparse", "--config", "missing.toml"], ["missing.toml", "no such hardware"]),
    ],
)
def test_compile_refuses_bad_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    needles: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    _refused(["compile", SDT, "-o", "out", *extra], capsys, *needles)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_compile_refuses_malformed_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[slu]\nlanes = = 4\n")
    _refused(["compile", SDT, "-t", "sparse", "-o", tmp_path / "out", "--config", config],
             capsys, str(config), "not valid TOML", "line 2")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_compile_does_not_overwrite_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    _refused(["compile", SDT, "-t", "sparse", "-o", tmp_path / "mine"], capsys, "refusing")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def _copy(program: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(program, copy)
    return copy


def _flip_last_data_byte(path: Path) -> None:
    """Corrupt the last array's last byte: the archive stays well-formed, its CRC does not."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        last = max(archive.infolist(), key=lambda info: info.header_offset)
    data = bytearray(path.read_bytes())
    name, extra = struct.unpack("<HH", data[last.header_offset + 26 : last.header_offset + 30])
    data[last.header_offset + 30 + name + extra + last.file_size - 1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (
            lambda p: (p / "hardware.toml").write_text(
                (p / "hardware.toml").read_text().replace("value = 64", "value = 65", 1)
            ),
            ["hardware.toml", "does not match the hash"],
        ),
        (
            lambda p: (p / "program.sasm").write_text(
                (p / "program.sasm").read_text().replace("SLU.ACC", "SLU.FROB", 1)
            ),
            ["program.sasm:", "unknown opcode SLU.FROB"],
        ),
        (
            lambda p: (p / "program.sasm").write_text(
                (p / "program.sasm").read_text().replace("f32[", "f32[-", 1)
            ),
            ["program.sasm:2:17: unexpected '-4'; expected '?', ']', an integer"],
        ),
        (
            lambda p: (p / "program.sasm").write_text(
                (p / "program.sasm").read_text().replace("ENC.LIF %", "ENC.LIF %nowhere.", 1)
            ),
            ["program.sasm:", "uses buffer %nowhere.", "which is not declared"],
        ),
        (
            lambda p: (p / "program.sasm").write_text(
                (p / "program.sasm").read_text().replace("ENC.LIF %", "ENC.LIF %x.onchip, %", 1)
            ),
            ["program.sasm:", "ENC.LIF takes 1 inputs, got 2"],
        ),
        (lambda p: (p / "constants.npz").unlink(), ["not a complete spikec program"]),
        (
            lambda p: _flip_last_data_byte(p / "constants.npz"),
            ["constants.npz", "does not match the hash in the manifest"],
        ),
        (
            lambda p: (p / "constants.npz").write_bytes((p / "constants.npz").read_bytes()[:99]),
            ["constants.npz", "does not match the hash in the manifest"],
        ),
        (lambda p: (p / "manifest.json").write_text("{"), ["manifest.json", "not valid JSON"]),
    ],
)
def test_run_refuses_a_damaged_program(
    program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, needles: list[str]
) -> None:
    copy = _copy(program, tmp_path)
    edit(copy)
    _refused(["run", copy, "-i", SDT_INPUT], capsys, *needles)


def test_run_refuses_bad_inputs(
    program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(["run", tmp_path / "nothing", "-i", SDT_INPUT], capsys, "not a compiled program")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, tiny_input())
    _refused(["run", program, "-i", wrong], capsys, "wrong.npy", "input 'x': expected float32")
    _refused(["run", program, "-i", f"y={wrong}"], capsys, "inputs do not match", "unknown ['y']")
    out = tmp_path / "y.npy"
    _refused(["run", program, "-i", SDT_INPUT, "-o", tmp_path / "y.txt"], capsys, ".npy")
    assert not out.exists()
