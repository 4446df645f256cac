"""`spike.cuba_lif`, Norse's current-based LIF (`norse.torch.LIFCell`): the kernel against a
plain per-element recurrence, the ONNX function `spike.CubaLIF` run by onnxruntime against the
reference interpreter bit for bit, and every target compiling and running a model with a CubaLIF
layer exactly, with the neuron's work in its account."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from xdsl.utils.exceptions import VerifyException

from compiler.dialects import spike
from compiler.dialects.spike.types import real_type
from compiler.errors import UnsupportedModelError
from compiler.frontend.onnx_functions import FUNCTION_NAMES, cuba_lif_function
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from runtime import kernels
from runtime.interpreter import InstructionRecord
from tests.conftest import checked_reference, dyadic, entry_energy, model_from, run_sample_program

RNG = np.random.default_rng(2024)
T = 6

PARAMS = [
    # dt_tau_mem_inv, dt_tau_syn_inv, v_leak, v_threshold, v_reset
    (0.1, 0.2, 0.0, 1.0, 0.0),  # Norse's defaults at dt = 1 ms: 1e-3 * 100, 1e-3 * 200
    (0.3, 0.0, -0.25, 0.5, 0.125),  # a current that never decays, a leak and a reset apart
    (1.0, 1.0, 0.0, 0.75, -0.5),  # no memory: H = v_leak + X
    (0.0625, 0.7, 0.2, 0.3, 0.2),
]


def _scalar_cuba_lif(
    xs: list[float], mem: float, syn: float, vl: float, vth: float, vr: float
) -> list[float]:
    """One neuron, one step at a time, in float32 scalars: Norse's `lif_feed_forward_step`."""
    f = np.float32
    a, b, v_leak = f(mem), f(syn), f(vl)
    v, i, out = v_leak, f(0.0), []
    for value in xs:
        j = i + f(value)
        h = v + a * ((v_leak - v) + j)
        i = j + (-b) * j
        s = f(1.0) if h - f(vth) > f(0.0) else f(0.0)
        v = (f(1.0) - s) * h + s * f(vr)
        out.append(float(s))
    return out


@pytest.mark.parametrize("params", PARAMS)
def test_kernel_matches_the_scalar_recurrence(params: tuple[float, ...]) -> None:
    x = (RNG.normal(size=(T + 4, 2, 3, 5)) * 1.5).astype(np.float32)
    got = kernels.cuba_lif(x, *params)
    assert got.dtype == np.float32 and got.shape == x.shape
    flat, columns = got.reshape(T + 4, -1), x.reshape(T + 4, -1)
    for k in range(columns.shape[1]):
        assert flat[:, k].tolist() == _scalar_cuba_lif(columns[:, k].tolist(), *params)
    assert 0 < got.sum() < got.size  # the cases fire, and not everywhere


def test_kernel_fires_strictly_above_threshold_with_a_hard_reset() -> None:
    # dt_tau_mem_inv = dt_tau_syn_inv = 1: the current is spent each step and H = v_leak + X.
    x = np.array([[1.0], [1.5], [0.25], [2.0]], np.float32)
    assert kernels.cuba_lif(x, 1.0, 1.0, 0.0, 1.0, 0.0)[:, 0].tolist() == [0, 1, 0, 1]
    # The input goes through the current: with no current decay one pulse keeps driving V up.
    pulse = np.array([[1.0], [0.0], [0.0], [0.0]], np.float32)
    # V: 0.5, 0.75, 0.875 (each step half-way to v_leak + I = 1), never above 1 ...
    assert kernels.cuba_lif(pulse, 0.5, 0.0, 0.0, 1.0, 0.0).sum() == 0
    # ... and above 0.8 from the third step, reset to v_reset = 0 where it fires
    assert kernels.cuba_lif(pulse, 0.5, 0.0, 0.0, 0.8, 0.0)[:, 0].tolist() == [0, 0, 1, 0]


# -- the ONNX function and the frontend ----------------------------------------------------------


