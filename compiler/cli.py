"""The `spikec` command line.

Every command reports a problem with its input as one message on stderr and exits with status 2;
it writes output files only when it succeeds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler import __version__
from compiler.driver import (
    SPLIT_MARKER,
    IRDumps,
    absolute_weights,
    externalize_derived,
    load_model,
    parse_ir,
    print_ir,
    read_ir,
    read_text,
    rebase_weights,
    run_pipeline,
    split_input,
    write_atomically,
    write_text,
)
from compiler.errors import SpikecError
from compiler.frontend.raising.report import RaiseReport
from compiler.progress import QUIET, configure
from compiler.weights import WeightStore
from runtime.errors import ProgramError


def _emit_ir(module: ModuleOp, base: Path, output: str | None, generic: bool) -> None:
    """Print the IR, or write it to `output` with the data of derived weights (computed by
    passes) beside it in `<output>.weights.npz`; weight paths become relative to the output."""
    if output is None:
        rebase_weights(module, base, Path.cwd())
        click.echo(print_ir(module, generic=generic), nl=False)
        return
    target = Path(output)
    externalize_derived(module, target.with_name(target.name + ".weights.npz"))
    rebase_weights(module, base, target.resolve().parent)
    write_text(output, print_ir(module, generic=generic))


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


def _ir_dump_options(command: F) -> F:
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


def _verbosity_options(command: F) -> F:
    for option in reversed(VERBOSITY_OPTIONS):
        command = option(command)
    return command


def _ir_dumps(
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spikec")
@_verbosity_options
def cli() -> None:
    """spikec: a compiler toolchain for spiking transformers.

    \b
    Import an ONNX spiking transformer into the `spike` dialect, transform it with passes and
    evaluate it with the reference interpreter:
      spikec import samples/spikformer.onnx -o spikformer.mlir
      spikec opt spikformer.mlir -p 'cse,dce'
      spikec eval samples/spikformer.onnx --input samples/spikformer_input.npy

    \b
    Compile it for an accelerator and run the program on its simulator:
      spikec targets
      spikec compile samples/sdt.onnx -t sparse -o sdt.sparse
      spikec run sdt.sparse --input samples/sdt_input.npy
    """


@cli.command("import")
@_verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the IR here.")
@click.option("--generic", is_flag=True, help="Print the generic MLIR form.")
@click.option(
    "--inline-weights", is_flag=True, help="Write weights into the IR (for small models and tests)."
)
@click.option(
    "--explain",
    is_flag=True,
    help="On stderr: what the raising passes recognised in a torch.onnx export (neurons, "
    "repeated inputs, ...) and what they left as it was, with the reason.",
)
def import_command(
    model: str, output: str | None, generic: bool, inline_weights: bool, explain: bool
) -> None:
    """Import an ONNX model into the `spike` dialect.

    Weights stay in the model file: the IR names it in the module attribute `spike.weights`
    (relative to the IR file) and refers to each tensor by its initializer name.

    \b
    Examples:
      spikec import samples/sdt.onnx                    # IR on stdout
      spikec import samples/sdt.onnx -o sdt.mlir
      spikec import samples/sdt.onnx --generic | spikec opt - -p ''
      spikec import samples/export/sj_sdt.dynamo.onnx --explain -o sdt.mlir
    """
    if model.endswith(".mlir"):
        raise SpikecError("this is IR already; `spikec opt` reads IR", where=model)

    def show(report: RaiseReport) -> None:
        for line in report.lines():
            click.echo(line, err=True)

    module, _, base = load_model(model, inline_weights, show if explain else None)
    _emit_ir(module, base, output, generic)


@cli.command("opt")
@_verbosity_options
@click.argument("input", default="-", type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "-p", "--passes", "pipeline", default="", show_default=True, help="Pass pipeline, xDSL syntax."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the IR here.")
@click.option("--generic", is_flag=True, help="Print the generic MLIR form.")
@_ir_dump_options
@click.option(
    "--split-input-file",
    is_flag=True,
    help="Treat each '// -----' section as a separate module; report every failing one.",
)
def opt_command(
    input: str,
    pipeline: str,
    output: str | None,
    generic: bool,
    print_ir_after_all: bool,
    print_ir_after: tuple[str, ...],
    print_ir_before: tuple[str, ...],
    ir_dump_dir: str | None,
    split_input_file: bool,
) -> None:
    """Parse IR (a file, or '-' for stdin), run a pass pipeline and print the result.

    \b
    Examples:
      spikec opt model.mlir -p ''                # parse, verify, print (a round trip)
      spikec opt model.mlir -p 'cse,dce' -o clean.mlir
      spikec import samples/moe.onnx | spikec opt - -p dce --print-ir-after-all
      spikec opt m.mlir -p 'partition-heads{units=4},tier-map{tiers=2}' --ir-dump-dir dumps
      spikec opt m.mlir -p 'fold-batchnorm,dce' --print-ir-before dce
    """

    callback = _ir_dumps(print_ir_after_all, print_ir_after, print_ir_before, ir_dump_dir, generic)
    callback.check(pipeline)
    if not split_input_file:
        module, base = read_ir(input)
        run_pipeline(module, pipeline, callback)
        _emit_ir(module, base, output, generic)
        return
    text, name, base = read_text(input)
    printed, failures = [], 0
    for index, chunk in enumerate(split_input(text)):
        try:
            module = parse_ir(chunk, name)
            absolute_weights(module, base)
            run_pipeline(module, pipeline, callback)
            rebase_weights(module, base, Path.cwd() if output is None else Path(output).parent)
            printed.append(print_ir(module, generic=generic))
            if output is None:  # print each section as it is done, as mlir-opt does
                separator = f"{SPLIT_MARKER}\n" if index else ""
                click.echo(separator + printed[-1], nl=False)
                sys.stdout.flush()
        except SpikecError as e:
            click.echo(f"spikec: error: {e}", err=True)
            failures += 1
    if failures:
        raise SpikecError(f"{failures} of the input's sections failed", where=name)
    if output is not None:
        write_text(output, f"{SPLIT_MARKER}\n".join(printed))


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


def _describe(name: str, array: np.ndarray) -> str:
    text = f"output '{name}': {array.dtype} {list(array.shape)}"
    if array.size:
        text += f"  min {array.min():.6g}  max {array.max():.6g}  mean {array.mean():.6g}"
    return text


@dataclass
class _ModelRun:
    """A model with checked inputs and, if given, labels (what eval, compare and sweep read)."""

    module: ModuleOp
    weights: WeightStore
    inputs: dict[str, np.ndarray]
    sources: dict[str, str]
    labels: np.ndarray | None


def _load_model_run(model: str, input_specs: tuple[str, ...], labels: str | None) -> _ModelRun:
    from compiler.dialects.spike.types import shape_of
    from compiler.reference import InputError, check_inputs, input_names, main_function

    module, weights, _ = load_model(model)
    names = input_names(module)
    inputs, sources = load_inputs(input_specs, names)
    try:
        check_inputs(module, inputs)
    except InputError as e:
        raise SpikecError(str(e), where=sources.get(e.name or "", model)) from None
    arguments = main_function(module).function_type.inputs.data
    ranks = {n: len(shape_of(t)) for n, t in zip(names, arguments, strict=True)}
    return _ModelRun(module, weights, inputs, sources, _load_labels(labels, inputs, ranks))


def _check_plot_dir(plot_dir: str | None) -> None:
    if plot_dir is not None:
        from compiler.plots import check_matplotlib, check_plot_dir

        check_plot_dir(plot_dir)
        check_matplotlib()


@cli.command("eval")
@_verbosity_options
@click.argument("model", type=click.Path(allow_dash=True, dir_okay=False))
@INPUT_OPTION
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write outputs (.npy/.npz).")
@click.option("--stats", is_flag=True, help="Print the firing rate of every spiking op.")
@click.option(
    "--reference",
    type=click.Choice(["onnxruntime"]),
    help="Also run the ONNX model in onnxruntime and compare (exit 1 if they differ).",
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False),
    help="Class labels (.npy, [batch]): the reference's top-1 accuracy.",
)
def eval_command(
    model: str,
    input_specs: tuple[str, ...],
    output: str | None,
    stats: bool,
    reference: str | None,
    labels: str | None,
) -> None:
    """Evaluate a model with the reference interpreter of the `spike` dialect.

    \b
    Examples:
      spikec eval samples/spikformer.onnx --input samples/spikformer_input.npy
      spikec eval model.mlir --input x=x.npy -o y.npy --stats
      spikec eval samples/moe.onnx -i samples/moe_input.npy --reference onnxruntime
      spikec eval samples/export/sj_sdt.dynamo.onnx -i samples/export/digits_test_x.npy \\
          --labels samples/export/digits_test_y.npy
    """
    from compiler.reference import (
        ActivityRecorder,
        evaluate,
    )
    from runtime.deviation import accuracy

    run = _load_model_run(model, input_specs, labels)
    module, weights, inputs, expected = run.module, run.weights, run.inputs, run.labels
    recorder = ActivityRecorder()
    outputs = evaluate(module, weights, inputs, (recorder,))
    if output is not None:
        _save_outputs(output, outputs)
    for name, array in outputs.items():
        click.echo(_describe(name, array))
    if expected is not None:
        top1 = accuracy(outputs, expected)
        click.echo(
            "accuracy: no output of [batch, classes] logits"
            if top1 is None
            else f"accuracy: reference {100 * top1:.1f} % (top-1, {len(expected)} labels)"
        )
    if stats:
        click.echo("firing rates (spikes / neuron / step):")
        width = max((len(r.label) for r in recorder.records), default=10)
        for r in recorder.records:
            click.echo(f"  {r.label:<{width}}  {r.op:<28} {100 * r.rate:6.2f} %")
    if reference is not None:
        if model == "-" or model.endswith(".mlir"):
            raise SpikecError("--reference needs the ONNX model, not IR", where=model)
        from compiler.compare import compare_with_onnxruntime

        report, ok = compare_with_onnxruntime(model, module, inputs, outputs)
        click.echo(report)
        if not ok:
            sys.exit(1)


def _save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
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


def _default_program_dir(model: str, target: str, variant: str | None) -> Path:
    stem = Path(model).name
    for suffix in (".onnx", ".mlir"):
        stem = stem.removesuffix(suffix)
    return Path(f"{stem}.{target}" + (f"-{variant}" if variant else ""))


@cli.command("compile")
@_verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "-t", "--target", "target_name", required=True, help="Target design (see `spikec targets`)."
)
@click.option("--variant", help="Variant of the design (default: the design itself).")
@click.option(
    "--config", type=click.Path(dir_okay=False), help="TOML file overriding hardware parameters."
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one hardware parameter, e.g. --set slu.lanes=32 (repeatable).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Program folder to write (default: MODEL.TARGET[-VARIANT] in the current folder).",
)
@_ir_dump_options
def compile_command(
    model: str,
    target_name: str,
    variant: str | None,
    config: str | None,
    settings: tuple[str, ...],
    output: str | None,
    print_ir_after_all: bool,
    print_ir_after: tuple[str, ...],
    print_ir_before: tuple[str, ...],
    ir_dump_dir: str | None,
) -> None:
    """Compile a model (ONNX or `spike` IR) for a target into a program folder.

    The folder holds the instruction stream (program.sasm), the constants (constants.npz), the
    resolved hardware description (hardware.toml) and a manifest; `spikec run` executes it.

    \b
    Examples:
      spikec compile samples/sdt.onnx -t sparse -o sdt.sparse
      spikec compile samples/sdt.onnx -t sparse --variant dense
      spikec compile samples/sdt.onnx -t sparse --set slu.lanes=32 --set clock.frequency=400
      spikec compile samples/sdt.onnx -t sparse --config faster.toml --print-ir-after-all
    """
    from compiler.toolchain import compile_model

    callback = _ir_dumps(print_ir_after_all, print_ir_after, print_ir_before, ir_dump_dir, False)
    destination = Path(output) if output else _default_program_dir(model, target_name, variant)
    compiled = compile_model(
        model,
        target_name,
        destination,
        variant=variant,
        config=None if config is None else Path(config),
        settings=settings,
        callback=callback,
    )
    timings = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in compiled.seconds.items())
    click.echo(
        f"{compiled.path}: target {compiled.target} ({compiled.variant}), "
        f"{compiled.instructions} instructions, {compiled.constants_bytes / 1024:.1f} KiB of "
        f"constants ({timings})"
    )


@cli.command("run")
@_verbosity_options
@click.argument("program", type=click.Path())
@INPUT_OPTION
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write outputs (.npy/.npz).")
@click.option(
    "--report",
    "report_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Format of the cycle and energy report (on stdout, or in --report-file).",
)
@click.option(
    "--report-file", type=click.Path(dir_okay=False), help="Write the report here, not stdout."
)
@click.option(
    "--numerics",
    default="exact",
    show_default=True,
    help="exact (the reference semantics) or a hardware numerics mode of the target (e.g. "
    "analog); the report then gives its deviation from exact.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the numerics' noise.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a hardware parameter for this run (e.g. analog.drift_time=86400).",
)
@click.option(
    "--labels", type=click.Path(dir_okay=False), help="Class labels (.npy, [batch]): accuracy."
)
def run_command(
    program: str,
    input_specs: tuple[str, ...],
    output: str | None,
    report_format: str,
    report_file: str | None,
    numerics: str,
    seed: int,
    settings: tuple[str, ...],
    labels: str | None,
) -> None:
    """Execute a compiled program on inputs: its outputs and its cycle and energy account.

    \b
    Examples:
      spikec run sdt.sparse --input samples/sdt_input.npy
      spikec run sdt.sparse -i samples/sdt_input.npy -o logits.npy --report json
      spikec run sdt.sparse -i samples/sdt_input.npy --report csv --report-file sdt.csv
    """
    from compiler.toolchain import RunOptions, execute_package, open_program
    from runtime.report import render_csv, render_table

    package, target = open_program(Path(program))
    inputs, sources = load_inputs(input_specs, list(package.input_buffers()))
    ranks = {spec["name"]: len(spec["shape"]) for spec in package.manifest["inputs"]}
    options = RunOptions(numerics, seed, settings, _load_labels(labels, inputs, ranks))
    run = execute_package(package, target, inputs, sources, options)
    outputs, report = run.outputs, run.report
    text = {"table": render_table, "json": lambda r: r.to_json() + "\n", "csv": render_csv}[
        report_format
    ](report)
    if output is not None:
        _save_outputs(output, outputs)
    if report_file is not None:
        write_text(report_file, text)
    elif report_format == "table":
        for name, array in outputs.items():
            click.echo(_describe(name, array))
        click.echo(text, nl=False)
    else:
        click.echo(text, nl=False)


def _load_labels(
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


def _check_output_folder(path: str | None) -> None:
    """Refuse an output file that cannot be written before the work that fills it."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise SpikecError("is a directory", where=path)
    if not (target.parent if str(target.parent) else Path(".")).is_dir():
        raise SpikecError("the output folder does not exist", where=path)


