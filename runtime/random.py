"""The random numbers of stochastic ops, shared by the reference interpreter and every target.

Stochastic ops (`spike.bernoulli`, `spike.stochastic_attention`) that carry no uniform table draw
their uniforms from a counter-based generator keyed by `(seed, stream)`: numpy's Philox-4x32 with
the 128-bit key `[seed, stream]`, read as float32 in [0, 1) in C order of the full time-major
tensor. An op that needs several tables draws them one after another from the same generator, in
the order its documentation gives. Anyone who reproduces this (a target's runtime, a hardware
RNG model) gets the same numbers, so stochastic runs stay comparable bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def uniform_tables(seed: int, stream: int, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Draw one float32 table per shape, in order, from the generator of `(seed, stream)`."""
    key = np.array([seed & 0xFFFFFFFFFFFFFFFF, stream & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    generator = np.random.Generator(np.random.Philox(key=key))
    return [generator.random(tuple(shape), dtype=np.float32) for shape in shapes]