def _cuba_node(x: str, y: str, params: tuple[float, ...] | None) -> onnx.NodeProto:
    if params is None:  # only the required attributes: the function's defaults apply
        return helper.make_node(
            "CubaLIF", [x], [y], domain="spike", dt_tau_mem_inv=0.25, dt_tau_syn_inv=0.5
        )
    mem, syn, vl, vth, vr = params
    return helper.make_node(
        "CubaLIF",
        [x],
        [y],
        domain="spike",
        dt_tau_mem_inv=mem,
        dt_tau_syn_inv=syn,
        v_leak=vl,
        v_threshold=vth,
        v_reset=vr,
    )


def _save(model: onnx.ModelProto, tmp_path: Path) -> Path:
    path = tmp_path / "cuba.onnx"
    onnx.save(model, path)
    return path


def test_the_function_is_part_of_the_convention() -> None:
    assert "CubaLIF" in FUNCTION_NAMES
    function = cuba_lif_function()
    assert (function.domain, function.name) == ("spike", "CubaLIF")
    assert list(function.attribute) == ["dt_tau_mem_inv", "dt_tau_syn_inv"]
    defaults = {a.name: a.f for a in function.attribute_proto}
    assert defaults == {"v_leak": 0.0, "v_threshold": 1.0, "v_reset": 0.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", [*PARAMS, None])
def test_onnxruntime_equals_the_reference_bit_for_bit(
    params: tuple[float, ...] | None, seed: int, tmp_path: Path
) -> None:
    """Random float32 inputs (not dyadic): only the same arithmetic in the same order agrees."""
    model = model_from([_cuba_node("x", "s", params)], [("x", [T, "B", 4, 8])], [("s", None)])
    path = _save(model, tmp_path)
    x = (np.random.default_rng(seed).normal(size=(T, 3, 4, 8)) * 2).astype(np.float32)
    result = import_onnx(path)
    ops = [op for op in result.module.walk() if isinstance(op, spike.CubaLIFOp)]
    assert len(ops) == 1
    ours = evaluate(result.module, result.weights, {"x": x})["s"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(["s"], {"x": x})
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)
    assert 0 < ours.sum() < ours.size


def test_frontend_reads_the_attributes(tmp_path: Path) -> None:
    params = (0.1, 0.2, -0.25, 0.5, 0.125)
    model = model_from([_cuba_node("x", "s", params)], [("x", [T, "B", 8])], [("s", None)])
    (op,) = [
        o
        for o in import_onnx(_save(model, tmp_path)).module.walk()
        if isinstance(o, spike.CubaLIFOp)
    ]
    got = [
        op.dt_tau_mem_inv.value.data,
        op.dt_tau_syn_inv.value.data,
        op.v_leak.value.data,
        op.v_threshold.value.data,
        op.v_reset.value.data,
    ]
    assert got == [float(np.float32(p)) for p in params]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"dt_tau_syn_inv": 0.2}, "attribute 'dt_tau_mem_inv' is required"),
        ({"dt_tau_mem_inv": 0.1}, "attribute 'dt_tau_syn_inv' is required"),
        ({"dt_tau_mem_inv": 0.0, "dt_tau_syn_inv": 0.2}, "dt_tau_mem_inv must be > 0"),
        ({"dt_tau_mem_inv": 0.1, "dt_tau_syn_inv": -0.5}, "dt_tau_syn_inv must be >= 0"),
        ({"dt_tau_mem_inv": 0.1, "dt_tau_syn_inv": 0.2, "tau": 2.0}, "unknown attribute"),
    ],
)
def test_frontend_refuses_bad_attributes(
    attributes: dict[str, Any], message: str, tmp_path: Path
) -> None:
    node = helper.make_node("CubaLIF", ["x"], ["s"], name="cuba0", domain="spike", **attributes)
    model = model_from([node], [("x", [T, "B", 8])], [("s", None)])
    with pytest.raises(UnsupportedModelError, match=message) as info:
        import_onnx(_save(model, tmp_path))
    assert "cuba0" in str(info.value)