@cli.command("compare")
@_verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@INPUT_OPTION
@click.option(
    "--labels",
    type=click.Path(dir_okay=False),
    help="Class labels (.npy, [batch]): top-1 accuracy of each design and of the reference.",
)
@click.option(
    "-t",
    "--target",
    "targets",
    multiple=True,
    metavar="TARGET[:VARIANT]",
    help="A target to compare (repeatable; default: every target); TARGET:VARIANT picks one "
    "variant.",
)
@click.option(
    "--variants/--no-variants",
    default=True,
    show_default=True,
    help="Every variant of each target (its design and baselines), or its default variant only.",
)
@click.option(
    "--baseline",
    metavar="TARGET:VARIANT",
    help="The design the ratios are taken against (default: the first design).",
)
@click.option(
    "--numerics",
    multiple=True,
    metavar="MODE",
    help="Also run in this hardware numerics mode (e.g. analog, pruned) the designs that have it "
    "(repeatable).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the numerics' noise.")
@click.option(
    "--json", "json_file", type=click.Path(dir_okay=False), help="Write the rows as JSON."
)
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False), help="Write the rows as CSV.")
@click.option(
    "--plot",
    "plot_dir",
    metavar="DIR",
    help="Write PNG charts into DIR (created): energy_breakdown.png, layer_energy.png, "
    "timeline.png (needs spikec[plot]).",
)
def compare_command(
    model: str,
    input_specs: tuple[str, ...],
    labels: str | None,
    targets: tuple[str, ...],
    variants: bool,
    baseline: str | None,
    numerics: tuple[str, ...],
    seed: int,
    json_file: str | None,
    csv_file: str | None,
    plot_dir: str | None,
) -> None:
    """Compile a model for several designs, run each on the same inputs, print one table.

    Per design: latency, throughput, energy per inference, EDP, area (where the target's report
    gives one), the energy's share per component, accuracy (with --labels; the reference
    interpreter's too) or top-1 agreement with the reference interpreter, and latency, energy
    and EDP ratios against the baseline. Programs are compiled into a temporary folder.
    --plot DIR draws energy per inference by component, energy per layer and the baseline's
    instruction timeline as PNG files.

    \b
    Examples:
      spikec compare samples/moe.onnx --input samples/moe_input.npy
      spikec compare samples/sdt.onnx -i samples/sdt_input.npy -t sparse --baseline sparse:dense
      spikec compare samples/xpikeformer.onnx -i samples/xpikeformer_input.npy \\
          -t xpikeformer --numerics analog --csv xpk.csv
      spikec compare samples/export/sj_sdt.dynamo.onnx -i samples/export/digits_test_x.npy \\
          --labels samples/export/digits_test_y.npy --no-variants --json sdt.json
      spikec compare samples/moe.onnx --input samples/moe_input.npy --plot out/plots
    """
    from compiler.comparison import (
        compare,
        find_baseline,
        plan_designs,
        render_csv,
        render_json,
        render_table,
    )

    designs = plan_designs(targets, variants, numerics)
    base = find_baseline(baseline, designs)
    for path in (json_file, csv_file):
        _check_output_folder(path)
    _check_plot_dir(plot_dir)
    run = _load_model_run(model, input_specs, labels)
    module, weights, inputs, expected = run.module, run.weights, run.inputs, run.labels
    sources = run.sources

    comparison = compare(
        model,
        inputs,
        designs,
        base,
        labels=expected,
        sources=sources,
        seed=seed,
        loaded=(module, weights),
    )
    if json_file is not None:
        write_text(json_file, render_json(comparison))
    if csv_file is not None:
        write_text(csv_file, render_csv(comparison))
    if plot_dir is not None:
        from compiler.plots import write_plots

        write_plots(comparison, plot_dir)
    click.echo(render_table(comparison), nl=False)


