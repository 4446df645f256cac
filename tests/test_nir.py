"""NIR import: graphs written by snnTorch and Norse evaluate as the libraries' own simulations of
them (samples/export/export_nir.py built the files and ran the libraries), on the reference
interpreter and on every target; hand-built graphs cover the other NIR nodes against a numpy
forward-Euler of NIR's equations; bad graphs and options end in one clear message."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest

from compiler.dialects import spike
from compiler.errors import SpikecError
from compiler.frontend.nir_import import import_nir
from compiler.frontend.nir_options import NirOptions
from compiler.interpreters.reference import evaluate
from runtime import kernels
from tests.conftest import run_cli

EXPORTS = Path(__file__).resolve().parent.parent / "samples" / "export"
MANIFEST = json.loads((EXPORTS / "nir_manifest.json").read_text())
X = np.load(EXPORTS / "nir_test_x.npy")
F32 = np.float32


def _options(name: str, **changes: object) -> NirOptions:
    entry = MANIFEST[name]
    base = NirOptions(dt=entry["dt"], timesteps=entry["timesteps"], discretisation="auto")
    return replace(base, **changes)  # type: ignore[arg-type]


def _assert_matches(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Spikes identical; reals within 1e-5 relative (BLAS sums in its own order)."""
    assert ours.shape == theirs.shape
    if set(np.unique(theirs)) <= {0.0, 1.0}:
        assert np.array_equal(ours, theirs), f"{int((ours != theirs).sum())} spikes differ"
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_library_export_evaluates_as_the_library_simulates_it(name: str) -> None:
    entry = MANIFEST[name]
    discretisation = "auto" if entry["library"] == "snntorch" else entry["library"]
    imported = import_nir(EXPORTS / f"{name}.nir", _options(name, discretisation=discretisation))
    assert imported.discretisation == entry["discretisation"]
    (ours,) = evaluate(imported.module, imported.weights, {"input": X}).values()
    _assert_matches(ours, np.load(EXPORTS / f"{name}_nir_reference.npy"))


def test_snntorch_leaky_imports_with_beta_exactly_0_9() -> None:
    """snnTorch writes β = 0.9 as τ = dt / (1 - β), r = τ / dt; the import gives β back exactly."""
    imported = import_nir(EXPORTS / "snntorch_mlp.nir", _options("snntorch_mlp"))
    leaky = [op for op in imported.module.walk() if isinstance(op, spike.LeakyOp)]
    assert len(leaky) == 2
    for op in leaky:
        assert F32(op.beta.value.data) == F32(0.9)
        assert op.immediate_reset is not None
        assert op.reset_mechanism.data.value == "zero"


@pytest.mark.parametrize("beta", [0.5, 0.8, 0.9, 0.95, 0.99, 0.7])
def test_snntorch_export_parameters_give_beta_back(tmp_path: Path, beta: float) -> None:
    """The β of snntorch.export_nir's parameters, for several β (not only the sample's)."""
    b = np.full(3, beta, F32)
    dt = 1e-4
    tau = dt / (1 - b)
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([3])),
        nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(3, F32), v_threshold=np.ones(3, F32)),
        nir.Output(output_type=np.array([3])),
    )
    path = tmp_path / "leaky.nir"
    nir.write(path, graph)
    imported = import_nir(path, NirOptions(dt=dt, timesteps=2))
    assert imported.discretisation == "snntorch"
    (op,) = [o for o in imported.module.walk() if isinstance(o, spike.LeakyOp)]
    assert F32(op.beta.value.data) == F32(beta)


def test_a_nir_model_runs_on_every_target(tmp_path: Path) -> None:
    """Compiled for each target, the snnTorch export runs as the reference interpreter runs it."""
    from compiler.frontend.nir_options import options, using
    from compiler.runner import RunOptions, execute_package, open_program
    from compiler.toolchain import compile_model

    model = EXPORTS / "snntorch_synaptic.nir"
    x = X[:, :8]
    with using(_options("snntorch_synaptic")):
        imported = import_nir(model, options)
        (want,) = evaluate(imported.module, imported.weights, {"input": x}).values()
        for target in ("stacked3d", "xpikeformer", "sparse"):
            compile_model(str(model), target, tmp_path / target)
            package, built_for = open_program(tmp_path / target)
            run = execute_package(package, built_for, {"input": x}, None, RunOptions())
            (got,) = run.outputs.values()
            assert np.array_equal(got, want), target


# -- the other nodes, against NIR's equations --------------------------------------------------


def _euler_lif_box(x: np.ndarray, a: F32, vl: F32, vth: F32, vr: F32) -> np.ndarray:
    """One neuron a step at a time in float32 scalars: v + a((x + v_leak) - v), fire above."""
    v = np.full(x.shape[1:], vl, F32)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        h = (v + a * ((x[t] + vl) - v)).astype(F32)
        s = (h - vth > 0).astype(F32)
        v = ((F32(1) - s) * h + s * vr).astype(F32)
        out[t] = s
    return out


