"""Target `xpikeformer`: Xpikeformer's hybrid analog-digital design (Song, Katti, Simeone,
Rajendran, arXiv 2408.08794): PCM crossbars for every static-weight layer, a stochastic spiking
attention engine, a digital unit for the rest; and its two digital baselines."""

from __future__ import annotations

from pathlib import Path

from runtime.hardware import Hardware
from targets.target import Target
from targets.xpikeformer.isa import INSTRUCTION_SET, footprint
from targets.xpikeformer.lowering import ACTIVATION_LEVELS, lower


def pipeline(variant: str, hardware: Hardware) -> str:
    """Batch norms folded into the convolutions before them (one crossbar layer each); MoE
    layers split into routing, experts and combine. Spikes stay bitmaps: they drive crossbar
    rows and feed the SSA engine's AND gates as they are."""
    return "fold-batchnorm,decompose{ops=moe},canonicalize,dce"


TARGET = Target(
    name="xpikeformer",
    description="hybrid analog in-memory (PCM crossbars) + stochastic spiking attention engine",
    variants={
        "xpikeformer": "the design: static weights on PCM crossbars, attention on the SSA engine",
        "digital-snn": "baseline: the same spiking network on a digital SNN ASIC (SRAM weights, "
        "accumulate per spike, attention on counters)",
        "digital-ann": "baseline: the ANN counterpart of the same dimensions on an 8-bit MAC "
        "accelerator, softmax attention, one pass instead of T (a cost model: values are the "
        "SNN's)",
    },
    hardware_file=Path(__file__).with_name("hardware.toml"),
    instruction_set=INSTRUCTION_SET,
    clock_entry="clock.frequency",
    leakage_entries=("leakage.aimc_periphery", "leakage.digital", "memory.sram.leakage"),
    activation_levels=ACTIVATION_LEVELS,
    footprint=footprint,
    pipeline=pipeline,
    lower=lower,
    numerics={
        "exact": "the reference semantics (crossbars compute exact products)",
        "analog": "crossbars with PCM quantisation, programming and read noise, drift (with or "
        "without global compensation), DAC and ADC quantisation; seeded",
    },
    numerics_variants={"analog": ("xpikeformer",)},
    compile_time=(
        "crossbar.rows",
        "crossbar.columns",
        "crossbar.count",
        "pcm.devices_per_weight",
        "memory.double_buffer",
        "memory.weight_sram.capacity",
        "memory.sram.capacity",
    ),
    leakage_by_variant={
        "digital-snn": ("leakage.digital", "memory.sram.leakage", "memory.weight_sram.leakage"),
        "digital-ann": ("leakage.digital", "memory.sram.leakage", "memory.weight_sram.leakage"),
    },
)
