"""How fast the runtime executes compiled programs, against onnxruntime on the same ONNX model.

For each bundled sample and for an SDT-2-512-sized Spike-driven Transformer at CIFAR size
(2 blocks, D = 512, 8 heads, 32x32 input, 64 tokens, T = 4, batch 1), on each target and
variant, prints from one run:

- `spikec run` in-process: loading the program folder (parse, constants, checks) and running
  it with the full account (semantics, timeline, energy ledger, report rendered as the table),
  loading as the median of five runs, running as the median of nine;
- onnxruntime: creating the session, and `session.run` (nine runs, in blocks of three
  alternating with ours so that both see the same machine);
- two ratios, ours / onnxruntime: `run` (running a loaded program against `session.run`) and
  `total` (load + run against session creation + run: what one `spikec run` costs);
- peak memory of each, measured in a fresh process (resident memory added after the libraries
  are imported: the Linux high-water mark, reset through /proc/self/clear_refs).

The SDT-2-512 model is built by `samples.builders.sdt` with gains that give its spiking layers
the firing rates of the bundled samples (10-25 %); they are calibrated once and cached in
`benchmarks/sdt_2_512_gains.json` (`--recalibrate` redoes it in about a minute).

Run from the repository root: `.venv/bin/python benchmarks/runtime_bench.py [--quick]`.
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

from compiler.toolchain import compile_model, open_program, run_package  # noqa: E402
from runtime.package import Package  # noqa: E402
from runtime.report import build_report, render_table  # noqa: E402
from samples import builders  # noqa: E402
from targets import load_target, target_names  # noqa: E402
from targets.target import Target  # noqa: E402

SAMPLES = ["spikformer", "sdt", "xpikeformer", "moe"]
GAINS = Path(__file__).with_name("sdt_2_512_gains.json")
BIG = "sdt-2-512"
BIG_SIZES = {"blocks": 2, "dim": 512, "heads": 8, "image": 32, "timesteps": 4}


def median_time(run: Callable[[], object], repeat: int = 5) -> float:
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int = 3, block: int = 3
) -> tuple[float, float]:
    """Median times of two runs measured in alternating blocks, so that both see the same
    machine (a shared 2-core machine drifts by tens of percent over seconds); the first run of
    each block is a warm-up, as the other library's worker threads may still be spinning."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        for run, times in ((ours, a), (theirs, b)):
            run()
            for _ in range(block):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def big_input() -> np.ndarray:
    frame = builders.dyadic(np.random.default_rng(5).random((1, 3, 32, 32)) * 2)
    return np.ascontiguousarray(np.broadcast_to(frame, (4, 1, 3, 32, 32)), dtype=np.float32)


def calibrated_gains(recalibrate: bool) -> dict[str, float]:
    if GAINS.exists() and not recalibrate:
        gains: dict[str, float] = json.loads(GAINS.read_text())
        return gains
    from samples.generate import BUSY, Sample, calibration

    sample = Sample(
        builders.sdt,
        {k: v for k, v in BIG_SIZES.items() if k != "timesteps"},
        (4, 1, 3, 32, 32),
        5,
        {"*.attn.q": BUSY, "*.attn.sdsa": (0.07, 0.10, 0.20)},
    )
    with tempfile.TemporaryDirectory() as tmp:
        found = calibration(sample, big_input(), Path(tmp)).gains
    GAINS.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    return dict(found)


def big_model(folder: Path, recalibrate: bool) -> Path:
    model, _ = builders.sdt(**BIG_SIZES, seed=5, gains=calibrated_gains(recalibrate))
    path = folder / f"{BIG}.onnx"
    onnx.save(model, path)
    return path


PROBE = """
import json, sys
sys.path.insert(0, {repo!r})
import numpy as np

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

x = np.load({input!r})
{imports}
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
{work}
print(json.dumps(status("VmHWM") - before))
"""


def peak_memory(imports: str, work: str, x_path: Path) -> float:
    code = PROBE.format(repo=str(REPO), input=str(x_path), imports=imports, work=work)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout))


def ours_peak(program: Path, x_path: Path) -> float:
    imports = (
        "from pathlib import Path\nfrom compiler.toolchain import run_program\n"
        "from runtime.report import build_report, render_table"
    )
    work = f"render_table(build_report(run_program(Path({str(program)!r}), {{'x': x}})[1]))"
    return peak_memory(imports, work, x_path)


def onnxruntime_peak(model: Path, x_path: Path) -> float:
    imports = "import onnxruntime as ort"
    work = (
        f"s = ort.InferenceSession({str(model)!r}, providers=['CPUExecutionProvider'])\n"
        "s.run(None, {'x': x})"
    )
    return peak_memory(imports, work, x_path)


def run_and_report(package: Package, target: Target, x: np.ndarray) -> None:
    """What `spikec run` does once the program is loaded: execute it with the account and
    build the report."""
    render_table(build_report(run_package(package, target, {"x": x})[1]))


def main() -> None:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only the {BIG} model")
    parser.add_argument("--recalibrate", action="store_true", help=f"recalibrate {BIG}'s gains")
    parser.add_argument("-t", "--target", action="append", help="targets (default: all)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, onnxruntime {ort.__version__}"
    )
    print(
        f"{'model':<12}{'target':<16}{'load':>8}{'run':>9}{'ort load':>10}{'ort run':>9}"
        f"{'run':>7}{'total':>7}{'peak':>10}{'ort peak':>10}{'ratio':>7}"
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [] if args.quick else [(n, SAMPLES_DIR / f"{n}.onnx") for n in SAMPLES]
        cases.append((BIG, big_model(folder, args.recalibrate)))
        for name, model in cases:
            if name == BIG:
                x = big_input()
            else:
                x = np.load(SAMPLES_DIR / f"{name}_input.npy")
            x_path = folder / f"{name}_input.npy"
            np.save(x_path, x)
            start = time.perf_counter()
            session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            ort_load = time.perf_counter() - start
            ort_call = functools.partial(session.run, None, {"x": x})
            ort_peak = onnxruntime_peak(model, x_path)
            for target_name in args.target or target_names():
                target = load_target(target_name)
                for variant in target.variants:
                    program = folder / f"{name}.{target_name}.{variant}"
                    compile_model(str(model), target_name, program, variant=variant)
                    load = median_time(functools.partial(open_program, program))
                    package, _ = open_program(program)
                    run, ort_run = paired_medians(
                        functools.partial(run_and_report, package, target, x), ort_call
                    )
                    peak = ours_peak(program, x_path)
                    total, ort_total = load + run, ort_load + ort_run
                    print(
                        f"{name:<12}{target_name + ' ' + variant:<16}{load:>7.3f}s{run:>8.3f}s"
                        f"{ort_load:>9.3f}s{ort_run:>8.3f}s{run / ort_run:>7.2f}"
                        f"{total / ort_total:>7.2f}"
                        f"{peak / 2**20:>7.1f}MiB{ort_peak / 2**20:>7.1f}MiB"
                        f"{peak / ort_peak:>7.2f}",
                        flush=True,
                    )


SAMPLES_DIR = REPO / "samples"

if __name__ == "__main__":
    main()
