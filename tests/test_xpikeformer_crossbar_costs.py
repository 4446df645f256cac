"""How the xpikeformer crossbar prices a layer: a real input is pulse-width modulated (its
vector takes 2^dac.bits cycles), a driven row pays per weight it crosses (not per crossbar it
spans) and its DAC per crossbar it drives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compiler.toolchain import compile_model
from runtime.hardware import Hardware
from runtime.interpreter import InstructionRecord
from tests.conftest import SAMPLES, entry_energy, run_sample_program

ROW_ANALOG = "energy.aimc.row_analog_per_weight"
ROW_BINARY = "energy.aimc.row_binary_per_weight"
DAC = "energy.dac.conversion_8bit"
ADC = "energy.adc.conversion_8bit"
X = SAMPLES / "xpikeformer_input.npy"


def _program(folder: Path, *settings: str) -> Path:
    compile_model(str(SAMPLES / "xpikeformer.onnx"), "xpikeformer", folder, settings=settings)
    return folder


def _crossbar_records(path: Path, *settings: str) -> list[InstructionRecord]:
    records = run_sample_program(path, np.load(X), settings=settings).record.records
    return [r for r in records if r.opcode == "AIMC.LINEAR"]


def _uses(record: InstructionRecord, entry: str) -> bool:
    return any(item.entry == entry for item in record.cost.items)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _program(tmp_path_factory.mktemp("xbar") / "default")


def test_a_real_input_takes_its_pulse_width(default: Path) -> None:
    """A real input drives its row with one pulse of up to 2^dac.bits cycles: at 4 bits a
    vector takes 4x fewer cycles than at 8 bits; a spike vector (one unit pulse) is unchanged."""
    at_8 = _crossbar_records(default)
    at_4 = _crossbar_records(default, "dac.bits=4")
    real = [i for i, r in enumerate(at_8) if _uses(r, ROW_ANALOG)]
    spikes = [i for i, r in enumerate(at_8) if _uses(r, ROW_BINARY)]
    assert real and spikes
    for i in real:  # 2^8 and 2^4 cycles are both longer than integration and ADC sharing
        assert at_8[i].end - at_8[i].start == pytest.approx(4 * (at_4[i].end - at_4[i].start))
    for i in spikes:
        assert at_8[i].end - at_8[i].start == at_4[i].end - at_4[i].start


def test_a_driven_row_pays_per_weight_it_crosses(default: Path, tmp_path: Path) -> None:
    """Narrower crossbars split a layer over more column blocks: the rows cross the same
    weights (row energy unchanged, as the conversions are), but each block has its own DAC."""
    narrow = _program(tmp_path / "narrow", "crossbar.columns=128")
    wide_records, narrow_records = _crossbar_records(default), _crossbar_records(narrow)
    assert len(wide_records) == len(narrow_records)

    def total(records: list[InstructionRecord], entry: str) -> float:
        return sum(entry_energy(r, entry) for r in records)

    for entry in (ROW_ANALOG, ROW_BINARY, ADC):
        assert total(narrow_records, entry) == pytest.approx(total(wide_records, entry))
    wide_blocks, narrow_blocks = _mapping(default), _mapping(narrow)
    split = 0
    for wide, thin in zip(wide_records, narrow_records, strict=True):
        ratio = (
            narrow_blocks[thin.layer]["column_blocks"] / wide_blocks[wide.layer]["column_blocks"]
        )
        assert entry_energy(thin, DAC) == pytest.approx(ratio * entry_energy(wide, DAC))
        split += ratio > 1 and entry_energy(wide, DAC) > 0
    assert split > 0


def test_row_energy_is_the_weights_crossed_times_the_entry(default: Path) -> None:
    """The embedding (48 real inputs -> 64 channels, one crossbar): its row entry counts a whole
    number of driven inputs times the 64 weights each crosses; its DAC counts those inputs once."""
    hardware = Hardware.load(default / "hardware.toml")
    layer = _mapping(default)["embed"]
    assert layer["column_blocks"] == 1
    d_out = layer["shape"][1]
    (record,) = [r for r in _crossbar_records(default) if r.layer == "embed"]
    inputs_driven = entry_energy(record, ROW_ANALOG) / (hardware.number(ROW_ANALOG) * d_out)
    assert inputs_driven > 0 and inputs_driven == pytest.approx(round(inputs_driven))
    assert entry_energy(record, DAC) / hardware.number(DAC) == pytest.approx(inputs_driven)


def _mapping(path: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((path / "manifest.json").read_text())
    return {layer["layer"]: layer for layer in manifest["mapping"]["layers"]}
