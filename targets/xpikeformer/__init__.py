"""Target `xpikeformer`: Xpikeformer's hybrid analog-digital design (Song, Katti, Simeone,
Rajendran, arXiv 2408.08794): PCM crossbars for every static-weight layer, a stochastic spiking
attention engine, a digital unit for the rest; and its two digital baselines."""

from __future__ import annotations

from pathlib import Path

from targets.target import Target

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
    machine_module="targets.xpikeformer.machine",
    backend_module="targets.xpikeformer.backend",
    numerics={
        "exact": "the reference semantics (crossbars compute exact products)",
        "analog": "crossbars with PCM quantisation, programming and read noise, drift (with or "
        "without global compensation), DAC and ADC quantisation; seeded",
    },
    numerics_variants={"analog": ("xpikeformer",)},
)
