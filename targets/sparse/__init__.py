"""Target `sparse`: the sparse digital accelerator for the Spike-driven Transformer (Li, Mao et
al., arXiv 2501.07825), which stores spikes as addresses so that zeros cost nothing, and its
baseline `dense`, the same units processing every position of spike bitmaps."""

from __future__ import annotations

from pathlib import Path

from targets.target import Target

TARGET = Target(
    name="sparse",
    description="sparse digital Spike-driven Transformer accelerator (spikes as addresses)",
    variants={
        "sparse": "spikes stored and processed as addresses: units visit only the spikes",
        "dense": "baseline: the same units on spike bitmaps, every position processed",
    },
    hardware_file=Path(__file__).with_name("hardware.toml"),
    machine_module="targets.sparse.machine",
    backend_module="targets.sparse.backend",
)
