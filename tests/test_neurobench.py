"""NeuroBench's workload figures: the same for one run on every design, and each definition
against counts worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime import neurobench
from runtime.program import AttrValue
from tests.conftest import SAMPLE_NAMES

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "dense_synops",
    "effective_macs",
    "effective_acs",
    "attention_products",
    "membrane_updates",
    "membrane_updates_all",
    "activation_sparsity",
    "dense_synops_per_inference",
)
F32 = np.float32


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_the_figures_are_the_same_on_every_design(sample: str, tmp_path: Path) -> None:
    from compiler.explore.comparison import plan_designs
    from compiler.runner import RunOptions, execute_package, open_program
    from compiler.toolchain import compile_model

    x = np.load(ROOT / "samples" / f"{sample}_input.npy")
    designs = [(d.target, d.variant) for d in plan_designs([])]  # every target, every variant
    assert len(designs) >= 7
    seen = {}
    for target, variant in designs:
        out = tmp_path / f"{target}-{variant}"
        compile_model(str(ROOT / "samples" / f"{sample}.onnx"), target, out, variant=variant)
        package, built_for = open_program(out)
        run = execute_package(package, built_for, {"x": x}, None, RunOptions())
        seen[(target, variant)] = {k: run.report.workload[k] for k in FIGURES}
    first = seen[designs[0]]
    assert first["dense_synops"] > first["effective_acs"] + first["effective_macs"] > 0
    assert 0 < first["activation_sparsity"] < 1
    assert first["membrane_updates"] <= first["membrane_updates_all"]
    for design, figures in seen.items():
        assert figures == first, design


def _linear(x: np.ndarray, w: np.ndarray) -> neurobench.Workload:
    y = x @ w.T
    return neurobench.count("linear", [x, w], [y], {"transpose_weight": True})


def test_linear_counts_nonzero_inputs_times_nonzero_weights() -> None:
    w = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]], F32)  # out 2, in 3; 3 non-zero weights
    spikes = np.array([[[1, 0, 1]], [[0, 1, 0]]], F32)  # T 2, B 1
    work = _linear(spikes, w)
    assert work.dense_synops == 2 * 1 * 3 * 2
    # step 0: input 0 (1 weight) + input 2 (2 weights); step 1: input 1 (no weight)
    assert work.effective_acs == 3 and work.effective_macs == 0
    reals = np.array([[[0.5, 0, 1]], [[1, 1, 0]]], F32)  # step 0 real, step 1 binary
    work = _linear(reals, w)
    assert work.effective_macs == 3 and work.effective_acs == 1


def test_convolution_counts_exclude_the_padding() -> None:
    w = np.ones((1, 1, 3, 3), F32)
    w[0, 0, 0, 0] = 0  # one zero weight
    x = np.zeros((1, 1, 1, 3, 3), F32)
    x[0, 0, 0, 1, 1] = 1  # the centre pixel: every 3x3 window over the padded input reads it
    attrs: dict[str, AttrValue] = {
        "strides": [1, 1],
        "pads": [1, 1, 1, 1],
        "dilations": [1, 1],
        "group": 1,
    }
    work = neurobench.count("conv2d", [x, w], [x], attrs)
    # dense: each of the 9 outputs reads the in-image part of its window (4, 6 or 9 pixels)
    assert work.dense_synops == 4 * 4 + 4 * 6 + 9
    # the centre pixel meets the zero weight (0, 0) only in the bottom-right output
    assert work.effective_acs == 9 - 1


def test_membrane_updates_count_the_first_step_then_changes() -> None:
    x = np.array([[0.0, 0.5], [0.0, 0.0], [0.2, 0.0]], F32)[:, None, :]  # T 3, B 1, N 2
    spikes = np.zeros_like(x)
    work = neurobench.count(
        "if", [x], [spikes], {"v_threshold": 10.0, "v_reset": 0.0, "reset": "hard"}
    )
    # neuron 0: 0 -> 0 -> 0.2 (changes once); neuron 1: 0.5 -> 0.5 -> 0.5 (never)
    assert work.membrane_updates == 2 + 1
    assert work.membrane_updates_all == 6
    assert work.neurons == 6 and work.spikes == 0


def test_a_recurrent_neuron_counts_its_feedback_as_synaptic_operations() -> None:
    n = 3
    w = np.eye(n, dtype=F32)
    x = np.full((4, 1, n), 2.0, F32)  # fires every step
    attrs: dict[str, AttrValue] = {
        "beta": 0.5,
        "threshold": 1.0,
        "reset_mechanism": "zero",
        "immediate_reset": True,
    }
    from runtime import kernels

    spikes = kernels.leaky(x, 0.5, 1.0, "zero", None, False, (w, None))
    work = neurobench.count("leaky", [x, w], [spikes], attrs)
    assert work.dense_synops == 4 * n * n  # every step, the first's zero spikes included
    assert work.effective_acs == float(spikes[:-1].sum())  # each earlier spike, one weight


def test_attention_products_are_apart_from_synops() -> None:
    q = np.ones((2, 1, 4, 8), F32)
    out = np.ones_like(q)
    work = neurobench.count("ssa", [q, q, q], [out], {"heads": 2, "scale": 1.0})
    assert work.attention_products == 2 * q.size * 4
    assert work.dense_synops == 0 and work.effective_acs == 0
