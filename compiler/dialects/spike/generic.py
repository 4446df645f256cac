"""Generic regions: ONNX arithmetic kept as it is.

What the raising passes recognise but cannot raise into a `spike` op (a neuron whose charge
matches no neuron model, bit for bit) stays ONNX: one model-local function whose inputs and
outputs are time-major tensors. `spike.onnx_region` carries that function and runs it with
`onnx.reference` (see `runtime.onnx_region`), in the reference interpreter and on every target's
fallback unit.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    prop_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.types import ACTIVATION, check_real, is_spike, real_type
from runtime.onnx_region import decode_body, encode_body

__all__ = ["OnnxRegionOp", "encode_body"]


@irdl_op_definition
class OnnxRegionOp(IRDLOperation):
    """An ONNX function run as it is (`onnx.reference`) on float32 tensors: a generic op (one
    ONNX node with no dedicated `spike` op, `Generic<k>`) or a pattern spikec recognised but
    could not raise, e.g. a neuron of no known model (`Unraised<k>`)."""

    name = "spike.onnx_region"

    inputs = var_operand_def(ACTIVATION)
    """The function's inputs, in order (time-major `[T, B, ...]`, or without a time axis)."""

    outputs = var_result_def(TensorType)
    """The function's outputs, in order: f32 tensors."""

    region_name = prop_def(StringAttr, prop_name="name")
    """The ONNX function's name (`Generic0`, `Unraised0`, ...), unique in its model."""

    body = prop_def(StringAttr)
    """The ONNX `FunctionProto`, serialized and base64-encoded."""

    reason = prop_def(StringAttr)
    """Why it has no dedicated op (what `spikec import --explain` says)."""

    traits = traits_def(Pure(), Computes("onnx_region"))

    def __init__(
        self,
        inputs: Sequence[SSAValue | Operation],
        result_shapes: Sequence[Sequence[int]],
        name: str,
        body: str,
        reason: str,
    ) -> None:
        result_types: list[Attribute] = [real_type(s) for s in result_shapes]
        super().__init__(
            operands=[[SSAValue.get(v) for v in inputs]],
            result_types=[result_types],
            properties={
                "name": StringAttr(name),
                "body": StringAttr(body),
                "reason": StringAttr(reason),
            },
        )

    def verify_(self) -> None:
        try:
            function = decode_body(self.body.data)
        except ValueError as e:
            raise VerifyException(f"spike.onnx_region: {e}") from e
        if function.name != self.region_name.data:
            raise VerifyException(
                f"spike.onnx_region: the body is function '{function.name}', not "
                f"'{self.region_name.data}'"
            )
        if len(function.input) != len(self.inputs) or len(function.output) != len(self.outputs):
            raise VerifyException(
                f"spike.onnx_region: the body takes {len(function.input)} inputs and gives "
                f"{len(function.output)} outputs; the op has {len(self.inputs)} operands and "
                f"{len(self.outputs)} results"
            )
        for v in self.inputs:
            check_real(v, "spike.onnx_region operand")
        for r in self.outputs:
            if is_spike(r):
                raise VerifyException("spike.onnx_region: results are f32 tensors")
            check_real(r, "spike.onnx_region result")
