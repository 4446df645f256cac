"""Mixture of experts: routing, the expert block, dispatch and combine.

A router produces gates `G[T, B, N, E]` (token n of step t goes to expert e when
G[t, b, n, e] != 0): `spike.route_topk` for top-k routing (binary gates, or the softmax
probabilities of the chosen experts), or any spiking layer for a spike-gated (SEMM-style) router.
Gates may also be time-invariant, `G[B, N, E]` without the time axis (a router on spikes
averaged over time routes each token once for all timesteps); they then apply to every timestep
of `X[T, B, N, D]`. `spike.moe` holds one region per expert. Its meaning, with
`g_e = G[..., e:e+1]` (broadcast over time when G has no time axis):

    Y = sum_e g_e * expert_e(X * [g_e != 0])

so an expert sees only the tokens routed to it, unscaled (others are zero input: its neurons
leak there), and only routed tokens reach the output, weighted by their gate. The sum runs in
expert order: `g_0 * y_0`, then `+ g_1 * y_1`, ... For binary gates `X * [g_e != 0]` is
`X * g_e`. `spike.dispatch` and `spike.combine` are the two halves of that formula, for IR in
which the experts have been split out (`partition-experts`). The token axis is the second to
last of X (`N`), and of G.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import BoolAttr, DenseArrayBase, IntegerAttr, i64
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_region_def,
)
from xdsl.traits import HasParent, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.layers import i64_array, ints
from compiler.dialects.spike.types import (
    ACTIVATION,
    DYNAMIC,
    activation_type,
    check_real,
    check_result,
    format_shape,
    is_spike,
    shape_of,
    shapes_compatible,
)

Activation = ACTIVATION

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


def _check_gates(op_name: str, x: SSAValue, gates: SSAValue) -> int:
    """The number of experts E; gates must be `x.shape[:-1] + [E]` (time-major), or that
    without the time axis, `x.shape[1:-1] + [E]` (time-invariant: one routing for all steps)."""
    xs, gs = shape_of(x), shape_of(gates)
    check_real(gates, f"{op_name} gates")
    time_major = len(gs) == len(xs) and shapes_compatible(gs[:-1], xs[:-1])
    static = len(gs) == len(xs) - 1 and len(gs) >= 2 and shapes_compatible(gs[:-1], xs[1:-1])
    if not time_major and not static:
        raise VerifyException(
            f"{op_name}: gates {format_shape(gs)} must be the input's shape "
            f"{format_shape(xs)} with the feature axis replaced by the experts, with the time "
            "axis ([T, B, ..., E]) or without it ([B, ..., E], the same routing at every step)"
        )
    if static and is_spike(gates):
        raise VerifyException(
            f"{op_name}: time-invariant gates {format_shape(gs)} must be a tensor (a spike "
            "train is time-major)"
        )
    return gs[-1]


def token_axis(x: SSAValue) -> int:
    """The token axis of a MoE input `X[T, B, ..., N, D]`: its second to last."""
    return len(shape_of(x)) - 2


def binary_top1(gates: SSAValue) -> bool:
    """Whether `gates` come from a top-1 router with binary gates: then gating spikes gives
    spikes."""
    router = gates.owner
    return (
        isinstance(router, RouteTopKOp)
        and router.k.value.data == 1
        and not router.softmax_weights()
    )


@irdl_op_definition
class RouteTopKOp(IRDLOperation):
    """Top-k router: each token goes to the k experts with the largest scores (per timestep for
    time-major scores `[T, B, N, E]`, once for time-invariant scores `[B, N, E]`).

    numpy: `P = L`, or with `softmax` `P = softmax(L)` over the experts in float32
    (`exp(L - max(L)) / sum(exp(L - max(L)))`, as ONNX Softmax);
    `idx = argsort(-P, axis=-1, kind="stable")[..., :k]` — the k largest P, ties to the lower
    expert index, as in ONNX TopK; `G = zeros_like(L)`, then 1 at idx (binary gates) or, with
    `softmax`, `P` at idx; with `normalize` too, `P[idx] / sum(P[idx])` (the chosen
    probabilities renormalised to sum to one, summed in expert-rank order, as Mixtral routes).
    """

    name = "spike.route_topk"

    logits = operand_def(Activation)
    """Router scores `L[T, B, N, E]`, or `L[B, N, E]` without the time axis."""

    gates = result_def(Activation)
    """Gates, the shape of L: binary (exactly k ones per token; a spike train when L is
    time-major, else a tensor of 0/1), or with `softmax` the k chosen probabilities (a
    tensor)."""

    k = prop_def(IntegerAttr)
    """Experts per token, 1 <= k <= E."""

    softmax = opt_prop_def(BoolAttr)
    """Whether the gates are softmax-weighted: the chosen experts' probabilities
    `softmax(L)` (the top-k is taken of those), instead of ones (default false)."""

    normalize = opt_prop_def(BoolAttr)
    """With `softmax`: whether the chosen probabilities are divided by their sum (default
    false)."""

    traits = traits_def(Pure(), Computes("route_topk"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        logits: SSAValue | Operation,
        *,
        k: int,
        softmax: bool = False,
        normalize: bool = False,
        spike_output: bool | None = None,
    ) -> None:
        """`spike_output` (default: not `softmax`) types binary gates as a spike train; pass
        False for time-invariant scores, whose gates have no time axis."""
        value = SSAValue.get(logits)
        spikes = not softmax if spike_output is None else spike_output
        super().__init__(
            operands=[value],
            result_types=[activation_type(shape_of(value), spikes)],
            properties={
                "k": IntegerAttr(k, i64),
                "softmax": BoolAttr.from_bool(True) if softmax else None,
                "normalize": BoolAttr.from_bool(True) if normalize else None,
            },
        )

    def softmax_weights(self) -> bool:
        return self.softmax is not None and bool(self.softmax.value.data)

    def renormalised(self) -> bool:
        return self.normalize is not None and bool(self.normalize.value.data)

    def verify_(self) -> None:
        check_real(self.logits, "spike.route_topk scores")
        check_real(self.gates, "spike.route_topk gates")
        shape = shape_of(self.logits)
        if len(shape) < 2:
            raise VerifyException(
                "spike.route_topk: scores must be [T, B, ..., E] or time-invariant [B, ..., E]"
            )
        k = self.k.value.data
        if not 1 <= k <= shape[-1]:
            raise VerifyException(f"spike.route_topk: k = {k} must be in [1, E = {shape[-1]}]")
        check_result(shape_of(self.gates), shape, self.name)
        if self.renormalised() and not self.softmax_weights():
            raise VerifyException("spike.route_topk: normalize renormalises softmax weights")
        if self.softmax_weights() and is_spike(self.gates):
            raise VerifyException(
                "spike.route_topk: softmax-weighted gates are real; the result must be a tensor"
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Ends an expert region of `spike.moe` and returns the expert's output."""

    name = "spike.yield"

    values = var_operand_def(Activation)
    """The expert's output."""

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(MoEOp)))
    assembly_format = "attr-dict ($values^ `:` type($values))?"

    def __init__(self, *values: SSAValue | Operation) -> None:
        super().__init__(operands=[list(values)])


