"""What the commands share: the -q/-v, -i and IR-dump options, reading inputs, labels and
models, checking output paths before the work that fills them, writing outputs and IR."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from compiler.errors import SpikecError
from compiler.ir.files import write_atomically
from compiler.progress import QUIET, configure

F = TypeVar("F", bound=Callable[..., Any])

IR_DUMP_OPTIONS = (
    click.option(
        "--print-ir-after-all", is_flag=True, help="Print the IR to stderr after every pass."
    ),
    click.option(
        "--print-ir-after", multiple=True, metavar="PASS", help="Print the IR after this pass."
    ),
    click.option(
        "--print-ir-before", multiple=True, metavar="PASS", help="Print the IR before this pass."
    ),
    click.option(
        "--ir-dump-dir",
        type=click.Path(file_okay=False),
        help="Write the IR before the first pass and after each one, numbered, into this folder.",
    ),
)
"""The IR dump options of the commands that run passes (`opt`, `compile`)."""


def ir_dump_options(command: F) -> F:
    for option in reversed(IR_DUMP_OPTIONS):
        command = option(command)
    return command


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int | bool) -> None:
    """-q and -v, before or after the command's name: the last seen sets the level."""
    counts = ctx.meta.setdefault("spikec.verbosity", {"quiet": False, "verbose": 0})
    if param.name == "quiet":
        counts["quiet"] = counts["quiet"] or bool(value)
    else:
        counts["verbose"] += int(value)
    configure(QUIET if counts["quiet"] else counts["verbose"])


def _set_strict(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    from runtime import finite

    if value:
        finite.strict = True


VERBOSITY_OPTIONS = (
    click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Errors only: no progress bar, no warning.",
    ),
    click.option(
        "--strict",
        is_flag=True,
        expose_value=False,
        callback=_set_strict,
        help="Refuse NaN or Inf in weights, constants and inputs (default: a warning per tensor).",
    ),
    click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Log each stage's wall time, each pass, design and sweep point on stderr; -vv also "
        "every instruction the simulator executes.",
    ),
)
"""Every command's (and the group's) -q/-v; progress bars show only when stderr is a terminal."""


INPUT_OPTION = click.option(
    "-i",
    "--input",
    "input_specs",
    multiple=True,
    required=True,
    help="X.npy, name=X.npy (repeatable) or inputs.npz.",
)
"""The model's inputs (`eval`, `run`, `compare`, `sweep`), read by `load_inputs`."""


