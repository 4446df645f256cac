"""`spike.token_attention`, QKFormer's Q-K token attention (Zhou et al., 2024): the kernel against
a plain loop over timesteps, items, tokens and heads; the ONNX function `spike.TokenAttention`
run by onnxruntime against the reference interpreter bit for bit; the frontend's and the
verifier's errors; the passes that treat attention; every target compiling and running a model
with a token attention exactly, with its work in the account."""

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
from compiler.dialects.spike.types import PlacementAttr, SpikeTrainType, real_type
from compiler.errors import UnsupportedModelError
from compiler.frontend.load import load_model
from compiler.frontend.onnx_functions import FUNCTION_NAMES, token_attention_function
from compiler.frontend.onnx_import import import_onnx
from compiler.interpreters.reference import evaluate
from compiler.ir.weights import WeightStore
from compiler.toolchain import compile_model
from compiler.transforms.pipeline import run_pipeline
from runtime import kernels
from runtime.interpreter import InstructionRecord
from targets.instructions import ADD16, ADD32, COMPARE16, LOGIC1, MULT8
from tests.conftest import checked_reference, dyadic, entry_energy, model_from, run_sample_program

RNG = np.random.default_rng(2024)
T = 4

# heads, tau, v_threshold, v_reset, decay_input, soft_reset
PARAMS = [
    (2, 2.0, 0.5, 0.0, True, False),  # QKFormer's
    (4, 1.5, 1.0, 0.0, False, True),
    (1, 2.0, 2.0, -0.5, True, True),
    (2, 3.0, 1.5, 0.25, False, False),
]


def _scalar_lif(
    xs: list[float], tau: float, vth: float, vr: float, decay_input: bool, soft: bool
) -> list[float]:
    """One SpikingJelly LIF neuron, one step at a time, in float32 scalars."""
    f = np.float32
    v, out = f(vr), []
    for x in xs:
        if decay_input:
            h = v + (f(x) - (v - f(vr))) / f(tau)
        else:
            h = v - (v - f(vr)) / f(tau) + f(x)
        s = f(1.0) if h >= f(vth) else f(0.0)
        v = h - f(vth) * s if soft else h * (f(1.0) - s) + f(vr) * s
        out.append(float(s))
    return out


def _loop_token_attention(q: np.ndarray, k: np.ndarray, params: tuple[Any, ...]) -> np.ndarray:
    """The definition, element by element: for each item, token and head, the LIF over time of
    the sum of the head's Q channels gates every channel of the head's K."""
    heads, *lif = params
    t, b, n, d = q.shape
    dh = d // heads
    y = np.zeros_like(k)
    for item in range(b):
        for token in range(n):
            for h in range(heads):
                channels = slice(h * dh, (h + 1) * dh)
                sums = [float(q[step, item, token, channels].sum()) for step in range(t)]
                for step, fired in enumerate(_scalar_lif(sums, *lif)):
                    y[step, item, token, channels] = fired * k[step, item, token, channels]
    return y


def _spikes(shape: tuple[int, ...], rate: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.float32)


@pytest.mark.parametrize("params", PARAMS)
def test_kernel_matches_the_loop_definition(params: tuple[Any, ...]) -> None:
    shape = (T + 2, 2, 5, 8)
    q, k = _spikes(shape, 0.3, 1), _spikes(shape, 0.5, 2)
    heads, *lif = params
    got = kernels.token_attention(q, k, heads, *lif)
    assert got.dtype == np.float32 and got.shape == shape
    assert got.tolist() == _loop_token_attention(q, k, params).tolist()
    assert 0 < got.sum() < k.sum()  # some tokens fire, not all


