"""How fast the runtime executes compiled programs, against onnxruntime on the same ONNX model.

For each bundled sample and three paper-sized models — an SDT-2-512-sized Spike-driven
Transformer at CIFAR size (2 blocks, D = 512, 8 heads, 32x32 input, 64 tokens), the Xpikeformer
paper's model (6 blocks, D = 512, 8 heads, 65 tokens) and a Spikformer-4-384-sized MoE model
(4 blocks, D = 384, 8 heads, 4 experts, top-2, 64 tokens), all T = 4, batch 1 — on each target,
variant and numerics mode, prints from one run:

- `spikec run` in-process: loading the program folder (parse, constants, checks) and running
  it with the full account (semantics, timeline, energy ledger, report rendered as the table),
  loading as the median of five runs, running as the median of nine;
- onnxruntime: creating the session, and `session.run` (nine runs, in blocks of three
  alternating with ours so that both see the same machine);
- two ratios, ours / onnxruntime (in hardware numerics, ours includes the exact run the
  deviation is measured against): `run` (running a loaded program against `session.run`) and
  `total` (load + run against session creation + run: what one `spikec run` costs);
- peak memory of each, measured in a fresh process (resident memory added after the libraries
  are imported: the Linux high-water mark, reset through /proc/self/clear_refs).

The paper-sized models are built by `samples.builders` with gains that give their spiking layers
the firing rates of the bundled samples (10-25 %); they are calibrated once and cached in
`benchmarks/<model>_gains.json` (`--recalibrate` redoes it: one to several minutes).

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.runner import RunOptions, execute_package, open_program  # noqa: E402
from compiler.toolchain import compile_model  # noqa: E402
from runtime.package import Package  # noqa: E402
from runtime.report import render_table  # noqa: E402
from samples import builders  # noqa: E402
from samples.generate import Builder  # noqa: E402
from targets import load_target, target_names  # noqa: E402
from targets.target import Target  # noqa: E402

SAMPLES = ["spikformer", "sdt", "xpikeformer", "moe"]


@dataclass(frozen=True)
class BigModel:
    name: str
    build: Builder
    sizes: dict[str, object]
    input_shape: tuple[int, ...]
    seed: int
    bands: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def gains_file(self) -> Path:
        return Path(__file__).with_name(f"{self.name.replace('-', '_')}_gains.json")

    @property
    def biases_file(self) -> Path:
        """Router biases (MoE models), calibrated with the gains."""
        return Path(__file__).with_name(f"{self.name.replace('-', '_')}_biases.json")


SDT = BigModel(
    "sdt-2-512",
    builders.sdt,
    {"blocks": 2, "dim": 512, "heads": 8, "image": 32},
    (4, 1, 3, 32, 32),
    5,
    {"*.attn.q": (0.20, 0.23, 0.25), "*.attn.sdsa": (0.07, 0.10, 0.20)},
)
XPIKEFORMER = BigModel(
    "xpikeformer-6-512",
    builders.xpikeformer,
    {"blocks": 6, "dim": 512, "heads": 8, "tokens": 65},
    (4, 1, 65, 48),
    2,
)
MOE = BigModel(
    "moe-4-384",
    builders.moe,
    {
        "blocks": 4,
        "dim": 384,
        "heads": 8,
        "tokens": 64,
        "experts": 4,
        "k": 2,
        "expert_hidden": 384,
        "router_rate": 0.23,
    },
    (4, 1, 64, 48),
    3,
    {"*.attn.[qk]": (0.20, 0.23, 0.25), "*.moe.*": (0.075, 0.10, 0.15)},
)
BIG_MODELS = (SDT, XPIKEFORMER, MOE)


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


def big_input(big: BigModel) -> np.ndarray:
    frame = builders.dyadic(np.random.default_rng(big.seed).random(big.input_shape[1:]) * 2)
    return np.ascontiguousarray(np.broadcast_to(frame, big.input_shape), dtype=np.float32)


def calibrated_gains(big: BigModel, recalibrate: bool = False) -> dict[str, float]:
    if big.gains_file.exists() and not recalibrate:
        gains: dict[str, float] = json.loads(big.gains_file.read_text())
        return gains
    from samples.generate import Sample, calibration

    sample = Sample(big.build, big.sizes, big.input_shape, big.seed, big.bands)
    with tempfile.TemporaryDirectory() as tmp:
        found = calibration(sample, big_input(big), Path(tmp))
    big.gains_file.write_text(json.dumps(found.gains, indent=1, sort_keys=True) + "\n")
    if found.biases:
        big.biases_file.write_text(json.dumps(found.biases, indent=1, sort_keys=True) + "\n")
    return dict(found.gains)


def big_model(big: BigModel, folder: Path, recalibrate: bool) -> Path:
    gains = calibrated_gains(big, recalibrate)
    extra = {}
    if big.biases_file.exists():
        extra["biases"] = json.loads(big.biases_file.read_text())
    model, _ = big.build(**big.sizes, seed=big.seed, gains=gains, **extra)
    path = folder / f"{big.name}.onnx"
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


def ours_peak(program: Path, x_path: Path, numerics: str) -> float:
    imports = (
        "from pathlib import Path\n"
        "from compiler.runner import RunOptions, execute_package, open_program\n"
        "from runtime.report import render_table"
    )
    work = (
        f"package, target = open_program(Path({str(program)!r}))\n"
        f"run = execute_package(package, target, {{'x': x}}, None, RunOptions({numerics!r}))\n"
        "render_table(run.report)"
    )
    return peak_memory(imports, work, x_path)


def onnxruntime_peak(model: Path, x_path: Path) -> float:
    imports = "import onnxruntime as ort"
    work = (
        f"s = ort.InferenceSession({str(model)!r}, providers=['CPUExecutionProvider'])\n"
        "s.run(None, {'x': x})"
    )
    return peak_memory(imports, work, x_path)


def run_and_report(package: Package, target: Target, x: np.ndarray, numerics: str) -> None:
    """What `spikec run` does once the program is loaded: execute it with the account (and, in
    hardware numerics, the exact run it is compared with) and render the report."""
    run = execute_package(package, target, {"x": x}, None, RunOptions(numerics))
    render_table(run.report)


def main() -> None:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the paper-sized models")
    parser.add_argument("--recalibrate", action="store_true", help="recalibrate their gains")
    parser.add_argument("-t", "--target", action="append", help="targets (default: all)")
    parser.add_argument("-m", "--model", action="append", help="models by name (default: all)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, onnxruntime {ort.__version__}"
    )
    print(
        f"{'model':<18}{'target variant numerics':<34}{'load':>7}{'run':>8}{'ort load':>9}"
        f"{'ort run':>8}{'run':>6}{'total':>6}{'peak':>10}{'ort peak':>10}{'ratio':>6}"
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases: list[tuple[str, Path, np.ndarray]] = []
        if not args.quick:
            for n in SAMPLES:
                cases.append(
                    (n, SAMPLES_DIR / f"{n}.onnx", np.load(SAMPLES_DIR / f"{n}_input.npy"))
                )
        for big in BIG_MODELS:
            cases.append((big.name, big_model(big, folder, args.recalibrate), big_input(big)))
        for name, model, x in cases:
            if args.model and name not in args.model:
                continue
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
                    modes = [
                        m
                        for m in target.numerics
                        if variant in target.numerics_variants.get(m, (variant,))
                    ]
                    for numerics in modes:
                        ours = functools.partial(run_and_report, package, target, x, numerics)
                        run, ort_run = paired_medians(ours, ort_call)
                        peak = ours_peak(program, x_path, numerics)
                        total, ort_total = load + run, ort_load + ort_run
                        label = f"{target_name} {variant} {numerics}"
                        print(
                            f"{name:<18}{label:<34}{load:>6.3f}s{run:>7.3f}s"
                            f"{ort_load:>8.3f}s{ort_run:>7.3f}s{run / ort_run:>6.2f}"
                            f"{total / ort_total:>6.2f}"
                            f"{peak / 2**20:>7.1f}MiB{ort_peak / 2**20:>7.1f}MiB"
                            f"{peak / ort_peak:>6.2f}",
                            flush=True,
                        )


SAMPLES_DIR = REPO / "samples"

if __name__ == "__main__":
    main()
