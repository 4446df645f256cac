"""`spikec sweep` throughput: points per second of one grid run three ways.

The same grid (default: 3×3, `vector.lanes=8,16,32;clock.frequency=100,200,400` on
samples/moe.onnx for `sparse`) swept from one run:

- in-process (`--jobs 1`);
- in a local process pool (`--jobs 2`);
- on a 2-worker Dask LocalCluster (`--scheduler local --jobs 2`; the cluster's start-up and
  shutdown included, as in `spikec sweep`);

each into a fresh CSV, printing wall time, points per second and the speed-up over in-process,
and checking the three give the same rows. On a small grid the Dask run is mostly the
LocalCluster's start-up (spawning the worker processes and importing spikec in each).

Run from the repository root: `.venv/bin/python benchmarks/sweep_bench.py [--grid GRID]`
(the Dask run needs `pip install 'spikec[distributed]'`; it is skipped without it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.explore.grid import parse_grid  # noqa: E402
from compiler.explore.sweep import sweep  # noqa: E402
from compiler.frontend.onnx_import import import_onnx  # noqa: E402
from compiler.interpreters.reference import evaluate, input_names  # noqa: E402

MODEL = REPO / "samples" / "moe.onnx"
INPUT = REPO / "samples" / "moe_input.npy"
GRID = "vector.lanes=8,16,32;clock.frequency=100,200,400"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default=GRID, help=f"the grid (default: '{GRID}')")
    parser.add_argument("--target", default="sparse", help="the target (default: sparse)")
    args = parser.parse_args()
    grid = parse_grid(args.grid)
    result = import_onnx(MODEL)
    inputs = {input_names(result.module)[0]: np.load(INPUT)}
    reference = evaluate(result.module, result.weights, inputs)
    have_dask = importlib.util.find_spec("distributed") is not None
    ways: list[tuple[str, int, str | None]] = [
        ("in-process (--jobs 1)", 1, None),
        ("process pool (--jobs 2)", 2, None),
    ]
    if have_dask:
        ways.append(("Dask LocalCluster, 2 workers", 2, "local"))
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} "
          f"CPUs, python {platform.python_version()}; {MODEL.name} on {args.target}, grid "
          f"'{args.grid}'")  # fmt: skip
    rows: dict[str, list[dict[str, object]]] = {}
    base = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, jobs, scheduler) in enumerate(ways):
            start = time.perf_counter()
            swept = sweep(
                str(MODEL),
                args.target,
                inputs,
                grid,
                Path(tmp) / f"{i}.csv",
                reference=reference,
                jobs=jobs,
                scheduler=scheduler,
            )
            seconds = time.perf_counter() - start
            base = base or seconds
            rows[name] = swept.rows
            print(
                f"   {name:<30} {len(swept.rows)} points in {seconds:6.2f} s: "
                f"{len(swept.rows) / seconds:5.2f} points/s ({base / seconds:.2f}× in-process)"
            )
    if not have_dask:
        print("   Dask LocalCluster: skipped (pip install 'spikec[distributed]')")
    first = next(iter(rows.values()))
    same = all(r == first for r in rows.values())
    ok = sum(r["status"] == "ok" for r in first)
    print(f"   same rows every way: {'yes' if same else 'NO'}; {ok} of {len(first)} points ok")


if __name__ == "__main__":
    main()
