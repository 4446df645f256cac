"""`spikec import` (ONNX/NIR -> spike IR), `spikec export` (-> NIR) and `spikec opt` (IR -> passes
-> IR)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.cli.common import (
    check_output_folder,
    ir_dump_options,
    model_options,
    verbosity_options,
)
from compiler.cli.models import emit_ir, ir_dumps
from compiler.errors import SpikecError
from compiler.frontend.load import load_model
from compiler.ir.files import write_text
from compiler.ir.parse import SPLIT_MARKER, parse_ir, read_ir, read_text, split_input
from compiler.ir.printer import print_ir
from compiler.ir.weight_paths import absolute_weights, rebase_weights
from compiler.transforms.pipeline import run_pipeline

RAISING_PASSES = (
    "loops",
    "neurons",
    "spikes",
    "attention",
    "moe",
    "semm",
)
"""`compiler.frontend.raising.PASS_NAMES`, written out: the CLI does not import onnx to print
its help (a test holds the two equal)."""

if TYPE_CHECKING:  # the frontend imports onnx, which costs over a second
    from compiler.frontend.raising.report import RaiseReport


@click.command("import")
@verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@model_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the IR here.")
@click.option("--generic", is_flag=True, help="Print the generic MLIR form.")
@click.option(
    "--inline-weights", is_flag=True, help="Write weights into the IR (for small models and tests)."
)
@click.option(
    "--explain",
    is_flag=True,
    help="On stderr: what the raising passes recognised in a torch.onnx export (neurons, "
    "repeated inputs, ...) and what they left as it was, with the reason; then each node "
    "imported as a generic op, and why it has no dedicated op.",
)
@click.option(
    "--raise",
    "raise_passes",
    metavar="PASSES",
    help="Run only these raising passes, comma-separated, in pipeline order: "
    f"{', '.join(RAISING_PASSES)} (default: all).",
)
@click.option(
    "--no-raise",
    is_flag=True,
    help="Run no raising pass: every node imports as it is, as a dedicated or generic op (the "
    "import's own steps still run: constants folded, inputs given their time axis).",
)
def import_command(
    model: str,
    output: str | None,
    generic: bool,
    inline_weights: bool,
    explain: bool,
    raise_passes: str | None,
    no_raise: bool,
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
      spikec import samples/export/sj_sdt.dynamo.onnx --raise=fold,neurons --explain
      spikec import samples/export/sj_sdt.dynamo.onnx --no-raise -o sdt_generic.mlir
    """
    if model.endswith(".mlir"):
        raise SpikecError("this is IR already; `spikec opt` reads IR", where=model)
    if raise_passes is not None and no_raise:
        raise SpikecError("give --raise or --no-raise, not both")
    check_output_folder(output, (), (model,))  # the IR reads its weights from the model file
    passes: list[str] | None = [] if no_raise else None
    if raise_passes is not None:
        passes = [name.strip() for name in raise_passes.split(",") if name.strip()]

    def show(report: RaiseReport) -> None:
        for line in report.lines():
            click.echo(line, err=True)

    module, _, base = load_model(model, inline_weights, show if explain else None, passes)
    if explain:
        from compiler.frontend.convert_generic import generic_op_lines
        from compiler.frontend.coverage import coverage

        for line in [*generic_op_lines(module), *coverage(module).lines()]:
            click.echo(line, err=True)
    emit_ir(module, base, output, generic)


@click.command("export")
@verbosity_options
@click.argument("model", type=click.Path(allow_dash=True, dir_okay=False))
@model_options
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="The .nir file to write."
)
def export_command(model: str, output: str) -> None:
    """Write the part of a model NIR can express as a NIR graph (HDF5), naming the ops it cannot.

    The model is read as every command reads one (ONNX, IR or NIR). Neurons are written in the
    form their library's NIR importer reads; the step is --dt (default 1e-4 s, snnTorch's) and
    goes with the timesteps into the file's metadata. An op with no NIR node cuts the graph: the
    values it reads become Outputs; it and what depends on it are listed on stderr.

    \b
    Examples:
      spikec export samples/export/snntorch_attention.dynamo.onnx -o attention.nir
      spikec export model.mlir -o model.nir --dt 1e-3
    """
    from compiler.frontend.nir_export import export_nir
    from compiler.frontend.nir_options import options

    if not output.endswith(".nir"):
        raise SpikecError("the output must be a .nir file", where=output)
    check_output_folder(output, (), (model,))
    module, weights, _ = load_model(model)
    dt = options.dt if options.dt is not None else 1e-4
    result = export_nir(module, weights, dt, Path(output))
    for line in result.left_out:
        click.echo(f"not in NIR: {line}", err=True)
    for line in result.approximate:
        click.echo(f"approximate: {line}", err=True)
    nodes = len(result.graph.nodes)
    click.echo(f"{output}: {nodes} NIR nodes, {len(result.left_out)} ops left out")


@click.command("opt")
@verbosity_options
@click.argument("input", default="-", type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "-p", "--passes", "pipeline", default="", show_default=True, help="Pass pipeline, xDSL syntax."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the IR here.")
@click.option("--generic", is_flag=True, help="Print the generic MLIR form.")
@ir_dump_options
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

    callback = ir_dumps(print_ir_after_all, print_ir_after, print_ir_before, ir_dump_dir, generic)
    callback.check(pipeline)
    if not split_input_file:
        module, base = read_ir(input)
        run_pipeline(module, pipeline, callback)
        emit_ir(module, base, output, generic)
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
