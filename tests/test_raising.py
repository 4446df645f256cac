"""Raising (compiler/frontend/raising): neurons that torch.onnx unrolls over T into plain ONNX
arithmetic become one `spike.LIF` / `spike.IF` call, bit for bit, and near misses stay generic.

The unrolled graphs are written here the way the dynamo exporter writes a SpikingJelly neuron
(`_neuron`), with one option per variation an exporter or a model may make; the committed
SpikingJelly exports in samples/export are raised completely."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from compiler.errors import UnsupportedModelError
from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.onnx_import import _infer_shapes, import_onnx
from compiler.frontend.raising import RaiseReport, raise_model
from compiler.interpreters.reference import evaluate, repeated_inputs
from compiler.ir.weights import OnnxTensors
from tests.conftest import SAMPLES, dyadic, model_from, run_cli

EXPORTS = SAMPLES / "export"

# -- an unrolled neuron, written the way torch.onnx (dynamo) writes one ----------------------


@dataclass(frozen=True)
class Neuron:
    """One neuron unrolled over `timesteps` steps on X[T, B, N] (time-major).

    The options are the variations of the export; those after `# near misses` make a graph that
    must not be raised."""

    kind: str = "LIF"  # LIF: charge with a leak; IF: H = V + X
    tau: float = 2.0
    decay_input: bool = True
    v_threshold: float = 1.0
    v_reset: float = 0.0
    soft: bool = False  # V = H - θ*S instead of a hard reset to v_reset
    compare: str = "sub"  # "sub": Sub(H, θ) >= 0; "direct": H >= θ
    hard: str = "mul"  # "mul": S*vr + (1-S)*H; "neg": H * (-S + 1) (+ S*vr);
    # "where": Where(Cast(S, bool), vr, H), vr expanded to H's shape by Expand(vr, Shape(H))
    leak: str = "div"  # "div": a / τ; "mul": a * (1/τ); "factor": V * (1 - 1/τ) + X
    swap: bool = False  # commutative operands of Add/Mul the other way round
    slicing: str = "slice"  # "slice": Slice+Squeeze; "gather": Gather(t); "split": Split+Squeeze
    last_reset: bool = False  # the last step's (unused) reset is in the graph
    batch: int | str = "B"
    n: int = 8
    timesteps: int = 4
    downstream: bool = False  # Y = MatMul(S, W) instead of S
    repeated: bool = False  # X is a static [B, N] input repeated over T inside the model
    restack: str = "concat"  # "concat": Unsqueeze+Concat; "scatternd" / "scatterelements":
    # each step written into row t of a zeros [T, B, N] buffer
    # near misses
    threaded: bool = True  # False: every step charges from the initial state
    strict: bool = False  # Greater instead of GreaterOrEqual
    reset_scale: float | None = None  # V = H * (1 - scale*S): a reset of no known form
    leak_factor: float | None = None  # the leak is a * leak_factor
    second_source_from: int | None = None  # steps from this one slice another input X2
    membrane_escapes: int | None = None  # Y = S + H_t for this t
    steps: int | None = None  # how many steps are chained (default: all T)
    order: tuple[int, ...] | None = None  # the order in which the spikes are restacked
    v_initial: float | None = None  # the state before step 0 (default: v_reset)
    odd_step: int | None = None  # the step at which odd_threshold / odd_tau apply
    odd_threshold: float | None = None
    odd_tau: float | None = None


@dataclass
class _Graph:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: dict[str, np.ndarray] = field(default_factory=dict)

    def const(self, value: float | np.ndarray, dtype: type = np.float32) -> str:
        name = f"c{len(self.inits)}"
        self.inits[name] = np.asarray(value, dtype=dtype)
        return name

    def ints(self, *values: int) -> str:
        return self.const(np.array(values), np.int64)

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> str:
        names = [f"{op_type.lower()}_{len(self.nodes)}_{i}" for i in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), names, name=f"n{len(self.nodes)}", **attrs)
        )
        return names[0]

    def ops(self, op_type: str, *inputs: str, outputs: int, **attrs: Any) -> list[str]:
        self.op(op_type, *inputs, outputs=outputs, **attrs)
        return list(self.nodes[-1].output)

    def add(self, a: str, b: str, swap: bool) -> str:
        return self.op("Add", b, a) if swap else self.op("Add", a, b)

    def mul(self, a: str, b: str, swap: bool) -> str:
        return self.op("Mul", b, a) if swap else self.op("Mul", a, b)


def _charge(g: _Graph, p: Neuron, v: str, x: str) -> str:
    if p.kind == "IF":
        return g.add(v, x, p.swap)

    def leak(a: str) -> str:
        if p.leak_factor is not None:
            return g.mul(a, g.const(p.leak_factor), p.swap)
        if p.leak == "mul":
            return g.mul(a, g.const(1.0 / p.tau), p.swap)
        return g.op("Div", a, g.const(p.tau))

    if p.leak == "factor":  # V * (1 - 1/τ) + X, SpikingJelly's decay_input=False, v_reset=0
        assert not p.decay_input and not p.v_reset
        return g.add(g.mul(v, g.const(1.0 - 1.0 / p.tau), p.swap), x, p.swap)
    v_minus_vr = g.op("Sub", v, g.const(p.v_reset)) if p.v_reset else v
    if p.decay_input:  # V + (X - (V - vr)) / τ
        return g.add(v, leak(g.op("Sub", x, v_minus_vr)), p.swap)
    # V - (V - vr) / τ + X
    return g.add(g.op("Sub", v, leak(v_minus_vr)), x, p.swap)


def _fire(g: _Graph, p: Neuron, h: str) -> str:
    op = "Greater" if p.strict else "GreaterOrEqual"
    if p.compare == "sub":
        above = g.op(op, g.op("Sub", h, g.const(p.v_threshold)), g.const(0.0))
    else:
        above = g.op(op, h, g.const(p.v_threshold))
    return g.op("Cast", above, to=TensorProto.FLOAT)


def _reset(g: _Graph, p: Neuron, h: str, s: str) -> str:
    if p.reset_scale is not None:  # H * (1 - scale * S)
        return g.op("Mul", h, g.op("Sub", g.const(1.0), g.mul(s, g.const(p.reset_scale), p.swap)))
    if p.soft:  # H - θ * S
        return g.op("Sub", h, g.mul(s, g.const(p.v_threshold), p.swap))
    if p.hard == "neg":  # H * (-S + 1) (+ S * vr)
        keep = g.mul(h, g.add(g.op("Neg", s), g.const(1.0), p.swap), p.swap)
        return g.add(keep, g.mul(s, g.const(p.v_reset), p.swap), p.swap) if p.v_reset else keep
    if p.hard == "where":  # torch.where(S.bool(), full_like(H, vr), H)
        fired = g.op("Cast", s, to=TensorProto.BOOL)
        reset = g.op("Expand", g.const(p.v_reset), g.op("Shape", h))
        return g.op("Where", fired, reset, h)
    # S * vr + (1 - S) * H, as SpikingJelly's hard reset
    kept = g.mul(g.op("Sub", g.const(1.0), s), h, p.swap)
    return g.add(g.mul(s, g.const(p.v_reset), p.swap), kept, p.swap)


def _slices(g: _Graph, p: Neuron, x: str) -> list[str]:
    if p.slicing == "split":
        parts = g.ops("Split", x, outputs=p.timesteps, axis=0)
        return [g.op("Squeeze", part, g.ints(0)) for part in parts]
    if p.slicing == "gather":
        return [
            g.op("Gather", x, g.const(np.array(t), np.int64), axis=0) for t in range(p.timesteps)
        ]
    return [
        g.op("Squeeze", g.op("Slice", x, g.ints(t), g.ints(t + 1), g.ints(0)), g.ints(0))
        for t in range(p.timesteps)
    ]


def _neuron(p: Neuron) -> onnx.ModelProto:
    """The unrolled neuron as an ONNX model (opset 17, constants as initializers)."""
    g = _Graph()
    inputs: list[tuple[str, list[int | str]]]
    if p.repeated:
        assert isinstance(p.batch, int), "a repeated input has a static shape"
        inputs = [("x", [p.batch, p.n])]
        time_major = g.op(
            "Expand", g.op("Unsqueeze", "x", g.ints(0)), g.ints(p.timesteps, p.batch, p.n)
        )
    else:
        inputs = [("x", [p.timesteps, p.batch, p.n])]
        time_major = "x"
    xs = _slices(g, p, time_major)
    if p.second_source_from is not None:
        inputs.append(("x2", [p.timesteps, p.batch, p.n]))
        xs[p.second_source_from :] = _slices(g, p, "x2")[p.second_source_from :]
    state_shape = [1, p.n] if isinstance(p.batch, str) else [p.batch, p.n]
    v0 = g.const(np.full(state_shape, p.v_reset if p.v_initial is None else p.v_initial))
    v, spikes, membranes = v0, [], []
    steps = p.steps if p.steps is not None else p.timesteps
    for t in range(steps):
        q = p
        if t == p.odd_step:
            q = replace(
                p,
                v_threshold=p.v_threshold if p.odd_threshold is None else p.odd_threshold,
                tau=p.tau if p.odd_tau is None else p.odd_tau,
            )
        h = _charge(g, q, v if p.threaded else v0, xs[t])
        s = _fire(g, q, h)
        membranes.append(h)
        spikes.append(s)
        if p.threaded and (t < steps - 1 or p.last_reset):
            v = _reset(g, p, h, s)
    order = p.order if p.order is not None else range(steps)
    if p.restack == "concat":
        out = g.op("Concat", *[g.op("Unsqueeze", spikes[t], g.ints(0)) for t in order], axis=0)
    else:
        assert isinstance(p.batch, int), "a scatter buffer has a static shape"
        out = g.const(np.zeros((steps, p.batch, p.n)))
        for t in order:
            if p.restack == "scatternd":  # indices [t]: the update is row t itself
                out = g.op("ScatterND", out, g.ints(t), spikes[t])
            else:
                index = g.const(np.full((1, p.batch, p.n), t), np.int64)
                row = g.op("Unsqueeze", spikes[t], g.ints(0))
                out = g.op("ScatterElements", out, index, row, axis=0)
    width = p.n
    if p.membrane_escapes is not None:
        out = g.op("Add", out, membranes[p.membrane_escapes])
    if p.downstream:
        width = 5
        w = g.const(dyadic(np.random.default_rng(7).normal(0.25, 0.5, size=(p.n, width))))
        out = g.op("MatMul", out, w)
    g.nodes[-1].output[0] = "y"
    return model_from(g.nodes, inputs, [("y", [steps, p.batch, width])], g.inits)


# -- running and raising ---------------------------------------------------------------------


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    model.ir_version = 10
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = _session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def _save(model: onnx.ModelProto, tmp_path: Path) -> Path:
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    return path


def _raise(model: onnx.ModelProto, path: Path) -> tuple[onnx.ModelProto, RaiseReport]:
    """A raised copy of `model` (stored at `path`) and the report, as `import_onnx` raises."""
    raised = onnx.ModelProto()
    raised.CopyFrom(model)
    report = raise_model(raised, OnnxTensors(raised, path), _infer_shapes(raised))
    return raised, report


def _op_types(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _details(details: str) -> dict[str, float]:
    """'T=4, decay_input=1, tau=2' -> {'T': 4.0, 'decay_input': 1.0, 'tau': 2.0}."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.e+]+)", details)}


