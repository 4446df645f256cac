"""Write the bundled sample models and inputs (deterministic: rerunning rewrites the same bytes):

    python samples/generate.py

For each model family it calibrates the model on its sample input, one step at a time in graph
order: each spiking layer by a bisection on the log of the gain that sets its firing rate (aiming
at 15 %), each MoE router by per-expert biases that balance the experts' load. It writes
`<name>.onnx` and `<name>_input.npy`, prints every layer's rate, and checks spikec's reference
interpreter against onnxruntime on the sample input and on three random inputs (batch 1, 3, 2):
the logits within 1e-5 relative and the spikes of every spiking layer identical. It exits with a
message on any failure.

The checks are importable: `tests/test_samples.py` runs them on the committed files.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.frontend.onnx_import import ImportResult, import_onnx
from compiler.interpreters.oracle import agreement, run_onnxruntime
from compiler.interpreters.reference import FIRING_OPS, ActivityRecorder, evaluate
from runtime.encoded import EncodedSpikes
from samples import builders
from samples.builders import Layer, Router, Step

HERE = Path(__file__).resolve().parent
BATCH = 2
Band = tuple[float, float, float]
BAND: Band = (0.10, 0.15, 0.21)
"""(low, target, high): calibration aims at the target and accepts a layer within [low, high]."""
BUSY: Band = (0.20, 0.23, 0.25)
"""The band of layers whose spikes feed an op that fires less than its inputs."""
ACCEPT = (0.05, 0.30)
"""Every spiking layer, calibrated or not, must fire within this range on the sample input."""
GUARD = (0.07, 0.25)
"""Where a layer without a knob of its own must stay while a later layer's knob moves it."""
MAX_STEPS = 24
"""Evaluations allowed per layer (bracketing by factors of 2, then bisection to 1/64 octave)."""
BALANCE_STEPS = 16
"""Evaluations allowed per router."""
BALANCE_TOLERANCE = 0.05
"""How far (relative) each expert's share of the tokens may be from the router's target."""

Builder = Callable[..., tuple[onnx.ModelProto, list[Step]]]


@dataclass(frozen=True)
class Sample:
    """One bundled sample: its builder and sizes, input shape, seed and calibration bands."""

    build: Builder
    sizes: dict[str, object]
    input_shape: tuple[int, ...]
    seed: int
    bands: dict[str, Band] = field(default_factory=dict)
    """Bands other than BAND, by layer-name pattern (fnmatch; the first match applies)."""

    def band(self, layer: Layer) -> Band:
        return next((b for p, b in self.bands.items() if fnmatchcase(layer.name, p)), BAND)


SAMPLES: dict[str, Sample] = {
    "spikformer": Sample(builders.spikformer, {"dim": 64, "heads": 4}, (4, BATCH, 3, 32, 32), 0),
    # SDSA's output is Q AND a spike per channel, so it fires less than Q: Q aims higher and
    # SDSA lower (through V's gain).
    "sdt": Sample(
        builders.sdt,
        {"dim": 64, "heads": 4},
        (4, BATCH, 3, 32, 32),
        1,
        {"*.attn.q": BUSY, "*.attn.sdsa": (0.07, 0.10, 0.20)},
    ),
    "xpikeformer": Sample(builders.xpikeformer, {"dim": 64, "heads": 4}, (4, BATCH, 16, 48), 2),
    # 16 tokens and 8 heads of 8 channels give SSA few terms: Q and K aim higher. An expert
    # fires only on the tokens routed to it, under a quarter of them behind the spike-gated
    # router (whose neuron fires at `router_rate`).
    "moe": Sample(
        builders.moe,
        {"dim": 64, "heads": 8, "experts": 4, "k": 2, "router_rate": 0.23},
        (4, BATCH, 16, 48),
        3,
        {"*.attn.[qk]": BUSY, "b1.moe.*": (0.075, 0.10, 0.15)},
    ),
}


