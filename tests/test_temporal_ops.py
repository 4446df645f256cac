"""The ops NIR graphs brought: `spike.lif_box` (Norse LIFBoxCell), `spike.li` (the leaky
integrator readout, and NIR's pure integrator), `spike.delay`, `spike.threshold`, and the `strict`
IF and `immediate_reset` Leaky. Their kernels against plain float32 scalar recurrences, their
verifiers through the CLI, and every target and variant compiling and running a module of all of
them exactly as the reference interpreter does, with each op on the unit that does it and its
arithmetic in the account."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.load import load_model
from compiler.interpreters.reference import evaluate
from compiler.ir.parse import parse_ir
from compiler.runner import RunOptions, execute_package, get_target, open_program
from compiler.toolchain import compile_model
from compiler.transforms.partition_experts import mixes_tokens
from compiler.transforms.pipeline import run_pipeline
from runtime import kernels
from runtime.interpreter import InstructionRecord
from runtime.program import Instruction, Program
from targets import target_names
from tests.conftest import dyadic, entry_energy, run_cli, run_sample_program

F = np.float32
RNG = np.random.default_rng(2025)

# -- the kernels against scalar recurrences ------------------------------------------------------


def _scalar_lif_box(xs: list[float], a: float, vl: float, vth: float, vr: float) -> list[float]:
    """One neuron in float32 scalars, Norse's `lif_box_feed_forward_step` order."""
    a32, v_leak, v, out = F(a), F(vl), F(vl), []
    for x in xs:
        h = v + a32 * ((F(x) + v_leak) - v)
        s = F(1.0) if h - F(vth) > F(0.0) else F(0.0)
        v = (F(1.0) - s) * h + s * F(vr)
        out.append(float(s))
    return out


def _scalar_li(xs: list[float], a: float, vl: float | None) -> list[float]:
    """One leaky integrator (or, without `vl`, NIR's integrator) in float32 scalars."""
    a32, v, out = F(a), F(0.0 if vl is None else vl), []
    for x in xs:
        v = v + a32 * F(x) if vl is None else v + a32 * ((F(vl) - v) + F(x))
        out.append(float(v))
    return out


LIF_BOX_PARAMS = [
    # dt_tau_mem_inv, v_leak, v_threshold, v_reset
    (0.1, 0.0, 1.0, 0.0),  # Norse's defaults at dt = 1 ms
    (0.5, -0.25, 0.3, 0.125),
    (1.0, 0.2, 0.75, -0.5),  # no memory: H = X + v_leak
]


@pytest.mark.parametrize("params", LIF_BOX_PARAMS)
def test_lif_box_kernel_matches_the_scalar_recurrence(params: tuple[float, ...]) -> None:
    x = (RNG.normal(size=(9, 2, 3, 4)) * 1.5).astype(F)
    got = kernels.lif_box(x, *params)
    assert got.dtype == F and got.shape == x.shape
    flat, columns = got.reshape(9, -1), x.reshape(9, -1)
    for k in range(columns.shape[1]):
        assert flat[:, k].tolist() == _scalar_lif_box(columns[:, k].tolist(), *params)
    assert 0 < got.sum() < got.size


def test_lif_box_by_hand() -> None:
    # a = 0.5, v_threshold = 0.6, a constant input 1: H = 0.5, then 0.75 (fires, back to 0), ...
    x = np.ones((4, 1), F)
    assert kernels.lif_box(x, 0.5, 0.0, 0.6, 0.0)[:, 0].tolist() == [0, 1, 0, 1]
    # strictly above: with a = 1, H = X exactly, and X = v_threshold does not fire
    x = np.array([[0.5], [0.75], [0.5]], F)
    assert kernels.lif_box(x, 1.0, 0.0, 0.5, 0.0)[:, 0].tolist() == [0, 1, 0]


@pytest.mark.parametrize("v_leak", [0.0, -0.375, None])
@pytest.mark.parametrize("a", [0.25, 0.1, 1.0])
def test_li_kernel_matches_the_scalar_recurrence(a: float, v_leak: float | None) -> None:
    x = RNG.normal(size=(7, 3, 5)).astype(F)
    got = kernels.leaky_integrator(x, a, v_leak)
    assert got.dtype == F and got.shape == x.shape
    flat, columns = got.reshape(7, -1), x.reshape(7, -1)
    for k in range(columns.shape[1]):
        assert flat[:, k].tolist() == _scalar_li(columns[:, k].tolist(), a, v_leak)