def _spike_rate(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> float:
    """The firing rate of the neuron: the Concat's output made a graph output."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    concat = [
        n for n in probe.graph.node if n.op_type in ("Concat", "ScatterND", "ScatterElements")
    ][-1]
    if concat.output[0] != "y":
        probe.graph.output.append(
            helper.make_tensor_value_info(concat.output[0], TensorProto.FLOAT, None)
        )
    spikes = _run(probe, feeds)[concat.output[0]]
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    return float(spikes.mean())


def _input(p: Neuron, batch: int = 3, seed: int = 0) -> np.ndarray:
    """Random membrane input around the threshold, so that a good fraction of the neurons fire."""
    rng = np.random.default_rng(seed)
    b = p.batch if isinstance(p.batch, int) else batch
    shape = (b, p.n) if p.repeated else (p.timesteps, b, p.n)
    gain = 1.0 if p.kind == "IF" else (p.tau if p.decay_input else 1.0)
    scale = p.v_threshold - p.v_reset
    return (gain * (p.v_reset + scale * rng.normal(0.9, 0.8, shape))).astype(np.float32)


# -- 1. neurons that are raised ------------------------------------------------------------

BASE = Neuron()
POSITIVE = {
    "sj_lif": BASE,
    "static_batch": replace(BASE, batch=2),
    "soft_reset": replace(BASE, soft=True),
    "soft_reset_threshold_half": replace(BASE, soft=True, v_threshold=0.5),
    "threshold_direct": replace(BASE, compare="direct"),
    "threshold_half": replace(BASE, v_threshold=0.5),
    "hard_reset_neg": replace(BASE, hard="neg"),
    "swapped": replace(BASE, swap=True),
    "swapped_neg_direct": replace(BASE, swap=True, hard="neg", compare="direct"),
    "leak_mul": replace(BASE, leak="mul"),
    # (X - V) * float32(1/1.2): SpikingJelly's ParametricLIFNode, k = sigmoid(w)
    "parametric_lif": replace(BASE, leak_factor=float(np.float32(1 / 1.2))),
    "leak_mul_swapped_soft": replace(BASE, leak="mul", swap=True, soft=True),
    "tau_1_5": replace(BASE, tau=1.5),
    "gather": replace(BASE, slicing="gather"),
    "split": replace(BASE, slicing="split", batch=2),
    "downstream_matmul": replace(BASE, downstream=True),
    "repeated_input": replace(BASE, repeated=True, batch=2, downstream=True),
    "if": replace(BASE, kind="IF"),
    "if_soft_gather_swapped": replace(BASE, kind="IF", soft=True, slicing="gather", swap=True),
    "if_v_reset_threshold_half": replace(
        BASE, kind="IF", v_reset=-0.5, v_threshold=0.5, compare="direct"
    ),
    "t2_split_direct": replace(BASE, timesteps=2, slicing="split", compare="direct"),
    "no_decay_input": replace(BASE, decay_input=False),
    "no_decay_input_soft": replace(BASE, decay_input=False, soft=True),
    "leak_mul_swapped_no_decay_input": replace(BASE, leak="mul", swap=True, decay_input=False),
    "tau_1_5_no_decay_input": replace(BASE, tau=1.5, decay_input=False),
    "v_reset_nonzero": replace(BASE, v_reset=-0.5),
    "hard_reset_neg_v_reset_nonzero": replace(BASE, hard="neg", v_reset=-0.5),
    "no_decay_input_v_reset_nonzero": replace(BASE, decay_input=False, v_reset=-0.5),
    "restack_scatternd": replace(BASE, restack="scatternd", batch=3),
    "restack_scatterelements_gather": replace(
        BASE, restack="scatterelements", batch=3, slicing="gather"
    ),
}


def _expected(p: Neuron) -> dict[str, float]:
    expected = {
        "T": float(p.timesteps),
        "v_threshold": p.v_threshold,
        "v_reset": 0.0 if p.soft else p.v_reset,
        "soft_reset": float(p.soft),
    }
    if p.kind == "LIF":
        expected |= {"tau": p.tau, "decay_input": float(p.decay_input)}
    if p.leak_factor is not None:  # ParametricLIF: tau is 1/k, for the record
        expected |= {
            "decay": p.leak_factor,
            "tau": float(np.float32(1) / np.float32(p.leak_factor)),
        }
    return expected


def _check_raised(p: Neuron, tmp_path: Path) -> None:
    model = _neuron(p)
    onnx.checker.check_model(model)
    path = _save(model, tmp_path)
    x = _input(p)
    original = _run(model, {"x": x})["y"]
    assert 0.1 < _spike_rate(model, {"x": x}) < 0.9

    raised, report = _raise(model, path)
    assert [r.kind for r in report.raised] == [p.kind], report.lines()
    assert report.left == [], report.lines()
    details = _details(report.raised[0].details)
    assert details == pytest.approx(_expected(p), rel=1e-6), report.raised[0].details
    (call,) = [n for n in raised.graph.node if n.domain == DOMAIN]
    assert call.op_type == p.kind
    attrs = {a.name: helper.get_attribute_value(a) for a in call.attribute}
    for key, value in _expected(p).items():
        if key != "T":
            assert attrs[key] == pytest.approx(value, rel=1e-7), key
    ops = _op_types(raised)
    remnants = {"GreaterOrEqual", "Greater", "Cast", "Slice", "Gather", "Split", "ScatterND"}
    assert not (remnants | {"ScatterElements"}) & set(ops), ops
    onnx.checker.check_model(raised)

    # the raised model, with its spike functions, gives the exported model's bits
    timesteps_x = np.broadcast_to(x, (p.timesteps, *x.shape)).copy() if p.repeated else x
    assert report.repeated_inputs == (["x"] if p.repeated else [])
    again = _run(raised, {"x": timesteps_x})["y"]
    assert again.dtype == original.dtype and np.array_equal(
        again.view(np.uint32), original.view(np.uint32)
    )

    # and so does spikec's reference interpreter on the imported module
    result = import_onnx(path)
    assert [r.kind for r in result.raising.raised] == [p.kind]
    ours = evaluate(result.module, result.weights, {"x": x})["y"]
    assert ours.shape == original.shape
    assert np.array_equal(ours, original)
    assert repeated_inputs(result.module) == ({"x"} if p.repeated else set())


@pytest.mark.parametrize("variant", POSITIVE.values(), ids=POSITIVE.keys())
def test_unrolled_neuron_is_raised(variant: Neuron, tmp_path: Path) -> None:
    _check_raised(variant, tmp_path)


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_dynamic_batch_raised_model_runs_any_batch(batch: int, tmp_path: Path) -> None:
    p = replace(BASE, downstream=True)
    model = _neuron(p)
    path = _save(model, tmp_path)
    raised, _ = _raise(model, path)
    x = _input(p, batch=batch, seed=batch)
    assert np.array_equal(_run(raised, {"x": x})["y"], _run(model, {"x": x})["y"])
    result = import_onnx(path)
    assert np.array_equal(
        evaluate(result.module, result.weights, {"x": x})["y"], _run(model, {"x": x})["y"]
    )


def test_two_neurons_in_sequence_are_both_raised(tmp_path: Path) -> None:
    """A LIF whose spikes feed a layer whose output feeds an IF: two chains, raised apart."""
    first = _neuron(replace(BASE, downstream=True))
    second = _neuron(replace(BASE, kind="IF", n=5, soft=True))
    rename = {"x": "y"}

    def moved(name: str) -> str:
        return rename.get(name, f"b_{name}") if name else name

    nodes = list(first.graph.node)
    for node in second.graph.node:
        node = onnx.NodeProto.FromString(node.SerializeToString())
        node.input[:] = [moved(i) for i in node.input]
        node.output[:] = [moved(o) for o in node.output]
        node.name = f"b_{node.name}"
        nodes.append(node)
    nodes[-1].output[0] = "z"
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in first.graph.initializer}
    inits |= {f"b_{t.name}": onnx.numpy_helper.to_array(t) for t in second.graph.initializer}
    model = model_from(nodes, [("x", [4, "B", 8])], [("z", [4, "B", 5])], inits)
    onnx.checker.check_model(model)
    path = _save(model, tmp_path)
    raised, report = _raise(model, path)
    assert sorted(r.kind for r in report.raised) == ["IF", "LIF"] and not report.left
    x = _input(BASE)
    original = _run(model, {"x": x})["z"]
    assert 0 < original.mean() < 1
    assert np.array_equal(_run(raised, {"x": x})["z"], original)
    result = import_onnx(path)
    assert np.array_equal(evaluate(result.module, result.weights, {"x": x})["z"], original)


@pytest.mark.parametrize(
    "variant",
    [BASE, replace(BASE, soft=True), replace(BASE, kind="IF")],
    ids=["lif_hard", "lif_soft", "if_hard"],
)
def test_unused_last_reset_is_raised(variant: Neuron, tmp_path: Path) -> None:
    _check_raised(replace(variant, last_reset=True), tmp_path)


# -- 2. near misses stay generic -----------------------------------------------------------

NO_MODEL = r"the charge matches no neuron model"
NEAR_MISSES: dict[str, tuple[Neuron, str]] = {
    # equal to a LIF on finite values, not on Inf: a reset by selection keeps v_reset where
    # SpikingJelly's H * (1 - S) + vr * S gives NaN (inf * 0); the factor form's V * (1 - 1/tau)
    # stays infinite where V - V / tau is NaN
    "hard_reset_where": (replace(BASE, hard="where"), NO_MODEL),
    "hard_reset_where_v_reset_nonzero": (replace(BASE, hard="where", v_reset=-0.5), NO_MODEL),
    "no_decay_input_factor_form": (replace(BASE, decay_input=False, leak="factor"), NO_MODEL),
    # every step charges from the zeros initial state: four one-step "neurons", none restacked
    # or rolled on its own
    "state_not_threaded": (
        replace(BASE, threaded=False),
        r"not restacked in time order|not the time slices 0\.\.T-1|the steps cannot be rolled"
        r"|threaded through 1 of",
    ),
    # V = 0.5 * H after a spike: the reset shows in the charge of the next step
    "reset_of_no_form": (
        replace(BASE, reset_scale=0.5),
        NO_MODEL + r".*\(1 - \(S \* 0\.5\)\)",
    ),
    "two_sources": (
        replace(BASE, second_source_from=2),
        r"step inputs are not the time slices 0\.\.T-1 of one time-major tensor",
    ),
    "membrane_escapes": (
        replace(BASE, membrane_escapes=1),
        r"its membrane '[^']+' is also used by 'n\d+' \(Add\)",
    ),
    # SpikingJelly's charge fired at H > θ (snnTorch's comparison): neither LIF nor Leaky
    "strict_greater": (replace(BASE, strict=True), NO_MODEL + r".*fires at H > 1\b"),
    "strict_greater_direct": (
        replace(BASE, strict=True, compare="direct"),
        NO_MODEL + r".*fires at H > 1\b",
    ),
    # (X - V) * 1.25: neither 1.25 nor 0.8 as τ gives the same bits, and a factor above 1 is no
    # ParametricLIF decay
    "leak_not_a_tau": (
        replace(BASE, leak_factor=1.25),
        NO_MODEL + r".*\* 1\.25",
    ),
    "three_steps_of_four": (
        replace(BASE, repeated=True, batch=2, steps=3),
        r"threaded through 3 of the model's T = 4 steps",
    ),
    "out_of_order": (
        replace(BASE, order=(1, 0, 2, 3)),
        r"spikes are not restacked in time order",
    ),
    # starts from 0 but charges and resets towards v_reset = -0.5 (SpikingJelly starts at v_reset)
    "initial_state_not_v_reset": (replace(BASE, v_reset=-0.5, v_initial=0.0), NO_MODEL),
    "threshold_differs_at_one_step": (
        replace(BASE, compare="direct", odd_step=2, odd_threshold=0.5),
        r"the threshold or the comparison differs between steps",
    ),
    "tau_differs_at_one_step": (replace(BASE, odd_step=2, odd_tau=4.0), NO_MODEL),
}


GENERIC_REGIONS = {
    "hard_reset_where",
    "hard_reset_where_v_reset_nonzero",
    "no_decay_input_factor_form",
    "reset_of_no_form",
    "strict_greater",
    "strict_greater_direct",
    "leak_not_a_tau",
    "initial_state_not_v_reset",
    "threshold_differs_at_one_step",
    "tau_differs_at_one_step",
}
"""Near misses in SpikingJelly form (inputs sliced from one time-major tensor, spikes restacked in
order): kept as a generic region (`spike.onnx_region`), which imports and runs."""


@pytest.mark.parametrize(
    ("name", "variant", "reason"),
    [(k, *v) for k, v in NEAR_MISSES.items()],
    ids=NEAR_MISSES.keys(),
)
def test_near_miss_is_left_generic(name: str, variant: Neuron, reason: str, tmp_path: Path) -> None:
    model = _neuron(variant)
    onnx.checker.check_model(model)
    path = _save(model, tmp_path)
    compare = "Greater" if variant.strict else "GreaterOrEqual"
    before = _op_types(model).count(compare)
    raised, report = _raise(model, path)
    assert report.raised == [], report.lines()
    assert report.left, report.lines()
    for left in report.left:
        assert re.search(reason, left.reason), left.reason
        assert f"({compare})" in left.node
    feeds = {"x": _input(variant)}
    if variant.second_source_from is not None:
        feeds["x2"] = _input(variant, seed=1)
    ops = _op_types(raised)
    if name in GENERIC_REGIONS:  # the whole neuron is one call of a generic region
        assert ops == ["Unraised0"], ops
        (call,) = raised.graph.node
        assert call.domain == DOMAIN
        kept = helper.get_attribute_value(call.attribute[0]).decode()
        assert report.left[0].reason == f"{kept} (kept as generic region Unraised0)"
        assert f"  left {report.left[0].node}: {report.left[0].reason}" in report.lines()
        assert np.array_equal(_run(raised, feeds)["y"], _run(model, feeds)["y"])
        result = import_onnx(path)
        ir = str(result.module)
        assert '"spike.onnx_region"' in ir and 'name = "Unraised0"' in ir
        assert 'reason = "not raised: ' in ir
        got = evaluate(result.module, result.weights, feeds)["y"]
        assert np.array_equal(got, _run(model, feeds)["y"])
        return
    assert ops.count(compare) == before and ops.count("Cast") == before
    assert not [n for n in raised.graph.node if n.domain == DOMAIN]
    if not variant.repeated:  # the raised graph computes what the export computes
        assert np.array_equal(_run(raised, feeds)["y"], _run(model, feeds)["y"])
    # the near miss still imports, its nodes as generic ops, and evaluates as onnxruntime does
    result = import_onnx(path)
    assert [left.reason for left in result.raising.left] == [left.reason for left in report.left]
    got = evaluate(result.module, result.weights, feeds)["y"]
    assert np.array_equal(got, _run(model, feeds)["y"])


def test_not_threaded_with_metadata_timesteps(tmp_path: Path) -> None:
    """With T known (metadata), the first one-step "neuron" is refused for its length, and none
    is raised."""
    model = _neuron(replace(BASE, threaded=False))
    entry = model.metadata_props.add()
    entry.key, entry.value = "spike.timesteps", "4"
    raised, report = _raise(model, _save(model, tmp_path))
    assert report.raised == [] and len(report.left) == 4, report.lines()
    assert "threaded through 1 of the model's T = 4 steps" in report.left[0].reason
    assert _op_types(raised).count("GreaterOrEqual") == 4


# -- 3. the committed SpikingJelly exports -------------------------------------------------

EXPORTED = {"sj_spikformer": (10, 1), "sj_sdt": (12, 1), "sj_qkformer": (25, 3)}


def _exported_thresholds(model: onnx.ModelProto) -> dict[str, float]:
    """Concat output -> the threshold its spikes were compared with, read off the export itself
    (Concat <- Unsqueeze <- Cast <- GreaterOrEqual(Sub(H, θ), 0))."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    found: dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type != "Concat":
            continue
        thresholds = set()
        for name in node.input:
            unsqueeze = producer.get(name)
            cast = producer.get(unsqueeze.input[0]) if unsqueeze is not None else None
            compare = producer.get(cast.input[0]) if cast is not None else None
            if unsqueeze is None or unsqueeze.op_type != "Unsqueeze" or cast is None:
                break
            if cast.op_type != "Cast" or compare is None or compare.op_type != "GreaterOrEqual":
                break
            sub = producer[compare.input[0]]
            assert sub.op_type == "Sub" and float(inits[compare.input[1]]) == 0.0
            thresholds.add(float(inits[sub.input[1]]))
        else:
            assert len(thresholds) == 1
            found[node.output[0]] = thresholds.pop()
    return found


@pytest.mark.parametrize("name", EXPORTED, ids=EXPORTED.keys())
def test_spikingjelly_export_is_raised(name: str) -> None:
    lifs, halves = EXPORTED[name]
    path = EXPORTS / f"{name}.dynamo.onnx"
    result = import_onnx(path)
    report = result.raising
    neurons = [r for r in report.raised if r.kind == "LIF"]
    kinds = {"LIF", "SSA", "SDSA", "TokenAttention"}
    assert len(neurons) == lifs and not {r.kind for r in report.raised} - kinds
    assert report.left == []
    assert report.repeated_inputs == ["x"] and report.timesteps == 4
    expected = _exported_thresholds(onnx.load(path))
    assert len(expected) == lifs
    got = {r.name: _details(r.details)["v_threshold"] for r in neurons}
    assert got == expected
    assert sorted(got.values()).count(0.5) == halves
    assert set(got.values()) == {0.5, 1.0}
    for r in neurons:
        assert _details(r.details) == {
            "T": 4.0,
            "decay_input": 1.0,
            "soft_reset": 0.0,
            "tau": 2.0,
            "v_reset": 0.0,
            "v_threshold": got[r.name],
        }

    assert repeated_inputs(result.module) == {"x"}
    x = np.load(EXPORTS / "digits_test_x.npy")
    assert x.shape == (64, 1, 8, 8)
    ours = evaluate(result.module, result.weights, {"x": x})["logits"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"x": x})
    assert ours.shape == theirs.shape == (64, 10)
    assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, float(np.abs(theirs).max()))
    assert np.array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))


