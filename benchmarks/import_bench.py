"""How fast spikec reads models, and how fast its reference interpreter runs them.

For each bundled sample and for a generated Spikformer-8-384-sized model (8 blocks, D = 384,
8 heads, 64 tokens, T = 4), prints from one run:

- import + verify + print of the IR, in seconds and as a ratio to `onnx.load` +
  `onnx.shape_inference.infer_shapes` of the same file;
- the peak memory of import + verify + print (measured in a fresh process) against the size of
  the model's weights;
- the reference interpreter's wall time against onnxruntime's on the same ONNX model and input
  (steady state: median of five runs each, after one warm-up run; the first run, which also maps
  the weights from disk, is shown apart).

Run from the repository root: `.venv/bin/python benchmarks/import_bench.py [--quick]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.frontend.onnx_import import import_onnx  # noqa: E402
from compiler.interpreters.reference import evaluate  # noqa: E402
from compiler.ir.printer import print_ir  # noqa: E402
from samples import builders  # noqa: E402

SAMPLES = ["spikformer", "sdt", "xpikeformer", "moe"]


def median_time(run: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_verify_print(path: Path) -> None:
    result = import_onnx(path)
    result.module.verify()
    print_ir(result.module)


def onnx_load_and_infer(path: Path) -> None:
    onnx.shape_inference.infer_shapes(onnx.load(str(path)))


def peak_memory(path: Path) -> float:
    """Peak resident memory added by import + verify + print, in bytes, in a fresh process
    (Linux: the peak is reset through /proc/self/clear_refs once the libraries are loaded)."""
    probe = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
import compiler.frontend.convert_spike, compiler.frontend.convert_standard
from compiler.ir.printer import print_ir  # noqa: E402
from compiler.frontend.onnx_import import import_onnx

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
result = import_onnx(Path({str(path)!r})); result.module.verify(); print_ir(result.module)
print(json.dumps(status("VmHWM") - before))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout))


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(int(np.prod(t.dims)) * 4 for t in model.graph.initializer)


def runtimes(path: Path, x: np.ndarray) -> tuple[float, float, float]:
    """(first reference run, steady reference run, steady onnxruntime run) in seconds."""
    import onnxruntime as ort

    result = import_onnx(path)
    inputs = {"x": x}
    start = time.perf_counter()
    evaluate(result.module, result.weights, inputs)
    first = time.perf_counter() - start
    ours = median_time(lambda: evaluate(result.module, result.weights, inputs))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, inputs)
    theirs = median_time(lambda: session.run(None, inputs))
    return first, ours, theirs


def spikformer_8_384(folder: Path) -> tuple[Path, np.ndarray]:
    model, _ = builders.spikformer(blocks=8, dim=384, heads=8, image=32, timesteps=4)
    path = folder / "spikformer-8-384.onnx"
    onnx.save(model, path)
    rng = np.random.default_rng(0)
    frame = builders.dyadic(rng.random((1, 3, 32, 32)) * 2)
    return path, np.ascontiguousarray(np.broadcast_to(frame, (4, 1, 3, 32, 32)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the Spikformer-8-384 model")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, onnx {onnx.__version__}"
    )
    header = (
        f"{'model':<18}{'params':>8}{'import+verify+print':>21}{'onnx.load+infer':>17}"
        f"{'ratio':>7}{'ref eval':>10}{'(first)':>9}{'onnxruntime':>13}{'ratio':>7}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        cases = (
            []
            if args.quick
            else [
                (
                    name,
                    REPO / "samples" / f"{name}.onnx",
                    np.load(REPO / "samples" / f"{name}_input.npy"),
                )
                for name in SAMPLES
            ]
        )
        big_path, big_x = spikformer_8_384(Path(tmp))
        cases.append(("spikformer-8-384", big_path, big_x))
        for name, path, x in cases:
            model = onnx.load(str(path), load_external_data=False)
            params = weight_bytes(model) // 4
            ours = median_time(functools.partial(import_verify_print, path))
            baseline = median_time(functools.partial(onnx_load_and_infer, path))
            first, ref, ort_time = runtimes(path, x)
            print(
                f"{name:<18}{params / 1e6:>7.2f}M{ours:>20.3f}s{baseline:>16.3f}s"
                f"{ours / baseline:>7.2f}{ref:>9.3f}s{first:>8.3f}s{ort_time:>12.3f}s"
                f"{ref / ort_time:>7.2f}"
            )
        peak = peak_memory(big_path)
        weights = weight_bytes(onnx.load(str(big_path), load_external_data=False))
        print(
            f"peak memory of import+verify+print, spikformer-8-384: {peak / 2**20:.1f} MiB for "
            f"{weights / 2**20:.1f} MiB of weights ({peak / weights:.2f}x)"
        )


if __name__ == "__main__":
    main()
