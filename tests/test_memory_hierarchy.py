"""The memory hierarchy: technology rules, the weight plan and its tiling, activation spills, and
the memory report, held to hand-computed figures and to the invariants a capacity model owes
its users (a larger buffer never moves more from DRAM; weights that fit load once per run;
breakdowns sum; outputs stay exact)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.runner import open_program
from compiler.toolchain import compile_model
from runtime.technology import node_factor, sram_read_64b
from targets import load_target
from targets.memory import GRANULE_BITS, most_that_fit
from tests.conftest import SAMPLES, checked_reference, dyadic, model_from, run_sample_program

T, N, D_IN, D, D_OUT = 4, 64, 32, 256, 256
W2_BITS = D * D_OUT * 8
"""The second layer's weights at 8 bits: 64 KiB."""

DESIGNS = {
    # target: (variant, weight level, the level holding the second layer's spike input)
    "sparse": ("dense", "weight_sram", "spike_sram"),
    "stacked3d": ("2d", "weight_buffer", "activation_buffer"),
    "xpikeformer": ("digital-snn", "weight_sram", "sram"),
}


def _model() -> onnx.ModelProto:
    """x -> linear -> LIF -> linear on its spikes (the layer tiled) -> mean over tokens, time."""
    rng = np.random.default_rng(7)
    inits = {
        "fc1.w": dyadic(rng.normal(size=(D_IN, D)) * 0.5),
        "fc1.b": dyadic(rng.normal(size=D) * 0.2),
        "fc2.w": dyadic(rng.normal(size=(D, D_OUT)) * 0.5),
        "fc2.b": dyadic(rng.normal(size=D_OUT) * 0.2),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "fc1.w"], ["m1"], name="fc1"),
        helper.make_node("Add", ["m1", "fc1.b"], ["h1"], name="fc1_bias"),
        helper.make_node("LIF", ["h1"], ["s1"], domain="spike", v_threshold=0.5),
        helper.make_node("MatMul", ["s1", "fc2.w"], ["m2"], name="fc2"),
        helper.make_node("Add", ["m2", "fc2.b"], ["h2"], name="fc2_bias"),
        helper.make_node("ReduceMean", ["h2"], ["tok"], name="mean_tokens", axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["tok"], ["y"], name="mean_time", axes=[0], keepdims=0),
    ]
    return model_from(nodes, [("x", [T, "B", N, D_IN])], [("y", ["B", D_OUT])], inits)


def _input(batch: int) -> np.ndarray:
    return dyadic(np.random.default_rng(8).normal(size=(T, batch, N, D_IN)), bits=6)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("memory") / "two_layers.onnx"
    onnx.save(_model(), path)
    return path


def _run(model: Path, folder: Path, target: str, settings: tuple[str, ...], batch: int = 1):
    variant = DESIGNS[target][0]
    compile_model(str(model), target, folder, variant=variant, settings=settings)
    return run_sample_program(folder, _input(batch))


def _load_of(run, layer: str):
    """The weight-load record of `layer`'s weight matrix (the largest load of the layer)."""
    loads = [
        r for r in run.record.records if r.transfer and r.layer == layer and "LOAD_W" in r.opcode
    ]
    return max(loads, key=lambda r: sum(i.bits for i in r.cost.items if i.purpose == "fill"))


def _bits(record, purpose: str, write: bool | None = None) -> float:
    return sum(
        item.bits
        for item in record.cost.items
        if item.purpose == purpose
        and item.level == "dram"
        and (write is None or item.entry.endswith("write_energy") == write)
    )


def _spike_input_bits(run, target: str) -> float:
    """Bits per inference of the second layer's spike input, as its design stores them."""
    program = run.record.program
    consumer = next(
        i
        for i in program.instructions
        if i.layer == "h2" and not i.opcode.startswith(("IO.", "DMA."))
    )
    name = consumer.inputs[0]
    kind = program.buffers[name].type.kind
    assert kind == "spk"
    return float(T * N * D)  # one bit a position, per inference


# -- technology ---------------------------------------------------------------------------


