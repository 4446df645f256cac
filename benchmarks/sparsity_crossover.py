"""Where the sparse design stops paying: the `sparse` target's address-based variant against its
dense baseline as the firing rate grows.

Prints, from one run:

1. one spike linear layer the size of an SDT-2-512 MLP (T = 4, 64 tokens, 512 -> 2048), fed
   random spikes at rates 0 to 100 %: cycles and energy of both variants and the firing rate at
   which `sparse` stops winning, for cycles and for energy (linear interpolation between the
   measured rates);
2. the whole SDT-2-512 model (see runtime_bench.py) with every calibrated gain scaled by a
   factor, which moves the firing rates of all its layers together: the measured activation
   sparsity, and cycles and energy of both variants.

Run from the repository root: `.venv/bin/python benchmarks/sparsity_crossover.py`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from runtime_bench import SDT, big_input, calibrated_gains  # noqa: E402

from compiler.runner import open_program, run_package  # noqa: E402
from compiler.toolchain import compile_model  # noqa: E402
from runtime.asm import parse_program  # noqa: E402
from runtime.interpreter import execute  # noqa: E402
from runtime.report import build_report  # noqa: E402
from targets import load_target  # noqa: E402

T, TOKENS, D_IN, D_OUT = 4, 64, 512, 2048
LAYER = f""".target sparse {{variant}}
.input %s : spk[{T},?,{TOKENS},{D_IN}]
.const @w : f32[{D_IN},{D_OUT}]
.const @b : f32[{D_OUT}]
.output %y.out : f32[{T},?,{TOKENS},{D_OUT}]
{{declare}}.buffer %y : f32[{T},?,{TOKENS},{D_OUT}]
{{pack}}slu: SLU.ACC {{source}}, @w, @b -> %y layer="fc1"
dma: DMA.STORE_OUTPUT %y -> %y.out layer="out"
"""


def layer_program(variant: str) -> str:
    if variant == "sparse":
        return LAYER.format(
            variant="sparse",
            declare=f".buffer %a : addr[{T},?,{TOKENS} : {D_IN}]\n",
            pack='enc: ENC.PACK %s -> %a layer="pack"\n',
            source="%a",
        )
    return LAYER.format(variant="dense", declare="", pack="", source="%s")


def crossing(rates: np.ndarray, sparse: np.ndarray, dense: np.ndarray) -> str:
    """The first rate where `sparse` costs as much as `dense`, interpolated."""
    gap = sparse - dense
    for i in range(1, len(rates)):
        if gap[i - 1] < 0 <= gap[i]:
            r = rates[i - 1] + (rates[i] - rates[i - 1]) * -gap[i - 1] / (gap[i] - gap[i - 1])
            return f"{100 * r:.1f} %"
    return "none in 0-100 %" if gap[-1] < 0 else "below the lowest rate"


def single_layer() -> None:
    target = load_target("sparse")
    hardware = target.hardware()
    rng = np.random.default_rng(0)
    constants = {
        "@w": (np.round(rng.normal(size=(D_IN, D_OUT)) * 64) / 64).astype(np.float32),
        "@b": np.zeros(D_OUT, np.float32),
    }
    rates = np.linspace(0.0, 1.0, 21)
    figures: dict[str, list[tuple[float, float]]] = {"sparse": [], "dense": []}
    for variant in figures:
        program = parse_program(layer_program(variant), f"fc1.{variant}.sasm")
        target.machine.instruction_set.validate(program, "fc1.sasm", hardware)
        for rate in rates:
            spikes = (rng.random((T, 1, TOKENS, D_IN)) < rate).astype(np.float32)
            _, record = execute(
                program,
                target.machine.instruction_set,
                hardware,
                constants,
                {"%s": spikes},
                timesteps=T,
                clock_entry=target.machine.clock_entry,
                leakage_entries=target.machine.leakage_entries,
            )
            totals = build_report(record).totals
            figures[variant].append((totals["cycles"], totals["energy_pj"]))
    sparse, dense = np.array(figures["sparse"]), np.array(figures["dense"])
    print(f"1. one spike linear layer, T = {T}, {TOKENS} tokens, {D_IN} -> {D_OUT}, batch 1")
    print(f"{'rate':>6}{'sparse cycles':>15}{'dense cycles':>14}{'sparse uJ':>12}{'dense uJ':>11}")
    for i, rate in enumerate(rates):
        print(
            f"{100 * rate:>5.0f}%{sparse[i, 0]:>15.0f}{dense[i, 0]:>14.0f}"
            f"{sparse[i, 1] / 1e6:>12.3f}{dense[i, 1] / 1e6:>11.3f}"
        )
    print(
        f"crossover: cycles at {crossing(rates, sparse[:, 0], dense[:, 0])}, energy at "
        f"{crossing(rates, sparse[:, 1], dense[:, 1])}"
    )


def whole_model() -> None:
    gains = calibrated_gains(SDT)
    x = big_input(SDT)
    print("\n2. SDT-2-512, every calibrated gain scaled by a factor")
    print(
        f"{'factor':>7}{'sparsity':>10}{'sparse cycles':>15}{'dense cycles':>14}"
        f"{'ratio':>7}{'sparse uJ':>11}{'dense uJ':>10}{'ratio':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for factor in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
            scaled = {k: v * factor for k, v in gains.items()}
            model, _ = SDT.build(**SDT.sizes, seed=SDT.seed, gains=scaled)
            path = Path(tmp) / "model.onnx"
            onnx.save(model, path)
            totals, sparsity = {}, 0.0
            for variant in ("sparse", "dense"):
                folder = Path(tmp) / variant
                compile_model(str(path), "sparse", folder, variant=variant)
                package, target = open_program(folder)
                report = build_report(run_package(package, target, {"x": x})[1])
                totals[variant] = report.totals
                sparsity = report.workload["activation_sparsity"]
            s, d = totals["sparse"], totals["dense"]
            print(
                f"{factor:>7g}{100 * sparsity:>9.1f}%{s['cycles']:>15.0f}{d['cycles']:>14.0f}"
                f"{s['cycles'] / d['cycles']:>7.2f}{s['energy_pj'] / 1e6:>11.1f}"
                f"{d['energy_pj'] / 1e6:>10.1f}{s['energy_pj'] / d['energy_pj']:>7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    single_layer()
    whole_model()
