"""NaN and Inf in the data a run reads (weights, program constants, inputs).

They are computed with as they come, but a user should know: each tensor that holds them is
reported once per process (`spikec: warning`), and `--strict` makes it an error instead. spikec
cannot promise onnxruntime's result bit for bit where such values meet a neuron's reset (see the
README's limits), which is why they are never silent."""

from __future__ import annotations

import logging

import numpy as np

from runtime.errors import ProgramError

logger = logging.getLogger("spikec")

strict = False
"""Refuse non-finite values instead of warning (`--strict`)."""

_reported: set[tuple[str, str]] = set()


def reset() -> None:
    global strict
    strict = False
    _reported.clear()


def check_finite(what: str, name: str, array: np.ndarray) -> None:
    """Warn once (or, when strict, raise) if `array` holds NaN or Inf."""
    if array.dtype.kind not in "fc" or (what, name) in _reported:
        return
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if not bad:
        return
    message = f"{what} '{name}' holds {bad} non-finite value(s) (NaN or Inf)"
    if strict:
        raise ProgramError(f"{message}; --strict refuses them")
    _reported.add((what, name))
    logger.warning("%s; results may differ from onnxruntime's where they reach a reset", message)