def test_sram_rule_passes_through_horowitz_points_and_grows_with_capacity() -> None:
    points = (10.0, 20.0, 100.0)
    for kb, pj in zip((8.0, 32.0, 1024.0), points, strict=True):
        assert sram_read_64b(kb, points) == pytest.approx(pj)
    sizes = [0.5, 2, 8, 16, 32, 128, 512, 1024, 4096]
    energies = [sram_read_64b(kb, points) for kb in sizes]
    assert all(a < b for a, b in itertools.pairwise(energies))
    # 16 kB between 8 and 32 kB: the geometric mean of 10 and 20 pJ (log-log interpolation)
    assert sram_read_64b(16.0, points) == pytest.approx(math.sqrt(200.0))


def test_node_scaling_is_c_v_squared_and_reported_per_entry() -> None:
    assert node_factor(45, 0.9, 28, 0.9) == pytest.approx(28 / 45)
    assert node_factor(45, 0.9, 14, 0.8) == pytest.approx(14 / 45 * (0.8 / 0.9) ** 2)
    hw = load_target("stacked3d").hardware()
    assert hw.number("energy.compute.add16") == pytest.approx(0.05 * 28 / 45)
    assert "x 0.622" in hw.describe("energy.compute.add16")
    # DRAM is off chip: not scaled
    assert hw.number("memory.dram.read_energy") == 2000.0
    # an SRAM level's access follows from its capacity, and changes with it
    one_mb = hw.number("memory.weight_buffer.read_energy")
    assert one_mb == pytest.approx(100.0 * 28 / 45)
    smaller = hw.with_settings(["memory.weight_buffer.capacity=32"])
    assert smaller.number("memory.weight_buffer.read_energy") == pytest.approx(20.0 * 28 / 45)
    assert smaller.number("memory.weight_buffer.leakage") == pytest.approx(32 * 5.0 / 1000)


def test_a_common_node_reprices_every_scaled_entry() -> None:
    hw = load_target("xpikeformer").hardware()
    at_45 = hw.with_settings(["technology.node_nm=45", "technology.vdd=0.9"])
    assert at_45.number("energy.compute.mult8") == pytest.approx(0.2)
    # the crossbar's own figures are given at HERMES's 14 nm, 0.8 V: scaled up to 45 nm
    factor = node_factor(14, 0.8, 45, 0.9)
    assert at_45.number("energy.aimc.row_analog_per_weight") == pytest.approx(
        hw.number("energy.aimc.row_analog_per_weight") * factor
    )


# -- the knapsack -------------------------------------------------------------------------


def test_most_that_fit_is_optimal_and_monotone_in_capacity() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        sizes = {f"w{i}": float(rng.integers(1, 12) * GRANULE_BITS) for i in range(7)}
        previous = -1.0
        for slots in range(0, 40, 3):
            capacity = slots * GRANULE_BITS
            chosen = most_that_fit(sizes, capacity)
            held = sum(sizes[n] for n in chosen)
            assert held <= capacity
            best = max(
                sum(sizes[n] for n in subset)
                for r in range(len(sizes) + 1)
                for subset in itertools.combinations(sizes, r)
                if sum(sizes[n] for n in subset) <= capacity
            )
            assert held == best
            assert held >= previous
            previous = held


