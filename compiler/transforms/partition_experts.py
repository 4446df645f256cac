"""partition-experts: split each mixture of experts into dispatch, experts on units, combine.

`spike.moe` becomes, per expert e, a `spike.dispatch` of the routed tokens, the expert's body
(moved out of its region) on expert unit u (`spike.unit = #spike.unit<expert u>`,
`spike.expert = e` on every op), and one `spike.combine` of all outputs. The router (top-k
`spike.route_topk`, or a spiking router whose spikes are the gates) is untouched.

    partition-experts{units=4 policy=round-robin}

With fewer units than experts a unit serves several experts. With more units and
`policy=balanced`, an expert is replicated: each replica is dispatched a slice of the tokens (the
second-to-last axis of X and of the gates, time-major `[T, B, N, E]` or time-invariant
`[B, N, E]` alike) and the combine takes each replica's output on its slice only. That is exact
because an expert acts on each token independently; the pass refuses to replicate an expert
that mixes tokens.

Address-encoded spikes (`sparsity-encoding` ran first) stay inside an expert's body: the block's
`spike.encode` and `spike.decode` move out with it, and act on each token alone. After
`tier-map`, the body keeps its tiers, the new dispatches and combines are placed as `tier-map`
places, and the bytes crossing tiers are recorded anew (`placement.refresh`).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import PassFailedException

from compiler.dialects import spike
from compiler.dialects.spike.layers import i64_array, ints
from compiler.dialects.spike.moe import token_axis
from compiler.dialects.spike.types import PlacementAttr, is_spike, shape_of
from compiler.transforms.assignment import check_options, even_sizes, spread
from compiler.transforms.placement import refresh

TOKEN_LOCAL = (
    spike.LinearOp,
    spike.LIFOp,
    spike.IFOp,
    spike.LeakyOp,
    spike.CubaLIFOp,
    spike.LIFBoxOp,
    spike.LIOp,
    spike.ThresholdOp,
    spike.DelayOp,
    spike.BernoulliOp,
    spike.AddOp,
    spike.SubOp,
    spike.MulOp,
    spike.DivOp,
    spike.LayerNormOp,
    spike.BatchNormOp,
    spike.WeightOp,
    spike.ConstantOp,
    spike.EncodeOp,
    spike.DecodeOp,
    spike.YieldOp,
)
"""Ops that compute each token from that token alone (axis 2 of [T, B, N, D]); the neurons and
the delay line look back in time, never across tokens."""


def mixes_tokens(op: Operation) -> bool:
    if isinstance(op, spike.ReduceSumOp | spike.ReduceMeanOp | spike.ReduceMaxOp):
        return any(a <= 2 for a in ints(op.axes))
    if isinstance(op, spike.BatchNormOp):
        return op.axis.value.data <= 2
    return not isinstance(op, TOKEN_LOCAL)


@dataclass
class PartitionMoE(RewritePattern):
    units: int
    policy: str
    place: bool = True
    """Record the units (False: only split the block into primitives, for `decompose`)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spike.MoEOp, rewriter: PatternRewriter) -> None:
        experts = len(op.experts)
        tokens = shape_of(op.input)[token_axis(op.input)]
        assignment = spread(experts, self.units, self.policy)
        hint = op.output.name_hint or "moe"
        new_ops: list[Operation] = []
        outputs: list[SSAValue] = []
        output_experts: list[int] = []
        output_tokens: list[tuple[int, int]] = []
        for e, units in enumerate(assignment):
            region = op.experts[e]
            sizes = even_sizes(tokens, len(units))
            if len(sizes) > 1:
                mixing = [o.name for o in region.block.ops if mixes_tokens(o)]
                if mixing:
                    raise PassFailedException(
                        f"partition-experts: cannot replicate expert {e} of {hint} over "
                        f"{len(sizes)} units: it mixes tokens ({', '.join(sorted(set(mixing)))})"
                    )
            start = 0
            for r, (unit, size) in enumerate(zip(units, sizes, strict=False)):
                token_range = (start, start + size) if len(sizes) > 1 else None
                start += size
                suffix = f".e{e}" if len(sizes) == 1 else f".e{e}.r{r}"
                dispatch = spike.DispatchOp(op.input, op.gates, expert=e, tokens=token_range)
                dispatch.output.name_hint = f"{hint}{suffix}.in"
                if self.place:
                    self._place(dispatch, unit, e)
                new_ops.append(dispatch)
                mapping: dict[SSAValue, SSAValue] = {region.block.args[0]: dispatch.output}
                for inner in region.block.ops:
                    if isinstance(inner, spike.YieldOp):
                        outputs.append(mapping.get(inner.values[0], inner.values[0]))
                        continue
                    clone = inner.clone(value_mapper=mapping)
                    for old, new in zip(inner.results, clone.results, strict=True):
                        if old.name_hint and len(sizes) > 1:
                            new.name_hint = f"{old.name_hint}.r{r}"
                    if self.place:
                        self._place(clone, unit, e)
                    new_ops.append(clone)
                output_experts.append(e)
                output_tokens.append(token_range or (0, tokens))
        replicated = len(outputs) != experts
        combine = spike.CombineOp(
            op.gates,
            outputs,
            spike_output=is_spike(op.output),
            experts=output_experts if replicated else None,
            tokens=output_tokens if replicated else None,
        )
        if self.place:
            combine.attributes["spike.expert_units"] = i64_array([u[0] for u in assignment])
        new_ops.append(combine)
        rewriter.replace(op, new_ops, [combine.output])

    @staticmethod
    def _place(op: Operation, unit: int, expert: int) -> None:
        op.attributes["spike.unit"] = PlacementAttr("expert", unit)
        op.attributes["spike.expert"] = IntegerAttr(expert, i64)


@dataclass(frozen=True)
class PartitionExpertsPass(ModulePass):
    """Split each `spike.moe` into dispatch, experts on expert units, and combine."""

    name = "partition-experts"

    units: int = 1
    """Number of expert units (cores) of the design."""

    policy: str = "round-robin"
    """round-robin, or balanced (contiguous experts; spare units replicate experts)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        check_options(self.name, self.units, self.policy)
        PatternRewriteWalker(
            PartitionMoE(self.units, self.policy), apply_recursively=False
        ).rewrite_module(op)
        refresh(op)
