"""snnTorch's `Synaptic` as `spike.leaky` with `alpha`: the kernel against a plain per-element
recurrence in snnTorch's order, the ONNX function `spike.Synaptic` run by onnxruntime against the
reference interpreter bit for bit, and every target running a Synaptic layer exactly, priced as a
two-state neuron."""

from __future__ import annotations

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
from compiler.frontend.onnx_functions import FUNCTION_NAMES
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.toolchain import compile_model
from runtime import kernels
from tests.conftest import checked_reference, dyadic, model_from, run_sample_program

T = 6
MECHANISMS = ("subtract", "zero", "none")
PARAMS = [(0.8, 0.9, 1.0), (0.5, 0.25, 0.5), (1.0, 1.0, 2.0), (0.0, 0.7, 0.3)]
"""alpha, beta, threshold"""


def _scalar_synaptic(
    xs: list[float], alpha: float, beta: float, thr: float, mechanism: str
) -> list[float]:
    """One neuron in float32 scalars, as `snntorch.Synaptic.forward` computes it."""
    f = np.float32
    a, b, th = f(alpha), f(beta), f(thr)
    syn, mem, out = f(0.0), f(0.0), []
    for value in xs:
        reset = f(1.0) if mem - th > f(0.0) else f(0.0)
        syn_new = a * syn + f(value)
        mem_new = b * mem + syn_new
        if mechanism == "subtract":
            mem_new = mem_new - reset * th
        elif mechanism == "zero":
            mem_new = mem_new - mem_new * reset
        syn, mem = syn_new, mem_new
        out.append(1.0 if mem - th > f(0.0) else 0.0)
    return out


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("params", PARAMS)
def test_kernel_matches_the_scalar_recurrence(params: tuple[float, ...], mechanism: str) -> None:
    x = (np.random.default_rng(0).normal(size=(T, 3, 5)) * 1.5).astype(np.float32)
    alpha, beta, thr = params
    got = kernels.leaky(x, beta, thr, mechanism, alpha)
    flat = x.reshape(T, -1)
    for k in range(flat.shape[1]):
        want = _scalar_synaptic(flat[:, k].tolist(), alpha, beta, thr, mechanism)
        assert got.reshape(T, -1)[:, k].tolist() == want


def test_the_current_outlasts_the_input() -> None:
    """A single pulse below threshold fires later through the current; Leaky never fires."""
    pulse = np.zeros((4, 1), dtype=np.float32)
    pulse[0] = 0.6
    assert kernels.leaky(pulse, 1.0, 1.0, "subtract", 1.0)[:, 0].tolist() == [0, 1, 0, 1]
    assert kernels.leaky(pulse, 1.0, 1.0, "subtract").sum() == 0


def _node(x: str, y: str, mechanism: int = 0, **attributes: Any) -> onnx.NodeProto:
    attrs = {"alpha": 0.8, "beta": 0.9, **attributes}
    return helper.make_node(
        "Synaptic", [x], [y], name="syn0", domain="spike", reset_mechanism=mechanism, **attrs
    )


def _save(model: onnx.ModelProto, tmp_path: Path) -> Path:
    path = tmp_path / "synaptic.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("mechanism", [0, 1, 2])
@pytest.mark.parametrize("params", PARAMS)
def test_onnxruntime_equals_the_reference_bit_for_bit(
    params: tuple[float, ...], mechanism: int, tmp_path: Path
) -> None:
    assert "Synaptic" in FUNCTION_NAMES
    alpha, beta, thr = params
    node = _node("x", "s", mechanism, alpha=alpha, beta=beta, threshold=thr)
    path = _save(model_from([node], [("x", [T, "B", 4, 8])], [("s", None)]), tmp_path)
    x = (np.random.default_rng(mechanism).normal(size=(T, 3, 4, 8)) * 2).astype(np.float32)
    result = import_onnx(path)
    (op,) = [o for o in result.module.walk() if isinstance(o, spike.LeakyOp)]
    assert op.alpha is not None and op.alpha.value.data == float(np.float32(alpha))
    ours = evaluate(result.module, result.weights, {"x": x})["s"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(["s"], {"x": x})
    np.testing.assert_array_equal(ours, theirs)
    assert 0 < ours.sum() < ours.size


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"alpha": None}, "attribute 'alpha' is required"),
        ({"alpha": 1.5}, "alpha must be in"),
        ({"beta": -0.1}, "beta must be in"),
        ({"tau": 2.0}, "unknown attribute"),
    ],
)
def test_frontend_refuses_bad_attributes(
    attributes: dict[str, Any], message: str, tmp_path: Path
) -> None:
    node = _node("x", "s", **{k: v for k, v in attributes.items() if v is not None})
    if attributes.get("alpha", 0) is None:
        del node.attribute[[a.name for a in node.attribute].index("alpha")]
    model = model_from([node], [("x", [T, "B", 8])], [("s", None)])
    with pytest.raises(UnsupportedModelError, match=message) as info:
        import_onnx(_save(model, tmp_path))
    assert "syn0" in str(info.value)


