"""Loading a model of any kind spikec reads: IR text, a NIR graph or an ONNX model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xdsl.dialects.builtin import ModuleOp

from compiler.ir.parse import read_ir
from compiler.ir.verify import check_finite_attributes
from compiler.ir.weights import WeightStore
from compiler.progress import logger

if TYPE_CHECKING:  # the frontend imports onnx, which costs over a second
    from compiler.frontend.raising.report import RaiseReport


def load_model(
    model: str,
    inline_weights: bool = False,
    explain: Callable[[RaiseReport], None] | None = None,
    raising: Sequence[str] | None = None,
) -> tuple[ModuleOp, WeightStore, Path]:
    """A module from IR (`.mlir`, or '-' for stdin), a NIR graph (`.nir`, discretised as
    `nir_options.options` say) or an ONNX model (any other file), with
    its weights and the folder its weight paths are relative to; `raising` names the raising
    passes an ONNX model goes through (default: all)."""
    start = time.perf_counter()
    if model == "-" or model.endswith(".mlir"):
        module, base = read_ir(model)
        weights = WeightStore.for_module(module, base)
    elif model.endswith(".nir"):
        from compiler.frontend.nir_import import import_nir
        from compiler.frontend.nir_options import options

        imported = import_nir(model, options)
        module, weights, base = imported.module, imported.weights, Path.cwd()
    else:
        from compiler.frontend.onnx_import import import_onnx

        result = import_onnx(model, inline_weights=inline_weights, explain=explain, raising=raising)
        module, weights, base = result.module, result.weights, Path.cwd()
    check_finite_attributes(module)
    logger.info("import %s: %.3f s", model, time.perf_counter() - start)
    return module, weights, base
