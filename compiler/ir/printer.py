"""Printing `spike` IR, with the locations that say more than an SSA name."""

from __future__ import annotations

import io

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.printer import Printer

from compiler.ir.locations import (
    says_more,
)


class _LocationPrinter(Printer):
    """Prints `loc(...)` after every op (the generic form: what MLIR tools read and renumber),
    or after the ops whose location says more than their SSA name (the custom form)."""

    every_location: bool = False

    def print_op(self, op: Operation) -> None:
        outer = self.print_debuginfo
        self.print_debuginfo = self.every_location or says_more(op)
        try:
            super().print_op(op)
        finally:
            self.print_debuginfo = outer


def print_ir(module: ModuleOp, *, generic: bool = False) -> str:
    stream = io.StringIO()
    printer = _LocationPrinter(stream=stream, print_generic_format=generic)
    printer.every_location = generic
    printer.print_op(module)
    stream.write("\n")
    return stream.getvalue()
