"""Target `sparse`: the sparse digital accelerator for the Spike-driven Transformer (Li, Mao et
al., arXiv 2501.07825), which stores spikes as addresses so that zeros cost nothing, and its
baseline `dense`, the same units processing every position of spike bitmaps."""

from __future__ import annotations

from pathlib import Path

from runtime.hardware import Hardware
from targets.sparse.isa import INSTRUCTION_SET
from targets.sparse.lowering import ACTIVATION_LEVELS, lower
from targets.target import Target

ADDRESS_CONSUMERS = ("linear", "conv2d", "maxpool", "sdsa", "token_attention", "add")
"""Ops whose units read spikes as addresses (the spike linear unit, the tile engine's
accumulate mode, the maxpool unit, the mask-add module (SDSA, token attention), the residual
adder)."""
ADDRESS_PRODUCERS = ("lif", "if", "leaky", "cuba_lif", "lif_box", "threshold")
"""Ops whose unit (the spike encoder) writes addresses. A delay line is not one: it moves a
spike bitmap on the vector unit, and its result is encoded after it when a consumer reads
addresses (its operands and result are dense by the op's definition, as a copy's)."""


def pipeline(variant: str, hardware: Hardware) -> str:
    """Batch norms folded into the convs before them; MoE layers split into routing, experts
    and combine (the design has no MoE unit); spikes held as addresses (`sparse` only)."""
    passes = ["fold-batchnorm", "decompose{ops=moe}"]
    if variant == "sparse":
        consumers = ",".join(ADDRESS_CONSUMERS)
        producers = ",".join(ADDRESS_PRODUCERS)
        passes.append(f"sparsity-encoding{{consumers={consumers} producers={producers}}}")
    passes += ["canonicalize", "dce"]
    return ",".join(passes)


TARGET = Target(
    name="sparse",
    description="sparse digital Spike-driven Transformer accelerator (spikes as addresses)",
    variants={
        "sparse": "spikes stored and processed as addresses: units visit only the spikes",
        "dense": "baseline: the same units on spike bitmaps, every position processed",
    },
    hardware_file=Path(__file__).with_name("hardware.toml"),
    instruction_set=INSTRUCTION_SET,
    clock_entry="clock.frequency",
    leakage_entries=(
        "leakage.logic",
        "memory.weight_sram.leakage",
        "memory.spike_sram.leakage",
        "memory.membrane_sram.leakage",
        "memory.activation_buffer.leakage",
        "memory.psum_buffer.leakage",
    ),
    activation_levels=ACTIVATION_LEVELS,
    pipeline=pipeline,
    lower=lower,
    compile_time=("memory.double_buffer", "memory.weight_sram.capacity"),
)
