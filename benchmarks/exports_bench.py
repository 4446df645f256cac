"""The torch.onnx exports in samples/export on spikec: raising, the oracle, and every design.

For each committed export, prints from one run:

- import time (median of three `import_onnx`, raising included) and what the raising did:
  neurons raised per kind, attention blocks, nodes left generic;
- the reference interpreter against onnxruntime on the original export (max |diff| of the
  logits, top-1 agreement) and the reference's accuracy on the digits test split;
- for every target, variant and numerics mode: accuracy, latency and energy per inference, and
  whether exact outputs equal the reference's (within 1e-5 relative) or how many spikes a
  hardware numerics mode keeps of exact's.

Run from the repository root: `.venv/bin/python benchmarks/exports_bench.py [--quick]`
(`--quick`: the exact numerics of the default variants only).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.errors import SpikecError  # noqa: E402
from compiler.frontend.onnx_import import import_onnx  # noqa: E402
from compiler.interpreters.reference import evaluate  # noqa: E402
from compiler.runner import RunOptions, execute_package, get_target, open_program  # noqa: E402
from compiler.toolchain import compile_model  # noqa: E402
from targets import target_names  # noqa: E402

EXPORTS = REPO / "samples" / "export"
MODE_SETTINGS = {"pruned": ("pruning.keep=0.5",)}
"""Run-time parameters of a numerics mode whose default changes nothing."""


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def _onnxruntime(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def _import_seconds(path: Path) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        import_onnx(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _designs(quick: bool) -> list[tuple[str, str, str]]:
    designs = []
    for name in target_names():
        target = get_target(name)
        variants = [target.default_variant] if quick else list(target.variants)
        for variant in variants:
            for numerics in ["exact"] if quick else list(target.numerics):
                allowed = target.numerics_variants.get(numerics)
                if allowed is None or variant in allowed:
                    designs.append((name, variant, numerics))
    return designs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default variants, exact only")
    args = parser.parse_args()
    x = np.load(EXPORTS / "digits_test_x.npy")
    y = np.load(EXPORTS / "digits_test_y.npy")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python "
          f"{platform.python_version()}; digits test split: {len(y)} images")  # fmt: skip
    for path in sorted(EXPORTS.glob("*.onnx")):
        print(f"\n== {path.name}")
        try:
            seconds = _import_seconds(path)
            result = import_onnx(path)
        except SpikecError as e:
            print(f"   import fails: {str(e).splitlines()[0]}")
            continue
        report = result.raising
        kinds: dict[str, int] = {}
        for raised in report.raised:
            kinds[raised.kind] = kinds.get(raised.kind, 0) + 1
        raised_text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
        print(f"   import {seconds * 1000:.0f} ms; raised {raised_text}; left {len(report.left)}")
        reference = evaluate(result.module, result.weights, {"x": x})["logits"]
        expected = _onnxruntime(path, x)
        agree = float(np.mean(reference.argmax(-1) == expected.argmax(-1)))
        print(
            f"   reference vs onnxruntime: max |diff| {np.abs(reference - expected).max():.3g}, "
            f"top-1 agreement {agree:.1%}; accuracy {_accuracy(reference, y):.1%}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            for target_name, variant, numerics in _designs(args.quick):
                folder = Path(tmp) / f"{target_name}-{variant}"
                if not folder.exists():
                    compile_model(str(path), target_name, folder, variant=variant)
                package, target = open_program(folder)
                settings = MODE_SETTINGS.get(numerics, ())
                run = execute_package(
                    package,
                    target,
                    {"x": x},
                    options=RunOptions(numerics, settings=settings, labels=y),
                )
                logits = run.outputs["logits"]
                energy = run.report.totals["energy_per_inference_pj"] * 1e-6
                latency = run.report.totals["latency_s"] * 1e6
                if numerics == "exact":
                    same = np.allclose(logits, reference, rtol=1e-5, atol=1e-6)
                    versus = f"outputs = reference: {'yes' if same else 'NO'}"
                else:
                    spikes = run.extra["numerics"]["spike_agreement_mean"]
                    versus = f"spike agreement with exact {spikes:.1%}"
                mode = f"{numerics} ({', '.join(settings)})" if settings else numerics
                print(
                    f"   {target_name:<12} {variant:<12} {mode:<26} accuracy "
                    f"{_accuracy(logits, y):6.1%}  latency {latency:8.1f} us  energy/inference "
                    f"{energy:8.3f} uJ  {versus}"
                )


if __name__ == "__main__":
    main()