# -- 4. the CLI ------------------------------------------------------------------------------


def test_cli_eval_of_an_export_matches_onnxruntime(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        [
            "eval",
            EXPORTS / "sj_sdt.dynamo.onnx",
            "--input",
            EXPORTS / "digits_test_x.npy",
            "--reference",
            "onnxruntime",
        ],
        capsys,
    )
    assert code == 0, err
    assert "output 'logits': float32 [64, 10]" in out
    assert "logits: match" in out


# -- the ONNX Loop form ----------------------------------------------------------------------


def _loop_neuron(
    scan_output: bool, trips: int = 4, condition: bool = True, expand_reset: bool = False
) -> onnx.ModelProto:
    """A SpikingJelly LIF whose time loop is an ONNX Loop: step input by Gather(X, i), spikes
    written back with ScatterND into a carried [T, B, N] buffer, or returned as a scan output;
    `expand_reset` resets with `(Expand(1, Shape(H)) - S) * H` inside the body."""
    b, n, f = 2, 8, TensorProto.FLOAT
    nodes = [
        helper.make_node("Gather", ["x", "i"], ["x_t"], axis=0),
        helper.make_node("Sub", ["x_t", "v"], ["d"]),
        helper.make_node("Div", ["d", "tau"], ["dd"]),
        helper.make_node("Add", ["v", "dd"], ["h"]),
        helper.make_node("Sub", ["h", "theta"], ["hs"]),
        helper.make_node("GreaterOrEqual", ["hs", "zero"], ["fired"]),
        helper.make_node("Cast", ["fired"], ["s"], to=f),
        *(
            [  # 1 - S with the one a full_like of H: torch.ones_like(h) - spike
                helper.make_node("Shape", ["h"], ["h_shape"]),
                helper.make_node("Expand", ["one", "h_shape"], ["ones"]),
                helper.make_node("Sub", ["ones", "s"], ["keep"]),
                helper.make_node("Mul", ["keep", "h"], ["v_next"]),
            ]
            if expand_reset
            else [
                helper.make_node("Sub", ["one", "s"], ["keep"]),
                helper.make_node("Mul", ["keep", "h"], ["v_next"]),
            ]
        ),
        helper.make_node("Identity", ["cond"], ["cond_next"]),
    ]
    inits = [
        numpy_helper_from(2.0, "tau"),
        numpy_helper_from(1.0, "theta"),
        numpy_helper_from(0.0, "zero"),
        numpy_helper_from(1.0, "one"),
    ]
    outputs = [helper.make_tensor_value_info("cond_next", TensorProto.BOOL, [])]
    outputs.append(helper.make_tensor_value_info("v_next", f, None))
    inputs = [
        helper.make_tensor_value_info("i", TensorProto.INT64, []),
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        helper.make_tensor_value_info("v", f, None),
    ]
    if scan_output:
        outputs.append(helper.make_tensor_value_info("s", f, None))
    else:
        nodes += [
            helper.make_node("Unsqueeze", ["i", "axis0"], ["i1"]),
            helper.make_node("Unsqueeze", ["i1", "axis0"], ["i2"]),
            helper.make_node("Unsqueeze", ["s", "axis0"], ["row"]),
            helper.make_node("ScatterND", ["buffer", "i2", "row"], ["buffer_next"]),
        ]
        inits.append(onnx.numpy_helper.from_array(np.array([0], np.int64), "axis0"))
        inputs.append(helper.make_tensor_value_info("buffer", f, None))
        outputs.append(helper.make_tensor_value_info("buffer_next", f, None))
    body = helper.make_graph(nodes, "step", inputs, outputs, initializer=inits)
    carried = ["v0"] if scan_output else ["v0", "buffer0"]
    loop_outputs = ["v_final", "y"]
    loop = helper.make_node("Loop", ["trips", "go", *carried], loop_outputs, body=body)
    graph_inits = {
        "trips": np.array(trips, np.int64),
        "go": np.array(condition),
        "v0": np.zeros((b, n), np.float32),
        "buffer0": np.zeros((4, b, n), np.float32),
    }
    if scan_output:
        del graph_inits["buffer0"]
    return model_from([loop], [("x", [4, b, n])], [("y", [4, b, n])], graph_inits)