# -- the weight plan, per design --------------------------------------------------------


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_weights_that_fit_load_once_per_run(model: Path, tmp_path: Path, target: str) -> None:
    figures = []
    for batch in (1, 3):
        run = _run(model, tmp_path / f"b{batch}", target, (), batch)
        plan = run.report.memory["levels"]
        loads = [r for r in run.record.records if r.transfer and "LOAD_W" in r.opcode]
        assert loads and all(r.cost.metrics.counters.get("weight_fetches") is None for r in loads)
        figures.append(sum(_bits(r, "fill") for r in loads))
        weights = next(row["weights"] for row in plan if row.get("weights"))
        assert weights["streamed"] == 0
    expected = (D_IN * D + D + D * D_OUT + D_OUT) * 8
    assert figures == [expected, expected]  # the same DRAM traffic whatever the batch


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_a_streamed_layer_loads_its_weights_once_per_inference(
    model: Path, tmp_path: Path, target: str
) -> None:
    _, weight_level, _ = DESIGNS[target]
    # 32 kB: the 72 kB of weights do not fit; fc2's 64 KiB stream through a 16 kB staging half
    run = _run(model, tmp_path, target, (f"memory.{weight_level}.capacity=32",), batch=2)
    load = _load_of(run, "h2")
    assert _bits(load, "fill") == W2_BITS * 2
    assert _bits(load, "refetch") == 0 and _bits(load, "spill") == 0
    weights = next(row["weights"] for row in run.report.memory["levels"] if row.get("weights"))
    assert weights["streamed"] >= 1
    assert weights["resident_bytes"] <= 16 * 1024


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_an_input_that_does_not_fit_is_spilled_and_read_per_weight_tile(
    model: Path, tmp_path: Path, target: str
) -> None:
    """Weight level 32 kB (tile 8 KiB, double-buffered: 8 weight tiles of fc2);
    input level 1 kB (fc2's 64 Kibit input is 8 input tiles): re-fetching the weights 7 more
    times (3.5 Mbit) costs more than spilling the input and reading it back per weight tile
    (64 Kibit x 9), so the input is spilled."""
    _, weight_level, input_level = DESIGNS[target]
    settings = (f"memory.{weight_level}.capacity=32", f"memory.{input_level}.capacity=1")
    run = _run(model, tmp_path, target, settings)
    load = _load_of(run, "h2")
    x = _spike_input_bits(run, target)
    assert x == 65536
    tiles = math.ceil(W2_BITS / (32 * 8192 / 2 / 2))
    assert tiles == 8
    assert _bits(load, "fill") == W2_BITS and _bits(load, "refetch") == 0
    assert _bits(load, "spill", write=True) == x
    assert _bits(load, "spill", write=False) == x * tiles
    assert load.cost.metrics.counters["input_rereads"] == tiles


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_halving_the_weight_level_refetches_the_weights_per_input_tile(
    model: Path, tmp_path: Path, target: str
) -> None:
    """Weight level 8 kB (tile 2 KiB: 32 weight tiles), input level 4 kB (2 input tiles of the
    64 Kibit input): fetching the weights twice (1 Mibit) beats spilling the input (64 Kibit
    x 33); halving the input level to 2 kB doubles the input tiles and the re-fetches."""
    _, weight_level, input_level = DESIGNS[target]
    fetched = []
    for kb in (4, 2):
        settings = (f"memory.{weight_level}.capacity=8", f"memory.{input_level}.capacity={kb}")
        run = _run(model, tmp_path / str(kb), target, settings)
        load = _load_of(run, "h2")
        input_tiles = math.ceil(65536 / (kb * 8192))
        assert load.cost.metrics.counters["weight_fetches"] == input_tiles
        assert _bits(load, "fill") == W2_BITS
        assert _bits(load, "refetch") == W2_BITS * (input_tiles - 1)
        assert _bits(load, "spill") == 0
        fetched.append(_bits(load, "fill") + _bits(load, "refetch"))
    assert fetched == [2 * W2_BITS, 4 * W2_BITS]


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_a_larger_level_never_moves_more_from_dram(
    model: Path, tmp_path: Path, target: str
) -> None:
    _, weight_level, input_level = DESIGNS[target]
    sizes = (1, 2, 4, 8, 32, 128)
    dram = np.zeros((len(sizes), len(sizes)))
    reference = checked_reference(model, {"x": _input(1)})
    for (i, w), (j, a) in itertools.product(enumerate(sizes), enumerate(sizes)):
        settings = (f"memory.{weight_level}.capacity={w}", f"memory.{input_level}.capacity={a}")
        run = _run(model, tmp_path / f"{w}-{a}", target, settings)
        levels = {row["level"]: row for row in run.report.memory["levels"]}
        dram[i, j] = levels["dram"]["bytes_read"] + levels["dram"]["bytes_written"]
        (out,) = run.outputs.values()
        np.testing.assert_array_equal(out, next(iter(reference.values())))  # still exact
    assert (np.diff(dram, axis=0) <= 1e-9).all(), dram  # a larger weight level
    assert (np.diff(dram, axis=1) <= 1e-9).all(), dram  # a larger activation level


