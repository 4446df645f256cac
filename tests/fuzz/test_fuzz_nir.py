"""Seeded fuzzing of NIR files: the bundled library exports with their bytes flipped, or with
parameter arrays of their nodes made NaN, infinite, negative, zero, huge or cut short (written
back through h5py). Each ends in a run (exit 0) or one clean refusal (exit 2, no output
written), never a traceback or a hang: what nir.read refuses and what spikec's import checks."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES
from tests.fuzz.harness import Tally, run_spikec

CASES = int(os.environ.get("FUZZ_CASES", "0")) or 40
SEED = int(os.environ.get("FUZZ_SEED", "17"))
EXPORTS = SAMPLES / "export"
MODELS = {  # file: (dt, discretisation)
    "snntorch_rleaky": ("1e-4", "auto"),
    "snntorch_synaptic": ("1e-4", "auto"),
    "norse_mlp": ("1", "norse"),
    "norse_readout": ("1", "norse"),
}


def _numeric_datasets(group: object, prefix: str = "") -> list[str]:
    import h5py

    assert isinstance(group, h5py.Group)
    found = []
    for key, value in group.items():
        if isinstance(value, h5py.Group):
            found += _numeric_datasets(value, f"{prefix}{key}/")
        elif value.dtype.kind in "fi":
            found.append(prefix + key)
    return found


def _parameter_mutant(path: Path, rng: random.Random) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        names = _numeric_datasets(f)
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(names)
            array = np.array(f[name][()])
            kind = rng.choice(["nan", "inf", "negative", "zero", "huge", "short"])
            if kind == "short" or array.ndim == 0 or array.dtype.kind != "f":
                array = array.reshape(-1)[: max(1, array.size // 2)] + (kind != "short")
            else:
                value = {"nan": np.nan, "inf": np.inf, "zero": 0.0, "huge": 1e30}.get(kind)
                flat = array.reshape(-1)
                k = rng.randrange(flat.size)
                flat[k] = -abs(flat[k]) - 1 if value is None else value
            del f[name]
            f[name] = array


@pytest.mark.parametrize("kind", ["bytes", "parameters"])
def test_mutated_nir_files_are_refused_or_run(kind: str, tmp_path: Path) -> None:
    x = np.load(EXPORTS / "nir_test_x.npy")[:3, :2]
    inputs = tmp_path / "x.npy"
    np.save(inputs, x)
    tally = Tally()
    for case in range(CASES):
        rng = random.Random(f"{SEED}-nir-{kind}-{case}")
        name = rng.choice(sorted(MODELS))
        dt, discretisation = MODELS[name]
        model, output = tmp_path / f"m{case}.nir", tmp_path / f"y{case}.npy"
        shutil.copy(EXPORTS / f"{name}.nir", model)
        if kind == "bytes":
            data = bytearray(model.read_bytes())
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            model.write_bytes(bytes(data))
        else:
            _parameter_mutant(model, rng)
        args: list[str | Path] = ["eval", model, "--dt", dt, "--timesteps", "3"]
        args += ["--nir-discretisation", discretisation, "-i", inputs, "-o", output]
        if tally.check(f"nir {kind} {case} ({name})", run_spikec(args), output):
            tally.counts["accepted"] += 1
            output.unlink()
    print(f"fuzz nir {kind}: {dict(tally.counts)}, failures {len(tally.failures)}")
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert tally.counts["refused"] > 0
