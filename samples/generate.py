"""Write the bundled sample models and inputs (deterministic; run from the repository root):

    python samples/generate.py

For each model family it calibrates the weight gain of every spiking layer so that the layer fires
at a realistic rate on the sample input (5-30 %, aiming at 15 %), writes `<name>.onnx` and
`<name>_input.npy`, prints the firing rate of every spiking layer, and checks that spikec's
reference interpreter equals onnxruntime on the sample input and on three random inputs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.compare import agreement, run_onnxruntime
from compiler.dialects.spike.types import is_spike
from compiler.frontend.onnx_import import import_onnx
from compiler.reference import ActivityRecorder, evaluate, main_function
from samples import builders

HERE = Path(__file__).resolve().parent
TARGET, LOW, HIGH = 0.15, 0.07, 0.25
"""Calibration aims at TARGET and stops once every layer is within [LOW, HIGH]."""
BATCH = 2

Builder = Callable[..., tuple[onnx.ModelProto, list[str]]]


def sample_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A dyadic input in [0, 2): an image or patches repeated over the time axis."""
    rng = np.random.default_rng(seed)
    frame = builders.dyadic(rng.random(shape[1:]) * 2)
    return np.ascontiguousarray(np.broadcast_to(frame, shape), dtype=np.float32)


def firing_rates(model: onnx.ModelProto, x: np.ndarray, folder: Path) -> dict[str, float]:
    """Firing rate of every spiking layer on `x`, by layer name."""
    path = folder / "calibrating.onnx"
    onnx.save(model, path)
    result = import_onnx(path)
    recorder = ActivityRecorder()
    evaluate(result.module, result.weights, {"x": x}, (recorder,))
    return {r.label.removesuffix("_lif"): r.rate for r in recorder.records}


def band(layer: str, busy: tuple[str, ...]) -> tuple[float, float, float]:
    """(low, target, high) of a layer's rate; layers named in `busy` feed an op whose output is
    sparser than its inputs (SDSA's Q AND spikes) and aim higher."""
    if any(layer.endswith(suffix) for suffix in busy):
        return 0.18, 0.25, 0.29
    return LOW, TARGET, HIGH


def calibrate(
    build: Builder,
    kwargs: dict[str, object],
    x: np.ndarray,
    folder: Path,
    busy: tuple[str, ...] = (),
) -> tuple[onnx.ModelProto, dict[str, float]]:
    """Scale each spiking layer's input weights until it fires at a realistic rate."""
    gains: dict[str, float] = {}
    model, layers = build(**kwargs, gains=gains)
    rates: dict[str, float] = {}
    for _ in range(60):
        rates = firing_rates(model, x, folder)
        if all(band(n, busy)[0] <= rates[n] <= band(n, busy)[2] for n in layers):
            break
        for layer in layers:
            low, target, high = band(layer, busy)
            rate = rates[layer]
            if not low <= rate <= high:
                step = (target / max(rate, 1e-3)) ** 0.6
                gains[layer] = gains.get(layer, 1.0) * float(np.clip(step, 0.5, 2.0))
        model, layers = build(**kwargs, gains=gains)
    else:
        raise SystemExit(f"calibration did not converge: {rates}")
    return model, {layer: rates[layer] for layer in layers}


def check_against_onnxruntime(model_path: Path, inputs: list[np.ndarray]) -> list[str]:
    """One line per input: whether every output matches onnxruntime under the contract."""
    result = import_onnx(model_path)
    kinds = main_function(result.module).function_type.outputs.data
    lines = []
    for x in inputs:
        ours = evaluate(result.module, result.weights, {"x": x})
        theirs = run_onnxruntime(str(model_path), {"x": x})
        for (name, value), kind in zip(ours.items(), kinds, strict=True):
            ok, account = agreement(is_spike(kind), value, theirs[name])
            if not ok:
                raise SystemExit(f"{model_path.name}: {name} differs from onnxruntime: {account}")
            lines.append(f"batch {x.shape[1]}: {name} {account}")
    return lines


SAMPLES: dict[str, tuple[Builder, dict[str, object], tuple[int, ...], tuple[str, ...]]] = {
    "spikformer": (builders.spikformer, {"dim": 64, "heads": 4}, (4, BATCH, 3, 32, 32), ()),
    "sdt": (
        builders.sdt,
        {"dim": 64, "heads": 4},
        (4, BATCH, 3, 32, 32),
        (".attn.q", ".attn.k", ".attn.v"),
    ),
    "xpikeformer": (builders.xpikeformer, {"dim": 64, "heads": 4}, (4, BATCH, 16, 48), ()),
    "moe": (
        builders.moe,
        {"dim": 64, "heads": 8, "experts": 4, "k": 2},
        (4, BATCH, 16, 48),
        (),
    ),
}


def main() -> None:
    for index, (name, (build, kwargs, shape, busy)) in enumerate(SAMPLES.items()):
        start = time.perf_counter()
        x = sample_input(shape, seed=100 + index)
        with tempfile.TemporaryDirectory() as tmp:
            model, rates = calibrate(build, dict(kwargs, seed=index), x, Path(tmp), busy)
        path = HERE / f"{name}.onnx"
        onnx.save(model, path)
        np.save(HERE / f"{name}_input.npy", x)
        params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(f"{name}: {params} parameters, {path.stat().st_size // 1024} KiB")
        for layer, rate in rates.items():
            print(f"  {layer:<24} {100 * rate:5.1f} %")
        extra = [sample_input((shape[0], b, *shape[2:]), seed=200 + b) for b in (1, 3, 2)]
        for line in check_against_onnxruntime(path, [x, *extra]):
            print(f"  onnxruntime {line}")
        print(f"  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
