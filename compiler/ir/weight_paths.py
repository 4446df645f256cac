"""The weight files a module names: relative to the folder the IR is written in, absolute
while passes run, and derived globals moved out of the text into a sidecar."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.dialects.spike import GlobalOp
from compiler.ir.files import write_atomically
from compiler.ir.weights import (
    DERIVED_ATTR,
    dense_to_array,
    set_weight_paths,
    weight_paths,
)


def rebase_weights(module: ModuleOp, from_dir: Path, to_dir: Path) -> None:
    """Rewrite the module's weight paths, relative to `from_dir`, to be relative to `to_dir`."""
    rebased = []
    for text in weight_paths(module):
        target = Path(text)
        if not target.is_absolute():
            target = (from_dir / target).resolve()
        try:
            rebased.append(os.path.relpath(target, to_dir.resolve()))
        except ValueError:
            rebased.append(str(target))
    set_weight_paths(module, rebased)


def absolute_weights(module: ModuleOp, base: Path) -> None:
    """Make the weight paths absolute, so that passes can read the data wherever they run."""
    set_weight_paths(module, [str((base / p).resolve()) for p in weight_paths(module)])


def externalize_derived(module: ModuleOp, sidecar: Path) -> None:
    """Move the inline data of derived globals into `sidecar` (.npz) and list it among the
    module's weight files, so that the IR text stays small."""
    arrays = {}
    for op in module.ops:
        if isinstance(op, GlobalOp) and op.value is not None and DERIVED_ATTR in op.attributes:
            arrays[op.sym_name.data] = dense_to_array(op.value)
            op.properties.pop("value")
    if not arrays:
        return

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    write_atomically(sidecar, save)
    paths = [p for p in weight_paths(module) if Path(p).resolve() != sidecar.resolve()]
    set_weight_paths(module, [*paths, str(sidecar.resolve())])
