"""Conversions between dense spike trains and address-encoded spikes (`!spike.encoded`)."""

from __future__ import annotations

from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.types import (
    Canonicalized,
    EncodedSpikesType,
    SpikeTrainType,
    format_shape,
    shape_of,
    shapes_compatible,
)


def _check_same_shape(op: IRDLOperation, dense: SSAValue, encoded: SSAValue) -> None:
    if not shapes_compatible(shape_of(dense), shape_of(encoded)):
        raise VerifyException(
            f"{op.name}: the encoded shape {format_shape(shape_of(encoded))} must equal the "
            f"dense shape {format_shape(shape_of(dense))}"
        )


@irdl_op_definition
class EncodeOp(IRDLOperation):
    """Store spikes as their addresses (the spike encoder of a sparse accelerator).

    numpy, per row r of the dense tensor viewed as `[rows, positions]`:
    `addresses[r] = np.flatnonzero(S[r])`.
    """

    name = "spike.encode"

    input = operand_def(SpikeTrainType)
    """Dense spikes."""

    output = result_def(EncodedSpikesType)
    """The same spikes as address lists."""

    traits = traits_def(Pure(), Canonicalized(("FoldEncodeDecode",)), Computes("encode"))
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"

    def __init__(self, input: SSAValue | Operation, address_axes: int = 1) -> None:
        x = SSAValue.get(input)
        super().__init__(operands=[x], result_types=[EncodedSpikesType(shape_of(x), address_axes)])

    def verify_(self) -> None:
        _check_same_shape(self, self.input, self.output)


@irdl_op_definition
class DecodeOp(IRDLOperation):
    """Expand address-encoded spikes back to a dense spike train, for a consumer that needs it.

    numpy: `S = zeros(shape); S[r, addresses[r]] = 1` for every row r.
    """

    name = "spike.decode"

    input = operand_def(EncodedSpikesType)
    """Encoded spikes."""

    output = result_def(SpikeTrainType)
    """The same spikes, dense."""

    traits = traits_def(Pure(), Canonicalized(("FoldDecodeEncode",)), Computes("decode"))
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"

    def __init__(self, input: SSAValue | Operation) -> None:
        x = SSAValue.get(input)
        super().__init__(operands=[x], result_types=[SpikeTrainType(shape_of(x))])

    def verify_(self) -> None:
        _check_same_shape(self, self.output, self.input)
