"""What each `spike` op computes: an entry of the runtime's semantics (`runtime.ops.SEMANTICS`),
applied to the op's operands with the op's properties as attributes of the same names.

This is the one definition of an op's meaning. The reference interpreter runs the entry an op's
`Computes` trait names, with the attributes `op_attributes` decodes; a target's lowering hands
the same attributes to an instruction whose opcode computes the same entry. A new op names its
entry here once, and the interpreter and every target pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    UnitAttr,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import Attribute, Operation
from xdsl.traits import OpTrait

from runtime.ops import SEMANTICS
from runtime.program import AttrValue


@dataclass(frozen=True)
class Computes(OpTrait):
    """Trait naming the entry of `runtime.ops.SEMANTICS` an op computes; an unknown name fails
    when the dialect is imported."""

    semantics: str

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise ValueError(f"Computes({self.semantics!r}): runtime.ops has no such semantics")


def semantics_of(op: Operation | type[Operation]) -> str | None:
    """The semantics an op computes (None: a structural op, e.g. a weight or a region)."""
    trait = op.get_trait(Computes)
    return trait.semantics if trait is not None else None


def attribute_value(attr: Attribute) -> AttrValue | None:
    """An op property as a runtime attribute (None: not one the semantics read, skipped)."""
    if (
        isinstance(attr, IntegerAttr)
        and isinstance(attr.type, IntegerType)
        and attr.type.width.data == 1
    ):
        return bool(attr.value.data)
    if isinstance(attr, IntegerAttr):
        return int(attr.value.data)
    if isinstance(attr, FloatAttr):
        return float(attr.value.data)
    if isinstance(attr, DenseArrayBase):
        values = cast("DenseArrayBase[IntegerType]", attr).get_values()
        return [int(v) for v in values]
    if isinstance(attr, EnumAttribute):
        return str(attr.data.value)
    if isinstance(attr, UnitAttr):
        return True
    if isinstance(attr, StringAttr):
        return attr.data
    return None


def op_attributes(op: Operation) -> dict[str, AttrValue]:
    """The op's properties as the attributes its semantics read (the same names)."""
    result: dict[str, AttrValue] = {}
    for key, attr in op.properties.items():
        value = attribute_value(attr)
        if value is not None:
            result[key] = value
    return result