def _set_nir_option(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Every invocation sets all of them (None: not given), so none outlives its command."""
    from compiler.frontend.nir_options import options

    if param.name is not None:
        setattr(options, param.name, value)


NIR_OPTIONS = (
    click.option(
        "--dt",
        type=click.FloatRange(min=0.0, min_open=True),
        expose_value=False,
        callback=_set_nir_option,
        help="NIR models: seconds per step (default: the file's metadata 'dt').",
    ),
    click.option(
        "--timesteps",
        type=click.IntRange(min=1),
        expose_value=False,
        callback=_set_nir_option,
        help="NIR models: steps to run (default: the file's metadata 'timesteps').",
    ),
    click.option(
        "--batch",
        type=click.IntRange(min=1),
        expose_value=False,
        callback=_set_nir_option,
        help="NIR models: the batch size to build for (default: any).",
    ),
    click.option(
        "--nir-discretisation",
        "discretisation",
        type=click.Choice(["auto", "snntorch", "norse", "nir"]),
        default="auto",
        show_default=True,
        expose_value=False,
        callback=_set_nir_option,
        help="NIR models: whose arithmetic the neurons follow: snntorch or norse (as their NIR "
        "importers build them), nir (forward Euler), auto (the file's metadata, else snntorch "
        "where the neurons carry snnTorch's export parameters, else nir).",
    ),
)
"""How the commands that read a model discretise a NIR graph (`compiler.frontend.nir_options`)."""


def model_options(command: F) -> F:
    for option in reversed(NIR_OPTIONS):
        command = option(command)
    return command


def verbosity_options(command: F) -> F:
    for option in reversed(VERBOSITY_OPTIONS):
        command = option(command)
    return command


def _load_array(path: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise SpikecError("no such file", where=path) from None
    except (ValueError, OSError, EOFError) as e:
        raise SpikecError(f"not a readable .npy array ({e})", where=path) from None
    if not isinstance(array, np.ndarray):
        raise SpikecError("expected one array (.npy); use name=file.npy per input", where=path)
    return array


def load_inputs(
    specs: Sequence[str], names: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """`--input` values: `X.npy` (single-input models), `name=X.npy`, or an `.npz` by name.
    Returns the arrays by input name and the file each came from."""
    inputs: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for spec in specs:
        if "=" in spec and not Path(spec).exists():
            name, path = spec.split("=", 1)
            inputs[name], sources[name] = _load_array(path), path
        elif spec.endswith(".npz"):
            try:
                with np.load(spec, allow_pickle=False) as archive:
                    inputs.update({k: archive[k] for k in archive.files})
                    sources.update({k: spec for k in archive.files})
            except (ValueError, OSError, EOFError) as e:
                raise SpikecError(f"not a readable .npz archive ({e})", where=spec) from None
        else:
            if len(names) != 1:
                raise SpikecError(
                    f"the model takes {len(names)} inputs {names}: pass --input name=file.npy "
                    "for each, or one .npz",
                    where=spec,
                )
            inputs[names[0]], sources[names[0]] = _load_array(spec), spec
    return inputs, sources


def describe_output(name: str, array: np.ndarray) -> str:
    text = f"output '{name}': {array.dtype} {list(array.shape)}"
    if array.size:
        text += f"  min {array.min():.6g}  max {array.max():.6g}  mean {array.mean():.6g}"
    return text


def check_plot_option(plot_dir: str | None) -> None:
    if plot_dir is not None:
        from compiler.explore.plots import check_matplotlib, check_plot_dir

        check_plot_dir(plot_dir)
        check_matplotlib()


def save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    if path.endswith(".npz"):

        def save_all(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **outputs)  # type: ignore[arg-type]

        write_atomically(path, save_all)
        return
    if not path.endswith(".npy"):
        raise SpikecError("outputs are written as .npy (one output) or .npz", where=path)
    if len(outputs) != 1:
        raise SpikecError(
            f"the model has {len(outputs)} outputs {list(outputs)}; write them to an .npz",
            where=path,
        )
    (array,) = outputs.values()

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    write_atomically(path, save)


def load_labels(
    path: str | None, inputs: dict[str, np.ndarray], ranks: dict[str, int]
) -> np.ndarray | None:
    """Integer class labels, one per batch element; an input given without its time axis (one
    the model repeats over time) has the batch first."""
    if path is None:
        return None
    labels = _load_array(path)
    batch = 0
    for name, array in inputs.items():
        batch = array.shape[0] if array.ndim < ranks.get(name, 0) else array.shape[1]
        break
    if labels.ndim != 1 or labels.shape[0] != batch or labels.dtype.kind not in "iu":
        raise SpikecError(
            f"labels must be integers [batch = {batch}], got {labels.dtype} {list(labels.shape)}",
            where=path,
        )
    return labels


def check_output_folder(
    path: str | None, suffixes: tuple[str, ...] = (), reads: Sequence[str | None] = ()
) -> None:
    """Refuse an output file that cannot be written before the work that fills it (of one of
    `suffixes`, when given), or that is one of the files the command `reads` (model, inputs as
    given on the command line, other outputs): writing it would destroy what was read."""
    if path is None:
        return
    if not path.strip():
        raise SpikecError("an output path is empty (an unset variable?): give a file name")
    target = Path(path)
    if target.is_dir():
        raise SpikecError("is a directory", where=path)
    for given in reads:
        for candidate in {given, given.split("=", 1)[-1]} if given else ():
            if Path(candidate).resolve() == target.resolve():
                raise SpikecError(
                    f"is also read or written by this command ('{given}'); give another output",
                    where=path,
                )
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SpikecError("the output folder does not exist", where=path)
    if not os.access(folder, os.W_OK):
        raise SpikecError("the output folder is not writable", where=path)
    if suffixes and target.suffix not in suffixes:
        raise SpikecError(f"outputs are written as {' or '.join(suffixes)}", where=path)
