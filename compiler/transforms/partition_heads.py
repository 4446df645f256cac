"""partition-heads: split multi-head attention into per-head work on head units.

Each `spike.ssa`, `spike.sdsa`, `spike.stochastic_attention` and `spike.token_attention` with H
heads becomes H one-head ops of the same kind on channel slices of Q, K and V (`spike.split`),
joined by `spike.concat`.
Each one-head op carries `spike.unit = #spike.unit<head u>` and `spike.head = h`; the concat
records the assignment as `spike.head_units` (the first unit of each head).

    partition-heads{units=4 policy=round-robin}

`units` may be smaller than H (a unit runs several heads one after another), equal, or larger:
with `policy=balanced` the spare units take slices of a head's query tokens (the rows of its
attention map are independent), so that no unit idles; with `round-robin` they stay idle. The
arithmetic of every head is unchanged, so results are identical.

Q, K and V may be address-encoded (`sparsity-encoding` ran first): a slice of an address list is
not an address list of the slice, so an encoded operand that must be sliced is decoded once, and
each one-head op reads its slice encoded again in the same layout, as the attention did.
An attention that already runs on a head unit is left alone; one placed elsewhere (`tier-map`
ran first) is partitioned, and its new ops are placed on tiers as `tier-map` places them (the
bytes crossing tiers recorded anew, `placement.refresh`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from compiler.dialects import spike
from compiler.dialects.spike.layers import i64_array
from compiler.dialects.spike.types import (
    EncodedSpikesType,
    PlacementAttr,
    activation_type,
    is_spike,
    shape_of,
)
from compiler.transforms.assignment import check_options, even_sizes, spread
from compiler.transforms.placement import refresh

Attention = spike.SSAOp | spike.SDSAOp | spike.StochasticAttentionOp | spike.TokenAttentionOp

STALE = ("spike.head_units", "spike.cross_tier_bytes", "spike.tier")
"""Attributes of the whole attention that no one-head op inherits: they describe its result or
its placement (a tier-mapped module's new ops are placed anew)."""


def on_head_unit(op: Operation) -> bool:
    """Whether the attention has been partitioned already (it runs on a head unit)."""
    unit = op.attributes.get("spike.unit")
    return isinstance(unit, PlacementAttr) and unit.kind.data == "head"


@dataclass
class Builder:
    """Collects the ops of one rewrite, to be inserted in order."""

    ops: list[Operation]
    anchor: Operation
    """The op rewritten: the new ops go before it."""
    decoded: dict[SSAValue, SSAValue] = field(default_factory=dict[SSAValue, SSAValue])
    encoded: dict[tuple[SSAValue, int], SSAValue] = field(
        default_factory=dict[tuple[SSAValue, int], SSAValue]
    )

    def dense(self, value: SSAValue) -> SSAValue:
        """The value as a dense spike train: a decode of it that precedes the anchor (e.g. the
        one `sparsity-encoding` left for a dense consumer), or one new decode."""
        if not isinstance(value.type, EncodedSpikesType):
            return value
        for use in value.uses:
            user = use.operation
            if (
                isinstance(user, spike.DecodeOp)
                and user.parent_block() is self.anchor.parent_block()
                and user.is_before_in_block(self.anchor)
            ):
                self.decoded.setdefault(value, user.output)
        if value not in self.decoded:
            decode = spike.DecodeOp(value)
            self.ops.append(decode)
            decode.output.name_hint = f"{value.name_hint}_dense" if value.name_hint else None
            self.decoded[value] = decode.output
        return self.decoded[value]

    def like(self, value: SSAValue, original: SSAValue) -> SSAValue:
        """`value`, a slice of `original`, in `original`'s encoding (one encode per slice)."""
        wanted = original.type
        if not isinstance(wanted, EncodedSpikesType) or isinstance(value.type, EncodedSpikesType):
            return value
        axes = wanted.address_axes.data
        if (value, axes) not in self.encoded:
            encode = spike.EncodeOp(value, axes)
            self.ops.append(encode)
            encode.output.name_hint = f"{value.name_hint}_addr" if value.name_hint else None
            self.encoded[value, axes] = encode.output
        return self.encoded[value, axes]

    def split(self, value: SSAValue, axis: int, sizes: Sequence[int], hint: str) -> list[SSAValue]:
        if len(sizes) == 1:
            return [value]
        op = spike.SplitOp(self.dense(value), axis, sizes)
        self.ops.append(op)
        for i, result in enumerate(op.outputs):
            result.name_hint = f"{hint}{i}"
        return list(op.outputs)

    def concat(self, values: Sequence[SSAValue], axis: int, hint: str | None) -> SSAValue:
        if len(values) == 1:
            return values[0]
        op = spike.ConcatOp(values, axis)
        self.ops.append(op)
        op.output.name_hint = hint
        return op.output


@dataclass
class PartitionAttention(RewritePattern):
    units: int
    policy: str

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, Attention) or on_head_unit(op):
            return
        heads = op.num_heads
        _, _, tokens, dim = shape_of(op.query)
        dh = dim // heads
        hint = op.results[0].name_hint or "attn"
        build = Builder([], op)
        qs = build.split(op.query, 3, [dh] * heads, f"{hint}.q")
        ks = build.split(op.key, 3, [dh] * heads, f"{hint}.k")
        token_wise = isinstance(op, spike.TokenAttentionOp)
        vs: list[SSAValue | None] = [None] * heads
        if not isinstance(op, spike.TokenAttentionOp):
            vs = list(build.split(op.value, 3, [dh] * heads, f"{hint}.v"))
        tables: list[list[SSAValue]] = []
        if isinstance(op, spike.StochasticAttentionOp) and op.uniforms:
            tables = [
                build.split(u, 2, [1] * heads, f"{hint}.u{i + 1}.")
                for i, u in enumerate(op.uniforms)
            ]
        assignment = spread(heads, self.units, self.policy)
        head_outputs = []
        for h, units in enumerate(assignment):
            sizes = even_sizes(tokens, len(units))
            q_parts = build.split(qs[h], 2, sizes, f"{hint}.h{h}.q")
            # token attention: each token masks its own K, so K is sliced with Q
            k_parts = build.split(ks[h], 2, sizes, f"{hint}.h{h}.k") if token_wise else None
            table_parts = [build.split(t[h], 3, sizes, f"{hint}.h{h}.u") for t in tables]
            outputs, offset = [], 0
            for p, (unit, size) in enumerate(zip(units, sizes, strict=False)):
                part_tables = [t[p] for t in table_parts]
                query = build.like(q_parts[p], op.query)
                key = build.like(ks[h] if k_parts is None else k_parts[p], op.key)
                v_part = vs[h]
                value = None if v_part is None else build.like(v_part, op.operands[2])
                new = self._one_head(op, query, key, value, part_tables, h, (offset, size))
                new.attributes["spike.unit"] = PlacementAttr("head", unit)
                new.attributes["spike.head"] = IntegerAttr(h, i64)
                suffix = f".h{h}" if len(sizes) == 1 else f".h{h}.p{p}"
                new.results[0].name_hint = hint + suffix
                build.ops.append(new)
                outputs.append(new.results[0])
                offset += size
            head_outputs.append(build.concat(outputs, 2, f"{hint}.h{h}"))
        result = build.concat(head_outputs, 3, hint)
        if result.owner is not op and isinstance(result.owner, spike.ConcatOp):
            result.owner.attributes["spike.head_units"] = i64_array([u[0] for u in assignment])
        rewriter.replace(op, build.ops, [result])

    def _one_head(
        self,
        op: Attention,
        query: SSAValue,
        key: SSAValue,
        value: SSAValue | None,
        tables: list[SSAValue],
        head: int,
        queries: tuple[int, int],
    ) -> Operation:
        properties = dict(op.properties)
        properties["heads"] = IntegerAttr(1, i64)
        operands: list[SSAValue] = [query, key, *([] if value is None else [value]), *tables]
        if isinstance(op, spike.StochasticAttentionOp):
            properties["head_range"] = i64_array([head, op.num_heads])
            properties["query_range"] = i64_array([queries[0], shape_of(op.query)[2]])
        result_type = activation_type(shape_of(query), is_spike(op.results[0]))
        return type(op).create(
            operands=operands,
            result_types=[result_type],
            properties=properties,
            attributes={k: v for k, v in op.attributes.items() if k not in STALE},
        )


@dataclass(frozen=True)
class PartitionHeadsPass(ModulePass):
    """Split multi-head attention into per-head ops on head units (see the module doc)."""

    name = "partition-heads"

    units: int = 1
    """Number of head units of the design."""

    policy: str = "round-robin"
    """round-robin, or balanced (contiguous heads; spare units split a head's queries)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        check_options(self.name, self.units, self.policy)
        PatternRewriteWalker(
            PartitionAttention(self.units, self.policy), apply_recursively=False
        ).rewrite_module(op)
        refresh(op)