# -- a convolution, and the report's sums -------------------------------------------------


CONVS = {"sparse": "TILE.CONV", "stacked3d": "SYS.CONV", "xpikeformer": "PE.CONV"}


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_a_streamed_convolution_is_tiled_by_its_real_input(tmp_path: Path, target: str) -> None:
    """The SDT sample's convolutions with a 4 kB weight level: each streamed convolution's
    weights are fetched once per inference, or again per input tile, or its input spilled,
    whichever the tiling rule says from the input's real bits (computed here by hand)."""
    variant, weight_level, _ = DESIGNS[target]
    compile_model(
        str(SAMPLES / "sdt.onnx"),
        target,
        tmp_path,
        variant=variant,
        settings=(f"memory.{weight_level}.capacity=4",),
    )
    x = np.load(SAMPLES / "sdt_input.npy")
    run = run_sample_program(tmp_path, x)
    hw = run.record.hardware
    program = run.record.program
    assert program is not None
    constants = open_program(tmp_path)[0].constants
    checked = 0
    for index, ins in enumerate(program.instructions):
        if "LOAD_W" not in ins.opcode or ins.attrs.get("resident", True):
            continue
        consumer = next(i for i in program.instructions[index + 1 :] if ins.outputs[0] in i.inputs)
        if not consumer.opcode.startswith(CONVS[target]) or "tile_input" not in ins.attrs:
            continue
        record = run.record.records[index]
        weight_bits = float(constants[ins.inputs[0]].size * 8)
        batch = x.shape[1]
        tile = ins.attrs["tile_bits"]
        assert isinstance(tile, int)
        assert tile == 4 * 8192 // 4
        level = str(ins.attrs["tile_input_level"])
        room = hw.number(f"memory.{level}.capacity") * 8192
        x_bits = record.cost.metrics.counters["input_bits"]
        assert x_bits > 0
        if x_bits <= room:
            expected = (1, 0.0)
        else:
            input_tiles, weight_tiles = math.ceil(x_bits / room), math.ceil(weight_bits / tile)
            if weight_bits * (input_tiles - 1) <= x_bits * (1 + weight_tiles):
                expected = (input_tiles, 0.0)
            else:
                expected = (1, x_bits * weight_tiles)
        assert _bits(record, "fill") + _bits(record, "refetch") == pytest.approx(
            weight_bits * expected[0] * batch
        )
        assert _bits(record, "spill", write=False) == pytest.approx(expected[1] * batch)
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("target", sorted(DESIGNS))
def test_the_memory_report_sums_to_the_ledger(model: Path, tmp_path: Path, target: str) -> None:
    _, weight_level, input_level = DESIGNS[target]
    settings = (f"memory.{weight_level}.capacity=8", f"memory.{input_level}.capacity=2")
    run = _run(model, tmp_path, target, settings, batch=2)
    report = run.report
    levels = report.memory["levels"]
    by_level = sum(row["energy_pj"] for row in levels)
    memory_entries = sum(
        pj
        for entry, pj in report.per_entry.items()
        if entry.startswith("memory.") and not entry.endswith(".leakage")
    )
    assert by_level == pytest.approx(memory_entries)
    dram = next(row for row in levels if row["level"] == "dram")
    assert dram["energy_pj"] == pytest.approx(report.per_component["dram"])
    moved = sum(dram[f"{p}_bytes"] for p in ("fill", "refetch", "spill", "store"))
    assert moved == pytest.approx(dram["bytes_read"] + dram["bytes_written"])
    for row in levels:
        if row["peak_bytes"] is not None:
            assert row["peak_bytes"] <= row["capacity_bytes"] + 1e-9
    assert {layer["bound"] for layer in report.memory["layers"]} <= {
        "dram",
        "on-chip",
        "compute",
        "none",
    }


