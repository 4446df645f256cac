"""Analog numerics of a PCM crossbar layer (`spikec run --numerics analog`).

A weight matrix is programmed as differential conductance pairs `G+ - G-` quantised to
`2^pcm.levels_bits - 1` levels of `g_max`, with Gaussian programming noise; conductances drift
as `G (t / t0)^-nu` with `nu` varying from device to device, and a global drift compensation
(one gain per layer, measured with an all-ones calibration input against the value read right
after programming) undoes the mean drift. Real inputs pass through `dac.bits`-bit DACs (spikes
drive rows as they are). Each row block's partial sums get read noise and are converted by
`adc.bits`-bit ADCs whose full scale is the largest exact partial sum of that block in the run
(ideal range calibration); blocks are then added digitally.

Random draws are keyed by (seed, crossbar): the same seed gives the same chip and the same noise.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from runtime.hardware import Hardware

F32 = np.float32


@dataclass(frozen=True)
class AnalogParameters:
    levels: int
    programming_noise: float
    read_noise: float
    drift_nu: float
    drift_nu_spread: float
    drift_t0: float
    drift_time: float
    compensation: bool
    dac_bits: int
    adc_bits: int

    @classmethod
    def of(cls, hw: Hardware) -> AnalogParameters:
        return cls(
            levels=2 ** hw.integer("pcm.levels_bits") - 1,
            programming_noise=hw.number("pcm.programming_noise"),
            read_noise=hw.number("pcm.read_noise"),
            drift_nu=hw.number("pcm.drift_nu"),
            drift_nu_spread=hw.number("pcm.drift_nu_spread"),
            drift_t0=hw.number("pcm.drift_t0"),
            drift_time=hw.number("analog.drift_time"),
            compensation=bool(hw["analog.drift_compensation"]),
            dac_bits=hw.integer("dac.bits"),
            adc_bits=hw.integer("adc.bits"),
        )


def _quantise(x: np.ndarray, full_scale: np.ndarray | float, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation to `2^(bits-1) - 1` levels each side, clipped."""
    steps = 2 ** (bits - 1) - 1
    scale = np.where(full_scale > 0, full_scale, 1.0)
    return np.clip(np.round(x / scale * steps), -steps, steps) / steps * scale


_CHIPS: OrderedDict[tuple[object, ...], tuple[np.ndarray, float]] = OrderedDict()
"""Programmed layers of recent runs: a chip is programmed once and read many times."""


def programmed(
    w: np.ndarray, p: AnalogParameters, seed: int, crossbar: int
) -> tuple[np.ndarray, float]:
    """The weights the crossbars hold at inference time, and the drift compensation gain."""
    key = (seed, crossbar, p, w.shape, hashlib.blake2b(w.tobytes(), digest_size=16).digest())
    if key not in _CHIPS:
        _CHIPS[key] = _program(w, p, seed, crossbar)
        if len(_CHIPS) > 256:
            _CHIPS.popitem(last=False)
    return _CHIPS[key]


def _program(
    w: np.ndarray, p: AnalogParameters, seed: int, crossbar: int
) -> tuple[np.ndarray, float]:
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    if scale == 0.0:
        return np.zeros_like(w, dtype=np.float64), 1.0
    rng = np.random.default_rng([seed, crossbar, 0])
    g = w.astype(np.float64) / scale
    pairs = np.stack([np.clip(g, 0, None), np.clip(-g, 0, None)])  # G+ and G-, in units of g_max
    pairs = np.round(pairs * p.levels) / p.levels
    pairs = np.clip(pairs + rng.normal(0.0, p.programming_noise, pairs.shape), 0.0, None)
    at_programming = (pairs[0] - pairs[1]) * scale
    if p.drift_time > p.drift_t0:
        nu = np.clip(rng.normal(p.drift_nu, p.drift_nu_spread, pairs.shape), 0.0, None)
        pairs = pairs * (p.drift_time / p.drift_t0) ** -nu
    now = (pairs[0] - pairs[1]) * scale
    gain = 1.0
    if p.compensation:
        reference, drifted = np.abs(at_programming.sum(axis=0)).sum(), np.abs(now.sum(axis=0)).sum()
        gain = float(reference / drifted) if drifted else 1.0
    return now, gain


def analog_matmul(
    x: np.ndarray,
    w: np.ndarray,
    rows_per_block: int,
    p: AnalogParameters,
    seed: int,
    crossbar: int,
    real_input: bool,
) -> np.ndarray:
    """`x [N, K] @ w [K, M]` as the crossbars of one layer (one group) compute it."""
    held, gain = programmed(w, p, seed, crossbar)
    x64 = x.astype(np.float64)
    if real_input:
        x64 = _quantise(x64, float(np.max(np.abs(x64))) if x64.size else 0.0, p.dac_bits)
    rng = np.random.default_rng([seed, crossbar, 1])
    total = np.zeros((x.shape[0], w.shape[1]))
    for start in range(0, w.shape[0], rows_per_block):
        rows = slice(start, start + rows_per_block)
        partial = x64[:, rows] @ held[rows]
        full_scale = float(np.max(np.abs(x[:, rows].astype(np.float64) @ w[rows]), initial=0.0))
        if p.read_noise:
            partial = partial + rng.normal(0.0, p.read_noise * (full_scale or 1.0), partial.shape)
        total += _quantise(partial, full_scale, p.adc_bits)
    return (total * gain).astype(F32)