def test_verifier_checks_the_time_constants() -> None:
    x = spike.WeightOp("x", real_type((T, 2, 8)))
    with pytest.raises(VerifyException, match="dt_tau_mem_inv must be > 0"):
        spike.CubaLIFOp(x, dt_tau_mem_inv=0.0, dt_tau_syn_inv=0.1).verify()
    with pytest.raises(VerifyException, match="dt_tau_syn_inv must be >= 0"):
        spike.CubaLIFOp(x, dt_tau_mem_inv=0.1, dt_tau_syn_inv=-0.1).verify()
    spike.CubaLIFOp(x, dt_tau_mem_inv=0.1, dt_tau_syn_inv=0.0).verify()


# -- the targets ---------------------------------------------------------------------------------

B, N, D_IN, D = 2, 8, 16, 32
CUBA_PARAMS = (0.25, 0.5, 0.0, 0.5, 0.0)


def _layer_model(neuron: str = "CubaLIF") -> onnx.ModelProto:
    """x -> linear -> neuron -> linear on its spikes -> mean over tokens and time. Dyadic
    weights and inputs, so that every sum is exact whatever order a unit adds in."""
    rng = np.random.default_rng(3)
    inits = {
        "fc1.w": dyadic(rng.normal(size=(D_IN, D)) * 0.5),
        "fc1.b": dyadic(rng.normal(size=D) * 0.2),
        "fc2.w": dyadic(rng.normal(size=(D, 10)) * 0.5),
        "fc2.b": dyadic(rng.normal(size=10) * 0.2),
    }
    if neuron == "CubaLIF":
        cell = _cuba_node("h1", "cuba", CUBA_PARAMS)
    else:
        cell = helper.make_node("LIF", ["h1"], ["cuba"], domain="spike", v_threshold=0.5)
    nodes = [
        helper.make_node("MatMul", ["x", "fc1.w"], ["m1"], name="fc1"),
        helper.make_node("Add", ["m1", "fc1.b"], ["h1"], name="fc1_bias"),
        cell,
        helper.make_node("MatMul", ["cuba", "fc2.w"], ["m2"], name="fc2"),
        helper.make_node("Add", ["m2", "fc2.b"], ["h2"], name="fc2_bias"),
        helper.make_node("ReduceMean", ["h2"], ["tok"], name="mean_tokens", axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["tok"], ["y"], name="mean_time", axes=[0], keepdims=0),
    ]
    return model_from(nodes, [("x", [T, "B", N, D_IN])], [("y", ["B", 10])], inits)


def _input() -> np.ndarray:
    return dyadic(np.random.default_rng(4).normal(size=(T, B, N, D_IN)), bits=6)


@pytest.fixture(scope="module")
def layer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cuba") / "cuba_layer.onnx"
    onnx.save(_layer_model(), path)
    return path


@pytest.fixture(scope="module")
def reference(layer_model: Path) -> dict[str, np.ndarray]:
    return checked_reference(layer_model, {"x": _input()})


def _neuron_record(records: list[InstructionRecord], opcode: str) -> InstructionRecord:
    (record,) = [r for r in records if r.opcode == opcode]
    return record


UPDATES = T * B * N * D