@irdl_op_definition
class MoEOp(IRDLOperation):
    """A mixture-of-experts block: `Y = sum_e g_e * expert_e(X * [g_e != 0])` (see the module
    doc).

    Each region is one expert: a single block with one argument (the dispatched input, typed as X)
    ending in `spike.yield` of the expert's output `[..., D_out]`.
    """

    name = "spike.moe"

    input = operand_def(Activation)
    """`X[T, B, N, D]`."""

    gates = operand_def(Activation)
    """Routing `G[T, B, N, E]` or time-invariant `G[B, N, E]`: binary, or real weights (a token
    goes to the experts whose gate is not zero)."""

    output = result_def(Activation)
    """`Y[T, B, N, D_out]`: spikes when every token has one expert with a binary gate (top-1)
    and experts fire spikes; real otherwise."""

    experts = var_region_def("single_block")
    """One region per expert, E in all."""

    traits = traits_def(Pure())

    def __init__(
        self,
        input: SSAValue | Operation,
        gates: SSAValue | Operation,
        experts: Sequence[Region],
        *,
        spike_output: bool,
    ) -> None:
        x = SSAValue.get(input)
        first = experts[0].block.last_op
        assert isinstance(first, YieldOp)
        out = (*shape_of(x)[:-1], shape_of(first.values[0])[-1])
        super().__init__(
            operands=[x, gates],
            result_types=[activation_type(out, spike_output)],
            regions=[list(experts)],
        )

    @staticmethod
    def expert_region(input_type: Attribute) -> Region:
        """An empty expert region whose block takes the dispatched input."""
        return Region(Block(arg_types=[input_type]))

    def yields(self) -> list[YieldOp]:
        result: list[YieldOp] = []
        for index, region in enumerate(self.experts):
            last = region.block.last_op
            if not isinstance(last, YieldOp) or len(last.values) != 1:
                raise VerifyException(
                    f"spike.moe: expert {index} must end with spike.yield of one value"
                )
            result.append(last)
        return result

    def verify_(self) -> None:
        check_real(self.input, "spike.moe input")
        experts = _check_gates(self.name, self.input, self.gates)
        if len(self.experts) != experts:
            raise VerifyException(
                f"spike.moe: gates route to {experts} experts but there are "
                f"{len(self.experts)} expert regions"
            )
        for index, region in enumerate(self.experts):
            args = region.block.args
            if len(args) != 1 or args[0].type != self.input.type:
                raise VerifyException(
                    f"spike.moe: expert {index} must take one argument of the input's type "
                    f"{self.input.type}"
                )
        yields = self.yields()
        out_shape = shape_of(yields[0].values[0])
        for index, y in enumerate(yields):
            if shape_of(y.values[0]) != out_shape:
                raise VerifyException(
                    f"spike.moe: expert {index} yields {format_shape(shape_of(y.values[0]))}, "
                    f"expert 0 yields {format_shape(out_shape)}"
                )
        expected = (*shape_of(self.input)[:-1], out_shape[-1])
        check_result(shape_of(self.output), expected, self.name)
        spiking = binary_top1(self.gates) and all(is_spike(y.values[0]) for y in yields)
        if is_spike(self.output) and not spiking:
            raise VerifyException(
                "spike.moe: the output can be spikes only with a top-1 router and experts "
                "that yield spikes (binary gates)"
            )


