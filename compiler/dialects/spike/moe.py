"""Mixture of experts: routing, the expert block, dispatch and combine.

A router produces binary gates `G[T, B, N, E]` (token n of step t goes to expert e when
G[t, b, n, e] = 1): `spike.route_topk` for top-k routing, or any spiking layer for a spike-gated
(SEMM-style) router. `spike.moe` holds one region per expert. Its meaning, with
`g_e = G[..., e:e+1]`:

    Y = sum_e g_e * expert_e(X * g_e)

so an expert sees only the tokens routed to it (others are zero input: its neurons leak there),
and only routed tokens reach the output. `spike.dispatch` and `spike.combine` are the two halves
of that formula, for IR in which the experts have been split out (`partition-experts`).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, i64
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

from compiler.dialects.spike.layers import i64_array, ints
from compiler.dialects.spike.types import (
    ACTIVATION,
    DYNAMIC,
    SpikeTrainType,
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
    """The number of experts E; gates must be `x.shape[:-1] + [E]`."""
    xs, gs = shape_of(x), shape_of(gates)
    if len(gs) != len(xs) or not shapes_compatible(gs[:-1], xs[:-1]):
        raise VerifyException(
            f"{op_name}: gates {format_shape(gs)} must be the input's shape "
            f"{format_shape(xs)} with the feature axis replaced by the experts"
        )
    return gs[-1]


@irdl_op_definition
class RouteTopKOp(IRDLOperation):
    """Top-k router: each token goes to the k experts with the largest scores, per timestep.

    numpy: `G = zeros_like(L); idx = argsort(-L, axis=-1, kind="stable")[..., :k];
    put 1 at idx` — ties go to the lower expert index, as in ONNX TopK.
    """

    name = "spike.route_topk"

    logits = operand_def(Activation)
    """Router scores `L[T, B, N, E]`."""

    gates = result_def(SpikeTrainType)
    """Binary gates `G[T, B, N, E]` with exactly k ones per token."""

    k = prop_def(IntegerAttr)
    """Experts per token, 1 <= k <= E."""

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, logits: SSAValue | Operation, *, k: int) -> None:
        value = SSAValue.get(logits)
        super().__init__(
            operands=[value],
            result_types=[SpikeTrainType(shape_of(value))],
            properties={"k": IntegerAttr(k, i64)},
        )

    def verify_(self) -> None:
        check_real(self.logits, "spike.route_topk scores")
        shape = shape_of(self.logits)
        if len(shape) < 2:
            raise VerifyException("spike.route_topk: scores must be time-major [T, B, ..., E]")
        k = self.k.value.data
        if not 1 <= k <= shape[-1]:
            raise VerifyException(f"spike.route_topk: k = {k} must be in [1, E = {shape[-1]}]")
        check_result(shape_of(self.gates), shape, self.name)


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
    """A mixture-of-experts block: `Y = sum_e g_e * expert_e(X * g_e)` (see the module doc).

    Each region is one expert: a single block with one argument (the dispatched input, typed as X)
    ending in `spike.yield` of the expert's output `[..., D_out]`.
    """

    name = "spike.moe"

    input = operand_def(Activation)
    """`X[T, B, N, D]`."""

    gates = operand_def(SpikeTrainType)
    """Binary routing `G[T, B, N, E]`."""

    output = result_def(Activation)
    """`Y[T, B, N, D_out]`: spikes when every token has one expert (top-1) and experts fire
    spikes; real otherwise."""

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
        if is_spike(self.output):
            router = self.gates.owner
            top1 = isinstance(router, RouteTopKOp) and router.k.value.data == 1
            if not top1 or not all(is_spike(y.values[0]) for y in yields):
                raise VerifyException(
                    "spike.moe: the output can be spikes only with a top-1 router and experts "
                    "that yield spikes"
                )


def _check_token_range(op_name: str, tokens: Sequence[int], count: int) -> None:
    start, end = tokens
    if not 0 <= start < end or (count != DYNAMIC and end > count):
        raise VerifyException(f"{op_name}: token range [{start}, {end}) out of [0, {count})")


@irdl_op_definition
class DispatchOp(IRDLOperation):
    """The input of one expert: `X * G[..., e:e+1]` (tokens not routed to e become 0).

    With `tokens = [start, end)`, only those tokens (axis 2) are dispatched, the others are 0:
    a replica of an expert that serves a slice of the tokens (`partition-experts`).
    """

    name = "spike.dispatch"

    input = operand_def(Activation)
    """`X[T, B, N, D]`."""

    gates = operand_def(SpikeTrainType)
    """`G[T, B, N, E]`."""

    output = result_def(Activation)
    """`X` masked to the tokens of expert e; spikes when X is."""

    expert = prop_def(IntegerAttr)
    """The expert e, 0 <= e < E."""

    tokens = opt_prop_def(DenseArrayBase)
    """Optional [start, end) of the tokens dispatched (default: all)."""

    traits = traits_def(Pure())
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
            _check_token_range(self.name, tokens, shape_of(self.input)[2])


@irdl_op_definition
class CombineOp(IRDLOperation):
    """Merge expert outputs at their tokens' positions: `Y = sum_e G[..., e:e+1] * Y_e`, summed
    in expert order.

    After `partition-experts` replicates experts, input j is the output of expert `experts[j]`
    for the tokens `tokens[2j] <= n < tokens[2j + 1]` (axis 2): `Y = sum_j G[..., e_j:e_j+1] *
    M_j * Y_j` in input order, with M_j the token mask.
    """

    name = "spike.combine"

    gates = operand_def(SpikeTrainType)
    """`G[T, B, N, E]`."""

    inputs = var_operand_def(Activation)
    """`Y_0 ... Y_{E-1}`, each `[T, B, N, D]`."""

    output = result_def(Activation)
    """`Y[T, B, N, D]`: spikes only for a top-1 router and spike inputs."""

    experts = opt_prop_def(DenseArrayBase)
    """Optional expert of each input (default: input e is expert e)."""

    tokens = opt_prop_def(DenseArrayBase)
    """Optional [start, end) token range of each input, flattened (default: all tokens)."""

    traits = traits_def(Pure())
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
                _check_token_range(self.name, tokens, shape_of(self.inputs[0])[2])
        shape = shape_of(self.inputs[0])
        for v in self.inputs:
            check_real(v, "spike.combine input")
            if not shapes_compatible(shape_of(v), shape):
                raise VerifyException("spike.combine: expert outputs must have one shape")
        check_result(shape_of(self.output), shape, self.name)
        if is_spike(self.output):
            router = self.gates.owner
            top1 = isinstance(router, RouteTopKOp) and router.k.value.data == 1
            if not top1 or not all(is_spike(v) for v in self.inputs):
                raise VerifyException(
                    "spike.combine: the output can be spikes only with a top-1 router and "
                    "spike inputs"
                )
