"""Data movement: reshape, transpose, concat, split. They never change values, so spikes stay
spikes. On a spike train the time and batch axes stay in place."""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.layers import i64_array, ints
from compiler.dialects.spike.types import (
    ACTIVATION,
    DYNAMIC,
    Canonicalized,
    Shape,
    activation_type,
    check_real,
    check_result,
    dims_compatible,
    format_shape,
    is_spike,
    normalize_axis,
    shape_of,
)

Activation = ACTIVATION

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


def _check_spike_layout(op_name: str, before: Shape, after: Shape) -> None:
    if before[:2] != after[:2]:
        raise VerifyException(
            f"{op_name}: a spike train keeps its time and batch axes [T, B] in front; "
            f"{format_shape(before)} -> {format_shape(after)} moves them"
        )


def _same_kind(op: Operation, value: SSAValue, result: SSAValue) -> None:
    if is_spike(value) != is_spike(result):
        raise VerifyException(f"{op.name}: the result must be spikes exactly when the input is")


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """Reshape, keeping the order of elements. numpy: `X.reshape(shape)`, where a `-1` entry (the
    batch, printed `?` in types) takes the remaining size.
    """

    name = "spike.reshape"

    input = operand_def(Activation)
    """The tensor."""

    output = result_def(Activation)
    """The same elements in the new shape."""

    shape = prop_def(DenseArrayBase)
    """The new shape; at most one entry is -1."""

    traits = traits_def(Pure(), Canonicalized(("FoldReshape",)), Computes("reshape"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, input: SSAValue | Operation, shape: Sequence[int]) -> None:
        """`shape` may give the dynamic size as -1 or as DYNAMIC."""
        x = SSAValue.get(input)
        target = [-1 if d in (-1, DYNAMIC) else d for d in shape]
        result_shape = [DYNAMIC if d == -1 else d for d in target]
        super().__init__(
            operands=[x],
            result_types=[activation_type(result_shape, is_spike(x))],
            properties={"shape": i64_array(target)},
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.reshape input")
        _same_kind(self, self.input, self.output)
        before = shape_of(self.input)
        target = ints(self.shape)
        if target.count(-1) > 1 or any(d < -1 or d == 0 for d in target):
            raise VerifyException(
                f"spike.reshape: shape {list(target)} may hold one -1 and otherwise sizes >= 1"
            )
        after = tuple(DYNAMIC if d == -1 else d for d in target)
        known_before = math.prod(d for d in before if d != DYNAMIC)
        known_after = math.prod(d for d in after if d != DYNAMIC)
        dynamic_before, dynamic_after = DYNAMIC in before, DYNAMIC in after
        if (
            (not dynamic_before and not dynamic_after and known_before != known_after)
            or (dynamic_before and not dynamic_after)
            or (dynamic_before and known_before != known_after)
            or (not dynamic_before and dynamic_after and known_before % known_after)
        ):
            raise VerifyException(
                f"spike.reshape: cannot reshape {format_shape(before)} into {list(target)}"
            )
        if is_spike(self.input):
            _check_spike_layout(self.name, before, after)
        check_result(shape_of(self.output), after, self.name)


@irdl_op_definition
class TransposeOp(IRDLOperation):
    """Permute axes. numpy: `X.transpose(perm)`."""

    name = "spike.transpose"

    input = operand_def(Activation)
    """The tensor."""

    output = result_def(Activation)
    """The permuted tensor."""

    perm = prop_def(DenseArrayBase)
    """Output axis i is input axis perm[i]."""

    traits = traits_def(Pure(), Canonicalized(("FoldTranspose",)), Computes("transpose"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, input: SSAValue | Operation, perm: Sequence[int]) -> None:
        x = SSAValue.get(input)
        shape = shape_of(x)
        super().__init__(
            operands=[x],
            result_types=[activation_type([shape[p] for p in perm], is_spike(x))],
            properties={"perm": i64_array(perm)},
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.transpose input")
        _same_kind(self, self.input, self.output)
        shape, perm = shape_of(self.input), ints(self.perm)
        if sorted(perm) != list(range(len(shape))):
            raise VerifyException(
                f"spike.transpose: perm {list(perm)} is not a permutation of the {len(shape)} axes"
            )
        after = tuple(shape[p] for p in perm)
        if is_spike(self.input):
            _check_spike_layout(self.name, shape, after)
        check_result(shape_of(self.output), after, self.name)


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """Join tensors along an axis. numpy: `np.concatenate(inputs, axis)`."""

    name = "spike.concat"

    inputs = var_operand_def(Activation)
    """Tensors equal in every axis but `axis`."""

    output = result_def(Activation)
    """Spikes when every input is spikes."""

    axis = prop_def(IntegerAttr)
    """The axis to join along (non-negative)."""

    traits = traits_def(Pure(), Canonicalized(("FoldConcat",)), Computes("concat"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, inputs: Sequence[SSAValue | Operation], axis: int) -> None:
        values = [SSAValue.get(v) for v in inputs]
        shapes = [shape_of(v) for v in values]
        axis = normalize_axis(axis, len(shapes[0]), self.name)
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        spike = all(is_spike(v) for v in values)
        super().__init__(
            operands=[values],
            result_types=[activation_type(out, spike)],
            properties={"axis": IntegerAttr(axis, i64)},
        )

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("spike.concat needs at least one input")
        shapes = [shape_of(v) for v in self.inputs]
        axis = self.axis.value.data
        rank = len(shapes[0])
        if not 0 <= axis < rank:
            raise VerifyException(f"spike.concat: axis {axis} out of range for rank {rank}")
        for s in shapes:
            same = len(s) == rank and all(
                dims_compatible(a, b)
                for i, (a, b) in enumerate(zip(s, shapes[0], strict=True))
                if i != axis
            )
            if not same:
                raise VerifyException(
                    f"spike.concat: {format_shape(s)} does not match {format_shape(shapes[0])} "
                    f"outside axis {axis}"
                )
        if any(s[axis] == DYNAMIC for s in shapes):
            raise VerifyException("spike.concat: cannot join along a dynamic axis")
        expected = list(shapes[0])
        expected[axis] = sum(s[axis] for s in shapes)
        if is_spike(self.output) != all(is_spike(v) for v in self.inputs):
            raise VerifyException("spike.concat: result is spikes exactly when all inputs are")
        check_result(shape_of(self.output), expected, self.name)


@irdl_op_definition
class SplitOp(IRDLOperation):
    """Cut a tensor into consecutive pieces along an axis.

    numpy: `np.split(X, np.cumsum(sizes)[:-1], axis)`.
    """

    name = "spike.split"

    input = operand_def(Activation)
    """The tensor."""

    outputs = var_result_def(Activation)
    """One piece per entry of `sizes`."""

    axis = prop_def(IntegerAttr)
    """The axis to cut (non-negative)."""

    sizes = prop_def(DenseArrayBase)
    """Length of each piece along `axis`; they sum to the axis length."""

    traits = traits_def(Pure(), Canonicalized(("FoldSplit",)), Computes("split"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, input: SSAValue | Operation, axis: int, sizes: Sequence[int]) -> None:
        x = SSAValue.get(input)
        shape = shape_of(x)
        axis = normalize_axis(axis, len(shape), self.name)
        types: list[Attribute] = []
        for size in sizes:
            piece = list(shape)
            piece[axis] = size
            types.append(activation_type(piece, is_spike(x)))
        super().__init__(
            operands=[x],
            result_types=[types],
            properties={"axis": IntegerAttr(axis, i64), "sizes": i64_array(sizes)},
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.split input")
        shape, sizes = shape_of(self.input), ints(self.sizes)
        axis = self.axis.value.data
        if not 0 <= axis < len(shape):
            raise VerifyException(f"spike.split: axis {axis} out of range")
        if is_spike(self.input) and axis < 2:
            raise VerifyException("spike.split: cannot split a spike train along time or batch")
        if len(sizes) != len(self.outputs) or min(sizes, default=0) < 1:
            raise VerifyException("spike.split: one size >= 1 per result")
        if shape[axis] != DYNAMIC and sum(sizes) != shape[axis]:
            raise VerifyException(
                f"spike.split: sizes {list(sizes)} do not add up to axis {axis} of "
                f"{format_shape(shape)}"
            )
        for size, out in zip(sizes, self.outputs, strict=True):
            _same_kind(self, self.input, out)
            expected = list(shape)
            expected[axis] = size
            check_result(shape_of(out), expected, self.name)
