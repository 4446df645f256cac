"""dce: remove ops whose results nobody uses, then the globals nobody reads.

xDSL's dead-code elimination handles the ops; the unused `spike.global` declarations (weights of
layers that were folded away, for instance) are symbols it keeps, so this pass drops them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.transforms.dead_code_elimination import DeadCodeElimination

from compiler.dialects import spike


@dataclass(frozen=True)
class DeadCodePass(ModulePass):
    """Dead-code elimination, including unused weight declarations."""

    name = "dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        DeadCodeElimination().apply(ctx, op)
        read = {w.symbol for w in op.walk() if isinstance(w, spike.WeightOp)}
        for declaration in list(op.ops):
            if isinstance(declaration, spike.GlobalOp) and declaration.sym_name.data not in read:
                op.body.block.erase_op(declaration)
