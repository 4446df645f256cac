"""Target `stacked3d`: the two-tier 3D MoE + multi-head-attention spiking transformer
accelerator (Xu et al., arXiv 2412.05540) and its 2D baseline. It consumes what head
partitioning, expert partitioning and tier mapping decide."""

from __future__ import annotations

from pathlib import Path

from targets.target import Target

TARGET = Target(
    name="stacked3d",
    description="two-tier 3D MoE + multi-head-attention accelerator (hybrid-bonded tiers)",
    variants={
        "3d": "the design: two face-to-face tiers (mapping.mode memory-on-logic or logic-on-logic)",
        "2d": "baseline: the same units on one die, buffers beside the logic, planar wires",
    },
    hardware_file=Path(__file__).with_name("hardware.toml"),
    machine_module="targets.stacked3d.machine",
    backend_module="targets.stacked3d.backend",
    numerics={
        "exact": "the reference semantics (every head computed)",
        "pruned": "dynamic head pruning: keep the ceil(p H) heads with the most Q spikes "
        "(p = pruning.keep); pruned heads output zeros and skip their attention and their K and V "
        "projections",
    },
)
