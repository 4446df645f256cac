"""`spikec eval` (the reference interpreter), `spikec compile` (a model -> a target's program
folder) and `spikec run` (a program on the target's simulator, with its account)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from compiler.cli.common import (
    INPUT_OPTION,
    check_output_folder,
    describe_output,
    ir_dump_options,
    load_inputs,
    load_labels,
    model_options,
    save_outputs,
    verbosity_options,
)
from compiler.errors import SpikecError
from compiler.ir.files import write_text


@click.command("eval")
@verbosity_options
@click.argument("model", type=click.Path(allow_dash=True, dir_okay=False))
@model_options
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
    from compiler.interpreters.reference import (
        ActivityRecorder,
        evaluate,
    )
    from runtime.deviation import accuracy

    check_output_folder(output, (".npy", ".npz"), (model, *input_specs, labels))
    from compiler.cli.models import load_model_run

    run = load_model_run(model, input_specs, labels)
    module, weights, inputs, expected = run.module, run.weights, run.inputs, run.labels
    recorder = ActivityRecorder()
    outputs = evaluate(module, weights, inputs, (recorder,))
    if output is not None:
        save_outputs(output, outputs)
    for name, array in outputs.items():
        click.echo(describe_output(name, array))
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
        from compiler.interpreters.oracle import compare_with_onnxruntime

        report, ok = compare_with_onnxruntime(model, module, inputs, outputs)
        click.echo(report)
        if not ok:
            sys.exit(1)


def _default_program_dir(model: str, target: str, variant: str | None) -> Path:
    stem = Path(model).name
    for suffix in (".onnx", ".mlir"):
        stem = stem.removesuffix(suffix)
    return Path(f"{stem}.{target}" + (f"-{variant}" if variant else ""))


@click.command("compile")
@verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@model_options
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
@ir_dump_options
@click.option(
    "--generic",
    is_flag=True,
    help="Dump the IR (--print-ir-*, --ir-dump-dir) in the generic MLIR form, with every op's "
    "location: what mlir-opt reads.",
)
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
    generic: bool,
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
      spikec compile samples/sdt.onnx -t sparse --ir-dump-dir ir --generic
    """
    from compiler.cli.models import ir_dumps
    from compiler.toolchain import compile_model

    callback = ir_dumps(print_ir_after_all, print_ir_after, print_ir_before, ir_dump_dir, generic)
    if output is not None and not output.strip():
        raise SpikecError("the output folder is empty (an unset variable?): give a folder name")
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


@click.command("run")
@verbosity_options
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
    from compiler.runner import RunOptions, execute_package, open_program
    from runtime.report import render_csv, render_table

    # before the run, so that nothing half-done is left behind
    check_output_folder(output, (".npy", ".npz"), (*input_specs, report_file))
    check_output_folder(report_file, (), (*input_specs, output))
    package, target = open_program(Path(program))
    inputs, sources = load_inputs(input_specs, list(package.input_buffers()))
    ranks = {spec["name"]: len(spec["shape"]) for spec in package.manifest["inputs"]}
    options = RunOptions(numerics, seed, settings, load_labels(labels, inputs, ranks))
    run = execute_package(package, target, inputs, sources, options)
    outputs, report = run.outputs, run.report
    sections = target.machine.sections
    text = {
        "table": lambda r: render_table(r, sections),
        "json": lambda r: r.to_json() + "\n",
        "csv": render_csv,
    }[report_format](report)
    if output is not None:
        save_outputs(output, outputs)
    if report_file is not None:
        write_text(report_file, text)
    elif report_format == "table":
        for name, array in outputs.items():
            click.echo(describe_output(name, array))
        click.echo(text, nl=False)
    else:
        click.echo(text, nl=False)
