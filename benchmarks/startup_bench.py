"""Start-up cost of the `spikec` commands: the wall time of each, from one run, against a bare
Python interpreter and against `import numpy`.

A user runs spikec from the shell (and `make demo` runs it about sixty times), so what a command
imports before it works counts: onnx pulls ml_dtypes (1.0-1.2 s at ml_dtypes 0.7.0, 0.15 s at
0.6.0, measured on the 2-core development machine), and xdsl.interpreters loads every dialect's
interpreter. The commands that read no ONNX must not import onnx, and only `eval`/`compare`
need the interpreters. Each command is timed `--repeat` times (median), on the MoE sample, in a
fresh process each time; the imports of the heaviest modules are timed alone beside them.

Run from the repository root: `.venv/bin/python benchmarks/startup_bench.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPIKEC = [sys.executable, "-m", "compiler.cli"]
MODEL = REPO / "samples" / "moe.onnx"
INPUT = REPO / "samples" / "moe_input.npy"


def wall(command: list[str], repeat: int) -> float:
    """Median wall time of `command` (each run in a fresh process)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}; median of {args.repeat} runs, each a fresh process"
    )
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "moe.sparse"
        subprocess.run(
            [*SPIKEC, "compile", str(MODEL), "-t", "sparse", "-o", str(program)],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        python = wall([sys.executable, "-c", "pass"], args.repeat)
        numpy = wall([sys.executable, "-c", "import numpy"], args.repeat)
        rows = [
            ("python -c pass", python),
            ("python -c 'import numpy'", numpy),
        ]
        for module in ("onnx", "ml_dtypes", "xdsl.interpreters.func", "xdsl.dialects.builtin"):
            rows.append((f"python -c 'import {module}'", wall(
                [sys.executable, "-c", f"import {module}"], args.repeat
            )))  # fmt: skip
        commands = [
            ("spikec --version", ["--version"]),
            ("spikec targets", ["targets"]),
            ("spikec run (MoE, sparse)", ["run", str(program), "-i", str(INPUT)]),
            ("spikec compile (MoE, sparse)",
             ["compile", str(MODEL), "-t", "sparse", "-o", str(Path(tmp) / "again")]),
            ("spikec eval (MoE)", ["eval", str(MODEL), "-i", str(INPUT)]),
        ]  # fmt: skip
        for name, arguments in commands:
            rows.append((name, wall([*SPIKEC, *arguments], args.repeat)))
    for name, seconds in rows:
        print(
            f"   {name:<42} {seconds:6.3f} s   {seconds / python:5.1f}× python   "
            f"{seconds / numpy:5.1f}× import numpy"
        )


if __name__ == "__main__":
    main()