def test_li_by_hand() -> None:
    pulse = np.array([[1.0], [0.0], [0.0]], F)
    # halfway to v_leak + X each step: 0.5, then back down by halves
    assert kernels.leaky_integrator(pulse, 0.5, 0.0)[:, 0].tolist() == [0.5, 0.25, 0.125]
    # starting from (and decaying to) v_leak = -1
    assert kernels.leaky_integrator(pulse, 0.5, -1.0)[:, 0].tolist() == [-0.5, -0.75, -0.875]
    # no leak: the integrator keeps the sum, scaled by the gain
    ones = np.ones((3, 1), F)
    assert kernels.leaky_integrator(ones, 0.5, None)[:, 0].tolist() == [0.5, 1.0, 1.5]
    assert kernels.leaky_integrator(pulse, 0.5, None)[:, 0].tolist() == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("spikes", [True, False])
def test_delay_kernel(spikes: bool) -> None:
    t = 5
    x = RNG.normal(size=(t, 2, 3)).astype(F)
    if spikes:
        x = (x > 0).astype(F)
    np.testing.assert_array_equal(kernels.delay(x, 0), x)
    one = kernels.delay(x, 1)
    assert one.dtype == F
    np.testing.assert_array_equal(one[0], np.zeros((2, 3), F))
    np.testing.assert_array_equal(one[1:], x[:-1])
    three = kernels.delay(x, 3)
    np.testing.assert_array_equal(three[:3], np.zeros((3, 2, 3), F))
    np.testing.assert_array_equal(three[3:], x[:2])
    for steps in (t, t + 4):  # everything delayed past the end
        late = kernels.delay(x, steps)
        assert late.dtype == F and late.shape == x.shape and not late.any()
    assert kernels.delay(x, 1) is not x  # a copy, never the input itself


def test_threshold_kernel() -> None:
    x = np.array([[-1.0, 0.25, 0.2500001, 3.0]], F)
    got = kernels.threshold(x, 0.25)
    assert got.dtype == F and got.tolist() == [[0.0, 0.0, 1.0, 1.0]]  # strictly above
    assert kernels.threshold(x, -2.0).tolist() == [[1.0, 1.0, 1.0, 1.0]]


def test_strict_if_does_not_fire_at_the_threshold() -> None:
    x = np.array([[0.5], [0.25], [0.25]], F)  # H = 0.5, then 0.75 (or 0.25 after a reset)
    assert kernels.if_neuron(x, 0.5, 0.0, False)[:, 0].tolist() == [1, 0, 1]
    assert kernels.if_neuron(x, 0.5, 0.0, False, strict=True)[:, 0].tolist() == [0, 1, 0]


# -- the verifiers, through the CLI ------------------------------------------------------------


def _module(body: str, arg: str = "tensor<4x2x8xf32>", timesteps: int = 4) -> str:
    return (
        f"builtin.module attributes {{spike.timesteps = {timesteps} : i64}} {{\n"
        f"  func.func @f(%x: {arg}) {{\n    {body}\n    func.return\n  }}\n}}\n"
    )


