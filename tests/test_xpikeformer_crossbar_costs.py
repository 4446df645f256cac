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
from targets.xpikeformer.isa import _channels_per_tile
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


# -- the digital SNN baseline: a weight row fetched once for a tile of tokens ------------------


def test_a_weight_row_is_read_once_per_tile_of_tokens() -> None:
    """Hand-counted: tokens [101, 110, 001, 000] in tiles of 2 need channels {0,1,2} then {2}:
    4 row reads (5 without reuse, one per spike; 3 in one tile of 3 and a padded one)."""
    spikes = np.array([[[1, 0, 1], [1, 1, 0], [0, 0, 1], [0, 0, 0]]], np.float32)
    assert _channels_per_tile(spikes, 1).tolist() == [5.0]
    assert _channels_per_tile(spikes, 2).tolist() == [4.0]
    assert _channels_per_tile(spikes, 3).tolist() == [3.0]


def test_partial_sums_for_more_tokens_read_fewer_weights(tmp_path: Path) -> None:
    """The digital SNN baseline with room for one token's partial sums reads a weight row per
    input spike; with the default 1024 (16 tokens of 64 lanes) fewer, and never more. The adds,
    the cycles and the outputs do not change."""
    path = tmp_path / "snn"
    compile_model(str(SAMPLES / "xpikeformer.onnx"), "xpikeformer", path, variant="digital-snn")
    x = np.load(X)
    one = run_sample_program(path, x, settings=("pe.accumulators=64",))
    many = run_sample_program(path, x)
    np.testing.assert_array_equal(one.outputs["logits"], many.outputs["logits"])
    pairs = list(zip(one.record.records, many.record.records, strict=True))
    linear = [(a, b) for a, b in pairs if a.opcode == "PE.ACC"]
    assert linear
    fewer = 0
    for alone, tiled in linear:
        bits_alone = sum(i.bits for i in alone.cost.items if i.level == "weight_sram")
        bits_tiled = sum(i.bits for i in tiled.cost.items if i.level == "weight_sram")
        assert bits_tiled <= bits_alone
        fewer += bits_tiled < bits_alone
        assert alone.end - alone.start == tiled.end - tiled.start
        assert entry_energy(alone, "energy.compute.add16") == entry_energy(
            tiled, "energy.compute.add16"
        )
    assert fewer > 0