def sample_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A dyadic input in [0, 2) (multiples of 1/256): an image or patches repeated over time,
    as Spikformer-class models encode their input."""
    frame = builders.dyadic(np.random.default_rng(seed).random(shape[1:]) * 2)
    return np.ascontiguousarray(np.broadcast_to(frame, shape), dtype=np.float32)


def layers_of(steps: list[Step]) -> list[Layer]:
    return [s for s in steps if isinstance(s, Layer)]


# -- running the reference interpreter ---------------------------------------------------------


@dataclass
class Capture(Interpreter.Listener):
    """Keeps, by value name, the spikes of every firing op (neurons, spiking attention) and the
    values named in `names`."""

    names: Collection[str] = ()
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def did_interpret_op(self, op: Operation, results: PythonValues) -> None:
        firing = isinstance(op, FIRING_OPS)
        for value, array in zip(op.results, results, strict=False):
            if firing or value.name_hint in self.names:
                dense = array.to_dense() if isinstance(array, EncodedSpikes) else array
                self.values[value.name_hint or ""] = np.array(dense, dtype=np.float32)


def firing_rates(result: ImportResult, x: np.ndarray) -> dict[str, float]:
    """Firing rate of every spiking layer on `x` (ActivityRecorder's), by spike value name."""
    recorder = ActivityRecorder()
    evaluate(result.module, result.weights, {"x": x}, (recorder,))
    return {r.label: r.rate for r in recorder.records}


def import_model(model: onnx.ModelProto, path: Path) -> ImportResult:
    onnx.save(model, path)
    return import_onnx(path)


# -- calibration -------------------------------------------------------------------------------


@dataclass
class Calibration:
    """The gains and router biases of one sample being calibrated; builds and runs its model
    under them on the sample input `x`."""

    sample: Sample
    x: np.ndarray
    path: Path
    gains: dict[str, float] = field(default_factory=dict)
    biases: dict[str, list[float]] = field(default_factory=dict)

    def build(self) -> tuple[onnx.ModelProto, list[Step]]:
        extra = {"biases": self.biases} if self.biases else {}
        return self.sample.build(
            **self.sample.sizes, seed=self.sample.seed, gains=self.gains, **extra
        )

    def run(self, names: Collection[str] = ()) -> dict[str, np.ndarray]:
        """Spikes of every spiking layer and the values in `names`, on the sample input."""
        result = import_model(self.build()[0], self.path)
        capture = Capture(names)
        evaluate(result.module, result.weights, {"x": self.x}, (capture,))
        return capture.values

    def search(self, layer: Layer, followers: list[Layer]) -> None:
        """Set the layer's gain so that it fires within its band, keeping the `followers`
        (earlier layers without a knob of their own, which this knob also drives, e.g. SSA's V)
        within GUARD: bracket the target by doubling or halving the gain, then bisect its
        logarithm (rates grow with the gain). Power-of-two knobs move by whole octaves. If no
        gain tried is in band, keeps the one closest to the target that respects the guard."""
        assert layer.knob is not None
        low, target, high = self.sample.band(layer)
        below: float | None = None  # log2 gains known to be too low / too high
        above: float | None = None
        best: tuple[float, float] | None = None  # (distance to the target, log2 gain)
        log_gain = math.log2(self.gains.get(layer.knob, 1.0))
        if layer.power_of_two:
            log_gain = float(round(log_gain))
        for _ in range(MAX_STEPS):
            self.gains[layer.knob] = 2.0**log_gain
            spikes = self.run()
            rate = float(np.mean(spikes[layer.output]))
            guarded = [float(np.mean(spikes[f.output])) for f in followers]
            too_busy = any(r > GUARD[1] for r in guarded)
            too_quiet = any(r < GUARD[0] for r in guarded)
            if not (too_busy or too_quiet):
                if low <= rate <= high:
                    return
                distance = abs(math.log(max(rate, 1e-6) / target))
                best = min(best or (distance, log_gain), (distance, log_gain))
            if too_busy or (not too_quiet and rate > target):
                above = log_gain
            else:
                below = log_gain
            if below is None or above is None:
                log_gain += 1.0 if above is None else -1.0
            elif above - below <= (1.0 if layer.power_of_two else 1 / 64):
                break
            else:
                log_gain = (below + above) / 2
        if best is not None:
            self.gains[layer.knob] = 2.0 ** best[1]

    def balance(self, router: Router) -> None:
        """Set per-expert router biases that give each expert `router.load` of the tokens: a
        bisection per expert, all experts at once (an expert's load grows with its bias; under
        top-k it also shrinks a little with the others', which the repeated bisection absorbs)."""
        logits = self.run([router.name])[router.name]
        experts = logits.shape[-1]
        reach = 2.0 + 2.0 * float(np.max(np.abs(logits)))
        low, high = np.full(experts, -reach), np.full(experts, reach)
        bias = np.zeros(experts)
        for _ in range(BALANCE_STEPS):
            self.biases[router.name] = bias.tolist()
            gates = self.run([router.gates])[router.gates]
            loads = gates.reshape(-1, experts).mean(axis=0)
            if np.all(np.abs(loads - router.load) <= BALANCE_TOLERANCE * router.load):
                break
            low = np.where(loads < router.load, bias, low)
            high = np.where(loads < router.load, high, bias)
            bias = (low + high) / 2


def calibrate(sample: Sample, x: np.ndarray, folder: Path) -> tuple[onnx.ModelProto, list[Step]]:
    """The sample's model with calibrated gains and router biases."""
    return calibration(sample, x, folder).build()


def calibration(sample: Sample, x: np.ndarray, folder: Path) -> Calibration:
    """Calibrate every step in graph order (a step's knob changes no earlier layer); fail if
    any spiking layer ends outside ACCEPT."""
    cal = Calibration(sample, x, folder / "calibrating.onnx")
    _, steps = cal.build()
    followers: list[Layer] = []
    for step in steps:
        if isinstance(step, Router):
            cal.balance(step)
            followers = []
        elif step.knob is None:
            followers.append(step)
        else:
            cal.search(step, followers)
            followers = []
    model, steps = cal.build()
    rates = firing_rates(import_model(model, cal.path), x)
    outside = {n: r for n, r in rates.items() if not ACCEPT[0] <= r <= ACCEPT[1]}
    if outside or len(rates) != len(layers_of(steps)):
        raise SystemExit(f"calibration failed: rates outside {ACCEPT}: {outside}")
    return cal


# -- checking against onnxruntime --------------------------------------------------------------


def with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy of `model` whose outputs also include the values `names`."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names
    )
    return probe


