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


def _quantise(x: np.ndarray, full_scale: float, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation to `2^(bits-1) - 1` levels each side, clipped."""
    steps = 2 ** (bits - 1) - 1
    scale = full_scale if full_scale > 0 else 1.0
    q = np.clip(np.round(x * F32(steps / scale)), -steps, steps)
    return q * F32(scale / steps)


_CHIPS: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray, float]] = OrderedDict()
"""Programmed layers of recent runs, by weight array (kept, to check it is the same one): a chip
is programmed once and read many times."""


def programmed(
    w: np.ndarray, p: AnalogParameters, seed: int, crossbar: int, source: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """The weights the crossbars hold at inference time, and the drift compensation gain.
    `source` is the constant `w` was cut from (default: `w` itself), which identifies it."""
    source = w if source is None else source
    key = (seed, crossbar, p, id(source))
    cached = _CHIPS.get(key)
    if cached is None or cached[0] is not source:
        cached = (source, *_program(w, p, seed, crossbar))
        _CHIPS[key] = cached
        if len(_CHIPS) > 256:
            _CHIPS.popitem(last=False)
    return cached[1], cached[2]


def _program(
    w: np.ndarray, p: AnalogParameters, seed: int, crossbar: int
) -> tuple[np.ndarray, float]:
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    if scale == 0.0:
        return np.zeros_like(w, dtype=F32), 1.0
    rng = np.random.default_rng([seed, crossbar, 0])
    g = w.astype(F32) / F32(scale)
    pairs = np.stack([np.clip(g, 0, None), np.clip(-g, 0, None)])  # G+ and G-, in units of g_max
    pairs = np.round(pairs * p.levels) / F32(p.levels)
    noise = rng.standard_normal(pairs.shape, dtype=F32) * F32(p.programming_noise)
    pairs = np.clip(pairs + noise, 0.0, None)
    at_programming = (pairs[0] - pairs[1]) * F32(scale)
    if p.drift_time > p.drift_t0:
        nu = rng.standard_normal(pairs.shape, dtype=F32) * F32(p.drift_nu_spread)
        nu = np.clip(nu + F32(p.drift_nu), 0.0, None)
        pairs = pairs * np.exp(-nu * F32(np.log(p.drift_time / p.drift_t0)))
    now = (pairs[0] - pairs[1]) * F32(scale)
    gain = 1.0
    if p.compensation:
        reference = np.abs(at_programming.sum(axis=0, dtype=np.float64)).sum()
        drifted = np.abs(now.sum(axis=0, dtype=np.float64)).sum()
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
    source: np.ndarray | None = None,
) -> np.ndarray:
    """`x [N, K] @ w [K, M]` as the crossbars of one layer (one group) compute it; `source`
    as in `programmed`."""
    held, gain = programmed(w, p, seed, crossbar, source)
    x = x.astype(F32)
    driven = x
    if real_input:
        driven = _quantise(x, float(np.max(np.abs(x))) if x.size else 0.0, p.dac_bits).astype(F32)
    rng = np.random.default_rng([seed, crossbar, 1])
    total = np.zeros((x.shape[0], w.shape[1]), dtype=F32)
    for start in range(0, w.shape[0], rows_per_block):
        rows = slice(start, start + rows_per_block)
        partial = driven[:, rows] @ held[rows]
        full_scale = float(np.max(np.abs(x[:, rows] @ w[rows]), initial=0.0))
        if p.read_noise:
            noise = rng.standard_normal(partial.shape, dtype=F32)
            partial += noise * F32(p.read_noise * (full_scale or 1.0))
        total += _quantise(partial, full_scale, p.adc_bits).astype(F32)
    return total * F32(gain)