@pytest.mark.parametrize(
    ("target", "variant", "opcode"),
    [
        ("sparse", "sparse", "ENC.CUBA_LIF"),
        ("sparse", "dense", "ENC.CUBA_LIF"),
        ("stacked3d", "3d", "NEU.CUBA_LIF"),
        ("stacked3d", "2d", "NEU.CUBA_LIF"),
        ("xpikeformer", "xpikeformer", "DIG.CUBA_LIF"),
        ("xpikeformer", "digital-snn", "DIG.CUBA_LIF"),
        ("xpikeformer", "digital-ann", "ANN.CUBA_LIF"),
    ],
)
def test_targets_run_a_cuba_lif_layer_exactly(
    target: str,
    variant: str,
    opcode: str,
    layer_model: Path,
    reference: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    path = tmp_path / f"{target}.{variant}"
    compile_model(str(layer_model), target, path, variant=variant)
    assert opcode in (path / "program.sasm").read_text()
    run = run_sample_program(path, _input())
    np.testing.assert_array_equal(run.outputs["y"], reference["y"])
    record = _neuron_record(run.record.records, opcode)
    metrics = record.cost.metrics
    if variant != "digital-ann":  # the ANN counterpart runs once, as a ReLU: no membranes
        assert metrics.membrane_updates == UPDATES
        assert metrics.neurons == UPDATES
        assert 0 < metrics.spikes < UPDATES


def test_sparse_report_counts_the_membrane_updates_and_prices_them(
    layer_model: Path, tmp_path: Path
) -> None:
    compile_model(str(layer_model), "sparse", tmp_path / "p", variant="sparse")
    run = run_sample_program(tmp_path / "p", _input())
    # the one neuron layer of the model: one membrane update per element and timestep; those
    # that change the membrane (NeuroBench's count) are fewer
    assert run.report.workload["membrane_updates_all"] == UPDATES
    assert 0 < run.report.workload["membrane_updates"] <= UPDATES
    layers = {row["layer"]: row for row in run.report.per_layer}
    assert layers["cuba"]["neurons"] == UPDATES
    assert 0 < layers["cuba"]["spikes"] < UPDATES
    record = _neuron_record(run.record.records, "ENC.CUBA_LIF")
    hw = run.record.hardware
    price = hw.number
    # per update: 5 adds, 2 multiplies, 1 comparison; two state words read and written
    assert entry_energy(record, "energy.compute.add16") == pytest.approx(
        5 * UPDATES * price("energy.compute.add16")
    )
    assert entry_energy(record, "energy.compute.mult16") == pytest.approx(
        2 * UPDATES * price("energy.compute.mult16")
    )
    assert entry_energy(record, "energy.compute.compare16") == pytest.approx(
        UPDATES * price("energy.compute.compare16")
    )
    membrane = 4 * UPDATES * hw.integer("precision.membrane_bits")
    assert entry_energy(record, "memory.membrane_sram.read_energy") + entry_energy(
        record, "memory.membrane_sram.write_energy"
    ) == pytest.approx(
        membrane
        * price("memory.membrane_sram.read_energy")
        / hw.integer("memory.membrane_sram.word_bits")
    )
    lanes = hw.integer("encoder.neuron_lanes")
    assert record.cost.cycles >= T * math.ceil(UPDATES / T / lanes)


def test_cuba_lif_costs_more_than_lif_on_every_neuron_unit(tmp_path: Path) -> None:
    """The same layer with SpikingJelly's LIF instead: the CUBA neuron's update does more
    arithmetic and keeps twice the state."""
    for target, unit in (("sparse", "ENC"), ("stacked3d", "NEU")):
        energies: dict[str, dict[str, float]] = {}
        for neuron, opcode in (("CubaLIF", "CUBA_LIF"), ("LIF", "LIF")):
            folder = tmp_path / f"{target}.{neuron}"
            folder.mkdir()
            onnx.save(_layer_model(neuron), folder / "model.onnx")
            compile_model(str(folder / "model.onnx"), target, folder / "program")
            run = run_sample_program(folder / "program", _input())
            record = _neuron_record(run.record.records, f"{unit}.{opcode}")
            assert record.cost.metrics.membrane_updates == UPDATES
            totals: dict[str, float] = {}
            for item in record.cost.items:
                totals[item.entry] = totals.get(item.entry, 0.0) + item.picojoules
            energies[neuron] = totals
        cuba, lif = energies["CubaLIF"], energies["LIF"]
        assert "energy.compute.mult16" in cuba and "energy.compute.mult16" not in lif
        assert cuba["energy.compute.add16"] == pytest.approx(2.5 * lif["energy.compute.add16"])
        assert cuba["energy.compute.compare16"] == pytest.approx(lif["energy.compute.compare16"])
        state = (
            "memory.membrane_sram.read_energy" if target == "sparse" else "memory.local.read_energy"
        )
        assert cuba[state] == pytest.approx(2 * lif[state])
        written = state.replace("read_energy", "write_energy")
        assert cuba.get(written, 0.0) == pytest.approx(2 * lif.get(written, 0.0))
        assert sum(cuba.values()) > sum(lif.values())
