"""Softmax-weighted and time-invariant MoE routing: `TopKRouter(softmax=1)`, gates `[B, N, E]`
without a time axis next to a time-major X, dispatch by the routing mask (`X * [g != 0]`) and
weighting in the combine. The kernels, onnxruntime against the reference, the verifiers,
partition-experts, and every target in every variant against the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.dialects import spike
from compiler.dialects.spike.types import is_spike
from compiler.errors import SpikecError
from compiler.frontend.load import load_model
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.oracle import agreement, run_onnxruntime
from compiler.interpreters.reference import evaluate, main_function
from compiler.ir.parse import parse_ir
from compiler.ir.printer import print_ir
from compiler.ir.weights import WeightStore
from compiler.runner import get_target, run_program
from compiler.toolchain import compile_model
from compiler.transforms.pipeline import run_pipeline
from runtime import kernels
from runtime.interpreter import RunRecord
from targets.instructions import ADD16, COMPARE16, LOGIC1, MULT16, SPECIAL16
from tests.conftest import SAMPLES, dyadic, model_from, run_cli

T, N, D, E = 4, 5, 8, 3
RNG = np.random.default_rng(5)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- kernels -----------------------------------------------------------------------------------


def test_softmax_gates_are_the_top_k_probabilities() -> None:
    logits = RNG.normal(size=(T, 2, N, E)).astype(np.float32)
    p = _softmax(logits)
    assert p.dtype == np.float32
    gates = kernels.route_topk(logits, 2, True)
    assert gates.dtype == np.float32 and gates.shape == logits.shape
    assert np.all(np.count_nonzero(gates, axis=-1) == 2)
    chosen = gates != 0
    assert np.array_equal(gates[chosen], p[chosen])  # the probabilities themselves
    # the k largest probabilities: every chosen one is at least every other one
    smallest_chosen = np.where(chosen, p, np.inf).min(axis=-1)
    largest_other = np.where(chosen, -np.inf, p).max(axis=-1)
    assert np.all(smallest_chosen >= largest_other)
    # the binary router picks the same experts (softmax is monotonic) with ones
    assert np.array_equal(kernels.route_topk(logits, 2), chosen.astype(np.float32))


def test_softmax_gates_with_k_equal_to_e_are_the_softmax() -> None:
    logits = RNG.normal(size=(2, N, E)).astype(np.float32)
    assert np.array_equal(kernels.route_topk(logits, E, True), _softmax(logits))


def test_ties_go_to_the_lower_expert() -> None:
    logits = np.array([[[1.0, 1.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0]]], np.float32)
    gates = kernels.route_topk(logits, 2, True)
    assert np.array_equal(gates != 0, [[[True, True, False, False], [False, True, False, True]]])
    # ties of the probabilities, not of the scores: 1e-8 apart, both exp to exactly 1.0
    close = np.array([[[0.0, 1e-8, -3.0]]], np.float32)
    assert np.argmax(kernels.route_topk(close, 1)) == 1
    p = _softmax(close)
    assert p[..., 0] == p[..., 1]
    assert np.array_equal(kernels.route_topk(close, 1, True) != 0, [[[True, False, False]]])


def test_dispatch_passes_routed_tokens_unscaled() -> None:
    x = RNG.normal(size=(T, 2, N, D)).astype(np.float32)
    gates = kernels.route_topk(RNG.normal(size=(T, 2, N, E)).astype(np.float32), 1, True)
    for e in range(E):
        routed = gates[..., e : e + 1] != 0
        assert np.array_equal(kernels.dispatch(x, gates, e), np.where(routed, x, 0 * x))


def test_dispatch_of_binary_gates_is_x_times_g_bit_for_bit() -> None:
    x = RNG.normal(size=(T, 2, N, D)).astype(np.float32)
    gates = kernels.route_topk(RNG.normal(size=(T, 2, N, E)).astype(np.float32), 2)
    for e in range(E):
        ours, before = kernels.dispatch(x, gates, e), x * gates[..., e : e + 1]
        assert np.array_equal(ours, before)
        assert np.array_equal(np.signbit(ours), np.signbit(before))  # -0.0 stays -0.0


def test_combine_weights_in_expert_order() -> None:
    gates = kernels.route_topk(RNG.normal(size=(T, 2, N, E)).astype(np.float32), 2, True)
    ys = [RNG.normal(size=(T, 2, N, D)).astype(np.float32) for _ in range(E)]
    total: np.ndarray = gates[..., 0:1] * ys[0]
    for e in range(1, E):
        total = total + gates[..., e : e + 1] * ys[e]
    assert np.array_equal(kernels.combine(gates, ys), total)


def test_time_invariant_gates_broadcast_over_time() -> None:
    x = RNG.normal(size=(T, 2, N, D)).astype(np.float32)
    ys = [RNG.normal(size=(T, 2, N, D)).astype(np.float32) for _ in range(E)]
    static = kernels.route_topk(RNG.normal(size=(2, N, E)).astype(np.float32), 2, True)
    repeated = np.broadcast_to(static, (T, *static.shape))
    for e in range(E):
        assert np.array_equal(kernels.dispatch(x, static, e), kernels.dispatch(x, repeated, e))
        assert np.array_equal(
            kernels.dispatch(x, static, e), x * (static[None, ..., e : e + 1] != 0)
        )
    assert np.array_equal(kernels.combine(static, ys), kernels.combine(repeated, ys))


def test_token_ranges_of_time_invariant_gates() -> None:
    x = RNG.normal(size=(T, 2, N, D)).astype(np.float32)
    static = kernels.route_topk(RNG.normal(size=(2, N, E)).astype(np.float32), 2, True)
    repeated = np.ascontiguousarray(np.broadcast_to(static, (T, *static.shape)))
    ranges = [(0, 2), (2, 5)]
    for e in range(E):
        parts = [kernels.dispatch(x, static, e, r) for r in ranges]
        for part, r in zip(parts, ranges, strict=True):
            assert np.array_equal(part, kernels.dispatch(x, repeated, e, r))
            assert not part[:, :, : r[0]].any() and not part[:, :, r[1] :].any()
        assert np.array_equal(parts[0] + parts[1], kernels.dispatch(x, static, e))
    ys = [RNG.normal(size=(T, 2, N, D)).astype(np.float32) for _ in range(2 * E)]
    experts = [e for e in range(E) for _ in ranges]
    tokens = [r for _ in range(E) for r in ranges]
    split = kernels.combine(static, ys, experts, tokens)
    assert np.array_equal(split, kernels.combine(repeated, ys, experts, tokens))
    # each token gets exactly its own replica's term, so the split equals a whole combine
    whole = [np.where(np.arange(N)[:, None] < 2, ys[2 * e], ys[2 * e + 1]) for e in range(E)]
    assert np.array_equal(split, kernels.combine(static, whole))


# -- an ONNX MoE with TopKRouter(softmax=1): onnxruntime equals the reference --------------------


def _lif(x: str, y: str, **attrs: float) -> onnx.NodeProto:
    node = helper.make_node("LIF", [x], [y], domain="spike")
    node.attribute.extend(helper.make_attribute(k, v) for k, v in attrs.items())
    return node


def _real(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return dyadic(np.random.default_rng(seed).normal(size=shape), bits=8)


def moe_model(*, static: bool, softmax: bool, k: int) -> onnx.ModelProto:
    """LIF, a router (on the spikes averaged over T when `static`), E experts (linear + LIF)
    dispatched and combined; outputs the gates and the mixture."""
    inits: dict[str, np.ndarray] = {"router.w": _real((D, E), 9), "ax0": np.array([0], np.int64)}
    nodes = [_lif("x", "s")]
    if static:
        nodes.append(helper.make_node("ReduceMean", ["s"], ["m"], axes=[0], keepdims=0))
    nodes += [
        helper.make_node("MatMul", ["m" if static else "s", "router.w"], ["logits"]),
        helper.make_node(
            "TopKRouter", ["logits"], ["g"], domain="spike", k=k, softmax=int(softmax)
        ),
    ]
    stacked = []
    for e in range(E):
        inits[f"e{e}.w"] = _real((D, D), 10 + e)
        nodes += [
            helper.make_node("Dispatch", ["s", "g"], [f"x{e}"], domain="spike", expert=e),
            helper.make_node("MatMul", [f"x{e}", f"e{e}.w"], [f"h{e}"]),
            _lif(f"h{e}", f"y{e}", v_threshold=0.5),
            helper.make_node("Unsqueeze", [f"y{e}", "ax0"], [f"u{e}"]),
        ]
        stacked.append(f"u{e}")
    nodes += [
        helper.make_node("Concat", stacked, ["stack"], axis=0),
        helper.make_node("Combine", ["g", "stack"], ["y"], domain="spike"),
    ]
    return model_from(nodes, [("x", [T, "B", N, D])], [("g", None), ("y", None)], inits)


def moe_input(batch: int = 2, seed: int = 3) -> np.ndarray:
    return dyadic(np.random.default_rng(seed).normal(size=(T, batch, N, D)) * 3, bits=8)


CASES = [
    pytest.param(True, True, 2, id="static-softmax-k2"),
    pytest.param(True, True, 1, id="static-softmax-k1"),
    pytest.param(True, True, E, id="static-softmax-kE"),
    pytest.param(True, False, 1, id="static-binary-k1"),
    pytest.param(False, True, 2, id="time-softmax-k2"),
    pytest.param(False, False, 2, id="time-binary-k2"),
]


@pytest.mark.parametrize(("static", "softmax", "k"), CASES)
def test_onnxruntime_equals_the_reference(
    static: bool, softmax: bool, k: int, tmp_path: Path
) -> None:
    path = tmp_path / "moe.onnx"
    onnx.save(moe_model(static=static, softmax=softmax, k=k), path)
    result = import_onnx(path)
    (router,) = [op for op in result.module.walk() if isinstance(op, spike.RouteTopKOp)]
    assert router.softmax_weights() == softmax
    assert is_spike(router.gates) == (not softmax and not static)
    assert len(router.gates.type.get_shape()) == (3 if static else 4)  # type: ignore[attr-defined]
    (moe,) = [op for op in result.module.walk() if isinstance(op, spike.MoEOp)]
    assert is_spike(moe.output) == (k == 1 and not softmax)
    kinds = main_function(result.module).function_type.outputs.data
    for batch in (1, 3):
        x = moe_input(batch, seed=batch)
        ours = evaluate(result.module, result.weights, {"x": x})
        theirs = run_onnxruntime(str(path), {"x": x})
        for name, kind in zip(("g", "y"), kinds, strict=True):
            ok, account = agreement(is_spike(kind), ours[name], theirs[name])
            assert ok, f"{name}: {account}"
        assert np.count_nonzero(ours["y"]) > 0


def test_softmax_weights_change_the_mixture_not_the_routing(tmp_path: Path) -> None:
    """Softmax-weighted gates route like binary ones but weight the experts' outputs."""
    outs = []
    for softmax in (False, True):
        path = tmp_path / f"moe{softmax}.onnx"
        onnx.save(moe_model(static=True, softmax=softmax, k=2), path)
        result = import_onnx(path)
        outs.append(evaluate(result.module, result.weights, {"x": moe_input()})["y"])
    assert not np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0] != 0, outs[1] != 0)  # routed alike