@cli.command("sweep")
@_verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@INPUT_OPTION
@click.option(
    "-t", "--target", "target_name", required=True, help="Target design (see `spikec targets`)."
)
@click.option("--variant", help="Variant of the design (default: the design itself).")
@click.option(
    "--grid",
    "grid_text",
    metavar="'KEY=V1,V2;KEY2=A,B'",
    help="Hardware parameters and their values; every combination is one point (a tuple of "
    "--set settings). This or --grid-file.",
)
@click.option(
    "--grid-file",
    type=click.Path(dir_okay=False),
    metavar="SWEEP.toml",
    help="The grid from a TOML file's [grid] table, each key a list of values (e.g. [grid] "
    '"vector.lanes" = [8, 16, 32]). This or --grid.',
)
@click.option(
    "--labels", type=click.Path(dir_okay=False), help="Class labels (.npy, [batch]): accuracy."
)
@click.option(
    "-o",
    "--output",
    default="sweep.csv",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="CSV of the rows, appended as each point finishes; an existing one is resumed.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Points run in parallel worker processes (default: the CPU count; 1: in-process); with "
    "--scheduler local, the LocalCluster's workers.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the points on the Dask cluster whose scheduler is at ADDRESS (e.g. "
    "tcp://host:8786; its workers need spikec installed), or 'local' for an embedded "
    "LocalCluster of --jobs worker processes. Needs spikec[distributed].",
)
@click.option(
    "--plot",
    "plot_dir",
    metavar="DIR",
    help="Write pareto.png into DIR (created): energy per inference vs latency of every point, "
    "the Pareto front highlighted (needs spikec[plot]).",
)
@click.option(
    "--parquet",
    "parquet_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the finished table as Parquet (typed columns, a pareto column; needs "
    "spikec[parquet]).",
)
def sweep_command(
    model: str,
    input_specs: tuple[str, ...],
    target_name: str,
    variant: str | None,
    grid_text: str | None,
    grid_file: str | None,
    labels: str | None,
    output: str,
    jobs: int | None,
    scheduler: str | None,
    plot_dir: str | None,
    parquet_file: str | None,
) -> None:
    """Compile and run a model at every point of a grid of hardware settings; one row a point.

    Each point (one value per key of --grid) is compiled for the target with those --set
    settings and run on the inputs (exact numerics). Per point: latency, throughput, energy per
    inference, EDP, accuracy (with --labels) or top-1 agreement with the reference interpreter,
    and the status (ok, or failed: the message; the sweep goes on). Rows are appended to the CSV
    as points finish: re-running the same command after an interruption runs only the points
    not in it. The table at the end marks the Pareto-optimal points (energy vs latency).
    With --scheduler the points run on a Dask cluster (same rows, same CSV). --grid-file takes
    the grid from a TOML file instead; --plot DIR draws the points and their Pareto front;
    --parquet FILE writes the table as Parquet too. On a terminal a bar shows the points done;
    -v logs each point as it finishes.

    \b
    Examples:
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid 'vector.lanes=8,16,32;clock.frequency=100,200,400'
      spikec sweep samples/sdt.onnx -i samples/sdt_input.npy -t sparse --variant dense \\
          --grid 'slu.lanes=32,64' -o sdt-dense.csv --jobs 2
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid 'vector.lanes=8,16,32' --scheduler tcp://10.0.0.5:8786
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid-file sweep.toml --plot out/sweep --parquet out/sweep.parquet
    """
    from compiler.reference import evaluate
    from compiler.sweep import check_grid, load_grid_file, parse_grid, render_table, sweep

    if (grid_text is None) == (grid_file is None):
        raise SpikecError("give the grid with exactly one of --grid and --grid-file")
    if grid_file is not None:
        grid = load_grid_file(grid_file)
        check_grid(target_name, {}, variant)  # the target and variant, outside the file
        try:
            chosen = check_grid(target_name, grid, variant)
        except SpikecError as e:
            raise SpikecError(f"--grid-file: {e}", where=grid_file) from None
    else:
        assert grid_text is not None
        grid = parse_grid(grid_text)
        chosen = check_grid(target_name, grid, variant)
    _check_output_folder(output)
    _check_plot_dir(plot_dir)
    if parquet_file is not None:
        from compiler.parquet import check_pyarrow

        _check_output_folder(parquet_file)
        check_pyarrow()
    run = _load_model_run(model, input_specs, labels)
    module, weights, inputs, expected = run.module, run.weights, run.inputs, run.labels
    sources = run.sources
    reference = evaluate(module, weights, inputs) if expected is None else None

    result = sweep(
        model,
        target_name,
        inputs,
        grid,
        Path(output),
        variant=variant,
        labels=expected,
        sources=sources,
        reference=reference,
        jobs=jobs,
        scheduler=scheduler,
    )
    if plot_dir is not None:
        from compiler.plots import write_pareto_plot

        design = target_name if chosen == target_name else f"{target_name}:{chosen}"
        title = f"Sweep of {Path(model).name} on {design}: energy vs latency"
        write_pareto_plot(result.rows, result.pareto, result.keys, title, plot_dir)
    if parquet_file is not None:
        from compiler.parquet import write_parquet

        about = {"model": model, "target": target_name, "variant": chosen, "grid": grid}
        write_parquet(result, parquet_file, about)
    click.echo(render_table(result), nl=False)