BOX = "v_leak = 0.000000e+00 : f32, v_threshold = 1.000000e+00 : f32, v_reset = 0.000000e+00 : f32"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _module(
                f"%s = spike.lif_box %x {{dt_tau_mem_inv = 0.000000e+00 : f32, {BOX}}} : "
                "(tensor<4x2x8xf32>) -> !spike.train<4x2x8>"
            ),
            "spike.lif_box: dt_tau_mem_inv must be > 0, got 0.0",
        ),
        (
            _module(
                f"%s = spike.lif_box %x {{dt_tau_mem_inv = -1.000000e-01 : f32, {BOX}}} : "
                "(tensor<4x2x8xf32>) -> !spike.train<4x2x8>"
            ),
            "spike.lif_box: dt_tau_mem_inv must be > 0",
        ),
        (
            _module(
                "%v = spike.li %x {dt_tau_mem_inv = 0.000000e+00 : f32} : "
                "(tensor<4x2x8xf32>) -> tensor<4x2x8xf32>"
            ),
            "spike.li: dt_tau_mem_inv must be > 0, got 0.0",
        ),
        (
            _module(
                "%v = spike.li %x {dt_tau_mem_inv = -2.500000e-01 : f32, v_leak = 0.0 : f32} : "
                "(tensor<4x2x8xf32>) -> tensor<4x2x8xf32>"
            ),
            "spike.li: dt_tau_mem_inv must be > 0, got -0.25",
        ),
        (
            _module(
                "%v = spike.li %x {dt_tau_mem_inv = 5.000000e-01 : f32} : "
                "(tensor<6x2x8xf32>) -> tensor<6x2x8xf32>",
                arg="tensor<6x2x8xf32>",
            ),
            "spike.li: input has T = 6 but the module runs T = 4 steps",
        ),
        (
            _module(
                "%y = spike.delay %x {steps = -2 : i64} : "
                "(!spike.train<4x2x8>) -> !spike.train<4x2x8>",
                arg="!spike.train<4x2x8>",
            ),
            "spike.delay: steps must be >= 0, got -2",
        ),
        (
            _module(
                "%y = spike.delay %x {steps = 1 : i64} : "
                "(!spike.train<4x2x8>) -> tensor<4x2x8xf32>",
                arg="!spike.train<4x2x8>",
            ),
            "spike.delay: the result must be a spike train, as its input is",
        ),
        (
            _module(
                "%y = spike.delay %x {steps = 1 : i64} : (tensor<4x2x8xf32>) -> !spike.train<4x2x8>"
            ),
            "spike.delay: the result must be real, as its input is",
        ),
        (
            _module(
                "%y = spike.threshold %x {threshold = 5.000000e-01 : f32} : "
                "(tensor<6x2x8xf32>) -> !spike.train<6x2x8>",
                arg="tensor<6x2x8xf32>",
            ),
            "spike.threshold: input has T = 6 but the module runs T = 4 steps",
        ),
    ],
)
def test_verifier_errors_through_the_cli(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir = tmp_path / "bad.mlir"
    ir.write_text(text)
    code, out, err = run_cli(["opt", ir], capsys)
    assert code == 2, err
    assert message in err and "bad.mlir:3:5" in err, err  # the op's line and column
    assert "Traceback" not in err and not out


# -- every target ------------------------------------------------------------------------------

T, B, D = 6, 2, 8
N = T * B * D
"""Elements of every layer: one membrane update (or comparison) each."""


def _dense(array: np.ndarray) -> str:
    return f"dense<{np.array2string(array, separator=', ', threshold=10**6)}> : tensor<8x8xf32>"


TRAIN = f"!spike.train<{T}x{B}x{D}>"
REAL = f"tensor<{T}x{B}x{D}xf32>"
OUTPUTS = {
    "readout": REAL,
    "integral": REAL,
    "box_fc": REAL,
    "strict_if": TRAIN,
    "plain_if": TRAIN,
    "leaky_zero": TRAIN,
    "leaky_subtract": TRAIN,
    "gone": REAL,
    "same": TRAIN,
}


def _ir(with_linear: bool = True) -> str:
    """x -> linear -> every new op; the spikes of lif_box (through a delay) and of the threshold
    feed linear layers (address consumers on the sparse design) and leaky integrators. Dyadic
    weights and inputs: every sum is exact whatever order a unit adds in. The IFs read x itself
    (multiples of 1/4), so that H meets v_threshold exactly and `strict` matters. Without
    `with_linear` there are no layers (the neurons read x, and an integrator of gain 1, the
    running spike count, stands for each layer on spikes): nothing runs on a crossbar."""
    h = "%h" if with_linear else "%x"

    def layer(value: str) -> str:
        if with_linear:
            return f"spike.linear {value}, %w : ({TRAIN}, tensor<8x8xf32>) -> {REAL}"
        return f"spike.li {value} {{dt_tau_mem_inv = 1.000000e+00 : f32}} : ({TRAIN}) -> {REAL}"

    lines = []
    if with_linear:
        lines += [
            "%w = spike.weight @w : tensor<8x8xf32>",
            f"%h = spike.linear %x, %w : ({REAL}, tensor<8x8xf32>) -> {REAL}",
        ]
    lines += [
        f"%box = spike.lif_box {h} {{dt_tau_mem_inv = 5.000000e-01 : f32, v_leak = -1.250000e-01 "
        f": f32, v_threshold = 2.500000e-01 : f32, v_reset = 0.000000e+00 : f32}} : ({REAL}) -> "
        f"{TRAIN}",
        f"%late = spike.delay %box {{steps = 2 : i64}} : ({TRAIN}) -> {TRAIN}",
        f"%th = spike.threshold {h} {{threshold = 2.500000e-01 : f32}} : ({REAL}) -> {TRAIN}",
        "%strict_if = spike.if %x {v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : "
        f"f32, reset = #spike<reset hard>, strict}} : ({REAL}) -> {TRAIN}",
        "%plain_if = spike.if %x {v_threshold = 5.000000e-01 : f32, v_reset = 0.000000e+00 : "
        f"f32, reset = #spike<reset hard>}} : ({REAL}) -> {TRAIN}",
        f"%leaky_zero = spike.leaky {h} {{beta = 7.500000e-01 : f32, threshold = 5.000000e-01 : "
        f"f32, reset_mechanism = #spike<leaky_reset zero>, immediate_reset}} : ({REAL}) -> {TRAIN}",
        f"%leaky_subtract = spike.leaky {h} {{beta = 8.750000e-01 : f32, threshold = "
        "5.000000e-01 : f32, reset_mechanism = #spike<leaky_reset subtract>, immediate_reset} : "
        f"({REAL}) -> {TRAIN}",
        f"%late_fc = {layer('%late')}",
        f"%th_fc = {layer('%th')}",
        f"%box_fc = {layer('%box')}",
        "%readout = spike.li %late_fc {dt_tau_mem_inv = 2.500000e-01 : f32, v_leak = "
        f"-1.250000e-01 : f32}} : ({REAL}) -> {REAL}",
        f"%integral = spike.li %th_fc {{dt_tau_mem_inv = 5.000000e-01 : f32}} : ({REAL}) -> {REAL}",
        f"%gone = spike.delay {h} {{steps = {T} : i64}} : ({REAL}) -> {REAL}",
        f"%same = spike.delay %th {{steps = 0 : i64}} : ({TRAIN}) -> {TRAIN}",
    ]
    results = ", ".join(f'{t} {{spike.name = "{n}"}}' for n, t in OUTPUTS.items())
    returned = ", ".join(f"%{n}" for n in OUTPUTS)
    types = ", ".join(OUTPUTS.values())
    body = "\n    ".join([*lines, f"func.return {returned} : {types}"])
    w = dyadic(np.random.default_rng(7).normal(size=(D, D)) * 0.5, bits=3)
    weight = f"  spike.global @w : tensor<8x8xf32> = {_dense(w)}\n" if with_linear else ""
    return (
        f"builtin.module attributes {{spike.timesteps = {T} : i64}} {{\n{weight}"
        f'  func.func @main(%x: {REAL} {{spike.name = "x"}}) -> ({results}) {{\n'
        f"    {body}\n  }}\n}}\n"
    )


def _input() -> np.ndarray:
    return dyadic(np.random.default_rng(8).normal(size=(T, B, D)), bits=2)


@pytest.fixture(scope="module", params=[True, False], ids=["layers", "no-layers"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("temporal") / "temporal.mlir"
    path.write_text(_ir(with_linear=request.param))
    return path


@pytest.fixture(scope="module")
def reference(model: Path) -> dict[str, np.ndarray]:
    module, weights, _ = load_model(str(model))
    return evaluate(module, weights, {"x": _input()})


def test_the_module_exercises_every_property(reference: dict[str, np.ndarray]) -> None:
    """The reference's outputs are not degenerate: strict and plain IF differ, the neurons fire
    (not everywhere), the delay past the end is all zeros and the readouts are not."""
    assert not np.array_equal(reference["strict_if"], reference["plain_if"])
    for name in ("strict_if", "leaky_zero", "leaky_subtract", "same"):
        assert 0 < reference[name].sum() < N, name
    assert not reference["gone"].any()
    assert reference["readout"].any() and reference["integral"].any()


UNITS = {
    "sparse": ("enc", "ENC"),
    "stacked3d": ("neuron", "NEU"),
    "xpikeformer": ("dig", "DIG"),
}
"""The unit (a suffix of its name) and opcode prefix of the neurons on each design."""
VECTOR = {"sparse": "VEC", "stacked3d": "VEC", "xpikeformer": "DIG"}
"""The opcode prefix of the data-moving delay line."""
CASES = [(t, v) for t in target_names() for v in get_target(t).variants]


CONVERSIONS = ("ENC.PACK", "ENC.UNPACK")
"""The sparse design's address conversions, which take the layer of the value they convert."""


def _records(records: list[InstructionRecord], layer: str) -> InstructionRecord:
    (record,) = [r for r in records if r.layer == layer and r.opcode not in CONVERSIONS]
    return record


def _by_layer(program: Program) -> dict[str, Instruction]:
    """Each layer's instruction (not the address conversions of its value)."""
    return {str(i.attrs["layer"]): i for i in program.instructions if i.opcode not in CONVERSIONS}


@pytest.mark.parametrize(("target", "variant"), CASES)
def test_every_target_runs_the_new_ops_exactly(
    target: str, variant: str, model: Path, reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / f"{target}.{variant}"
    compile_model(str(model), target, path, variant=variant)
    package, _ = open_program(path)
    by_layer = _by_layer(package.program)
    ann = variant == "digital-ann"
    unit, prefix = ("dig", "ANN") if ann else UNITS[target]
    for layer, op in (
        ("box", "LIF_BOX"),
        ("th", "THRESHOLD"),
        ("readout", "LI"),
        ("integral", "LI"),
        ("strict_if", "IF"),
        ("leaky_zero", "LEAKY"),
    ):
        instruction = by_layer[layer]
        assert instruction.opcode == f"{prefix}.{op}", layer
        assert instruction.unit.split(".")[-1] == unit, (layer, instruction.unit)
    assert by_layer["strict_if"].attrs["strict"] is True
    assert by_layer["leaky_zero"].attrs["immediate_reset"] is True
    assert "strict" not in by_layer["plain_if"].attrs
    for layer in ("late", "gone", "same"):
        assert by_layer[layer].opcode == f"{'ANN' if ann else VECTOR[target]}.DELAY", layer

    run = run_sample_program(path, _input())
    for name, expected in reference.items():
        assert run.outputs[name].dtype == np.float32
        np.testing.assert_array_equal(run.outputs[name], expected, err_msg=name)

    records = run.record.records
    box, th = _records(records, "box"), _records(records, "th")
    readout, integral = _records(records, "readout"), _records(records, "integral")
    if ann:  # the ANN counterpart: a neuron is a ReLU, the readout a copy; no membranes
        for record in (box, th, readout, integral):
            assert record.cost.metrics.membrane_updates == 0
        return
    # membranes: one update per element for the box LIF and the integrators, none for the
    # threshold; spikes and neurons only where the result is spikes
    assert box.cost.metrics.membrane_updates == N and box.cost.metrics.neurons == N
    assert th.cost.metrics.membrane_updates == 0 and th.cost.metrics.neurons == N
    for record in (readout, integral):
        assert record.cost.metrics.membrane_updates == N
        assert record.cost.metrics.spikes == 0 and record.cost.metrics.neurons == 0
    assert 0 < box.cost.metrics.spikes < N and 0 < th.cost.metrics.spikes < N
    # the arithmetic of each update (targets.workload), priced by the standard entries
    price = run.record.hardware.number
    per_update_work = [
        (box, {"add16": 3, "mult16": 1, "compare16": 1}),
        (readout, {"add16": 3, "mult16": 1, "compare16": 0}),
        (integral, {"add16": 1, "mult16": 1, "compare16": 0}),
        (th, {"add16": 0, "mult16": 0, "compare16": 1}),
    ]
    for record, counts in per_update_work:
        for entry, per_update in counts.items():
            name = f"energy.compute.{entry}"
            got = entry_energy(record, name)
            assert got == pytest.approx(per_update * N * price(name)), (record.layer, entry)
    if target in ("sparse", "stacked3d"):  # the neuron unit's state memory
        state = "membrane_sram" if target == "sparse" else "local"
        for record in (box, readout, integral):
            assert entry_energy(record, f"memory.{state}.read_energy") > 0, record.layer
        assert entry_energy(th, f"memory.{state}.read_energy") == 0
        assert entry_energy(th, f"memory.{state}.write_energy") == 0


def test_sparse_encodes_the_spikes_of_lif_box_and_threshold_but_not_of_a_delay(
    tmp_path: Path,
) -> None:
    """lif_box and threshold write addresses from the encoder (their readers that need a
    bitmap get a decode); a delay line moves a bitmap, encoded after it for the linear layer."""
    ir = tmp_path / "m.mlir"
    ir.write_text(_ir())
    kinds = {}
    for variant in ("sparse", "dense"):
        compile_model(str(ir), "sparse", tmp_path / variant, variant=variant)
        program = open_program(tmp_path / variant)[0].program
        by_layer = _by_layer(program)
        kinds[variant] = {
            layer: program.buffers[by_layer[layer].outputs[0]].type.kind
            for layer in ("box", "th", "late")
        }
        packs = [i for i in program.instructions if i.opcode == "ENC.PACK"]
        if variant == "sparse":
            assert [p.inputs for p in packs] == [by_layer["late"].outputs]
        else:
            assert not packs
    assert kinds["sparse"] == {"box": "addr", "th": "addr", "late": "spk"}
    assert kinds["dense"] == {"box": "spk", "th": "spk", "late": "spk"}


@pytest.mark.parametrize(("target", "variant"), CASES)
def test_hardware_numerics_leave_the_new_ops_exact(
    target: str, variant: str, tmp_path: Path
) -> None:
    """In every numerics mode of the variant (xpikeformer's analog crossbars, stacked3d's head
    pruning), the new ops compute the reference exactly: without layers the module is all of
    them; with layers, the mode runs (its crossbars change the currents, not the ops)."""
    design = get_target(target)
    modes = [m for m in design.numerics if variant in design.numerics_variants.get(m, [variant])]
    for with_linear in (False, True):
        ir = tmp_path / f"m{int(with_linear)}.mlir"
        ir.write_text(_ir(with_linear))
        module, weights, _ = load_model(str(ir))
        expected = evaluate(module, weights, {"x": _input()})
        path = tmp_path / f"{target}.{variant}.{int(with_linear)}"
        compile_model(str(ir), target, path, variant=variant)
        package, opened = open_program(path)
        for mode in modes:
            run = execute_package(package, opened, {"x": _input()}, None, RunOptions(mode))
            for name, value in expected.items():
                assert np.isfinite(run.outputs[name]).all(), (mode, name)
                if not with_linear:
                    np.testing.assert_array_equal(
                        run.outputs[name], value, err_msg=f"{mode} {name}"
                    )


# -- the passes --------------------------------------------------------------------------------


def test_tier_map_puts_the_new_ops_on_the_neuron_unit_and_tier() -> None:
    module = parse_ir(_ir(), "m.mlir")
    run_pipeline(module, "tier-map{tiers=2 mode=memory-on-logic neuron-tier=1}")
    placed = {
        op.results[0].name_hint: (str(op.attributes["spike.unit"]), op.attributes["spike.tier"])
        for op in module.walk()
        if "spike.unit" in op.attributes and op.results
    }
    for name in ("box", "th", "readout", "integral", "strict_if", "leaky_zero"):
        unit, tier = placed[name]
        assert "neuron" in unit and tier.value.data == 1, name  # type: ignore[attr-defined]
    for name in ("late", "gone", "same"):
        unit, tier = placed[name]
        assert "vector" in unit and tier.value.data == 0, name  # type: ignore[attr-defined]


def test_the_new_ops_are_token_local() -> None:
    """An expert made of them can be replicated over expert units (partition-experts)."""
    module = parse_ir(_ir(), "m.mlir")
    names = {"spike.lif_box", "spike.li", "spike.delay", "spike.threshold"}
    ops = [op for op in module.walk() if op.name in names]
    assert {op.name for op in ops} == names
    assert not any(mixes_tokens(op) for op in ops)


def test_sparsity_encoding_by_default_encodes_at_the_new_neurons() -> None:
    module = parse_ir(_ir(), "m.mlir")
    run_pipeline(module, "sparsity-encoding")
    types = {
        op.results[0].name_hint: op.results[0].type
        for op in module.walk()
        if op.name in ("spike.lif_box", "spike.threshold", "spike.delay")
    }
    assert str(types["box"]).startswith("!spike.encoded")
    assert str(types["th"]).startswith("!spike.encoded")
    assert str(types["late"]).startswith("!spike.train")  # a delay line stays dense
