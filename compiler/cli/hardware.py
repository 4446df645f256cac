"""`spikec targets`: the designs, their variants and numerics, and their hardware parameters."""

from __future__ import annotations

import click

from compiler.cli.common import (
    verbosity_options,
)
from runtime.hardware import Hardware


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
    from compiler.runner import get_target
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
            value = hardware.describe(key)
            click.echo(f"    {key:<{width}}  {value:<14}  {entry.source}")
        for line in memory_lines(hardware):
            click.echo(f"  {line}")


def memory_lines(hardware: Hardware) -> list[str]:
    """The design's technology and memory levels as priced (what the rules and node scaling
    made of the entries)."""
    from runtime.memory import levels
    from runtime.technology import RULE_TEXT

    if "technology.node_nm" not in hardware.entries:
        return []
    node, vdd = hardware.number("technology.node_nm"), hardware.number("technology.vdd")
    lines = [f"technology: {node:g} nm, {vdd:g} V; {RULE_TEXT}", "memory levels:"]
    for level in levels(hardware).values():
        capacity = "unbounded" if level.kind == "dram" else f"{level.capacity_bits / 8192:g} kB"
        read = hardware.number(level.read_entry)
        write = hardware.number(level.write_entry)
        leak = (
            f", leakage {hardware.number(level.leakage_entry):.3g} mW"
            if level.leakage_entry in hardware.entries
            else ""
        )
        lines.append(
            f"  {level.name:<18} {level.kind:<5} {capacity:>10}  {level.word_bits}-bit words, "
            f"{level.bits_per_cycle:g} bits/cycle, {level.latency_cycles:g} cycles; read "
            f"{read:.4g} pJ, write {write:.4g} pJ an access{leak}"
        )
    return lines
