"""Do the passes run in linear time? Times the full pass pipeline on a Spikformer-8-384-sized
model and on one 4x deeper, and prints the ratio (about 4 means linear in the number of ops).

Run from the repository root: `.venv/bin/python benchmarks/pass_bench.py`.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import onnx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.frontend.onnx_import import import_onnx  # noqa: E402
from compiler.transforms.pipeline import run_pipeline  # noqa: E402
from samples import builders  # noqa: E402

PIPELINE = (
    "fold-batchnorm,partition-heads{units=8 policy=balanced},partition-experts{units=4},"
    "decompose{ops=sdsa},sparsity-encoding,tier-map{tiers=2 mode=logic-on-logic neuron-tier=1},"
    "canonicalize,cse,dce"
)


def time_pipeline(path: Path, repeat: int = 3) -> tuple[float, int]:
    """Median seconds of the pipeline on a fresh import of `path`, and the op count after."""
    times, ops = [], 0
    for _ in range(repeat):
        module = import_onnx(path).module
        start = time.perf_counter()
        run_pipeline(module, PIPELINE)
        times.append(time.perf_counter() - start)
        ops = sum(1 for _ in module.walk())
    return statistics.median(times), ops


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"pipeline: {PIPELINE}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for blocks in (8, 32):
            model, _ = builders.spikformer(blocks=blocks, dim=384, heads=8, image=32)
            path = Path(tmp) / f"spikformer-{blocks}-384.onnx"
            onnx.save(model, path)
            before = sum(1 for _ in import_onnx(path).module.walk())
            seconds, after = time_pipeline(path)
            results.append(seconds)
            print(
                f"spikformer-{blocks}-384: {before} ops in, {after} ops out, "
                f"{seconds:.2f} s ({1e3 * seconds / before:.2f} ms per op)"
            )
    print(f"ratio 32 blocks / 8 blocks: {results[1] / results[0]:.2f} (4.00 is linear)")


if __name__ == "__main__":
    main()
