"""`spikec compare` (one model on several designs, one table) and `spikec sweep` (one design
over a grid of hardware parameters)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from compiler.cli.common import (
    INPUT_OPTION,
    check_output_folder,
    check_plot_option,
    model_options,
    verbosity_options,
)
from compiler.errors import SpikecError
from compiler.ir.files import write_text


@click.command("compare")
@verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@model_options
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
    "timeline.png, memory_levels.png (needs spikec[plot]).",
)
@click.option(
    "--node",
    "node_nm",
    type=click.FloatRange(min=0.0, min_open=True),
    help="Price every design at this process node (nm; default: the baseline's), by C*V^2 from "
    "the node each energy is given at.",
)
@click.option(
    "--vdd",
    type=click.FloatRange(min=0.0, min_open=True),
    help="The supply (V) of --node (default: the baseline's).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a hardware parameter of every design that has it, e.g. --set "
    "pruning.keep=0.5 with --numerics pruned (repeatable).",
)
@click.option(
    "--own-node",
    is_flag=True,
    help="Price each design at its own node instead of a common one.",
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
    node_nm: float | None,
    vdd: float | None,
    settings: tuple[str, ...],
    own_node: bool,
) -> None:
    """Compile a model for several designs, run each on the same inputs, print one table.

    Per design: latency, throughput, energy per inference, EDP, area (where the target's report
    gives one), the energy's share per component, accuracy (with --labels; the reference
    interpreter's too) or top-1 agreement with the reference interpreter, and latency, energy
    and EDP ratios against the baseline. Every design is priced at one process node (the
    baseline's, or --node/--vdd; energies scale by C*V^2 from the node they are given at;
    --own-node keeps each design's). Programs are compiled in memory (nothing is written).
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
    from compiler.explore.comparison import (
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
        check_output_folder(path)
    check_plot_option(plot_dir)
    from compiler.cli.models import load_model_run

    run = load_model_run(model, input_specs, labels)
    module, weights, inputs, expected = run.module, run.weights, run.inputs, run.labels
    sources = run.sources

    if own_node and (node_nm is not None or vdd is not None):
        raise SpikecError("--own-node prices each design at its own node: drop --node/--vdd")
    node: tuple[float, float] | str | None = None if own_node else "baseline"
    if node_nm is not None or vdd is not None:
        from compiler.runner import get_target
        from runtime.hardware import TECHNOLOGY_NODE, TECHNOLOGY_VDD

        hardware = get_target(base.target).hardware()
        node = (
            node_nm if node_nm is not None else hardware.number(TECHNOLOGY_NODE),
            vdd if vdd is not None else hardware.number(TECHNOLOGY_VDD),
        )
    comparison = compare(
        model,
        inputs,
        designs,
        base,
        labels=expected,
        sources=sources,
        seed=seed,
        loaded=(module, weights, run.base),
        node=node,
        settings=settings,
    )
    if json_file is not None:
        write_text(json_file, render_json(comparison))
    if csv_file is not None:
        write_text(csv_file, render_csv(comparison))
    if plot_dir is not None:
        from compiler.explore.plots import write_plots

        write_plots(comparison, plot_dir)
    click.echo(render_table(comparison), nl=False)


@click.command("sweep")
@verbosity_options
@click.argument("model", type=click.Path(dir_okay=False))
@model_options
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
    "--set settings). A value may be a range: A:B:STEP (A, A+STEP, ... up to B) or A:B:*F "
    "(A, A*F, ... up to B), e.g. 'vector.lanes=8:64:*2'. This or --grid-file.",
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
    "--numerics",
    default="exact",
    show_default=True,
    metavar="MODE",
    help="Run every point in this hardware numerics mode of the design (e.g. analog): accuracy "
    "or agreement under it, and its deviation from the exact run (spike agreement, output "
    "relative error).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the numerics' noise.")
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --numerics: run each point with this many seeds (--seed, --seed + 1, ...); its "
    "figures are the means, with the standard deviations of accuracy/agreement and deviation.",
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
    numerics: str,
    seed: int,
    seeds: int,
    parquet_file: str | None,
) -> None:
    """Compile and run a model at every point of a grid of hardware settings; one row a point.

    Each point (one value per key of --grid) is compiled for the target with those --set
    settings and run on the inputs (exact numerics, or --numerics MODE). Per point: latency,
    throughput, energy per inference, EDP, accuracy (with --labels) or top-1 agreement with the
    reference interpreter, with --numerics the spike agreement and output error against the
    exact run, and the status (ok, or failed: the message; the sweep goes on). Rows are
    appended to the CSV as points finish: re-running the same command after an interruption
    runs only the points not in it; a CSV another sweep is writing is refused (it is locked,
    <CSV>.lock). The table at the end marks the Pareto-optimal points
    (energy vs latency; with --numerics, energy vs output error).
    With --scheduler the points run on a Dask cluster (same rows, same CSV). --grid-file takes
    the grid from a TOML file instead; --plot DIR draws the points and their Pareto front;
    --parquet FILE writes the table as Parquet too. On a terminal a bar shows the points done;
    -v logs each point as it finishes.

    \b
    Examples:
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid 'vector.lanes=8,16,32;clock.frequency=100,200,400'
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid 'vector.lanes=8:128:*2;clock.frequency=100:400:50'
      spikec sweep samples/sdt.onnx -i samples/sdt_input.npy -t sparse --variant dense \\
          --grid 'slu.lanes=32,64' -o sdt-dense.csv --jobs 2
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid 'vector.lanes=8,16,32' --scheduler tcp://10.0.0.5:8786
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid-file sweep.toml --plot out/sweep --parquet out/sweep.parquet
      spikec sweep samples/xpikeformer.onnx -i samples/xpikeformer_input.npy -t xpikeformer \\
          --grid 'adc.bits=4,6,8' --numerics analog --seed 1 --seeds 5
    """
    from compiler.explore.grid import load_grid_file, parse_grid
    from compiler.explore.sweep import check_grid, output_lock, render_table, sweep
    from compiler.interpreters.reference import evaluate
    from compiler.toolchain import remember_import

    if (grid_text is None) == (grid_file is None):
        raise SpikecError("give the grid with exactly one of --grid and --grid-file")
    if grid_file is not None:
        grid = load_grid_file(grid_file)
        check_grid(target_name, {}, variant, numerics)  # the target, variant and mode
        try:
            chosen = check_grid(target_name, grid, variant, numerics)
        except SpikecError as e:
            raise SpikecError(f"--grid-file: {e}", where=grid_file) from None
    else:
        assert grid_text is not None
        grid = parse_grid(grid_text)
        chosen = check_grid(target_name, grid, variant, numerics)
    check_output_folder(output)
    check_plot_option(plot_dir)
    if parquet_file is not None:
        from compiler.explore.parquet import check_pyarrow

        check_output_folder(parquet_file)
        check_pyarrow()
    # refused at once, before the model loads, if another sweep writes this CSV (and the lock
    # file made in its folder is a real write there); sweep() takes the lock again, a no-op in
    # the process holding it
    with output_lock(Path(output)):
        _check_appendable(output)
        if plot_dir is not None:
            _check_plot_folder(plot_dir)
        from compiler.cli.models import load_model_run

        run = load_model_run(model, input_specs, labels)
        module, weights, inputs, expected = run.module, run.weights, run.inputs, run.labels
        sources = run.sources
        reference = evaluate(module, weights, inputs) if expected is None else None
        remember_import(model, (module, run.base))  # the points compile copies of it

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
            numerics=numerics,
            seed=seed,
            seeds=seeds,
        )
        if plot_dir is not None:
            from compiler.explore.plots import write_pareto_plot

            design = target_name if chosen == target_name else f"{target_name}:{chosen}"
            versus = "latency" if result.trade_off == "latency_us" else f"output error ({numerics})"
            title = f"Sweep of {Path(model).name} on {design}: energy vs {versus}"
            write_pareto_plot(
                result.rows, result.pareto, result.keys, title, plot_dir, result.trade_off
            )
        if parquet_file is not None:
            from compiler.explore.parquet import write_parquet

            about = {
                "model": model,
                "target": target_name,
                "variant": chosen,
                "numerics": numerics,
                "seed": seed,
                "seeds": seeds,
                "grid": grid,
            }
            write_parquet(result, parquet_file, about)
        click.echo(render_table(result), nl=False)


def _check_appendable(output: str) -> None:
    """Refuse a CSV that exists but may not be appended to (check_output_folder sees only its
    folder), before the first point runs: opened for appending, nothing written."""
    if Path(output).is_file():
        try:
            os.close(os.open(output, os.O_WRONLY | os.O_APPEND))
        except OSError as e:
            raise SpikecError(f"cannot append to it ({e.strerror})", where=output) from None


def _check_plot_folder(plot_dir: str) -> None:
    """Refuse a --plot DIR that could not be made or written into, before the first point runs
    (check_plot_option refuses only a DIR that is a file; the rest failed after every point
    ran): the deepest existing folder of DIR (itself, or where it would be made) gets a temporary
    file, removed at once. A real write, not the mode bits: /proc or a read-only filesystem
    refuse even root."""
    folder = Path(plot_dir)
    while not folder.is_dir():
        if folder.exists():
            raise SpikecError(f"--plot: {folder} is not a folder", where=plot_dir)
        folder = folder.parent
    try:
        tempfile.TemporaryFile(dir=folder).close()  # made and removed: the write is the test
    except OSError as e:
        raise SpikecError(
            f"--plot: cannot write into {folder} ({e.strerror})", where=plot_dir
        ) from None
