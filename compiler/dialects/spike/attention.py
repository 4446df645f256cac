"""Spiking self-attention in its three published forms, and QKFormer's token attention.

The self-attention forms take binary `Q[T, B, Nq, D]` and `K, V[T, B, Nk, D]` (D = heads × dh
channels, channel c of head h at `h * dh + c`) and return `[T, B, Nq, D]` with the heads merged
back in the same order. In a model Nq = Nk; after `partition-heads` an op may compute a slice of
the query tokens. Each timestep is independent. `heads` is part of the semantics where the form
mixes channels (SSA, the stochastic form and token attention) and a mapping hint where it does
not (SDSA).

Token attention (`spike.token_attention`) takes Q and K only, both `[T, B, N, D]`: each token
masks its own K with a spike computed from its own Q, so tokens are independent (a slice of the
tokens is computed from the same slice of Q and K), and its neuron carries state over time.
"""

from __future__ import annotations

from xdsl.dialects.builtin import (
    BoolAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.layers import i64_array, ints
from compiler.dialects.spike.neurons import lif_properties, module_timesteps
from compiler.dialects.spike.types import (
    SPIKES,
    ResetMode,
    ResetModeAttr,
    SpikeTrainType,
    broadcast_shapes,
    check_result,
    format_shape,
    real_type,
    shape_of,
    shapes_compatible,
)

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


def check_heads_and_time(op: IRDLOperation, shape: tuple[int, ...], heads: int) -> None:
    """`heads` divides D = shape[3]; T = shape[0] is the module's."""
    if heads < 1 or shape[3] % heads:
        raise VerifyException(f"{op.name}: heads = {heads} must be >= 1 and divide D = {shape[3]}")
    expected = module_timesteps(op)
    if expected is not None and shape[0] != expected:
        raise VerifyException(f"{op.name}: T = {shape[0]}, the module runs T = {expected}")


class AttentionOp(IRDLOperation):
    """Shared operands and checks of the self-attention forms."""

    query = operand_def(SPIKES)
    """Q `[T, B, Nq, D]`, spikes."""

    key = operand_def(SPIKES)
    """K `[T, B, Nk, D]`, spikes."""

    value = operand_def(SPIKES)
    """V `[T, B, Nk, D]`, spikes."""

    heads = prop_def(IntegerAttr)
    """Number of heads H; D must be a multiple of it."""

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    @property
    def num_heads(self) -> int:
        return self.heads.value.data

    def check_qkv(self) -> tuple[int, ...]:
        shape = shape_of(self.query)
        if len(shape) != 4:
            raise VerifyException(
                f"{self.name}: Q, K and V must be [T, B, N, D], got {format_shape(shape)}"
            )
        kv_shape = shape_of(self.key)
        if len(kv_shape) != 4 or not shapes_compatible(
            (*kv_shape[:2], kv_shape[3]), (*shape[:2], shape[3])
        ):
            raise VerifyException(
                f"{self.name}: K {format_shape(kv_shape)} must match Q {format_shape(shape)} "
                "in every axis but the tokens"
            )
        if not shapes_compatible(shape_of(self.value), kv_shape):
            raise VerifyException(
                f"{self.name}: V {format_shape(shape_of(self.value))} must match K "
                f"{format_shape(kv_shape)}"
            )
        check_heads_and_time(self, shape, self.num_heads)
        return shape

    def verify_(self) -> None:
        shape = self.check_qkv()
        check_result(shape_of(self.results[0]), shape, self.name)


@irdl_op_definition
class SSAOp(AttentionOp):
    """Spikformer spiking self-attention, without softmax (Zhou et al., ICLR 2023).

    numpy, per head (Qh, Kh, Vh of shape `[T, B, N, dh]`): `Yh = ((Qh @ Kh^T) * scale) @ Vh`.
    Products of spikes are counts, so the result is real; a neuron usually follows.
    """

    name = "spike.ssa"

    traits = traits_def(Pure(), Computes("ssa"))

    output = result_def(TensorType)
    """`[T, B, N, D]`, real."""

    scale = prop_def(FloatAttr)
    """Multiplies the attention map Q Kᵀ (0.125 in Spikformer)."""

    def __init__(
        self,
        query: SSAValue | Operation,
        key: SSAValue | Operation,
        value: SSAValue | Operation,
        *,
        heads: int,
        scale: float,
    ) -> None:
        q = SSAValue.get(query)
        super().__init__(
            operands=[q, key, value],
            result_types=[real_type(shape_of(q))],
            properties={"heads": IntegerAttr(heads, i64), "scale": FloatAttr(scale, f32)},
        )


@irdl_op_definition
class SDSAOp(AttentionOp):
    """Spike-driven self-attention (Yao et al., NeurIPS 2023), with its neuron.

    numpy: `kv = (K * V).sum(axis=2, keepdims=True)` (over tokens, per channel), then
    `S = LIF(kv)` over time with the LIF parameters below (as `spike.lif`), and `Y = Q * S`.
    Only ANDs and additions: the result is spikes.
    """

    name = "spike.sdsa"

    traits = traits_def(Pure(), Computes("sdsa"))

    output = result_def(SpikeTrainType)
    """`[T, B, N, D]`, spikes."""

    tau = prop_def(FloatAttr)
    """τ of the neuron on the token sums."""

    v_threshold = prop_def(FloatAttr)
    """Its threshold (0.5 in the Spike-driven Transformer)."""

    v_reset = prop_def(FloatAttr)
    """Its reset potential."""

    decay_input = prop_def(BoolAttr)
    """As in `spike.lif`."""

    reset = prop_def(ResetModeAttr)
    """As in `spike.lif`."""

    def __init__(
        self,
        query: SSAValue | Operation,
        key: SSAValue | Operation,
        value: SSAValue | Operation,
        *,
        heads: int,
        tau: float = 2.0,
        v_threshold: float = 0.5,
        v_reset: float = 0.0,
        decay_input: bool = True,
        reset: ResetMode = ResetMode.HARD,
    ) -> None:
        q = SSAValue.get(query)
        super().__init__(
            operands=[q, key, value],
            result_types=[SpikeTrainType(shape_of(q))],
            properties={
                "heads": IntegerAttr(heads, i64),
                **lif_properties(tau, v_threshold, v_reset, decay_input, reset),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        if self.tau.value.data <= 0:
            raise VerifyException("spike.sdsa: tau must be > 0")


@irdl_op_definition
class TokenAttentionOp(IRDLOperation):
    """Q-K token attention of QKFormer (Zhou et al., 2024), with its neuron.

    numpy, with Q and K split into heads `[T, B, H, N, dh]` (channel c of head h at `h * dh + c`):

        a = LIF(Q.sum(axis=-1, keepdims=True))    # [T, B, H, N, 1]: a token's spike per head
        Y = a * K                                 # the token mask on every channel of its head

    merged back to `[T, B, N, D]`. The LIF runs over time with the parameters below, as
    `spike.lif` does (SpikingJelly's arithmetic order); the sums are counts of spikes, exact in
    float32. Only additions and ANDs: the result is spikes.
    """

    name = "spike.token_attention"

    query = operand_def(SPIKES)
    """Q `[T, B, N, D]`, spikes: summed over the channels of each head."""

    key = operand_def(SPIKES)
    """K `[T, B, N, D]`, spikes: masked by the token's spike."""

    output = result_def(SpikeTrainType)
    """`[T, B, N, D]`, spikes."""

    heads = prop_def(IntegerAttr)
    """Number of heads H; D must be a multiple of it (each head's channels are summed apart)."""

    tau = prop_def(FloatAttr)
    """τ of the neuron on the channel sums."""

    v_threshold = prop_def(FloatAttr)
    """Its threshold (0.5 in QKFormer)."""

    v_reset = prop_def(FloatAttr)
    """Its reset potential."""

    decay_input = prop_def(BoolAttr)
    """As in `spike.lif`."""

    reset = prop_def(ResetModeAttr)
    """As in `spike.lif`."""

    traits = traits_def(Pure(), Computes("token_attention"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        query: SSAValue | Operation,
        key: SSAValue | Operation,
        *,
        heads: int,
        tau: float = 2.0,
        v_threshold: float = 0.5,
        v_reset: float = 0.0,
        decay_input: bool = True,
        reset: ResetMode = ResetMode.HARD,
    ) -> None:
        q = SSAValue.get(query)
        super().__init__(
            operands=[q, key],
            result_types=[SpikeTrainType(shape_of(q))],
            properties={
                "heads": IntegerAttr(heads, i64),
                **lif_properties(tau, v_threshold, v_reset, decay_input, reset),
            },
        )

    @property
    def num_heads(self) -> int:
        return self.heads.value.data

    def verify_(self) -> None:
        shape = shape_of(self.query)
        if len(shape) != 4:
            raise VerifyException(
                f"spike.token_attention: Q and K must be [T, B, N, D], got {format_shape(shape)}"
            )
        k_shape = shape_of(self.key)
        if not shapes_compatible(k_shape, shape):
            raise VerifyException(
                f"spike.token_attention: K {format_shape(k_shape)} must have Q's shape "
                f"{format_shape(shape)} (each token masks its own K)"
            )
        check_heads_and_time(self, shape, self.num_heads)
        if self.tau.value.data <= 0:
            raise VerifyException("spike.token_attention: tau must be > 0")
        check_result(shape_of(self.output), shape, self.name)


@irdl_op_definition
class StochasticAttentionOp(AttentionOp):
    """Stochastic spiking attention (Xpikeformer's SSA engine; Song et al., AICAS 2024).

    numpy, per head, with uniform tables U1 `[T, B, H, Nq, Nk]` and U2 `[T, B, H, Nq, dh]`:

        S = (U1 < (Qh @ Kh^T) / c1)           # Bernoulli attention map, spikes
        S[..., i, q0 + i] = 0  if mask_diagonal
        Yh = (U2 < (S @ Vh) / c2)             # Bernoulli output, spikes

    U1 and U2 are the two `uniforms` operands when given (they broadcast over the batch), else they
    are drawn in that order from the generator keyed by `(seed, stream)`. An op that computes a
    part of a larger attention (after `partition-heads`) states it with `head_range` and
    `query_range` = (offset, total): its generated tables are the slices `[h0 : h0 + H]` and
    `[q0 : q0 + Nq]` of the whole attention's tables, and the masked diagonal is that of the whole
    attention (q0 = query offset).
    """

    name = "spike.stochastic_attention"

    traits = traits_def(Pure(), Computes("stochastic_attention"))

    query = operand_def(SPIKES)
    """Q `[T, B, N, D]` (Q, K and V are redeclared so that they stay operands 0-2)."""

    key = operand_def(SPIKES)
    """K `[T, B, N, D]`."""

    value = operand_def(SPIKES)
    """V `[T, B, N, D]`."""

    uniforms = var_operand_def(TensorType)
    """None, or the two uniform tables U1 and U2."""

    output = result_def(SpikeTrainType)
    """`[T, B, N, D]`, spikes."""

    c1 = prop_def(FloatAttr)
    """Normaliser of the attention map."""

    c2 = prop_def(FloatAttr)
    """Normaliser of the output."""

    mask_diagonal = prop_def(BoolAttr)
    """Whether a token's attention to itself is forced to 0."""

    seed = prop_def(IntegerAttr)
    """Seed of the random numbers when no tables are given."""

    stream = prop_def(IntegerAttr)
    """Stream of that seed; unique per stochastic op in a module."""

    head_range = opt_prop_def(DenseArrayBase)
    """(offset, total heads) when this op computes some heads of a larger attention."""

    query_range = opt_prop_def(DenseArrayBase)
    """(offset, total query tokens) when this op computes some query tokens of it."""

    def __init__(
        self,
        query: SSAValue | Operation,
        key: SSAValue | Operation,
        value: SSAValue | Operation,
        *,
        heads: int,
        c1: float,
        c2: float,
        mask_diagonal: bool,
        seed: int,
        stream: int,
        uniforms: tuple[SSAValue | Operation, SSAValue | Operation] | None = None,
        head_range: tuple[int, int] | None = None,
        query_range: tuple[int, int] | None = None,
    ) -> None:
        q = SSAValue.get(query)
        tables = [] if uniforms is None else [SSAValue.get(u) for u in uniforms]
        super().__init__(
            operands=[q, key, value, tables],
            result_types=[SpikeTrainType(shape_of(q))],
            properties={
                "heads": IntegerAttr(heads, i64),
                "c1": FloatAttr(c1, f32),
                "c2": FloatAttr(c2, f32),
                "mask_diagonal": BoolAttr.from_bool(mask_diagonal),
                "seed": IntegerAttr(seed, i64),
                "stream": IntegerAttr(stream, i64),
                "head_range": None if head_range is None else i64_array(head_range),
                "query_range": None if query_range is None else i64_array(query_range),
            },
        )

    def ranges(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((head offset, total heads), (query offset, total queries)) of the whole attention."""
        heads = ints(self.head_range) if self.head_range is not None else (0, self.num_heads)
        nq = shape_of(self.query)[2]
        queries = ints(self.query_range) if self.query_range is not None else (0, nq)
        return (heads[0], heads[1]), (queries[0], queries[1])

    def verify_(self) -> None:
        super().verify_()
        if self.c1.value.data <= 0 or self.c2.value.data <= 0:
            raise VerifyException("spike.stochastic_attention: c1 and c2 must be > 0")
        if len(self.uniforms) not in (0, 2):
            raise VerifyException(
                "spike.stochastic_attention takes no uniform tables or exactly two (U1, U2)"
            )
        (h0, total_heads), (q0, total_queries) = self.ranges()
        t, b, nq, d = shape_of(self.query)
        h = self.num_heads
        if not (h0 >= 0 and h0 + h <= total_heads and q0 >= 0 and q0 + nq <= total_queries):
            raise VerifyException(
                f"spike.stochastic_attention: heads [{h0}, {h0 + h}) of {total_heads} or queries "
                f"[{q0}, {q0 + nq}) of {total_queries} out of range"
            )
        if self.uniforms:
            nk = shape_of(self.key)[2]
            for name, table, full in (
                ("U1", self.uniforms[0], (t, b, h, nq, nk)),
                ("U2", self.uniforms[1], (t, b, h, nq, d // h)),
            ):
                shape = shape_of(table)
                if len(shape) != 5 or broadcast_shapes(full, shape) != full:
                    raise VerifyException(
                        f"spike.stochastic_attention: {name} {format_shape(shape)} does not "
                        f"broadcast to [T, B, H, Nq, {'Nk' if name == 'U1' else 'dh'}] = "
                        f"{format_shape(full)}"
                    )
