"""The sparse design's compile side: its pass pipeline and its lowering."""

from __future__ import annotations

from runtime.hardware import Hardware
from targets.backend import Backend
from targets.sparse.lowering import OPCODES, lower

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


BACKEND = Backend(pipeline=pipeline, lower=lower, opcodes=OPCODES)
