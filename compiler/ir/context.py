"""The xDSL context spikec parses and transforms in: builtin, func and `spike`."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import Builtin

from compiler.dialects.spike import Spike


def make_context() -> Context:
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(func.Func)
    ctx.load_dialect(Spike)
    return ctx