# -- a convolution's tiling, golden -------------------------------------------------------

C0, C1, C2, HW = 2, 32, 64, 16
CONV2_BITS = C2 * C1 * 9 * 8
"""The second convolution's weights at 8 bits: 18 KiB, 147,456 bits."""
CONV2_INPUT_BITS = T * C1 * HW * HW
"""Its spike input, one bit a position per inference: 32,768 bits (4 KiB)."""


def _conv_model() -> onnx.ModelProto:
    """x -> conv (3x3) -> LIF -> conv (3x3) on the spikes (the layer tiled) -> mean."""
    rng = np.random.default_rng(11)
    inits = {
        "fold": np.array([-1, C0, HW, HW], np.int64),
        "conv1.w": dyadic(rng.normal(size=(C1, C0, 3, 3)) * 0.5),
        "unfold1": np.array([T, -1, C1, HW, HW], np.int64),
        "fold2": np.array([-1, C1, HW, HW], np.int64),
        "conv2.w": dyadic(rng.normal(size=(C2, C1, 3, 3)) * 0.25),
        "unfold2": np.array([T, -1, C2, HW, HW], np.int64),
    }
    nodes = [
        helper.make_node("Reshape", ["x", "fold"], ["xf"], name="fold"),
        helper.make_node("Conv", ["xf", "conv1.w"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["c1", "unfold1"], ["u1"], name="unfold1"),
        helper.make_node("LIF", ["u1"], ["s1"], name="lif1", domain="spike", v_threshold=0.5),
        helper.make_node("Reshape", ["s1", "fold2"], ["sf"], name="fold2"),
        helper.make_node("Conv", ["sf", "conv2.w"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["c2", "unfold2"], ["u2"], name="unfold2"),
        helper.make_node("ReduceMean", ["u2"], ["y"], name="mean", axes=[0, 3, 4], keepdims=0),
    ]
    return model_from(nodes, [("x", [T, "B", C0, HW, HW])], [("y", ["B", C2])], inits)


@pytest.mark.parametrize("target", sorted(DESIGNS))
@pytest.mark.parametrize(
    ("input_kb", "fetches", "spill_reads"),
    [
        # 2 input tiles: fetching the weights twice (147,456 bits more) beats spilling the
        # input and reading it back per weight tile (32,768 x (1 + 9) bits)
        (2, 2, 0),
        # 4 input tiles: three more fetches (442,368 bits) cost more than the spill (327,680):
        # the input is written once and read once per weight tile
        (1, 1, 9),
    ],
)
def test_a_convolution_below_its_working_set_matches_the_hand_tiling(
    tmp_path: Path, target: str, input_kb: int, fetches: int, spill_reads: int
) -> None:
    """Weight level 8 kB: half resident (conv1's 576 B), half staging in two 2 KiB tiles, so
    conv2's 147,456 bits are 9 weight tiles; its 32,768-bit input against a 2 kB or 1 kB
    input level is 2 or 4 input tiles."""
    path = tmp_path / "convs.onnx"
    onnx.save(_conv_model(), path)
    variant, weight_level, input_level = DESIGNS[target]
    settings = (f"memory.{weight_level}.capacity=8", f"memory.{input_level}.capacity={input_kb}")
    compile_model(str(path), target, tmp_path / "program", variant=variant, settings=settings)
    x = dyadic(np.random.default_rng(12).normal(size=(T, 1, C0, HW, HW)), bits=6)
    run = run_sample_program(tmp_path / "program", x)
    (out,) = run.outputs.values()
    np.testing.assert_array_equal(out, next(iter(checked_reference(path, {"x": x}).values())))
    load = _load_of(run, "c2")
    assert load.cost.metrics.counters["input_bits"] == CONV2_INPUT_BITS
    assert _bits(load, "fill") == CONV2_BITS
    assert _bits(load, "refetch") == CONV2_BITS * (fetches - 1)
    assert _bits(load, "spill", write=True) == (CONV2_INPUT_BITS if spill_reads else 0)
    assert _bits(load, "spill", write=False) == CONV2_INPUT_BITS * spill_reads
