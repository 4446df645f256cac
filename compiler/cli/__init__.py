"""The `spikec` command line: the group, its entry point, and the commands of the modules
beside it (ir: import, opt; execute: eval, compile, run; explore: compare, sweep; hardware:
targets; common: what they share).

Every command reports a problem with its input as one message on stderr and exits with status 2;
it writes output files only when it succeeds.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from compiler import __version__
from compiler.cli.common import verbosity_options
from compiler.errors import SpikecError
from runtime.errors import ProgramError

COMMANDS = {
    "import": "compiler.cli.ir:import_command",
    "export": "compiler.cli.ir:export_command",
    "opt": "compiler.cli.ir:opt_command",
    "eval": "compiler.cli.execute:eval_command",
    "compile": "compiler.cli.execute:compile_command",
    "run": "compiler.cli.execute:run_command",
    "compare": "compiler.cli.explore:compare_command",
    "sweep": "compiler.cli.explore:sweep_command",
    "targets": "compiler.cli.hardware:targets_command",
}
"""Each command and where it is defined: a command's module is imported only when it runs (or
when the help lists them all), so that `spikec run` loads none of the compiler's."""


class LazyGroup(click.Group):
    """click's lazily loading group: commands named in `COMMANDS`, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, _, name = where.partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command), where
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spikec")
@verbosity_options
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

    \b
    Compare the designs on one model, and sweep one design's hardware parameters:
      spikec compare samples/moe.onnx --input samples/moe_input.npy --plot out/plots
      spikec sweep samples/moe.onnx -i samples/moe_input.npy -t sparse \\
          --grid 'vector.lanes=8,16,32;clock.frequency=100,200,400'

    \b
    -q shows errors only; -v logs each stage's wall time (-vv every simulated instruction);
    on a terminal, long work draws a progress bar.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: SpikecError -> message and exit status 2; usage errors -> status 2."""
    import numpy as np

    from runtime import finite

    finite.reset()  # --strict and the tensors reported belong to one invocation
    try:
        # IEEE arithmetic is the semantics (NaN and Inf are reported per tensor by `finite`):
        # numpy's own RuntimeWarnings would only repeat that, line by line
        with np.errstate(all="ignore"):
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