def test_kernel_sums_each_head_apart() -> None:
    """One token, two heads of two channels: head 0 sees 2 spikes a step, head 1 none; with
    threshold 1.5 and no leak (tau = 1) head 0 fires every step and gates only its own K."""
    q = np.tile(np.array([1, 1, 0, 0], np.float32), (3, 1, 1, 1))
    k = np.ones((3, 1, 1, 4), np.float32)
    y = kernels.token_attention(q, k, 2, 1.0, 1.5, 0.0, True, False)
    assert y[:, 0, 0].tolist() == [[1, 1, 0, 0]] * 3
    # as one head, the sum is the same 2: every channel is gated
    assert kernels.token_attention(q, k, 1, 1.0, 1.5, 0.0, True, False).sum() == 12


# -- the ONNX function and the frontend ----------------------------------------------------------


def _node(q: str, k: str, y: str, params: tuple[Any, ...] | None, **extra: Any) -> onnx.NodeProto:
    if params is None:  # only the required attribute: the function's defaults apply
        return helper.make_node("TokenAttention", [q, k], [y], domain="spike", heads=2, **extra)
    heads, tau, vth, vr, decay_input, soft = params
    return helper.make_node(
        "TokenAttention",
        [q, k],
        [y],
        domain="spike",
        heads=heads,
        tau=tau,
        v_threshold=vth,
        v_reset=vr,
        decay_input=int(decay_input),
        soft_reset=int(soft),
        **extra,
    )


def _lif(x: str, s: str, threshold: float) -> onnx.NodeProto:
    return helper.make_node("LIF", [x], [s], domain="spike", v_threshold=threshold)