def numpy_helper_from(value: float, name: str) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.array(value, np.float32), name)


@pytest.mark.parametrize(
    ("scan_output", "expand_reset"),
    [(False, False), (True, False), (False, True)],
    ids=["scatternd_buffer", "scan_output", "shape_expand_reset"],
)
def test_loop_form_is_unrolled_and_raised(
    scan_output: bool, expand_reset: bool, tmp_path: Path
) -> None:
    model = _loop_neuron(scan_output, expand_reset=expand_reset)
    path = _save(model, tmp_path)
    x = _input(BASE, batch=2)
    original = _run(model, {"x": x})["y"]
    assert 0.1 < original.mean() < 0.9
    raised, report = _raise(model, path)
    assert report.loops == 1 and [r.kind for r in report.raised] == ["LIF"], report.lines()
    assert _details(report.raised[0].details)["tau"] == 2.0
    assert "Loop" not in _op_types(raised) and "ScatterND" not in _op_types(raised)
    assert np.array_equal(_run(raised, {"x": x})["y"], original)
    result = import_onnx(path)
    assert np.array_equal(evaluate(result.module, result.weights, {"x": x})["y"], original)


def test_loop_whose_trip_count_is_not_known_stays(tmp_path: Path) -> None:
    model = _loop_neuron(scan_output=True, condition=False)
    path = _save(model, tmp_path)
    raised, report = _raise(model, path)
    assert report.loops == 0 and report.raised == []
    assert "Loop" in _op_types(raised)
    with pytest.raises(UnsupportedModelError, match="Loop"):
        import_onnx(path)