def test_verifier_checks_alpha() -> None:
    x = spike.WeightOp("x", real_type((T, 2, 8)))
    with pytest.raises(VerifyException, match="alpha must be in"):
        spike.LeakyOp(x, beta=0.5, alpha=1.5).verify()
    spike.LeakyOp(x, beta=0.5, alpha=0.0).verify()


# -- the targets ---------------------------------------------------------------------------------

B, N, D_IN, D = 2, 8, 16, 32


def _layer_model(synaptic: bool) -> onnx.ModelProto:
    """x -> linear -> Synaptic (or Leaky) -> linear -> mean over tokens and time; dyadic."""
    rng = np.random.default_rng(3)
    inits = {
        "fc1.w": dyadic(rng.normal(size=(D_IN, D)) * 0.5),
        "fc2.w": dyadic(rng.normal(size=(D, 10)) * 0.5),
    }
    attrs: dict[str, Any] = {"beta": 0.5, "threshold": 0.5}
    cell = helper.make_node(
        "Synaptic" if synaptic else "Leaky",
        ["h1"],
        ["s1"],
        domain="spike",
        **({**attrs, "alpha": 0.5} if synaptic else attrs),
    )
    nodes = [
        helper.make_node("MatMul", ["x", "fc1.w"], ["h1"], name="fc1"),
        cell,
        helper.make_node("MatMul", ["s1", "fc2.w"], ["h2"], name="fc2"),
        helper.make_node("ReduceMean", ["h2"], ["tok"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["tok"], ["y"], axes=[0], keepdims=0),
    ]
    return model_from(nodes, [("x", [T, "B", N, D_IN])], [("y", ["B", 10])], inits)


def _input() -> np.ndarray:
    return dyadic(np.random.default_rng(4).normal(size=(T, B, N, D_IN)), bits=4)


@pytest.mark.parametrize(
    ("target", "variant", "opcode"),
    [
        ("sparse", "sparse", "ENC.LEAKY"),
        ("stacked3d", "3d", "NEU.LEAKY"),
        ("xpikeformer", "xpikeformer", "DIG.LEAKY"),
        ("xpikeformer", "digital-ann", "ANN.LEAKY"),
    ],
)
def test_targets_run_a_synaptic_layer_exactly(
    target: str, variant: str, opcode: str, tmp_path: Path
) -> None:
    onnx.save(_layer_model(True), tmp_path / "m.onnx")
    reference = checked_reference(tmp_path / "m.onnx", {"x": _input()})
    compile_model(str(tmp_path / "m.onnx"), target, tmp_path / "p", variant=variant)
    assert opcode in (tmp_path / "p" / "program.sasm").read_text()
    run = run_sample_program(tmp_path / "p", _input())
    np.testing.assert_array_equal(run.outputs["y"], reference["y"])


def test_synaptic_costs_more_than_leaky_on_every_neuron_unit(tmp_path: Path) -> None:
    """The current doubles the multiplies and the state words of a Leaky's update."""
    for target, opcode in (("sparse", "ENC.LEAKY"), ("stacked3d", "NEU.LEAKY")):
        energies = {}
        for synaptic in (True, False):
            folder = tmp_path / f"{target}.{synaptic}"
            folder.mkdir()
            onnx.save(_layer_model(synaptic), folder / "m.onnx")
            compile_model(str(folder / "m.onnx"), target, folder / "p")
            run = run_sample_program(folder / "p", _input())
            (record,) = [r for r in run.record.records if r.opcode == opcode]
            totals: dict[str, float] = {}
            for item in record.cost.items:
                totals[item.entry] = totals.get(item.entry, 0.0) + item.picojoules
            energies[synaptic] = totals
        mult = "energy.compute.mult16"
        if target == "sparse":  # Leaky: beta * V; Synaptic: alpha * I too
            assert energies[True][mult] == pytest.approx(2 * energies[False][mult])
        else:  # the neuron unit prices a one-state update by its adds and comparison only
            assert mult in energies[True] and mult not in energies[False]
        assert sum(energies[True].values()) > sum(energies[False].values())


# -- raising an unrolled Synaptic ------------------------------------------------------------------

STEPS, WIDTH = 4, 6


def _unrolled(
    mechanism: str = "subtract", near_miss: bool = False, shared_first_state: bool = False
) -> onnx.ModelProto:
    """snnTorch's Synaptic unrolled over four steps as `torch.onnx` writes it (the state starts
    at zero, so step 0 is `syn = x[0]`, `mem = 0 + syn`). `near_miss` adds the current to the
    membrane in another association, `(beta * V + alpha * I) + X`, which rounds differently;
    `shared_first_state` makes step 0's membrane and current one value."""
    alpha, beta, thr = 0.75, 0.875, 0.5
    nodes: list[onnx.NodeProto] = []
    consts = {"alpha": alpha, "beta": beta, "thr": thr, "zero": 0.0}
    for name, value in consts.items():
        nodes.append(helper.make_node("Constant", [], [name], value_float=value))
    spikes: list[str] = []
    syn = mem = ""
    for t in range(STEPS):
        nodes.append(helper.make_node("Constant", [], [f"i{t}"], value_int=t))
        nodes.append(helper.make_node("Gather", ["x", f"i{t}"], [f"x{t}"], axis=0))
        if t == 0:
            syn, mem = "x0", "x0" if shared_first_state else "mem0"
            if not shared_first_state:
                nodes.append(helper.make_node("Add", ["zero", "x0"], ["mem0"]))
        else:
            nodes += [
                helper.make_node("Sub", [mem, "thr"], [f"rs{t}"]),
                helper.make_node("Greater", [f"rs{t}", "zero"], [f"rb{t}"]),
                helper.make_node("Cast", [f"rb{t}"], [f"r{t}"], to=onnx.TensorProto.FLOAT),
                helper.make_node("Mul", ["alpha", syn], [f"ai{t}"]),
                helper.make_node("Mul", ["beta", mem], [f"bv{t}"]),
            ]
            if near_miss:
                nodes += [
                    helper.make_node("Add", [f"bv{t}", f"ai{t}"], [f"bvai{t}"]),
                    helper.make_node("Add", [f"bvai{t}", f"x{t}"], [f"h{t}"]),
                ]
            nodes += [
                helper.make_node("Add", [f"ai{t}", f"x{t}"], [f"syn{t}"]),
                *([] if near_miss else [helper.make_node("Add", [f"bv{t}", f"syn{t}"], [f"h{t}"])]),
            ]
            syn = f"syn{t}"
            if mechanism == "subtract":
                nodes += [
                    helper.make_node("Mul", [f"r{t}", "thr"], [f"rt{t}"]),
                    helper.make_node("Sub", [f"h{t}", f"rt{t}"], [f"mem{t}"]),
                ]
                mem = f"mem{t}"
            else:
                mem = f"h{t}"
        nodes += [
            helper.make_node("Sub", [mem, "thr"], [f"fs{t}"]),
            helper.make_node("Greater", [f"fs{t}", "zero"], [f"fb{t}"]),
            helper.make_node("Cast", [f"fb{t}"], [f"s{t}"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Unsqueeze", [f"s{t}", "axis0"], [f"u{t}"]),
        ]
        spikes.append(f"u{t}")
    nodes.insert(0, helper.make_node("Constant", [], ["axis0"], value_ints=[0]))
    nodes.append(helper.make_node("Concat", spikes, ["y"], axis=0))
    return model_from(nodes, [("x", [STEPS, 3, WIDTH])], [("y", None)])


@pytest.mark.parametrize("mechanism", ["subtract", "none"])
def test_an_unrolled_synaptic_is_raised(mechanism: str, tmp_path: Path) -> None:
    path = _save(_unrolled(mechanism), tmp_path)
    result = import_onnx(path)
    (raised,) = result.raising.raised
    assert raised.kind == "Synaptic"
    assert f"reset_mechanism={0 if mechanism == 'subtract' else 2}" in raised.details
    assert "alpha=0.75" in raised.details and "beta=0.875" in raised.details
    (op,) = [o for o in result.module.walk() if isinstance(o, spike.LeakyOp)]
    assert op.alpha is not None and op.alpha.value.data == 0.75
    x = (np.random.default_rng(5).normal(size=(STEPS, 3, WIDTH)) * 1.5).astype(np.float32)
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": x}
    )
    np.testing.assert_array_equal(evaluate(result.module, result.weights, {"x": x})["y"], theirs)
    assert 0 < theirs.sum() < theirs.size


def test_a_synaptic_that_rounds_differently_is_left_generic(tmp_path: Path) -> None:
    path = _save(_unrolled(near_miss=True), tmp_path)
    result = import_onnx(path)
    assert result.raising.raised == []
    (left,) = result.raising.left
    assert "matches no two-state neuron" in left.reason, left.reason
    x = (np.random.default_rng(6).normal(size=(STEPS, 3, WIDTH)) * 1.5).astype(np.float32)
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": x}
    )
    np.testing.assert_array_equal(evaluate(result.module, result.weights, {"x": x})["y"], theirs)


def test_a_first_step_sharing_membrane_and_current_is_left_generic(tmp_path: Path) -> None:
    """Step 2 then reads the membranes of steps 0 and 1: no chain, a reason, no crash."""
    path = _save(_unrolled(shared_first_state=True), tmp_path)
    result = import_onnx(path)
    assert result.raising.raised == []
    assert any("more than one earlier step" in left.reason for left in result.raising.left)
    x = (np.random.default_rng(7).normal(size=(STEPS, 3, WIDTH)) * 1.5).astype(np.float32)
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": x}
    )
    np.testing.assert_array_equal(evaluate(result.module, result.weights, {"x": x})["y"], theirs)