def _save(model: onnx.ModelProto, tmp_path: Path, name: str = "token.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_the_function_is_part_of_the_convention() -> None:
    assert "TokenAttention" in FUNCTION_NAMES
    function = token_attention_function()
    assert (function.domain, function.name) == ("spike", "TokenAttention")
    assert list(function.input) == ["Q", "K"] and list(function.output) == ["Y"]
    assert list(function.attribute) == ["heads"]
    defaults = {a.name: helper.get_attribute_value(a) for a in function.attribute_proto}
    assert defaults == {
        "tau": 2.0,
        "v_threshold": 0.5,
        "v_reset": 0.0,
        "decay_input": 1,
        "soft_reset": 0,
    }


N_TOK, D = 6, 8


def _function_model(params: tuple[Any, ...] | None) -> onnx.ModelProto:
    nodes = [_lif("xq", "q", 0.5), _lif("xk", "k", 1.0), _node("q", "k", "y", params)]
    inputs: list[tuple[str, list[int | str]]] = [
        ("xq", [T, "B", N_TOK, D]),
        ("xk", [T, "B", N_TOK, D]),
    ]
    return model_from(nodes, inputs, [("y", None)])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", [*PARAMS, None])
def test_onnxruntime_equals_the_reference_bit_for_bit(
    params: tuple[Any, ...] | None, seed: int, tmp_path: Path
) -> None:
    """Q and K are the spikes of LIFs on random float32 currents; the function's body (heads by
    Reshape and Transpose, ReduceSum, the LIF's Scan, Mul) and the kernel agree bit for bit."""
    path = _save(_function_model(params), tmp_path)
    rng = np.random.default_rng(seed)
    feeds = {
        name: (rng.normal(size=(T, 3, N_TOK, D)) * 1.2 + 0.4).astype(np.float32)
        for name in ("xq", "xk")
    }
    result = import_onnx(path)
    (op,) = [o for o in result.module.walk() if isinstance(o, spike.TokenAttentionOp)]
    assert op.num_heads == (2 if params is None else params[0])
    ours = evaluate(result.module, result.weights, feeds)["y"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(["y"], feeds)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)
    assert ours.any()


def test_frontend_reads_the_attributes(tmp_path: Path) -> None:
    params = (4, 1.5, 0.75, -0.25, False, True)
    module = import_onnx(_save(_function_model(params), tmp_path)).module
    (op,) = [o for o in module.walk() if isinstance(o, spike.TokenAttentionOp)]
    assert op.num_heads == 4
    assert [op.tau.value.data, op.v_threshold.value.data, op.v_reset.value.data] == [
        1.5,
        0.75,
        -0.25,
    ]
    assert not op.decay_input.value.data
    assert op.reset.data == spike.ResetMode.SOFT
    assert isinstance(op.output.type, SpikeTrainType)


@pytest.mark.parametrize(
    ("attributes", "k_shape", "message"),
    [
        ({}, None, "attribute 'heads' is required"),
        ({"heads": 3}, None, "heads = 3 must be >= 1 and divide D = 8"),
        ({"heads": 0}, None, "heads = 0 must be >= 1"),
        ({"heads": 2, "scale": 0.125}, None, "unknown attribute"),
        ({"heads": 2, "tau": 0.0}, None, "tau must be > 0"),
        ({"heads": 2, "decay_input": 2}, None, "'decay_input' must be 0 or 1"),
        ({"heads": 2}, [T, "B", N_TOK + 1, D], "must have Q's shape"),
    ],
)
def test_frontend_refuses_bad_attributes_and_operands(
    attributes: dict[str, Any], k_shape: list[int | str] | None, message: str, tmp_path: Path
) -> None:
    node = helper.make_node(
        "TokenAttention", ["q", "k"], ["y"], name="tok0", domain="spike", **attributes
    )
    nodes = [_lif("xq", "q", 0.5), _lif("xk", "k", 1.0), node]
    inputs: list[tuple[str, list[int | str]]] = [
        ("xq", [T, "B", N_TOK, D]),
        ("xk", k_shape or [T, "B", N_TOK, D]),
    ]
    model = model_from(nodes, inputs, [("y", None)])
    with pytest.raises(UnsupportedModelError, match=message) as info:
        import_onnx(_save(model, tmp_path))
    assert "tok0" in str(info.value)


def test_frontend_refuses_real_operands(tmp_path: Path) -> None:
    node = helper.make_node("TokenAttention", ["xq", "k"], ["y"], name="tok0", domain="spike")
    node.attribute.append(helper.make_attribute("heads", 2))
    model = model_from(
        [_lif("xk", "k", 1.0), node],
        [("xq", [T, "B", N_TOK, D]), ("xk", [T, "B", N_TOK, D])],
        [("y", None)],
    )
    with pytest.raises(UnsupportedModelError, match="Q must be spikes"):
        import_onnx(_save(model, tmp_path))


def _spike_train(name: str, shape: tuple[int, ...]) -> spike.LIFOp:
    return spike.LIFOp(spike.WeightOp(name, real_type(shape)), tau=2.0)


def test_verifier_checks_heads_shapes_and_tau() -> None:
    q = _spike_train("q", (T, 2, N_TOK, D))
    spike.TokenAttentionOp(q, q, heads=4).verify()
    with pytest.raises(VerifyException, match="heads = 3 must be >= 1 and divide D = 8"):
        spike.TokenAttentionOp(q, q, heads=3).verify()
    with pytest.raises(VerifyException, match="tau must be > 0"):
        spike.TokenAttentionOp(q, q, heads=2, tau=0.0).verify()
    other = _spike_train("k", (T, 2, N_TOK + 1, D))
    with pytest.raises(VerifyException, match="must have Q's shape"):
        spike.TokenAttentionOp(q, other, heads=2).verify()
    flat = _spike_train("f", (T, 2, D))
    with pytest.raises(VerifyException, match=r"must be \[T, B, N, D\]"):
        spike.TokenAttentionOp(flat, flat, heads=2).verify()
    real = spike.WeightOp("r", real_type((T, 2, N_TOK, D)))
    with pytest.raises(VerifyException, match="spike train"):
        spike.TokenAttentionOp(real, q, heads=2).verify()


# -- a layer, the passes and the targets ---------------------------------------------------------

B, N, D_IN, H = 2, 8, 16, 2
DM = 16


def _layer_model() -> onnx.ModelProto:
    """x -> two linear layers and LIFs (Q and K) -> token attention -> linear on its spikes ->
    mean over tokens and time. Dyadic weights and inputs: every sum is exact in any order."""
    rng = np.random.default_rng(3)
    inits = {
        "wq": dyadic(rng.normal(size=(D_IN, DM)) * 0.5),
        "bq": dyadic(rng.normal(size=DM) * 0.2 + 0.3),
        "wk": dyadic(rng.normal(size=(D_IN, DM)) * 0.5),
        "bk": dyadic(rng.normal(size=DM) * 0.2 + 0.3),
        "w2": dyadic(rng.normal(size=(DM, 10)) * 0.5),
        "b2": dyadic(rng.normal(size=10) * 0.2),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["mq"], name="fc_q"),
        helper.make_node("Add", ["mq", "bq"], ["hq"], name="fc_q_bias"),
        _lif("hq", "q", 1.0),
        helper.make_node("MatMul", ["x", "wk"], ["mk"], name="fc_k"),
        helper.make_node("Add", ["mk", "bk"], ["hk"], name="fc_k_bias"),
        _lif("hk", "k", 1.0),
        helper.make_node(
            "TokenAttention", ["q", "k"], ["tok"], name="tok", domain="spike", heads=H
        ),
        helper.make_node("MatMul", ["tok", "w2"], ["m2"], name="fc2"),
        helper.make_node("Add", ["m2", "b2"], ["h2"], name="fc2_bias"),
        helper.make_node("ReduceMean", ["h2"], ["mt"], name="mean_tokens", axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["mt"], ["y"], name="mean_time", axes=[0], keepdims=0),
    ]
    return model_from(nodes, [("x", [T, "B", N, D_IN])], [("y", ["B", 10])], inits)


