"""sparsity-encoding: make spike sparsity explicit by passing spikes as addresses.

A spike train whose consumers include ops that can read address-encoded spikes (`!spike.encoded`,
see the dialect) is converted once. If its producer is a neuron the target can make emit
addresses (its spike encoder sits behind the neuron), the neuron produces the encoded value and a
`spike.decode` is inserted for the consumers that still need dense spikes; otherwise a
`spike.encode` follows the producer and only the capable consumers read it. Which consumers and
producers qualify is the target's capability, given as options:

    sparsity-encoding{consumers=linear,maxpool,sdsa producers=lif stats=true}

Empty `consumers` means every op whose operand accepts encoded spikes. Values are unchanged:
encoding is lossless, so the reference interpreter gives identical results. In a module that
`tier-map` placed, the new encodes and decodes are placed as it places them (on the encoder
unit), and the bytes crossing tiers are recorded anew (`placement.refresh`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue, Use
from xdsl.irdl import IRDLOperation
from xdsl.irdl.constraints import VerificationContext
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import PassFailedException, VerifyException

from compiler.dialects import spike
from compiler.dialects.spike.types import EncodedSpikesType, SpikeTrainType
from compiler.transforms.placement import refresh

NEURONS = ("lif", "if", "leaky", "cuba_lif", "lif_box", "threshold", "bernoulli")
"""The ops that fire (the default producers). `spike.delay` is not one: its result, like a
copy's, is dense by definition, so the spikes it passes on are encoded after it."""
SPATIAL = frozenset({"conv2d", "maxpool", "avgpool"})
"""Consumers that read spikes by position in [C, H, W]: they get one address list per item."""


def short_name(op: Operation) -> str:
    return op.name.removeprefix("spike.")


_ACCEPTS: dict[tuple[type[Operation], str], bool] = {}


def _constraint_accepts_encoded(op_type: type[IRDLOperation], name: str, constr: object) -> bool:
    """Whether an operand definition admits `!spike.encoded` (cached: it depends on the op class
    only, not on shapes)."""
    key = (op_type, name)
    if key not in _ACCEPTS:
        probe = EncodedSpikesType((1, 1, 1))
        try:
            constr.verify((probe,), VerificationContext())  # type: ignore[attr-defined]
            _ACCEPTS[key] = True
        except VerifyException:
            _ACCEPTS[key] = False
    return _ACCEPTS[key]


def accepts_encoded(op: Operation, index: int) -> bool:
    """Whether operand `index` of `op` may be address-encoded, per the op's definition (only
    `spike` ops read addresses; a function return or another dialect's op needs dense data)."""
    if not isinstance(op, IRDLOperation) or op.dialect_name() != "spike":
        return False
    if not isinstance(op.operands[index].type, SpikeTrainType):
        return False
    position = 0
    for name, operand in type(op).get_irdl_definition().operands:
        values = getattr(op, name)
        count = 0 if values is None else 1 if isinstance(values, SSAValue) else len(values)
        if position <= index < position + count:
            return _constraint_accepts_encoded(type(op), name, operand.constr)
        position += count
    return False


def emits_encoded(op: Operation) -> bool:
    """Whether the op's (single) result may be declared `!spike.encoded`."""
    if not isinstance(op, IRDLOperation) or len(op.results) != 1:
        return False
    (_, result), *_ = type(op).get_irdl_definition().results
    shape = op.results[0].type
    if not isinstance(shape, SpikeTrainType):
        return False
    try:
        result.constr.verify((EncodedSpikesType(shape.get_shape()),), VerificationContext())
    except VerifyException:
        return False
    return True


@dataclass
class Statistics:
    by_producer: list[str] = field(default_factory=list)
    by_encoder: list[str] = field(default_factory=list)
    forced_decodes: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [
            f"sparsity-encoding: {len(self.by_producer) + len(self.by_encoder)} spike tensors "
            f"encoded ({len(self.by_producer)} by their neuron, {len(self.by_encoder)} by "
            f"spike.encode); {len(self.forced_decodes)} decodes forced"
        ]
        lines += [f"  decode forced: {d}" for d in self.forced_decodes]
        return "\n".join(lines)