def test_cli_eval_reports_the_reference_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    model = EXPORTS / "sj_sdt.dynamo.onnx"
    x, y = EXPORTS / "digits_test_x.npy", EXPORTS / "digits_test_y.npy"
    code, out, err = run_cli(["eval", model, "--input", x, "--labels", y], capsys)
    assert code == 0, err
    assert "accuracy: reference 75.0 % (top-1, 64 labels)" in out
    code, _, err = run_cli(["eval", model, "--input", x, "--labels", x], capsys)
    assert code == 2 and "labels must be integers [batch = 64]" in err and "Traceback" not in err


# -- batch norms as exporters write them -----------------------------------------------------


@pytest.mark.parametrize("form", ["transpose_bn_transpose", "bn_on_4d_after_reshape"])
def test_batch_norm_forms_of_exports(form: str, tmp_path: Path) -> None:
    """BatchNorm1d over channels-last tokens: Transpose -> BN -> Transpose on [T*B, N, C], or
    the same with BN on a 4-D [T*B, C, N, 1] made by a Reshape; both import exactly."""
    t, b, n, c = 4, 2, 5, 6
    rng = np.random.default_rng(0)
    inits: dict[str, np.ndarray] = {
        "folded": np.array([t * b, n, c], np.int64),
        "unfolded": np.array([t, b, n, c], np.int64),
        "as_4d": np.array([t * b, c, n, 1], np.int64),
        "as_3d": np.array([t * b, c, n], np.int64),
        "gamma": rng.uniform(0.5, 1.5, c).astype(np.float32),
        "beta": rng.normal(0, 0.2, c).astype(np.float32),
        "mean": rng.normal(0, 0.2, c).astype(np.float32),
        "var": rng.uniform(0.5, 1.5, c).astype(np.float32),
    }
    stats = ["gamma", "beta", "mean", "var"]
    nodes = [
        helper.make_node("Reshape", ["x", "folded"], ["f"]),
        helper.make_node("Transpose", ["f"], ["ft"], perm=[0, 2, 1]),
    ]
    if form == "transpose_bn_transpose":
        nodes.append(helper.make_node("BatchNormalization", ["ft", *stats], ["bn"]))
    else:
        nodes += [
            helper.make_node("Reshape", ["ft", "as_4d"], ["f4"]),
            helper.make_node("BatchNormalization", ["f4", *stats], ["bn4"]),
            helper.make_node("Reshape", ["bn4", "as_3d"], ["bn"]),
        ]
    nodes += [
        helper.make_node("Transpose", ["bn"], ["bt"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["bt", "unfolded"], ["u"]),
        helper.make_node("LIF", ["u"], ["y"], domain=DOMAIN),
    ]
    model = model_from(nodes, [("x", [t, b, n, c])], [("y", [t, b, n, c])], inits)
    path = _save(model, tmp_path)
    x = rng.normal(1, 1, (t, b, n, c)).astype(np.float32)
    expected = _run(model, {"x": x})["y"]
    assert 0.1 < expected.mean() < 0.9
    result = import_onnx(path)
    assert np.array_equal(evaluate(result.module, result.weights, {"x": x})["y"], expected)


def test_static_batch_export_counts_every_image_as_an_inference(tmp_path: Path) -> None:
    """The exports have a static batch of 64 ([T, 64, ...]): energy per inference divides by it."""
    from compiler.runner import execute_package, open_program
    from compiler.toolchain import compile_model

    compile_model(str(EXPORTS / "norse_lif.dynamo.onnx"), "sparse", tmp_path / "p")
    package, target = open_program(tmp_path / "p")
    x = np.load(EXPORTS / "digits_test_x.npy")
    report = execute_package(package, target, {"x": x}).report
    assert report.batch == 64
    totals = report.totals
    assert totals["energy_per_inference_pj"] == pytest.approx(totals["energy_pj"] / 64)


def _flatten_repeat(shape_used_elsewhere: bool) -> onnx.ModelProto:
    """`x.reshape(x.shape[0], -1)` as TorchScript writes it with a dynamic batch (the target
    computed from Shape(x)), then repeated over T = 3 and scaled; `shape_used_elsewhere` also
    reshapes the output by the batch read off Shape(x), which a time axis on x would change."""
    i64 = np.int64
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axis0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus1"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
        helper.make_node("Unsqueeze", ["flat", "axis0"], ["flat1"]),
        helper.make_node("Tile", ["flat1", "repeats"], ["xt"]),
        helper.make_node("Mul", ["xt", "half"], ["y" if not shape_used_elsewhere else "yt"]),
    ]
    if shape_used_elsewhere:
        nodes += [
            helper.make_node("Concat", ["three", "batch1", "minus1"], ["out_shape"], axis=0),
            helper.make_node("Reshape", ["yt", "out_shape"], ["y"]),
        ]
    inits: dict[str, np.ndarray] = {
        "zero": np.asarray(0, i64),
        "axis0": np.asarray([0], i64),
        "minus1": np.asarray([-1], i64),
        "three": np.asarray([3], i64),
        "repeats": np.asarray([3, 1, 1], i64),
        "half": np.asarray(0.5, np.float32),
    }
    return model_from(nodes, [("x", ["B", 2, 3])], [("y", None)], inits)


def test_a_computed_flatten_before_the_repeat_is_followed(tmp_path: Path) -> None:
    model = _flatten_repeat(False)
    path = _save(model, tmp_path)
    raised, report = _raise(model, path)
    assert report.repeated_inputs == ["x"] and report.timesteps == 3
    assert "Shape" not in _op_types(raised)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    assert np.array_equal(
        _run(raised, {"x": np.broadcast_to(x, (3, *x.shape)).copy()})["y"],
        _run(model, {"x": x})["y"],
    )
    result = import_onnx(path)
    assert np.array_equal(
        evaluate(result.module, result.weights, {"x": x})["y"], _run(model, {"x": x})["y"]
    )


def test_a_flatten_whose_shape_is_read_elsewhere_is_not_a_repeat(tmp_path: Path) -> None:
    model = _flatten_repeat(True)
    path = _save(model, tmp_path)
    _, report = _raise(model, path)
    assert report.untimed_inputs == ["x"] and report.timesteps == 1  # no repeat: read at step 0
    x = np.random.default_rng(1).normal(size=(4, 2, 3)).astype(np.float32)
    result = import_onnx(path)
    got = evaluate(result.module, result.weights, {"x": x})["y"]
    assert np.array_equal(got, _run(model, {"x": x})["y"])
