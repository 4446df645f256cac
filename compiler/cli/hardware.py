"""`spikec targets`: the designs, their variants and numerics, and their hardware parameters."""

from __future__ import annotations

import click

from compiler.cli.common import (
    verbosity_options,
)


@click.command("targets")
@verbosity_options
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
