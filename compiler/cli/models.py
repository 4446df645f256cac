"""What the commands that import a model share (eval, compile, opt, import, compare, sweep): loading
it with its inputs, writing IR, the IR dump options. Kept apart from `common` because it imports
xDSL and the frontend, which `spikec run` does not load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.cli.common import check_output_folder, load_inputs, load_labels
from compiler.errors import SpikecError
from compiler.frontend.load import load_model
from compiler.ir.files import write_text
from compiler.ir.printer import print_ir
from compiler.ir.weight_paths import externalize_derived, rebase_weights
from compiler.ir.weights import WeightStore
from compiler.transforms.pipeline import IRDumps


def emit_ir(module: ModuleOp, base: Path, output: str | None, generic: bool) -> None:
    """Print the IR, or write it to `output` with the data of derived weights (computed by
    passes) beside it in `<output>.weights.npz`; weight paths become relative to the output."""
    if output is None:
        rebase_weights(module, base, Path.cwd())
        click.echo(print_ir(module, generic=generic), nl=False)
        return
    check_output_folder(output)
    target = Path(output)
    externalize_derived(module, target.with_name(target.name + ".weights.npz"))
    rebase_weights(module, base, target.resolve().parent)
    write_text(output, print_ir(module, generic=generic))


def ir_dumps(
    after_all: bool,
    after: tuple[str, ...],
    before: tuple[str, ...],
    dump_dir: str | None,
    generic: bool,
) -> IRDumps:
    return IRDumps(
        after_all=after_all,
        after=after,
        before=before,
        dump_dir=None if dump_dir is None else Path(dump_dir),
        generic=generic,
    )


@dataclass
class ModelRun:
    """A model with checked inputs and, if given, labels (what eval, compare and sweep read)."""

    module: ModuleOp
    weights: WeightStore
    base: Path
    """The folder the module's weight paths are relative to."""
    inputs: dict[str, np.ndarray]
    sources: dict[str, str]
    labels: np.ndarray | None


def load_model_run(model: str, input_specs: tuple[str, ...], labels: str | None) -> ModelRun:
    from compiler.dialects.spike.types import shape_of
    from compiler.interpreters.reference import InputError, check_inputs, input_names, main_function

    module, weights, base = load_model(model)
    names = input_names(module)
    inputs, sources = load_inputs(input_specs, names)
    try:
        check_inputs(module, inputs)
    except InputError as e:
        raise SpikecError(str(e), where=sources.get(e.name or "", model)) from None
    arguments = main_function(module).function_type.inputs.data
    ranks = {n: len(shape_of(t)) for n, t in zip(names, arguments, strict=True)}
    return ModelRun(module, weights, base, inputs, sources, load_labels(labels, inputs, ranks))
