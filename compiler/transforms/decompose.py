"""decompose: rewrite compound ops into primitives, for designs without a unit for them.

    decompose{ops=ssa,sdsa,token_attention,stochastic_attention,moe}

- `spike.ssa`: heads by reshape and transpose, `Q Kᵀ` and `(·) V` as `spike.matmul`, the scale
  as `spike.mul` by a constant.
- `spike.sdsa`: `spike.mul` (AND), `spike.reduce_sum` over tokens, `spike.lif`, `spike.mul`.
- `spike.token_attention`: Q and K split into heads by reshape and transpose, `spike.reduce_sum`
  over each head's channels, `spike.lif`, `spike.mul` (AND) into K, the heads merged back.
- `spike.stochastic_attention` (with its uniform tables as operands): products, divisions,
  `spike.bernoulli`, the diagonal mask as a product by a constant.
- `spike.moe`: `spike.dispatch`, the expert bodies, `spike.combine`.

Each primitive computes what the compound op's implementation computes, in the same order, so
results are identical. Empty `ops` means all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.utils.exceptions import PassFailedException

from compiler.dialects import spike
from compiler.dialects.spike.types import EncodedSpikesType, ResetMode, is_spike, shape_of
from compiler.ir.weights import array_to_dense
from compiler.transforms.partition_experts import PartitionMoE

COMPOUND = ("ssa", "sdsa", "token_attention", "stochastic_attention", "moe")


@dataclass
class Ops:
    """The primitives of one rewrite, in order."""

    items: list[Operation]
    hint: str

    def add(self, op: Operation, suffix: str) -> SSAValue:
        self.items.append(op)
        op.results[0].name_hint = f"{self.hint}.{suffix}"
        return op.results[0]

    def constant(self, array: np.ndarray, suffix: str) -> SSAValue:
        return self.add(spike.ConstantOp(array_to_dense(array.astype(np.float32))), suffix)

    def dense(self, value: SSAValue, suffix: str) -> SSAValue:
        """The value as a dense spike train (decoding address-encoded spikes)."""
        if isinstance(value.type, EncodedSpikesType):
            return self.add(spike.DecodeOp(value), f"{suffix}_dense")
        return value

    def heads(self, value: SSAValue, heads: int, suffix: str) -> SSAValue:
        """[T, B, N, D] -> [T, B, H, N, dh]."""
        value = self.dense(value, suffix)
        t, b, n, d = shape_of(value)
        split = self.add(spike.ReshapeOp(value, [t, b, n, heads, d // heads]), f"{suffix}5")
        return self.add(spike.TransposeOp(split, [0, 1, 3, 2, 4]), suffix)

    def merge(self, value: SSAValue, suffix: str) -> SSAValue:
        """[T, B, H, N, dh] -> [T, B, N, D]."""
        t, b, h, n, dh = shape_of(value)
        moved = self.add(spike.TransposeOp(value, [0, 1, 3, 2, 4]), f"{suffix}.t")
        return self.add(spike.ReshapeOp(moved, [t, b, n, h * dh]), suffix)


def _ssa(op: spike.SSAOp, ops: Ops) -> SSAValue:
    h = op.num_heads
    q, k, v = (ops.heads(x, h, name) for x, name in zip(op.operands, "qkv", strict=True))
    kt = ops.add(spike.TransposeOp(k, [0, 1, 2, 4, 3]), "kt")
    scores = ops.add(spike.MatMulOp(q, kt), "scores")
    scale = ops.constant(np.array(op.scale.value.data), "scale")
    scaled = ops.add(spike.MulOp(scores, scale), "scaled")
    return ops.merge(ops.add(spike.MatMulOp(scaled, v), "heads"), "out")


def _neuron(op: spike.SDSAOp | spike.TokenAttentionOp, x: SSAValue) -> spike.LIFOp:
    """The LIF an SDSA or a token attention fires with."""
    return spike.LIFOp(
        x,
        tau=op.tau.value.data,
        v_threshold=op.v_threshold.value.data,
        v_reset=op.v_reset.value.data,
        decay_input=bool(op.decay_input.value.data),
        reset=ResetMode(op.reset.data),
    )


def _sdsa(op: spike.SDSAOp, ops: Ops) -> SSAValue:
    kv = ops.add(spike.MulOp(op.key, op.value), "kv")
    total = ops.add(spike.ReduceSumOp(kv, axes=[2], keepdims=True), "kv_sum")
    spikes = ops.add(_neuron(op, total), "kv_spikes")
    return ops.add(spike.MulOp(op.query, spikes), "out")


def _token_attention(op: spike.TokenAttentionOp, ops: Ops) -> SSAValue:
    h = op.num_heads
    q, k = ops.heads(op.query, h, "q"), ops.heads(op.key, h, "k")
    total = ops.add(spike.ReduceSumOp(q, axes=[4], keepdims=True), "q_sum")
    spikes = ops.add(_neuron(op, total), "token_spikes")
    return ops.merge(ops.add(spike.MulOp(spikes, k), "heads"), "out")


def _stochastic(op: spike.StochasticAttentionOp, ops: Ops) -> SSAValue:
    if not op.uniforms:
        raise PassFailedException(
            f"decompose: %{ops.hint} draws its random numbers itself (no uniform tables); only "
            "stochastic attention with U1 and U2 operands can be decomposed into Bernoulli ops"
        )
    h = op.num_heads
    q, k, v = (ops.heads(x, h, name) for x, name in zip(op.operands[:3], "qkv", strict=True))
    kt = ops.add(spike.TransposeOp(k, [0, 1, 2, 4, 3]), "kt")
    scores = ops.add(spike.MatMulOp(q, kt), "scores")
    c1 = ops.constant(np.array(op.c1.value.data), "c1")
    attention = ops.add(
        spike.BernoulliOp(
            ops.add(spike.DivOp(scores, c1), "p1"), seed=0, stream=0, uniform=op.uniforms[0]
        ),
        "map",
    )
    if op.mask_diagonal.value.data:
        nq, nk = shape_of(attention)[-2:]
        (_, _), (q0, _) = op.ranges()
        keep = 1.0 - np.eye(nq, nk, k=q0, dtype=np.float32)
        attention = ops.add(spike.MulOp(attention, ops.constant(keep, "off_diagonal")), "masked")
    c2 = ops.constant(np.array(op.c2.value.data), "c2")
    weighted = ops.add(spike.MatMulOp(attention, v), "sv")
    out = spike.BernoulliOp(
        ops.add(spike.DivOp(weighted, c2), "p2"), seed=0, stream=0, uniform=op.uniforms[1]
    )
    return ops.merge(ops.add(out, "heads"), "out")


@dataclass
class Decompose(RewritePattern):
    kinds: frozenset[str]

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        name = op.name.removeprefix("spike.")
        if name not in self.kinds:
            return
        if isinstance(op, spike.MoEOp):
            PartitionMoE(len(op.experts), "round-robin", place=False).match_and_rewrite(
                op, rewriter
            )
            return
        ops = Ops([], op.results[0].name_hint or name)
        if isinstance(op, spike.SSAOp):
            result = _ssa(op, ops)
        elif isinstance(op, spike.SDSAOp):
            result = _sdsa(op, ops)
        elif isinstance(op, spike.TokenAttentionOp):
            result = _token_attention(op, ops)
        elif isinstance(op, spike.StochasticAttentionOp):
            result = _stochastic(op, ops)
        else:
            return
        assert is_spike(result) == is_spike(op.results[0])
        for new in ops.items:
            new.attributes.update(
                {k: v for k, v in op.attributes.items() if k in ("spike.unit", "spike.tier")}
            )
        result.name_hint = op.results[0].name_hint
        rewriter.replace(op, ops.items, [result])


@dataclass(frozen=True)
class DecomposePass(ModulePass):
    """Rewrite compound ops into primitives (see the module doc)."""

    name = "decompose"

    ops: tuple[str, ...] = ()
    """Which compound ops (ssa, sdsa, token_attention, stochastic_attention, moe); empty: all."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        kinds = {o.removeprefix("spike.") for o in self.ops} or set(COMPOUND)
        unknown = sorted(kinds - set(COMPOUND))
        if unknown:
            raise PassFailedException(
                f"decompose: cannot decompose {unknown}; compound ops are {', '.join(COMPOUND)}"
            )
        PatternRewriteWalker(Decompose(frozenset(kinds)), apply_recursively=False).rewrite_module(
            op
        )
