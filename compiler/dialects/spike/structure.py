"""Weights and constants.

Weights live outside the IR text: `spike.global` declares a named tensor at module level, and
`spike.weight` reads it inside a function. That every read names a declared global of its type is
checked for the whole module at once by `check_weight_references` (part of the driver's
verification). The data comes from the file named by the module
attribute `spike.weights` (the ONNX model itself, or an `.npz`), looked up by the global's name,
unless the global carries its value inline (`spikec import --inline-weights`, or tiny tensors).
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    ModuleOp,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    TensorType,
)
from xdsl.ir import Attribute, Operation
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParamAttrConstraint,
    VarConstraint,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import ConstantLike, Pure, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class GlobalOp(IRDLOperation):
    """A named constant tensor of the model (a weight, a bias, a batch-norm statistic, a table of
    uniform random numbers).

    `spike.global @"blocks.0.attn.q.weight" : tensor<384x384xf32>` has no value in the text: it is
    read from the module's weight file under the same name. With `= dense<...>` the value is inline.
    """

    name = "spike.global"

    sym_name = prop_def(SymbolNameConstraint())
    """The tensor's name: the ONNX initializer name, so that it can be traced back to the model."""

    type = prop_def(TensorType)
    """Shape and element type of the tensor."""

    value = opt_prop_def(DenseIntOrFPElementsAttr)
    """The data, inline. Absent: the data is in the module's weight file."""

    traits = traits_def(SymbolOpInterface())

    assembly_format = "$sym_name `:` $type (`=` $value^)? attr-dict"

    def __init__(
        self, sym_name: str, type: TensorType, value: DenseIntOrFPElementsAttr | None = None
    ) -> None:
        super().__init__(
            properties={"sym_name": StringAttr(sym_name), "type": type, "value": value}
        )

    def verify_(self) -> None:
        if self.value is not None and self.value.type != self.type:
            raise VerifyException(
                f"spike.global @{self.sym_name.data}: inline value has type {self.value.type}, "
                f"declared {self.type}"
            )


@irdl_op_definition
class WeightOp(IRDLOperation):
    """Reads a module-level `spike.global`: `%w = spike.weight @name : tensor<64x64xf32>`.

    numpy: `w = weights[name]`.
    """

    name = "spike.weight"

    global_name = prop_def(SymbolRefAttr, prop_name="name")
    """The `spike.global` this reads."""

    result = result_def(TensorType)
    """The tensor; its type equals the global's."""

    traits = traits_def(Pure())

    assembly_format = "$name `:` type($result) attr-dict"

    def __init__(self, name: str, type: TensorType) -> None:
        super().__init__(result_types=[type], properties={"name": SymbolRefAttr(name)})

    @property
    def symbol(self) -> str:
        return self.global_name.root_reference.data

    def check_target(self, target: Operation | None) -> None:
        """The global this reads must exist and have the result's type."""
        if target is None:
            raise VerifyException(f"spike.weight: no spike.global named @{self.symbol}")
        if not isinstance(target, GlobalOp):
            raise VerifyException(f"spike.weight: @{self.symbol} is a {target.name}, not a global")
        if target.type != self.result.type:
            raise VerifyException(
                f"spike.weight @{self.symbol}: result type {self.result.type} does not match "
                f"the global's type {target.type}"
            )


def check_weight_references(module: ModuleOp) -> tuple[WeightOp, VerifyException] | None:
    """The first `spike.weight` whose global is missing or mistyped, with the reason.

    Done once per module with a table of the globals (a per-op symbol lookup would make
    verification quadratic in the size of the model)."""
    symbols: dict[str, Operation] = {}
    for op in module.ops:
        name = op.properties.get("sym_name")
        if isinstance(name, StringAttr):
            symbols[name.data] = op
    for op in module.walk():
        if isinstance(op, WeightOp):
            try:
                op.check_target(symbols.get(op.symbol))
            except VerifyException as e:
                return op, e
    return None


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A small constant tensor written in the IR: `%c = spike.constant dense<1.250000e-01> :
    tensor<f32>` (a scale, a threshold tensor, a shape).

    numpy: `c = np.asarray(value)`.
    """

    name = "spike.constant"

    _T: ClassVar = VarConstraint("T", AnyAttr())

    value = prop_def(ParamAttrConstraint(DenseIntOrFPElementsAttr, (_T, AnyAttr())))
    """The tensor, with its type."""

    result = result_def(_T)
    """The same tensor as an SSA value."""

    traits = traits_def(Pure(), ConstantLike())

    assembly_format = "$value attr-dict"

    def __init__(self, value: DenseIntOrFPElementsAttr) -> None:
        result_type: Attribute = value.type
        super().__init__(result_types=[result_type], properties={"value": value})
