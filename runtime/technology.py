"""Technology: how an energy given at one process node is priced at another, and how an SRAM's
access energy and leakage follow from its size.

Node scaling (one rule for every design): dynamic energy is C·V², and the capacitance of a gate
or an SRAM bit line shrinks with the feature size, so an energy given at node n₀ and supply V₀
costs `(n / n₀) · (V / V₀)²` times as much at node n and supply V. An entry that carries `node`
and `vdd` in its description is scaled to the design's `technology.node_nm` and
`technology.vdd`; DRAM (off chip) carries none and is never scaled.

SRAM size rule: Horowitz (ISSCC 2014) gives the energy of a 64-bit read of an SRAM of 8 kB,
32 kB and 1 MB at 45 nm; a description holds those three points (`technology.sram_read_8kb`,
`_32kb`, `_1mb`) and an array of any other capacity is interpolated linearly in log energy over
log capacity between them (beyond the ends: the nearest segment's slope). An access of `w` bits
costs `w / 64` of the 64-bit figure. Leakage is the capacity times `technology.sram_leakage`.
"""

from __future__ import annotations

import math

RULE_TEXT = (
    "an energy given at node n0 and supply V0 is priced here at (n/n0)(V/V0)^2 of it (C*V^2); "
    "DRAM and leakage are not scaled"
)
"""The node-scaling rule, as reports state it."""

SRAM_POINTS_KB = (8.0, 32.0, 1024.0)
"""Capacities of Horowitz's three SRAM read energies."""


def node_factor(node_nm: float, vdd: float, to_node_nm: float, to_vdd: float) -> float:
    """Energy at (`to_node_nm`, `to_vdd`) of one given at (`node_nm`, `vdd`): C·V²."""
    return (to_node_nm / node_nm) * (to_vdd / vdd) ** 2


def sram_read_64b(capacity_kb: float, points_pj: tuple[float, float, float]) -> float:
    """Energy of a 64-bit read of an SRAM of `capacity_kb`, from the energies at 8 kB, 32 kB
    and 1 MB: piecewise linear in log-log, extrapolated with the end segments' slopes."""
    if capacity_kb <= 0:
        return 0.0
    xs = [math.log(c) for c in SRAM_POINTS_KB]
    ys = [math.log(p) for p in points_pj]
    x = math.log(capacity_kb)
    segment = 0 if x <= xs[1] else 1
    slope = (ys[segment + 1] - ys[segment]) / (xs[segment + 1] - xs[segment])
    return math.exp(ys[segment] + slope * (x - xs[segment]))
