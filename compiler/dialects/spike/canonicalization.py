"""Canonicalisation patterns of the `spike` dialect (run by xDSL's `canonicalize` pass).

They remove the data movement that passes leave behind when they meet each other: chains of
reshapes or transposes, a split whose pieces are joined back in order, an encode undone by a
decode. None changes a value.
"""

from __future__ import annotations

from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from compiler.dialects import spike
from compiler.dialects.spike.layers import ints
from compiler.dialects.spike.types import EncodedSpikesType, shape_of


def _replace_with(op: Operation, value: SSAValue, rewriter: PatternRewriter) -> None:
    if value.name_hint is None:
        value.name_hint = op.results[0].name_hint
    rewriter.replace(op, [], [value])


class FoldReshape(RewritePattern):
    """reshape(reshape(x)) -> reshape(x); a reshape to the input's own shape -> x."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.ReshapeOp, rewriter: PatternRewriter) -> None:
        if op.input.type == op.output.type:
            _replace_with(op, op.input, rewriter)
            return
        inner = op.input.owner
        if isinstance(inner, spike.ReshapeOp):
            folded = spike.ReshapeOp(inner.input, ints(op.shape))
            folded.output.name_hint = op.output.name_hint
            rewriter.replace(op, folded)


class FoldTranspose(RewritePattern):
    """transpose(transpose(x, p), q) -> transpose(x, p[q]); an identity permutation -> x."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.TransposeOp, rewriter: PatternRewriter) -> None:
        perm = ints(op.perm)
        if list(perm) == list(range(len(perm))):
            _replace_with(op, op.input, rewriter)
            return
        inner = op.input.owner
        if isinstance(inner, spike.TransposeOp):
            first = ints(inner.perm)
            folded = spike.TransposeOp(inner.input, [first[p] for p in perm])
            folded.output.name_hint = op.output.name_hint
            rewriter.replace(op, folded)


class FoldConcat(RewritePattern):
    """concat of one value -> the value; concat of all pieces of a split, in order, on the split's
    axis -> the split's input."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.ConcatOp, rewriter: PatternRewriter) -> None:
        if len(op.inputs) == 1:
            _replace_with(op, op.inputs[0], rewriter)
            return
        split = op.inputs[0].owner
        if (
            isinstance(split, spike.SplitOp)
            and split.axis.value.data == op.axis.value.data
            and tuple(op.inputs) == tuple(split.outputs)
            and split.input.type == op.output.type
        ):
            _replace_with(op, split.input, rewriter)


class FoldSplit(RewritePattern):
    """A split into one piece -> its input."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.SplitOp, rewriter: PatternRewriter) -> None:
        if len(op.outputs) == 1:
            _replace_with(op, op.input, rewriter)


class FoldDecodeEncode(RewritePattern):
    """decode(encode(x)) -> x."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.DecodeOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if isinstance(inner, spike.EncodeOp):
            _replace_with(op, inner.input, rewriter)


class FoldEncodeDecode(RewritePattern):
    """encode(decode(e)) -> e, when both use the same address layout."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.EncodeOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if isinstance(inner, spike.DecodeOp) and inner.input.type == op.output.type:
            assert isinstance(op.output.type, EncodedSpikesType)
            assert shape_of(inner.input) == shape_of(op.output)
            _replace_with(op, inner.input, rewriter)
