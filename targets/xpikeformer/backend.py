"""Xpikeformer's compile side: its pass pipeline and its lowering (crossbar mapping)."""

from __future__ import annotations

from runtime.hardware import Hardware
from targets.backend import Backend
from targets.xpikeformer.lowering import OPCODES, lower


def pipeline(variant: str, hardware: Hardware) -> str:
    """Batch norms folded into the convolutions before them (one crossbar layer each); MoE
    layers split into routing, experts and combine. Spikes stay bitmaps: they drive crossbar
    rows and feed the SSA engine's AND gates as they are."""
    return "fold-batchnorm,decompose{ops=moe},canonicalize,dce"


BACKEND = Backend(pipeline=pipeline, lower=lower, opcodes=OPCODES)