def test_gates_not_matching_x_are_refused(tmp_path: Path) -> None:
    model = moe_model(static=True, softmax=True, k=2)
    # the router reads the spikes averaged over tokens too: [B, D] gates for X [T, B, N, D]
    model.graph.node[1].attribute[0].ints[:] = [0, 2]
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    with pytest.raises(SpikecError, match="do not match X"):
        import_onnx(path)


# -- verifiers ---------------------------------------------------------------------------------

_ROUTED = """
builtin.module attributes {{spike.timesteps = 4 : i64}} {{
  func.func @main(%x: tensor<4x?x5x8xf32>, %l: {ltype}) -> tensor<4x?x5x8xf32> {{
    %g = spike.route_topk %l {{k = 2 : i64{props}}} : ({ltype}) -> {gtype}
    %d = spike.dispatch %x, %g {{expert = 0 : i64}} : (tensor<4x?x5x8xf32>, {gtype}) -> tensor<4x?x5x8xf32>
    %c = spike.combine %g, %d, %d, %d : ({gtype}, tensor<4x?x5x8xf32>, tensor<4x?x5x8xf32>, tensor<4x?x5x8xf32>) -> tensor<4x?x5x8xf32>
    func.return %c : tensor<4x?x5x8xf32>
  }}
}}
"""


