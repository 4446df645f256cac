"""Elementwise arithmetic (residual adds, Hadamard products, scaling) and reductions.

Binary ops broadcast like numpy. Two time-major operands must agree on T; a constant or weight
operand broadcasts along the trailing axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import BoolAttr, DenseArrayBase
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.layers import check_axes, i64_array, ints
from compiler.dialects.spike.types import (
    ACTIVATION,
    ENCODABLE,
    Shape,
    activation_type,
    broadcast_shapes,
    check_real,
    check_result,
    is_spike,
    real_type,
    shape_of,
)

Activation = ACTIVATION

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


class BinaryOp(IRDLOperation):
    """Shared fields of the elementwise binary ops."""

    lhs = operand_def(ENCODABLE)
    """Left operand."""

    rhs = operand_def(ENCODABLE)
    """Right operand, broadcast against the left."""

    result = result_def(Activation)
    """The broadcast shape."""

    traits = traits_def(Pure())
    assembly_format = _FORMAT

    SPIKE_RESULT: ClassVar[bool] = False
    """Whether two spike operands give a spike result (only for the product)."""

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation) -> None:
        a, b = SSAValue.get(lhs), SSAValue.get(rhs)
        shape = broadcast_shapes(shape_of(a), shape_of(b))
        spike = self.SPIKE_RESULT and is_spike(a) and is_spike(b)
        super().__init__(operands=[a, b], result_types=[activation_type(shape, spike)])

    def verify_(self) -> None:
        check_real(self.lhs, f"{self.name} lhs")
        check_real(self.rhs, f"{self.name} rhs")
        spike = self.SPIKE_RESULT and is_spike(self.lhs) and is_spike(self.rhs)
        if is_spike(self.result) != spike:
            kind = "a spike train" if spike else "real"
            raise VerifyException(f"{self.name}: the result must be {kind}")
        expected = broadcast_shapes(shape_of(self.lhs), shape_of(self.rhs))
        check_result(shape_of(self.result), expected, self.name)


@irdl_op_definition
class AddOp(BinaryOp):
    """Sum, e.g. a residual connection (on spikes: a count, so real). numpy: `lhs + rhs`."""

    name = "spike.add"

    traits = traits_def(Pure(), Computes("add"))


@irdl_op_definition
class SubOp(BinaryOp):
    """Difference. numpy: `lhs - rhs`."""

    name = "spike.sub"

    traits = traits_def(Pure(), Computes("sub"))


@irdl_op_definition
class MulOp(BinaryOp):
    """Hadamard product. On two spike trains it is the AND, and the result is spikes.

    numpy: `lhs * rhs`.
    """

    name = "spike.mul"

    traits = traits_def(Pure(), Computes("mul"))
    SPIKE_RESULT: ClassVar[bool] = True


@irdl_op_definition
class DivOp(BinaryOp):
    """Quotient, e.g. a scale by a constant. numpy: `lhs / rhs`."""

    name = "spike.div"

    traits = traits_def(Pure(), Computes("div"))


class ReduceOp(IRDLOperation):
    """Shared fields of the reductions."""

    input = operand_def(ENCODABLE)
    """The tensor to reduce."""

    output = result_def(Activation)
    """The reduced tensor. Reducing axis 0 of a time-major value removes its time axis."""

    axes = prop_def(DenseArrayBase)
    """The axes to reduce (non-negative, sorted)."""

    keepdims = prop_def(BoolAttr)
    """Keep reduced axes with size 1."""

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    KEEPS_SPIKES: ClassVar[bool] = False
    """Whether a reduction of spikes is spikes (only max: the OR)."""

    def __init__(
        self, input: SSAValue | Operation, *, axes: Sequence[int], keepdims: bool = False
    ) -> None:
        x = SSAValue.get(input)
        shape = shape_of(x)
        normal = check_axes(axes, len(shape), self.name)
        out = reduced_shape(shape, normal, keepdims)
        spike = self.KEEPS_SPIKES and is_spike(x)
        super().__init__(
            operands=[x],
            result_types=[activation_type(out, spike) if spike else real_type(out)],
            properties={"axes": i64_array(normal), "keepdims": BoolAttr.from_bool(keepdims)},
        )

    def verify_(self) -> None:
        check_real(self.input, f"{self.name} input")
        shape = shape_of(self.input)
        axes = ints(self.axes)
        if list(axes) != check_axes(axes, len(shape), self.name):
            raise VerifyException(f"{self.name}: axes must be non-negative and sorted")
        spike = self.KEEPS_SPIKES and is_spike(self.input)
        if is_spike(self.output) != spike:
            raise VerifyException(f"{self.name}: result kind (spikes or real) is wrong")
        keepdims = bool(self.keepdims.value.data)
        check_result(shape_of(self.output), reduced_shape(shape, axes, keepdims), self.name)


def reduced_shape(shape: Shape, axes: Sequence[int], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


@irdl_op_definition
class ReduceSumOp(ReduceOp):
    """Sum over axes. numpy: `X.sum(axis=axes, keepdims=keepdims)`."""

    name = "spike.reduce_sum"

    traits = traits_def(Pure(), Computes("reduce_sum"))


@irdl_op_definition
class ReduceMeanOp(ReduceOp):
    """Mean over axes (global average pooling; the mean over T of a classifier head).

    numpy: `X.mean(axis=axes, keepdims=keepdims)`.
    """

    name = "spike.reduce_mean"

    traits = traits_def(Pure(), Computes("reduce_mean"))


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    """Maximum over axes; on spikes, the OR. numpy: `X.max(axis=axes, keepdims=keepdims)`."""

    name = "spike.reduce_max"

    traits = traits_def(Pure(), Computes("reduce_max"))
    KEEPS_SPIKES: ClassVar[bool] = True
