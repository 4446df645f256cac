"""What data movement costs on the paper-sized models, design by design.

For SDT-2-512, Xpikeformer-6-512 and MoE-4-384 (the models of `runtime_bench.py`, T = 4) on
every target and variant, prints from one run at `--batch` (default 1): latency, energy per
inference by component, and — where the report has a memory section — each memory level's
traffic, peak occupancy against its capacity, spills and re-fetches, and the weights' placement.
`--json FILE` also writes the figures.

Run from the repository root: `.venv/bin/python benchmarks/memory_figures.py [--batch 4]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from runtime_bench import BIG_MODELS, big_input, big_model  # noqa: E402

from compiler.runner import RunOptions, execute_package, open_program  # noqa: E402
from compiler.toolchain import compile_model  # noqa: E402
from targets import load_target, target_names  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("-m", "--model", action="append", help="models by name (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for big in BIG_MODELS:
            if args.model and big.name not in args.model:
                continue
            model = big_model(big, folder, False)
            x = big_input(big)
            x = np.ascontiguousarray(np.repeat(x, args.batch, axis=1))
            for name in target_names():
                target = load_target(name)
                for variant in target.variants:
                    out = folder / f"{big.name}.{name}-{variant}"
                    compile_model(str(model), name, out, variant=variant)
                    package, opened = open_program(out)
                    run = execute_package(package, opened, {"x": x}, None, RunOptions())
                    report = run.report
                    per = {k: v / 1e6 / args.batch for k, v in report.per_component.items()}
                    row: dict[str, object] = {
                        "model": big.name,
                        "design": f"{name}:{variant}",
                        "latency_us": report.totals["latency_s"] * 1e6,
                        "energy_uj_per_inference": report.totals["energy_pj"] / 1e6 / args.batch,
                        "components_uj_per_inference": per,
                        "memory": report.memory,
                    }
                    figures.append(row)
                    parts = ", ".join(f"{k} {v:.4g}" for k, v in per.items() if v)
                    print(
                        f"{big.name:18} {name + ':' + variant:24} "
                        f"{row['latency_us']:12.1f} us {row['energy_uj_per_inference']:12.2f} uJ"
                        f"  ({parts})",
                        flush=True,
                    )
                    for level in report.memory.get("levels", []):
                        peak = level["peak_bytes"]
                        occupancy = (
                            f"peak {peak / 1024:9.1f} of {level['capacity_bytes'] / 1024:8.1f} KiB"
                            if peak is not None
                            else " " * 30
                        )
                        print(
                            f"{'':44}{level['level']:18} "
                            f"{(level['bytes_read'] + level['bytes_written']) / 2**20:10.3f} MiB "
                            f"{level['energy_pj'] / 1e6 / args.batch:10.2f} uJ  {occupancy}"
                            f"  spilled {(level['spilled_bytes'] or 0) / 1024:.1f} KiB"
                            f"  refetched {level['refetch_bytes'] / 2**20:.2f} MiB"
                        )
                    bounds: dict[str, int] = {}
                    for layer in report.memory.get("layers", []):
                        bounds[layer["bound"]] = bounds.get(layer["bound"], 0) + 1
                    print(f"{'':44}layer bounds: {bounds}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