def _routed(ltype: str, gtype: str, props: str = "") -> str:
    return _ROUTED.format(ltype=ltype, gtype=gtype, props=props)


def test_static_softmax_gates_verify_and_round_trip() -> None:
    text = _routed("tensor<?x5x3xf32>", "tensor<?x5x3xf32>", ", softmax = true")
    module = parse_ir(text, "static.mlir")
    printed = print_ir(module)
    assert "softmax = true" in printed
    assert print_ir(parse_ir(printed, "again.mlir")) == printed
    x = RNG.normal(size=(4, 2, 5, 8)).astype(np.float32)
    logits = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    out = evaluate(module, WeightStore(), {"arg0": x, "arg1": logits})["out0"]
    gates = kernels.route_topk(logits, 2, True)
    d = kernels.dispatch(x, gates, 0)
    assert np.array_equal(out, kernels.combine(gates, [d, d, d]))


@pytest.mark.parametrize(
    ("ltype", "gtype", "props", "message"),
    [
        (
            "tensor<?x6x3xf32>",
            "tensor<?x6x3xf32>",
            "",
            "must be the input's shape 4x\\?x5x8 with the feature axis replaced",
        ),
        ("tensor<?x3xf32>", "tensor<?x3xf32>", "", "must be the input's shape"),
        ("tensor<2x5x3xf32>", "!spike.train<2x5x3>", "", "time-invariant gates 2x5x3 must be"),
        (
            "tensor<4x?x5x3xf32>",
            "!spike.train<4x?x5x3>",
            ", softmax = true",
            "softmax-weighted gates are real",
        ),
        ("tensor<4x?x5x3xf32>", "tensor<4x?x5x4xf32>", "", "does not match the inferred shape"),
    ],
    ids=["tokens", "rank", "static-spikes", "softmax-spikes", "router-shape"],
)
def test_gates_of_the_wrong_shape_are_rejected(
    ltype: str, gtype: str, props: str, message: str
) -> None:
    with pytest.raises(SpikecError, match=message):
        parse_ir(_routed(ltype, gtype, props), "bad.mlir")