def check_against_onnxruntime(
    path: Path, result: ImportResult, x: np.ndarray, folder: Path
) -> list[str]:
    """Compare the reference interpreter (on the imported `result` of `path`) with onnxruntime
    on `x`: the model's outputs under the contract (`compiler.interpreters.oracle.agreement`),
    and the spikes of every op that fires (neurons, spiking attention), which must be
    identical; they are read from onnxruntime by adding them to a copy of the model's outputs.
    Returns one line per check; raises AssertionError on a mismatch."""
    capture = Capture()
    ours = evaluate(result.module, result.weights, {"x": x}, (capture,))
    theirs = run_onnxruntime(str(path), {"x": x})
    lines = []
    for name, value in ours.items():
        ok, account = agreement(False, value, theirs[name])
        assert ok, f"{path.name}: output {name} differs from onnxruntime: {account}"
        lines.append(f"{name}: {account}")
    probe = folder / f"{path.stem}.probe.onnx"
    onnx.save(with_outputs(onnx.load(str(path)), list(capture.values)), probe)
    theirs = run_onnxruntime(str(probe), {"x": x})
    differ = {}
    for name, spikes in capture.values.items():
        ok, account = agreement(True, spikes, theirs[name])
        if not ok:
            differ[name] = account
    assert not differ, f"{path.name}: spikes differ from onnxruntime: {differ}"
    lines.append(f"spikes of all {len(capture.values)} spiking layers identical")
    return lines


def extra_inputs(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Three random inputs besides the sample: batch 1, 3 and 2."""
    return [sample_input((shape[0], b, *shape[2:]), seed=200 + b) for b in (1, 3, 2)]


# -- main --------------------------------------------------------------------------------------


def generate(name: str, sample: Sample, folder: Path) -> None:
    """Calibrate, write and check one sample."""
    start = time.perf_counter()
    x = sample_input(sample.input_shape, seed=100 + sample.seed)
    model, steps = calibrate(sample, x, folder)
    path = HERE / f"{name}.onnx"
    onnx.save(model, path)
    np.save(HERE / f"{name}_input.npy", x)
    params = sum(math.prod(t.dims) for t in model.graph.initializer)
    print(f"{name}: {params} parameters, {path.stat().st_size / 1024:.0f} KiB, {sample.sizes}")
    result = import_onnx(path)
    rates = firing_rates(result, x)
    capture = Capture([s.gates for s in steps if isinstance(s, Router)])
    evaluate(result.module, result.weights, {"x": x}, (capture,))
    for step in steps:
        if isinstance(step, Router):
            gates = capture.values[step.gates]
            shares = " ".join(f"{100 * v:.0f}" for v in gates.reshape(-1, gates.shape[-1]).mean(0))
            print(f"  {step.name:<16} tokens per expert {shares} %")
        else:
            how = f"(gain on {step.knob})" if step.knob else "(set by a later step)"
            print(f"  {step.name:<16} {100 * rates[step.output]:5.1f} %  {how}")
    print(f"  firing rates {100 * min(rates.values()):.1f} - {100 * max(rates.values()):.1f} %")
    for x_check in [x, *extra_inputs(sample.input_shape)]:
        try:
            lines = check_against_onnxruntime(path, result, x_check, folder)
        except AssertionError as e:
            raise SystemExit(f"FAILED: {e}") from None
        print(f"  onnxruntime, batch {x_check.shape[1]}: " + "; ".join(lines))
    print(f"  ({time.perf_counter() - start:.1f} s)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, sample in SAMPLES.items():
            generate(name, sample, Path(tmp))


if __name__ == "__main__":
    main()