def _round_trip(imported: Any, tmp_path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The module written back to NIR by the exporter and imported again, evaluated."""
    from compiler.frontend.nir_export import export_nir

    path = tmp_path / "again.nir"
    dt = imported.module.attributes["spike.dt"].value.data
    result = export_nir(imported.module, imported.weights, dt, path)
    assert result.left_out == []
    again = import_nir(path, NirOptions())
    (value,) = evaluate(again.module, again.weights, inputs).values()
    return value


def _write(tmp_path: Path, nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> Path:
    path = tmp_path / "graph.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    return path


def test_conv_pool_flatten_affine_lif_as_forward_euler(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 1, 3, 3)).astype(F32)
    cb = rng.normal(size=2).astype(F32) * F32(0.1)
    fc = rng.normal(size=(4, 2 * 2 * 2)).astype(F32)
    tau = np.full(4, 0.02, F32)
    nodes = {
        "in": nir.Input(input_type=np.array([1, 6, 6])),
        "conv": nir.Conv2d(
            input_shape=(6, 6), weight=w, stride=1, padding=0, dilation=1, groups=1, bias=cb
        ),
        "pool": nir.SumPool2d(
            kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
        ),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1),
        "fc": nir.Linear(weight=fc),
        "lif": nir.LIF(
            tau=tau,
            r=np.full(4, 2.0, F32),
            v_leak=np.zeros(4, F32),
            v_threshold=np.full(4, 0.5, F32),
        ),
        "out": nir.Output(output_type=np.array([4])),
    }
    edges = [("in", "conv"), ("conv", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "lif")]
    path = _write(tmp_path, nodes, [*edges, ("lif", "out")])
    x = (rng.random((5, 3, 1, 6, 6)) < 0.5).astype(F32)
    imported = import_nir(path, NirOptions(dt=1e-3, timesteps=5))
    assert imported.discretisation == "nir"
    (ours,) = evaluate(imported.module, imported.weights, {"in": x}).values()

    # The layers in spikec's kernels (held to onnxruntime by the ONNX tests); what is checked
    # here is the mapping: pads, the sum as mean times area, the input scale r, dt / tau.
    conv = kernels.conv2d(x, w, cb, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    pooled = kernels.avgpool(conv, (2, 2), (2, 2), (0, 0, 0, 0), True) * F32(4)
    current = kernels.linear(pooled.reshape(5, 3, 8), fc, None, True) * F32(2.0)
    a = F32(1e-3) * (F32(1) / tau[0])
    want = _euler_lif_box(current.astype(F32), a, F32(0), F32(0.5), F32(0))
    assert 0 < want.sum() < want.size
    np.testing.assert_array_equal(ours, want)
    np.testing.assert_array_equal(_round_trip(imported, tmp_path, {"in": x}), want)


def test_integrators_delay_threshold_scale_and_if(tmp_path: Path) -> None:
    n = 3
    ones = np.ones(n, F32)
    nodes = {
        "in": nir.Input(input_type=np.array([n])),
        "scale": nir.Scale(scale=np.array([1.0, 2.0, 0.5], F32)),
        "i": nir.I(r=np.full(n, 100.0, F32)),
        "li": nir.LI(tau=np.full(n, 0.01, F32), r=ones, v_leak=np.zeros(n, F32)),
        "cuba": nir.CubaLI(
            tau_syn=np.full(n, 0.005, F32),
            tau_mem=np.full(n, 0.01, F32),
            r=ones,
            v_leak=np.zeros(n, F32),
        ),
        "thr": nir.Threshold(threshold=np.full(n, 0.2, F32)),
        "delay": nir.Delay(delay=np.full(n, 2e-3, F32)),
        "if": nir.IF(r=np.full(n, 500.0, F32), v_threshold=ones),
        "out": nir.Output(output_type=np.array([n])),
    }
    edges = [
        ("in", "scale"),
        ("scale", "i"),
        ("i", "thr"),
        ("thr", "delay"),
        ("delay", "if"),
        ("scale", "li"),
        ("li", "cuba"),
        ("cuba", "if"),
        ("if", "out"),
    ]
    path = _write(tmp_path, nodes, edges)
    x = np.random.default_rng(4).random((8, 2, n)).astype(F32)
    imported = import_nir(path, NirOptions(dt=1e-3, timesteps=8))
    (ours,) = evaluate(imported.module, imported.weights, {"in": x}).values()

    dt = F32(1e-3)
    scaled = x * np.array([1.0, 2.0, 0.5], F32)
    integrated = np.cumsum(scaled * (dt * F32(100.0)), axis=0, dtype=F32)
    fired = (integrated > F32(0.2)).astype(F32)
    delayed = np.concatenate([np.zeros_like(fired[:2]), fired[:-2]])

    def li(u: np.ndarray, a: F32) -> np.ndarray:
        v, out = np.zeros(u.shape[1:], F32), np.zeros_like(u)
        for t in range(u.shape[0]):
            v = (v + a * ((F32(0) - v) + u[t])).astype(F32)
            out[t] = v
        return out

    gain = dt * (F32(1) / F32(0.01))
    membrane = li(li(li(scaled, gain), dt * (F32(1) / F32(0.005))), gain)
    charge = ((delayed + membrane) * (dt * F32(500.0))).astype(F32)
    v, want = np.zeros((2, n), F32), np.zeros_like(x)
    for t in range(8):
        v = (v + charge[t]).astype(F32)
        s = v > F32(1)
        want[t] = s
        v[s] = 0
    np.testing.assert_array_equal(ours, want)
    assert 0 < want.sum() < want.size
    np.testing.assert_array_equal(_round_trip(imported, tmp_path, {"in": x}), want)


def test_conv1d_and_avgpool_shapes(tmp_path: Path) -> None:
    w = np.random.default_rng(5).normal(size=(4, 2, 3)).astype(F32)
    nodes = {
        "in": nir.Input(input_type=np.array([2, 10])),
        "conv": nir.Conv1d(
            input_shape=10, weight=w, stride=2, padding=1, dilation=1, groups=1, bias=np.zeros(4)
        ),
        "out": nir.Output(output_type=np.array([4, 5])),
    }
    path = _write(tmp_path, nodes, [("in", "conv"), ("conv", "out")])
    x = np.random.default_rng(6).random((2, 1, 2, 10)).astype(F32)
    imported = import_nir(path, NirOptions(timesteps=2))
    (ours,) = evaluate(imported.module, imported.weights, {"in": x}).values()
    padded = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1)))
    want = np.zeros((2, 1, 4, 5), F32)
    for j in range(5):
        want[..., j] = np.einsum("tbck,ock->tbo", padded[..., 2 * j : 2 * j + 3], w)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)


# -- bad input ----------------------------------------------------------------------------------


def _fails(args: list[object], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    code, out, err = run_cli([str(a) for a in args], capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def test_timesteps_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["import", EXPORTS / "snntorch_mlp.nir"], capsys, "--timesteps", "snntorch_mlp.nir")


def test_neurons_need_dt(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["import", EXPORTS / "norse_mlp.nir", "--timesteps", "4"], capsys, "--dt", "node '1'")


def test_not_a_nir_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.nir"
    bad.write_text("not hdf5\n")
    out = tmp_path / "o.mlir"
    _fails(["import", bad, "--timesteps", "2", "-o", out], capsys, "notes.nir", "not a readable")
    assert not out.exists()


def test_graph_problems_are_all_listed(tmp_path: Path) -> None:
    n = 2
    nodes = {
        "in": nir.Input(input_type=np.array([n])),
        "lif": nir.LIF(
            tau=np.array([0.01, 0.02], F32),
            r=np.ones(n, F32),
            v_leak=np.zeros(n, F32),
            v_threshold=np.ones(n, F32),
        ),
        "delay": nir.Delay(delay=np.full(n, 1.5e-3, F32)),
        "fc": nir.Threshold(threshold=np.array([0.1, 0.2], F32)),
        "out": nir.Output(output_type=np.array([n])),
    }
    edges = [("in", "lif"), ("in", "delay"), ("in", "fc"), ("lif", "out")]
    path = _write(tmp_path, nodes, edges)
    with pytest.raises(SpikecError) as info:
        import_nir(path, NirOptions(dt=1e-3, timesteps=3))
    message = str(info.value)
    assert "node 'lif' (LIF): its time constants differ" in message
    assert "node 'delay' (Delay): delay 0.0015 s is not a whole number of steps" in message
    assert "node 'fc' (Threshold): threshold differs across its 2 neurons" in message


def test_a_cycle_is_named(tmp_path: Path) -> None:
    n = 2
    nodes = {
        "in": nir.Input(input_type=np.array([n])),
        "a": nir.Linear(weight=np.eye(n, dtype=F32)),
        "b": nir.Linear(weight=np.eye(n, dtype=F32)),
        "out": nir.Output(output_type=np.array([n])),
    }
    path = _write(tmp_path, nodes, [("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")])
    with pytest.raises(SpikecError, match="recurrent edges among a, b"):
        import_nir(path, NirOptions(timesteps=3))


# -- export -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_export_then_import_runs_the_same(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`spikec export` writes each op back in the form the import reads: the round trip of the
    library exports evaluates identically (the file's metadata carries dt, T, discretisation)."""
    entry = MANIFEST[name]
    out = tmp_path / "again.nir"
    args = ["export", EXPORTS / f"{name}.nir", "--dt", entry["dt"], "--timesteps", 6, "-o", out]
    if entry["library"] == "norse":
        args += ["--nir-discretisation", "norse"]
    code, stdout, err = run_cli([str(a) for a in args], capsys)
    if name == "snntorch_rleaky":  # recurrent subgraphs are not written yet: named, cut there
        assert code == 0 and "not in NIR: spike.leaky 'v1.lif': a recurrent neuron" in err
        return
    assert code == 0, err
    assert "0 ops left out" in stdout
    first = import_nir(EXPORTS / f"{name}.nir", _options(name, discretisation=entry["library"]))
    again = import_nir(out, NirOptions())
    assert again.discretisation == entry["library"]
    (want,) = evaluate(first.module, first.weights, {"input": X}).values()
    (got,) = evaluate(again.module, again.weights, {"input": X}).values()
    _assert_matches(got, want)


def test_export_names_what_nir_cannot_express(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = EXPORTS / "snntorch_attention.dynamo.onnx"
    out = tmp_path / "attention.nir"
    code, _, err = run_cli(["export", str(model), "-o", str(out)], capsys)
    assert code == 0, err
    assert "not in NIR: spike.reshape 'view': NIR's Flatten merges trailing dimensions" in err
    assert "not in NIR: spike.div 'logits': reads an op left out" in err
    graph = nir.read(out)  # the input, and an output where the graph is cut
    assert sorted(type(n).__name__ for n in graph.nodes.values()) == ["Input", "Output"]


def test_export_refuses_another_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    _fails(
        ["export", EXPORTS / "snntorch_mlp.nir", "--timesteps", "2", "--dt", "1e-4", "-o", out],
        capsys,
        "must be a .nir file",
    )
    assert not out.exists()


@pytest.mark.parametrize("target", ["stacked3d", "xpikeformer", "sparse"])
def test_a_recurrent_neuron_is_priced_with_its_feedback(target: str, tmp_path: Path) -> None:
    """The recurrent layer's adds are its neuron updates, priced as the plain layer's, plus one
    per weight each spike of the step before feeds back (`S Wᵀ`)."""
    from compiler.formats.nir_file import nir_tensors
    from compiler.frontend.nir_options import using
    from compiler.runner import RunOptions, execute_package, open_program
    from compiler.toolchain import compile_model
    from tests.conftest import entry_energy

    with using(_options("snntorch_rleaky")):
        compile_model(str(EXPORTS / "snntorch_rleaky.nir"), target, tmp_path / "p")
    package, built_for = open_program(tmp_path / "p")
    x = X[:, :8]
    run = execute_package(package, built_for, {"input": x}, None, RunOptions())
    by_layer = {r.layer: r for r in run.record.records if "LEAKY" in r.opcode}
    recurrent, plain = by_layer["1.lif"], by_layer["3"]
    price = run.record.hardware.number("energy.compute.add16")
    weights = nir_tensors(EXPORTS / "snntorch_rleaky.nir")
    current = kernels.linear(x, weights["0.weight"], weights["0.bias"], True)
    recurrent_weights = (weights["1.w_rec.weight"], weights["1.w_rec.bias"])
    fired = kernels.leaky(current, 0.9, 1.0, "zero", None, False, recurrent_weights)
    feedback = float(fired[:-1].sum() * 32)  # each spike of a step before: its 32 weights
    assert feedback > 0
    updates_rec, updates_plain = 6 * 8 * 32, 6 * 8 * 10
    per_update_rec = (
        entry_energy(recurrent, "energy.compute.add16") / price - feedback
    ) / updates_rec
    per_update_plain = entry_energy(plain, "energy.compute.add16") / price / updates_plain
    assert per_update_rec == pytest.approx(per_update_plain)
    assert recurrent.workload is not None and recurrent.workload.dense_synops > 0


def test_a_file_libhdf5_never_finishes_reading_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """libhdf5 can loop forever on a corrupted file (the NIR fuzzer found two), inside C code
    no signal stops: the read runs in a child that is killed after its time."""
    import time

    from compiler.formats import nir_file

    monkeypatch.setattr(nir, "read", lambda path: time.sleep(3600))
    monkeypatch.setattr(nir_file, "READ_SECONDS", 0.5)
    started = time.perf_counter()
    _fails(
        ["import", EXPORTS / "snntorch_mlp.nir", "--timesteps", "2"],
        capsys,
        "snntorch_mlp.nir",
        "did not finish within",
        "corrupted HDF5",
    )
    assert time.perf_counter() - started < 10