def _input() -> np.ndarray:
    return dyadic(np.random.default_rng(4).normal(size=(T, B, N, D_IN)), bits=6)


def _operands() -> tuple[np.ndarray, np.ndarray]:
    """Q and K of the layer model on `_input()`, as the reference computes them."""
    model = _layer_model()
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    x = _input()
    q = kernels.lif(
        kernels.linear(x, weights["wq"], weights["bq"], False), 2.0, 1.0, 0, True, False
    )
    k = kernels.lif(
        kernels.linear(x, weights["wk"], weights["bk"], False), 2.0, 1.0, 0, True, False
    )
    return q, k


@pytest.fixture(scope="module")
def layer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("token") / "token_layer.onnx"
    onnx.save(_layer_model(), path)
    return path


@pytest.fixture(scope="module")
def reference(layer_model: Path) -> dict[str, np.ndarray]:
    return checked_reference(layer_model, {"x": _input()})


def test_the_layer_model_has_work_to_do() -> None:
    q, k = _operands()
    y = kernels.token_attention(q, k, H, 2.0, 0.5, 0.0, True, False)
    assert 0 < q.mean() < 0.9 and 0 < k.mean() < 0.9
    assert 0 < y.sum() < k.sum()  # some tokens fire, not all


PIPELINES = [
    "partition-heads{units=1}",
    "partition-heads{units=2}",
    "partition-heads{units=7 policy=balanced}",
    "decompose{ops=token_attention}",
    "sparsity-encoding",
    "sparsity-encoding{consumers=token_attention producers=lif}",
    "tier-map{tiers=2 mode=logic-on-logic}",
    "partition-heads{units=4 policy=balanced},tier-map{tiers=2},sparsity-encoding,canonicalize,dce",
]