@dataclass
class EncodeSpikes(RewritePattern):
    """Encode the spike-train results (and region arguments) of an op for capable consumers."""

    consumers: frozenset[str]
    producers: frozenset[str]
    stats: Statistics

    def capable(self, use: Use) -> bool:
        op = use.operation
        if self.consumers and short_name(op) not in self.consumers:
            return False
        return accepts_encoded(op, use.index)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, spike.EncodeOp | spike.DecodeOp):
            return
        for region in op.regions:
            for block in region.blocks:
                for arg in block.args:
                    if isinstance(arg.type, SpikeTrainType):
                        self._encode_after(arg, block, rewriter)
        if (
            short_name(op) in self.producers
            and emits_encoded(op)
            and any(self.capable(u) for u in op.results[0].uses)
        ):
            self._emit_encoded(op, rewriter)
            return
        for result in op.results:
            if isinstance(result.type, SpikeTrainType):
                self._encode_after(result, op, rewriter)

    def _label(self, value: SSAValue) -> str:
        owner = value.owner
        where = owner.name if isinstance(owner, Operation) else "a block argument"
        return f"%{value.name_hint or '?'} ({where})"

    def _address_axes(self, value: SSAValue) -> int:
        """Addresses over [C, H, W] when only spatial ops read the spikes, else over the last
        axis (features of a token)."""
        users = {short_name(u.operation) for u in value.uses if self.capable(u)}
        rank = len(value.type.get_shape())  # type: ignore[attr-defined]
        return 3 if users and users <= SPATIAL and rank >= 5 else 1

    def _encode_after(
        self, value: SSAValue, anchor: Operation | Block, rewriter: PatternRewriter
    ) -> None:
        if not any(self.capable(u) for u in value.uses):
            return
        encode = spike.EncodeOp(value, self._address_axes(value))
        point = (
            InsertPoint.at_start(anchor) if isinstance(anchor, Block) else InsertPoint.after(anchor)
        )
        rewriter.insert(encode, point)
        encode.output.name_hint = f"{value.name_hint}_addr" if value.name_hint else None
        value.replace_uses_with_if(
            encode.output, lambda u: u.operation is not encode and self.capable(u)
        )
        self.stats.by_encoder.append(self._label(value))

    def _emit_encoded(self, op: Operation, rewriter: PatternRewriter) -> None:
        dense = op.results[0]
        shape = dense.type.get_shape()  # type: ignore[attr-defined]
        encoded_type = EncodedSpikesType(shape, self._address_axes(dense))
        new = type(op).create(
            operands=op.operands,
            result_types=[encoded_type],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        rewriter.insert(new, InsertPoint.before(op))
        new.results[0].name_hint = dense.name_hint
        needs_dense = [u for u in dense.uses if not self.capable(u)]
        if needs_dense:
            decode = spike.DecodeOp(new.results[0])
            rewriter.insert(decode, InsertPoint.after(new))
            decode.output.name_hint = f"{dense.name_hint}_dense" if dense.name_hint else None
            dense.replace_uses_with_if(decode.output, lambda u: not self.capable(u))
            users = sorted({short_name(u.operation) for u in needs_dense})
            self.stats.forced_decodes.append(f"{self._label(dense)} for {', '.join(users)}")
        dense.replace_all_uses_with(new.results[0])
        rewriter.erase(op)
        self.stats.by_producer.append(self._label(new.results[0]))


@dataclass(frozen=True)
class SparsityEncodingPass(ModulePass):
    """Pass spikes between capable ops as address lists (see the module doc)."""

    name = "sparsity-encoding"

    consumers: tuple[str, ...] = ()
    """Ops (names without `spike.`) that read encoded spikes; empty: all that can."""

    producers: tuple[str, ...] = NEURONS
    """Ops that may emit encoded spikes themselves (the neurons of a design with an encoder)."""

    stats: bool = False
    """Print what was encoded and where a decode was forced (stderr)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        names = {o.name.removeprefix("spike.") for o in spike.Spike.operations}
        unknown = sorted(n for n in (*self.consumers, *self.producers) if n not in names)
        if unknown:
            raise PassFailedException(
                f"sparsity-encoding: unknown op names {unknown}; use spike op names without the "
                f"'spike.' prefix, e.g. linear, maxpool, lif"
            )
        stats = Statistics()
        pattern = EncodeSpikes(
            frozenset(c.removeprefix("spike.") for c in self.consumers),
            frozenset(p.removeprefix("spike.") for p in self.producers),
            stats,
        )
        PatternRewriteWalker(pattern, apply_recursively=False).rewrite_module(op)
        refresh(op)
        if self.stats:
            print(stats.report(), file=sys.stderr)