def _check_token_range(op_name: str, tokens: Sequence[int], count: int) -> None:
    start, end = tokens
    if not 0 <= start < end or (count != DYNAMIC and end > count):
        raise VerifyException(f"{op_name}: token range [{start}, {end}) out of [0, {count})")


@irdl_op_definition
class DispatchOp(IRDLOperation):
    """The input of one expert: `X * [G[..., e:e+1] != 0]` (tokens not routed to e become 0;
    routed ones pass unscaled; time-invariant gates apply to every timestep).

    With `tokens = [start, end)`, only those tokens (the second-to-last axis of X and of G) are
    dispatched, the others are 0: a replica of an expert that serves a slice of the tokens
    (`partition-experts`).
    """

    name = "spike.dispatch"

    input = operand_def(Activation)
    """`X[T, B, N, D]`."""

    gates = operand_def(Activation)
    """`G[T, B, N, E]` or time-invariant `G[B, N, E]`."""

    output = result_def(Activation)
    """`X` masked to the tokens of expert e; spikes when X is."""

    expert = prop_def(IntegerAttr)
    """The expert e, 0 <= e < E."""

    tokens = opt_prop_def(DenseArrayBase)
    """Optional [start, end) of the tokens dispatched (default: all)."""

    traits = traits_def(Pure(), Computes("dispatch"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        input: SSAValue | Operation,
        gates: SSAValue | Operation,
        *,
        expert: int,
        tokens: tuple[int, int] | None = None,
    ) -> None:
        x = SSAValue.get(input)
        super().__init__(
            operands=[x, gates],
            result_types=[x.type],
            properties={
                "expert": IntegerAttr(expert, i64),
                "tokens": None if tokens is None else i64_array(tokens),
            },
        )

    def token_range(self) -> tuple[int, int] | None:
        if self.tokens is None:
            return None
        start, end = ints(self.tokens)
        return start, end

    def verify_(self) -> None:
        experts = _check_gates(self.name, self.input, self.gates)
        e = self.expert.value.data
        if not 0 <= e < experts:
            raise VerifyException(f"spike.dispatch: expert {e} out of range [0, {experts})")
        if self.output.type != self.input.type:
            raise VerifyException("spike.dispatch: the result has the input's type")
        if self.tokens is not None:
            tokens = ints(self.tokens)
            if len(tokens) != 2:
                raise VerifyException("spike.dispatch: tokens is [start, end)")
            _check_token_range(self.name, tokens, shape_of(self.input)[token_axis(self.input)])


@irdl_op_definition
class CombineOp(IRDLOperation):
    """Merge expert outputs at their tokens' positions: `Y = sum_e G[..., e:e+1] * Y_e`, summed
    in expert order (`G_0 * Y_0`, then `+ G_1 * Y_1`, ...; time-invariant gates apply to every
    timestep).

    After `partition-experts` replicates experts, input j is the output of expert `experts[j]`
    for the tokens `tokens[2j] <= n < tokens[2j + 1]` (the second-to-last axis):
    `Y = sum_j G[..., e_j:e_j+1] * M_j * Y_j` in input order, with M_j the token mask.
    """

    name = "spike.combine"

    gates = operand_def(Activation)
    """`G[T, B, N, E]` or time-invariant `G[B, N, E]`."""

    inputs = var_operand_def(Activation)
    """`Y_0 ... Y_{E-1}`, each `[T, B, N, D]`."""

    output = result_def(Activation)
    """`Y[T, B, N, D]`: spikes only for a top-1 router and spike inputs."""

    experts = opt_prop_def(DenseArrayBase)
    """Optional expert of each input (default: input e is expert e)."""

    tokens = opt_prop_def(DenseArrayBase)
    """Optional [start, end) token range of each input, flattened (default: all tokens)."""

    traits = traits_def(Pure(), Computes("combine"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        gates: SSAValue | Operation,
        inputs: Sequence[SSAValue | Operation],
        *,
        spike_output: bool,
        experts: Sequence[int] | None = None,
        tokens: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        values = [SSAValue.get(v) for v in inputs]
        super().__init__(
            operands=[gates, values],
            result_types=[activation_type(shape_of(values[0]), spike_output)],
            properties={
                "experts": None if experts is None else i64_array(experts),
                "tokens": None if tokens is None else i64_array([t for r in tokens for t in r]),
            },
        )

    def input_experts(self) -> list[int]:
        if self.experts is None:
            return list(range(len(self.inputs)))
        return list(ints(self.experts))

    def input_tokens(self) -> list[tuple[int, int] | None]:
        if self.tokens is None:
            return [None] * len(self.inputs)
        flat = ints(self.tokens)
        return [(flat[2 * j], flat[2 * j + 1]) for j in range(len(flat) // 2)]

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("spike.combine needs one input per expert")
        experts = _check_gates(self.name, self.inputs[0], self.gates)
        if self.experts is None and len(self.inputs) != experts:
            raise VerifyException(
                f"spike.combine: {len(self.inputs)} expert outputs for {experts} experts"
            )
        mapping = self.input_experts()
        if len(mapping) != len(self.inputs) or not all(0 <= e < experts for e in mapping):
            raise VerifyException(
                f"spike.combine: experts {mapping} must name one expert in [0, {experts}) per input"
            )
        if self.tokens is not None:
            if len(ints(self.tokens)) != 2 * len(self.inputs):
                raise VerifyException("spike.combine: tokens holds a [start, end) per input")
            for tokens in self.input_tokens():
                assert tokens is not None
                _check_token_range(
                    self.name, tokens, shape_of(self.inputs[0])[token_axis(self.inputs[0])]
                )
        shape = shape_of(self.inputs[0])
        for v in self.inputs:
            check_real(v, "spike.combine input")
            if not shapes_compatible(shape_of(v), shape):
                raise VerifyException("spike.combine: expert outputs must have one shape")
        check_result(shape_of(self.output), shape, self.name)
        spiking = binary_top1(self.gates) and all(is_spike(v) for v in self.inputs)
        if is_spike(self.output) and not spiking:
            raise VerifyException(
                "spike.combine: the output can be spikes only with a top-1 router and spike "
                "inputs (binary gates)"
            )