def test_moe_with_softmax_top1_gates_has_real_output() -> None:
    text = """
builtin.module attributes {spike.timesteps = 4 : i64} {
  func.func @main(%x: tensor<4x?x5x8xf32>, %l: tensor<?x5x2xf32>) -> !spike.train<4x?x5x8> {
    %g = spike.route_topk %l {k = 1 : i64, softmax = true} : (tensor<?x5x2xf32>) -> tensor<?x5x2xf32>
    %m = "spike.moe"(%x, %g) ({
    ^bb0(%a: tensor<4x?x5x8xf32>):
      %s = spike.if %a {v_threshold = 1.0 : f32, v_reset = 0.0 : f32, reset = #spike<reset hard>} : (tensor<4x?x5x8xf32>) -> !spike.train<4x?x5x8>
      spike.yield %s : !spike.train<4x?x5x8>
    }, {
    ^bb0(%b: tensor<4x?x5x8xf32>):
      %s2 = spike.if %b {v_threshold = 1.0 : f32, v_reset = 0.0 : f32, reset = #spike<reset hard>} : (tensor<4x?x5x8xf32>) -> !spike.train<4x?x5x8>
      spike.yield %s2 : !spike.train<4x?x5x8>
    }) : (tensor<4x?x5x8xf32>, tensor<?x5x2xf32>) -> !spike.train<4x?x5x8>
    func.return %m : !spike.train<4x?x5x8>
  }
}
"""
    with pytest.raises(SpikecError, match="output can be spikes only with a top-1 router"):
        parse_ir(text, "spiking.mlir")


# -- partition-experts and the targets ---------------------------------------------------------


@pytest.fixture(scope="module")
def static_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("moe") / "static_softmax.onnx"
    onnx.save(moe_model(static=True, softmax=True, k=2), path)
    return path


@pytest.fixture(scope="module")
def reference(static_model: Path) -> dict[str, np.ndarray]:
    module, weights, _ = load_model(str(static_model))
    return evaluate(module, weights, {"x": moe_input(T)})