@pytest.mark.parametrize("spec", PIPELINES)
def test_passes_keep_the_reference(
    spec: str, layer_model: Path, reference: dict[str, np.ndarray]
) -> None:
    module, _, _ = load_model(str(layer_model))
    run_pipeline(module, spec)
    module.verify()
    after = evaluate(module, WeightStore.for_module(module), {"x": _input()})
    np.testing.assert_array_equal(after["y"], reference["y"])
    ops = [op for op in module.walk() if isinstance(op, spike.TokenAttentionOp)]
    if spec.startswith("decompose"):
        assert ops == []
    elif "partition-heads" in spec:
        units = int(spec.split("units=")[1].split(" ")[0].split("}")[0])
        expected = H if "balanced" not in spec else max(H, min(units, H * N))
        assert len(ops) == expected and all(op.num_heads == 1 for op in ops)
    else:
        assert len(ops) == 1
    placed = [op.attributes.get("spike.unit") for op in ops]
    if "partition-heads" in spec:  # each one-head op on a head unit
        assert all(isinstance(u, PlacementAttr) and u.kind.data == "head" for u in placed)
    elif "tier-map" in spec:  # the attention unit kind
        assert all(isinstance(u, PlacementAttr) and u.kind.data == "attention" for u in placed)


TARGETS = [
    ("sparse", "sparse", "SMA.TOKEN_ATTENTION"),
    ("sparse", "dense", "SMA.TOKEN_ATTENTION"),
    ("stacked3d", "3d", "ATT.TOKEN_ATTENTION"),
    ("stacked3d", "2d", "ATT.TOKEN_ATTENTION"),
    ("xpikeformer", "xpikeformer", "DIG.TOKEN_ATTENTION"),
    ("xpikeformer", "digital-snn", "DIG.TOKEN_ATTENTION"),
    ("xpikeformer", "digital-ann", "ANN.TOKEN_ATTENTION"),
]

SUMS = T * B * N * H
"""Channel sums of the layer's token attention: one LIF update each."""


def _records(records: list[InstructionRecord], opcode: str) -> list[InstructionRecord]:
    return [r for r in records if r.opcode == opcode]


