"""fold-batchnorm: fold an inference batch norm into the linear layer or convolution before it.

`batch_norm(conv(x, W, b))` with per-channel `s = scale / sqrt(var + eps)` becomes
`conv(x, W * s, (b - mean) * s + bias)`, when the product has no other user and the norm acts
on its output channels. The new weights are computed from the model's data and kept as globals
marked `spike.derived` (written beside the IR, in `<out>.weights.npz`).

Folding changes the order of floating-point operations: the result is equal only up to rounding
(bit-identical when the arithmetic is exact, as in the bundled samples, whose batch norms scale
by powers of two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, UnitAttr
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import PassFailedException

from compiler.dialects import spike
from compiler.dialects.spike.types import real_type, shape_of
from compiler.ir.weights import DERIVED_ATTR, WeightStore, array_to_dense, dense_to_array


@dataclass
class Constants:
    """Data of `spike.weight` and `spike.constant` values, and new derived globals."""

    module: ModuleOp
    store: WeightStore

    def __post_init__(self) -> None:
        self.names = {op.sym_name.data for op in self.module.ops if isinstance(op, spike.GlobalOp)}

    def array(self, value: SSAValue) -> np.ndarray | None:
        owner = value.owner
        if isinstance(owner, spike.WeightOp):
            return np.asarray(self.store[owner.symbol], dtype=np.float32)
        if isinstance(owner, spike.ConstantOp):
            return dense_to_array(owner.value)
        return None

    def add(self, name: str, array: np.ndarray, anchor: Operation) -> spike.WeightOp:
        """A new derived global, and a read of it placed before `anchor`."""
        unique, n = name, 1
        while unique in self.names:
            unique, n = f"{name}.{n}", n + 1
        self.names.add(unique)
        data = np.ascontiguousarray(array, dtype=np.float32)
        declaration = spike.GlobalOp(unique, real_type(data.shape), array_to_dense(data))
        declaration.attributes[DERIVED_ATTR] = UnitAttr()
        self.module.body.block.insert_op_before(declaration, self._first_function())
        read = spike.WeightOp(unique, declaration.type)
        read.result.name_hint = unique
        return read

    def _first_function(self) -> Operation:
        for op in self.module.ops:
            if not isinstance(op, spike.GlobalOp):
                return op
        raise PassFailedException("fold-batchnorm: the module has no function")


@dataclass
class FoldBatchNorm(RewritePattern):
    constants: Constants
    folded: list[str]

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.BatchNormOp, rewriter: PatternRewriter) -> None:
        producer = op.input.owner
        if not isinstance(producer, spike.LinearOp | spike.Conv2dOp):
            return
        if producer.output.uses.get_length() != 1:
            return
        rank = len(shape_of(producer.output))
        channel_axis = rank - 1 if isinstance(producer, spike.LinearOp) else rank - 3
        if op.axis.value.data != channel_axis:
            return
        arrays = [self.constants.array(v) for v in (op.scale, op.bias, op.mean, op.var)]
        weight = self.constants.array(producer.weight)
        bias = None if producer.bias is None else self.constants.array(producer.bias)
        if (
            any(a is None for a in arrays)
            or weight is None
            or (producer.bias is not None and bias is None)
        ):
            return
        scale, shift, mean, var = (np.asarray(a, np.float32) for a in arrays)
        eps = np.float32(op.epsilon.value.data)
        s = scale / np.sqrt(var + eps)
        if isinstance(producer, spike.LinearOp):
            new_weight = weight * (s[:, None] if producer.transpose_weight else s[None, :])
        else:
            new_weight = weight * s[:, None, None, None]
        old_bias = np.zeros_like(mean) if bias is None else bias
        new_bias = (old_bias - mean) * s + shift
        base = producer.weight.name_hint or "weight"
        w_read = self.constants.add(f"{base}.bnfold", new_weight, producer)
        b_read = self.constants.add(
            f"{op.output.name_hint or 'bias'}.bias.bnfold", new_bias, producer
        )
        rewriter.insert([w_read, b_read], InsertPoint.before(producer))
        if isinstance(producer, spike.LinearOp):
            fused: Operation = spike.LinearOp(
                producer.input,
                w_read,
                b_read,
                transpose_weight=producer.transpose_weight is not None,
            )
        else:
            fused = spike.Conv2dOp.create(
                operands=[producer.input, w_read.result, b_read.result],
                result_types=[producer.output.type],
                properties=dict(producer.properties),
            )
        fused.attributes.update(producer.attributes)
        fused.results[0].name_hint = op.output.name_hint
        old_reads = [producer.weight, producer.bias, op.scale, op.bias, op.mean, op.var]
        rewriter.replace(op, fused)
        rewriter.erase(producer)
        for value in old_reads:
            owner = None if value is None else value.owner
            if isinstance(owner, spike.WeightOp | spike.ConstantOp) and not owner.result.uses:
                rewriter.erase(owner)
        self.folded.append(op.output.name_hint or "batch_norm")


@dataclass(frozen=True)
class FoldBatchNormPass(ModulePass):
    """Fold batch norms into the linear layers and convolutions that feed them."""

    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        constants = Constants(op, WeightStore.for_module(op))
        PatternRewriteWalker(FoldBatchNorm(constants, []), apply_recursively=False).rewrite_module(
            op
        )
