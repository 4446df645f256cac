"""NeuroBench against spikec on the same networks: NeuroBench 2.3 (its SynapticOperations,
ActivationSparsity and MembraneUpdates, through its hooks) on the snnTorch models of
samples/export/export.py, rebuilt and retrained as that script does; spikec on their torch.onnx
exports, run on every design; the figures side by side, per inference.

Needs the optional extras `export` and `neurobench` (`pip install -e '.[export,neurobench]'`).
Run: `python benchmarks/neurobench_crosscheck.py` (about a minute on 2 cores: the models are
retrained, and their logits checked against the committed reference, so that both tools see the
same weights).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "samples" / "export"))

MODELS = ("snntorch_neurons", "snntorch_attention")
ROWS = [
    ("dense SynOps", "Dense", "dense_synops_per_inference"),
    ("effective MACs", "Effective_MACs", "effective_macs_per_inference"),
    ("effective ACs", "Effective_ACs", "effective_acs_per_inference"),
    ("activation sparsity", "ActivationSparsity", "activation_sparsity"),
    ("membrane updates", "MembraneUpdates", "membrane_updates_per_inference"),
]


def neurobench_figures(name: str) -> tuple[dict[str, float], np.ndarray]:
    import export  # samples/export/export.py
    import torch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import (
        ActivationSparsity,
        MembraneUpdates,
        SynapticOperations,
    )
    from neurobench.models import SNNTorchModel

    torch.manual_seed(export.SEED)
    torch.set_num_threads(2)
    x_train, y_train, x_test, y_test = export.digits()
    make, _ = export.MODELS[name]
    torch.manual_seed(export.SEED)
    model = make()
    export.train(model, x_train, y_train)
    with torch.no_grad():
        export.reset(model)
        logits = model(x_test).numpy()
    reference = np.load(ROOT / "samples" / "export" / f"{name}_reference.npy")
    if not np.array_equal(logits, reference):
        print(f"  {name}: the retrained model's logits differ from the committed reference "
              f"(max {np.abs(logits - reference).max():.3g}): another torch build?")  # fmt: skip
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_test, y_test), batch_size=len(x_test)
    )
    wrapped = SNNTorchModel(model, custom_forward=True)
    benchmark = Benchmark(
        wrapped, loader, [], [], [[], [SynapticOperations, ActivationSparsity, MembraneUpdates]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results: dict[str, Any] = benchmark.run(quiet=True)
    flat: dict[str, float] = {}
    for key, value in results.items():
        if isinstance(value, dict):
            flat.update({k: float(v) for k, v in value.items()})
        else:
            flat[key] = float(value)
    return flat, x_test.numpy()


def spikec_figures(name: str, x: np.ndarray, folder: Path) -> dict[str, float]:
    from compiler.explore.comparison import plan_designs
    from compiler.runner import RunOptions, execute_package, open_program
    from compiler.toolchain import compile_model

    designs = [(d.target, d.variant) for d in plan_designs([])]  # every target, every variant
    model = ROOT / "samples" / "export" / f"{name}.dynamo.onnx"
    figures: dict[str, dict[str, float]] = {}
    for target, variant in designs:
        out = folder / f"{name}.{target}-{variant}"
        compile_model(str(model), target, out, variant=variant)
        package, built_for = open_program(out)
        run = execute_package(package, built_for, {"x": x}, None, RunOptions())
        figures[f"{target}:{variant}"] = dict(run.report.workload)
    first = next(iter(figures.values()))
    differing = [d for d, f in figures.items() if f != first]
    print(f"  spikec: the figures are the same on all {len(designs)} designs"
          if not differing else f"  spikec: designs disagree: {differing}")  # fmt: skip
    return first


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            print(f"{name} (64 test digits, T = 4, per inference)")
            theirs, x = neurobench_figures(name)
            ours = spikec_figures(name, x, Path(folder))
            print(f"  {'figure':<22} {'NeuroBench':>16} {'spikec':>16}  ratio")
            for label, their_key, our_key in ROWS:
                a, b = theirs.get(their_key, float("nan")), ours.get(our_key, float("nan"))
                ratio = b / a if a else float("nan")
                mark = "equal" if a == b else f"{ratio:.6f}"
                print(f"  {label:<22} {a:16.6f} {b:16.6f}  {mark}")
            print(f"  {'attention products':<22} {'(not counted)':>16} "
                  f"{ours['attention_products_per_inference']:16.6f}")  # fmt: skip
            print(f"  {'membrane updates, all':<22} {'(not counted)':>16} "
                  f"{ours['membrane_updates_all_per_inference']:16.6f}")  # fmt: skip


if __name__ == "__main__":
    main()
