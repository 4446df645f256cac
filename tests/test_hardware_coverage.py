"""Every entry of a target's hardware description is read by some compile or run of the bundled
samples (in some variant, numerics mode or mapping), or is listed here with the reason it is
not: an entry nothing reads is a number that looks like it matters and does not (a sweep over
it changes nothing), so a new one must be wired into a cost or explained."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.runner import RunOptions, execute_package, get_target
from compiler.toolchain import build_package, import_once
from runtime.hardware import recording_reads
from targets import target_names
from tests.conftest import SAMPLE_NAMES, SAMPLES

NOT_READ = {
    "stacked3d": {
        "vertical.bond": "a description of the bonding technology (hybrid), not a number",
        "vertical.pitch": "the bond pitch: no cost prices link density or area by it yet",
        "energy.compute.add8": "no stacked3d cost prices an 8-bit add (they price add16)",
    },
    "xpikeformer": {
        "pcm.g_max": "the analog model works in units of g_max, so its value cancels",
    },
    "sparse": {
        "energy.compute.add8": "no sparse cost prices an 8-bit add (they price add16)",
    },
}
"""Entries no bundled compile or run reads, and why."""

EXTRA_SETTINGS = {"stacked3d": [(), ("mapping.mode=logic-on-logic",)]}
"""Settings that switch a design to code paths its defaults do not take."""


@pytest.mark.parametrize("name", target_names())
def test_every_entry_is_read_or_explained(name: str) -> None:
    target = get_target(name)
    described = set(target.hardware().entries)
    read: set[str] = set()
    for variant in target.variants:
        modes = [
            mode
            for mode in target.numerics
            if variant in target.numerics_variants.get(mode, [variant])
        ]
        for sample in SAMPLE_NAMES:
            model = str(SAMPLES / f"{sample}.onnx")
            x = np.load(SAMPLES / f"{sample}_input.npy")
            for settings in EXTRA_SETTINGS.get(name, [()]):
                with recording_reads() as reads:
                    package, built = build_package(
                        model, name, variant=variant, settings=settings, imported=import_once(model)
                    )
                    for mode in modes:
                        execute_package(package, built, {"x": x}, None, RunOptions(mode))
                read |= reads
    explained = NOT_READ.get(name, {})
    assert described - read == set(explained), (
        "entries no compile or run reads (wire them into a cost, or explain them in NOT_READ): "
        f"{sorted(described - read - set(explained))}; explained but read after all: "
        f"{sorted(set(explained) & read)}"
    )
    assert set(explained) <= described  # no stale explanation
