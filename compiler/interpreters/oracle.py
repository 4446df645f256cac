"""Compare the reference interpreter with onnxruntime on the same ONNX model (DESIGN.md: spikes
identical, reals within 1e-5 relative)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.dialects.spike.types import is_spike
from compiler.errors import SpikecError
from compiler.interpreters.reference import main_function, output_names

REAL_TOLERANCE = 1e-5
"""Largest allowed |a - b|, relative to the largest |reference| of the output."""


def run_onnxruntime(model_path: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise SpikecError(
            "onnxruntime is not installed; install spikec[reference] to compare with it"
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, dict(inputs))
    return {n: np.asarray(r) for n, r in zip(names, results, strict=True)}


def agreement(spike: bool, ours: np.ndarray, theirs: np.ndarray) -> tuple[bool, str]:
    """Whether two outputs agree under the contract, and a one-line account."""
    if ours.shape != theirs.shape:
        return False, f"shapes differ: {list(ours.shape)} vs {list(theirs.shape)}"
    if spike:
        differ = int(np.count_nonzero(ours != theirs))
        return differ == 0, f"spikes: {differ} of {ours.size} differ"
    error = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    relative = error / scale if scale else error
    return relative <= REAL_TOLERANCE, f"max |diff| {error:.3g} ({relative:.3g} relative)"


def compare_with_onnxruntime(
    model_path: str,
    module: ModuleOp,
    inputs: Mapping[str, np.ndarray],
    outputs: Mapping[str, np.ndarray],
) -> tuple[str, bool]:
    reference = run_onnxruntime(model_path, inputs)
    kinds = main_function(module).function_type.outputs.data
    lines = ["reference: onnxruntime"]
    all_ok = True
    for name, kind in zip(output_names(module), kinds, strict=True):
        ok, account = agreement(is_spike(kind), outputs[name], reference[name])
        all_ok &= ok
        lines.append(f"  {name}: {'match' if ok else 'MISMATCH'} ({account})")
    return "\n".join(lines), all_ok