@pytest.mark.parametrize(
    "spec",
    ["partition-experts{units=2}", "partition-experts{units=7 policy=balanced}"],
)
def test_partition_experts_preserves_the_mixture(
    static_model: Path, reference: dict[str, np.ndarray], spec: str
) -> None:
    module, weights, _ = load_model(str(static_model))
    run_pipeline(module, spec)
    assert not any(isinstance(op, spike.MoEOp) for op in module.walk())
    dispatches = [op for op in module.walk() if isinstance(op, spike.DispatchOp)]
    if "balanced" in spec:
        assert {op.token_range() for op in dispatches} >= {(0, 3), (3, 5)}
    out = evaluate(module, weights, {"x": moe_input(T)})
    for name, value in reference.items():
        assert np.array_equal(out[name], value), name


VARIANTS = [
    (target, variant)
    for target in ("sparse", "stacked3d", "xpikeformer")
    for variant in get_target(target).variants
]


@pytest.mark.parametrize(("target", "variant"), VARIANTS)
def test_every_target_equals_the_reference(
    static_model: Path,
    reference: dict[str, np.ndarray],
    target: str,
    variant: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / f"moe.{target}.{variant}"
    compile_model(str(static_model), target, path, variant=variant)
    outputs, record = run_program(path, {"x": moe_input(T)})
    for name, value in reference.items():
        assert np.array_equal(outputs[name], value), name
    _check_routing_costs(record, target, variant)


def _items(record: RunRecord, suffix: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for r in record.records:
        if r.opcode.endswith(suffix):
            for item in r.cost.items:
                if item.component == "compute":
                    found[item.entry] = found.get(item.entry, 0.0) + item.picojoules
    return found


def _check_routing_costs(record: RunRecord, target: str, variant: str) -> None:
    """A time-invariant softmax router: B*N*E scores once (not T times), each with k + 1
    comparisons (top-k, row max), two adds and two special operations (exp, divide);
    dispatch compares each token's real gate with zero; combine multiplies by real gates."""
    hw = record.hardware
    scores = T * N * E  # batch T (= the timesteps, on purpose) x tokens x experts
    router = _items(record, "TOPK" if target == "stacked3d" else "ROUTE_TOPK")
    assert router[COMPARE16] == pytest.approx(3 * scores * hw.number(COMPARE16))
    assert router[SPECIAL16] == pytest.approx(2 * scores * hw.number(SPECIAL16))
    assert router[ADD16] == pytest.approx(2 * scores * hw.number(ADD16))
    # the ANN counterpart runs the mixture once, not T times (the router already runs once)
    passes = 1 / T if variant == "digital-ann" else 1
    dispatch = _items(record, "DISPATCH")
    compared = E * T * N  # each expert compares every token's gate once
    assert dispatch[COMPARE16] == pytest.approx(compared * passes * hw.number(COMPARE16))
    combine = _items(record, "COMBINE")
    elements = T * T * N * D
    assert combine[MULT16] == pytest.approx(E * elements * passes * hw.number(MULT16))
    assert LOGIC1 not in combine


def test_binary_time_major_routing_costs_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "moe.onnx"
    onnx.save(moe_model(static=False, softmax=False, k=2), path)
    program = tmp_path / "moe.stacked3d"
    compile_model(str(path), "stacked3d", program)
    _, record = run_program(program, {"x": moe_input(2)})
    hw = record.hardware
    router = _items(record, "TOPK")
    assert router == {COMPARE16: pytest.approx(2 * T * 2 * N * E * hw.number(COMPARE16))}
    combine = _items(record, "COMBINE")
    elements = T * 2 * N * D
    assert combine == {
        ADD16: pytest.approx((E - 1) * elements * hw.number(ADD16)),
        LOGIC1: pytest.approx(E * elements * hw.number(LOGIC1)),
    }
    assert _items(record, "DISPATCH") == {LOGIC1: pytest.approx(E * elements * hw.number(LOGIC1))}


def test_replicated_experts_with_static_gates_on_a_target(
    static_model: Path,
    reference: dict[str, np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Token ranges of time-invariant gates through a target's dispatch and combine."""
    ir, split = tmp_path / "moe.mlir", tmp_path / "split.mlir"
    assert run_cli(["import", static_model, "-o", ir], capsys)[0] == 0
    spec = "partition-experts{units=6 policy=balanced}"
    code, _, err = run_cli(["opt", ir, "-p", spec, "-o", split], capsys)
    assert code == 0, err
    assert "tokens = array<i64: 0, 3>" in split.read_text()
    with pytest.raises(SpikecError, match=r"unit 't0\.expert4', which the stacked3d"):
        compile_model(str(split), "stacked3d", tmp_path / "four-cores")  # 4 in the description
    assert not (tmp_path / "four-cores").exists()
    for target in ("sparse", "stacked3d"):
        program = tmp_path / f"split.{target}"
        settings = ("units.experts=6",) if target == "stacked3d" else ()
        compile_model(str(split), target, program, settings=settings)
        outputs, _ = run_program(program, {"x": moe_input(T)})
        for name, value in reference.items():
            assert np.array_equal(outputs[name], value), (target, name)


# -- the torch.onnx export of a top-k MoE (softmax router on time-averaged spikes) -------------

EXPORT = SAMPLES / "export" / "sj_topk_moe.dynamo.onnx"
DIGITS = SAMPLES / "export" / "digits_test_x.npy"


@pytest.fixture(scope="module")
def export_reference() -> dict[str, np.ndarray]:
    module, weights, _ = load_model(str(EXPORT))
    (router,) = [op for op in module.walk() if isinstance(op, spike.RouteTopKOp)]
    assert router.softmax_weights() and len(router.gates.type.get_shape()) == 3  # type: ignore[attr-defined]
    x = np.load(DIGITS)
    ours = evaluate(module, weights, {"x": x})
    ok, account = agreement(False, ours["logits"], run_onnxruntime(str(EXPORT), {"x": x})["logits"])
    assert ok, account
    return ours


@pytest.mark.parametrize("target", ["sparse", "stacked3d", "xpikeformer"])
def test_the_export_runs_on_every_target(
    export_reference: dict[str, np.ndarray], target: str, tmp_path: Path
) -> None:
    program = tmp_path / f"moe.{target}"
    compile_model(str(EXPORT), target, program)
    outputs, _ = run_program(program, {"x": np.load(DIGITS)})
    ok, account = agreement(False, outputs["logits"], export_reference["logits"])
    assert ok, account


# -- renormalised top-k (Mixtral-style) --------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_renormalised_gates_sum_to_one_and_match_the_onnx_function(k: int, tmp_path: Path) -> None:
    """The chosen probabilities divided by their sum added in rank order; the `spike.TopKRouter`
    function in onnxruntime within 1e-5 (its Softmax rounds otherwise), the reference bit for bit
    the kernel."""
    import onnxruntime as ort

    logits = RNG.normal(size=(T, 2, N, 6)).astype(np.float32)
    gates = kernels.route_topk(logits, k, True, normalize=True)
    assert np.allclose(gates.sum(-1), 1.0, atol=1e-6)
    assert np.array_equal(gates != 0, kernels.route_topk(logits, k) != 0)
    node = helper.make_node("TopKRouter", ["l"], ["g"], domain="spike", k=k, softmax=1, normalize=1)
    path = tmp_path / "router.onnx"
    onnx.save(model_from([node], [("l", [T, "B", N, 6])], [("g", None)]), path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"l": logits})
    np.testing.assert_allclose(gates, theirs, rtol=1e-5, atol=1e-6)
    result = import_onnx(path)
    (op,) = [o for o in result.module.walk() if isinstance(o, spike.RouteTopKOp)]
    assert op.renormalised()
    assert np.array_equal(evaluate(result.module, result.weights, {"l": logits})["g"], gates)


def test_normalize_needs_softmax(tmp_path: Path) -> None:
    node = helper.make_node("TopKRouter", ["l"], ["g"], name="r0", domain="spike", k=2, normalize=1)
    path = tmp_path / "router.onnx"
    onnx.save(model_from([node], [("l", [T, "B", N, 6])], [("g", None)]), path)
    with pytest.raises(SpikecError, match=r"r0.*normalize 1 renormalises softmax weights"):
        import_onnx(path)