@cli.command("targets")
@_verbosity_options
@click.argument("name", required=False)
@click.option("--parameters", is_flag=True, help="List every hardware parameter with its source.")
def targets_command(name: str | None, parameters: bool) -> None:
    """List the targets, their variants and (with --parameters, or for one target) the hardware
    parameters `--set` and `--config` can override.

    \b
    Examples:
      spikec targets
      spikec targets sparse
    """
    from compiler.toolchain import get_target
    from targets import target_names

    names = [name] if name else target_names()
    for target_name in names:
        target = get_target(target_name)
        click.echo(f"{target.name}: {target.description}")
        for variant, what in target.variants.items():
            default = " (default)" if variant == target.default_variant else ""
            click.echo(f"  --variant {variant}{default}: {what}")
        for mode, what in target.numerics.items():
            click.echo(f"  run --numerics {mode}: {what}")
        if not (parameters or name):
            continue
        hardware = target.hardware()
        click.echo(f"  hardware description {target.hardware_file.name} ({hardware.name}):")
        width = max(len(key) for key in hardware.entries)
        for key, entry in hardware.entries.items():
            value = f"{entry.value} {entry.unit}".strip()
            click.echo(f"    {key:<{width}}  {value:<14}  {entry.source}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: SpikecError -> message and exit status 2; usage errors -> status 2."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except SpikecError as e:
        click.echo(f"spikec: error: {e}", err=True)
        sys.exit(2)
    except ProgramError as e:
        click.echo(f"spikec: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("spikec: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("spikec: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