@pytest.fixture(scope="module")
def runs(layer_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    folder = tmp_path_factory.mktemp("token_programs")
    result = {}
    for target, variant, _ in TARGETS:
        path = folder / f"{target}.{variant}"
        compile_model(str(layer_model), target, path, variant=variant)
        result[target, variant] = (path, run_sample_program(path, _input()))
    return result


@pytest.mark.parametrize(("target", "variant", "opcode"), TARGETS)
def test_targets_run_a_token_attention_exactly(
    target: str,
    variant: str,
    opcode: str,
    runs: dict[tuple[str, str], Any],
    reference: dict[str, np.ndarray],
) -> None:
    path, run = runs[target, variant]
    assert opcode in (path / "program.sasm").read_text()
    np.testing.assert_array_equal(run.outputs["y"], reference["y"])
    records = _records(run.record.records, opcode)
    assert len(records) == (H if target == "stacked3d" else 1)  # one head unit per head
    if variant != "digital-ann":  # the ANN counterpart has no membranes
        assert sum(r.cost.metrics.membrane_updates for r in records) == SUMS
    q, k = _operands()
    y = kernels.token_attention(q, k, H, 2.0, 0.5, 0.0, True, False)
    if variant != "digital-ann":
        assert sum(r.cost.metrics.spikes for r in records) == int(y.sum())
    assert all(r.cost.cycles > 0 for r in records)


def test_sparse_prices_the_spikes_it_visits(runs: dict[tuple[str, str], Any]) -> None:
    """With addresses the mask-add module adds one per Q spike and gates one per K spike; as
    bitmaps it visits every position; the LIF on the sums is the same in both."""
    q, k = _operands()
    positions = T * B * N * DM
    costs = {}
    for variant in ("sparse", "dense"):
        _, run = runs["sparse", variant]
        (record,) = _records(run.record.records, "SMA.TOKEN_ATTENTION")
        price = run.record.hardware.number
        visited_q = q.sum() if variant == "sparse" else positions
        visited_k = k.sum() if variant == "sparse" else positions
        assert entry_energy(record, ADD16) == pytest.approx((visited_q + 2 * SUMS) * price(ADD16))
        assert entry_energy(record, LOGIC1) == pytest.approx(visited_k * price(LOGIC1))
        assert entry_energy(record, COMPARE16) == pytest.approx(SUMS * price(COMPARE16))
        membrane = 2 * SUMS * run.record.hardware.integer("precision.membrane_bits")
        assert entry_energy(record, "memory.membrane_sram.read_energy") + entry_energy(
            record, "memory.membrane_sram.write_energy"
        ) == pytest.approx(
            membrane
            * price("memory.membrane_sram.read_energy")
            / run.record.hardware.integer("memory.membrane_sram.word_bits")
        )
        metrics = record.cost.metrics
        assert metrics.effective_acs == q.sum() and metrics.dense_synops == positions
        lanes = run.record.hardware.integer("sma.lanes")
        assert record.cost.cycles >= math.ceil(SUMS / lanes)
        costs[variant] = record.cost
    assert costs["sparse"].cycles < costs["dense"].cycles
    assert sum(i.picojoules for i in costs["sparse"].items) < sum(
        i.picojoules for i in costs["dense"].items
    )


def test_stacked3d_splits_the_heads_over_head_units(runs: dict[tuple[str, str], Any]) -> None:
    """Each head runs on its own head unit: its accumulates are its Q spikes, its ANDs its K
    spikes, its LIF updates its tokens' sums."""
    q, k = _operands()
    dh = DM // H
    _, run = runs["stacked3d", "3d"]
    records = _records(run.record.records, "ATT.TOKEN_ATTENTION")
    assert sorted(r.unit.split(".")[-1] for r in records) == [f"head{h}" for h in range(H)]
    price = run.record.hardware.number
    by_head = sorted(records, key=lambda r: r.unit)
    for h, record in enumerate(by_head):
        q_h, k_h = q[..., h * dh : (h + 1) * dh].sum(), k[..., h * dh : (h + 1) * dh].sum()
        assert record.cost.metrics.effective_acs == q_h
        assert entry_energy(record, LOGIC1) == pytest.approx(k_h * price(LOGIC1))
        assert entry_energy(record, ADD16) == pytest.approx((q_h + 2 * SUMS / H) * price(ADD16))
        assert record.cost.metrics.membrane_updates == SUMS / H
    # overlapping: the two heads' instructions run at the same time on their units
    assert by_head[0].start == by_head[1].start


def test_stacked3d_pruning_drops_a_head(layer_model: Path, tmp_path: Path) -> None:
    compile_model(str(layer_model), "stacked3d", tmp_path / "p")
    run = run_sample_program(
        tmp_path / "p", _input(), numerics="pruned", settings=("pruning.keep=0.5",)
    )
    records = _records(run.record.records, "ATT.TOKEN_ATTENTION")
    pruned = [r for r in records if r.cost.metrics.counters.get("pruned")]
    assert len(pruned) == 1 and pruned[0].cost.cycles == 0


def test_xpikeformer_digital_unit_and_ann_counterpart(runs: dict[tuple[str, str], Any]) -> None:
    """The digital unit does every element (no zero skipping): a channel-sum add per Q element,
    the LIF's two adds and comparison per sum, a gate per K element. The ANN does one pass: an
    accumulate per Q element, an activation per sum and a multiply per K element, over T."""
    elements = T * B * N * DM
    _, run = runs["xpikeformer", "xpikeformer"]
    (record,) = _records(run.record.records, "DIG.TOKEN_ATTENTION")
    price = run.record.hardware.number
    assert entry_energy(record, ADD16) == pytest.approx((elements + 2 * SUMS) * price(ADD16))
    assert entry_energy(record, COMPARE16) == pytest.approx(SUMS * price(COMPARE16))
    assert entry_energy(record, LOGIC1) == pytest.approx(elements * price(LOGIC1))
    _, ann = runs["xpikeformer", "digital-ann"]
    (record,) = _records(ann.record.records, "ANN.TOKEN_ATTENTION")
    assert entry_energy(record, ADD32) == pytest.approx(elements / T * price(ADD32))
    assert entry_energy(record, COMPARE16) == pytest.approx(SUMS / T * price(COMPARE16))
    assert entry_energy(record, MULT8) == pytest.approx(elements / T * price(MULT8))
