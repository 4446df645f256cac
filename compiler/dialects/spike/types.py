"""Types and enum attributes of the `spike` dialect, and shape helpers shared by its verifiers.

Activations are time-major: `[T, B, ...]` with a static number of timesteps T. Binary activations
(spikes) have the type `!spike.train<T x B x ...>`; real-valued ones are builtin `tensor<...xf32>`.
A real tensor whose leading axis is not time (a weight, or a result after a mean over T) is also a
builtin tensor: which real tensors are time-major follows from the dataflow, not from the type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    ArrayAttr,
    Float32Type,
    IntAttr,
    ShapedType,
    StringAttr,
    TensorType,
    f32,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Operation,
    ParametrizedAttribute,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import AnyOf, base, irdl_attr_definition
from xdsl.irdl.constraints import VerificationContext
from xdsl.parser import AttrParser
from xdsl.pattern_rewriter import RewritePattern
from xdsl.printer import Printer
from xdsl.traits import HasCanonicalizationPatternsTrait
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

DYNAMIC = DYNAMIC_INDEX
"""A dimension whose size is known only at run time (printed `?`); only the batch may be one."""

Shape = tuple[int, ...]


@irdl_attr_definition
class SpikeTrainType(ParametrizedAttribute, TypeAttribute, ShapedType):
    """A binary spike tensor, time-major: `!spike.train<4x?x64x384>` is T=4 steps of a
    `[?, 64, 384]` tensor. Dimension 0 is time and is static; dimension 1 is the batch and may be
    `?`.

    Values are 0 or 1; the reference interpreter holds them as float32 arrays, as ONNX does.
    """

    name = "spike.train"

    shape: ArrayAttr[IntAttr]
    """The full shape, time first: `[T, B, ...]`."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__(ArrayAttr([IntAttr(d) for d in shape]))

    def get_num_dims(self) -> int:
        return len(self.shape.data)

    def get_shape(self) -> Shape:
        return tuple(d.data for d in self.shape.data)

    @property
    def timesteps(self) -> int:
        return self.shape.data[0].data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_dimension_list()
        return [ArrayAttr([IntAttr(d) for d in dims])]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(format_shape(self.get_shape()))

    def verify(self) -> None:
        shape = self.get_shape()
        if len(shape) < 2:
            raise VerifyException(
                f"!spike.train needs a time and a batch axis [T, B, ...], got rank {len(shape)}"
            )
        if shape[0] <= 0:
            raise VerifyException("!spike.train: the time axis (dim 0) must be static and > 0")
        if any(d < 0 and d != DYNAMIC for d in shape) or any(d == DYNAMIC for d in shape[2:]):
            raise VerifyException(
                f"!spike.train<{format_shape(shape)}>: only the batch (dim 1) may be dynamic"
            )


@irdl_attr_definition
class EncodedSpikesType(ParametrizedAttribute, TypeAttribute, ShapedType):
    """A spike tensor stored as the addresses of its spikes, as a sparse accelerator keeps it:
    `!spike.encoded<addr 4x?x64 : 384>` holds, for each of the `4x?x64` rows (timestep, batch,
    token), the positions in `[0, 384)` where a spike fired, in increasing order.

    The shape is the dense shape `[T, B, ...]`; the last `address_axes` axes form the address
    space (flattened row-major), the others index the rows. The values equal those of the
    spike train they encode: `spike.encode` and `spike.decode` convert without loss.
    """

    name = "spike.encoded"

    format: StringAttr
    """The storage format: `addr` (address lists per row, compressed-row style)."""

    shape: ArrayAttr[IntAttr]
    """The dense shape, time first."""

    address_axes: IntAttr
    """How many trailing axes are addressed (1: positions along the last axis)."""

    FORMATS: ClassVar[tuple[str, ...]] = ("addr",)

    def __init__(self, shape: Sequence[int], address_axes: int = 1, format: str = "addr") -> None:
        super().__init__(
            StringAttr(format), ArrayAttr([IntAttr(d) for d in shape]), IntAttr(address_axes)
        )

    def get_num_dims(self) -> int:
        return len(self.shape.data)

    def get_shape(self) -> Shape:
        return tuple(d.data for d in self.shape.data)

    @property
    def rows(self) -> Shape:
        return self.get_shape()[: -self.address_axes.data]

    @property
    def positions(self) -> Shape:
        return self.get_shape()[-self.address_axes.data :]

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            format = parser.parse_identifier()
            rows = parser.parse_dimension_list()
            parser.parse_punctuation(":")
            positions = parser.parse_dimension_list()
        shape = ArrayAttr([IntAttr(d) for d in (*rows, *positions)])
        return [StringAttr(format), shape, IntAttr(len(positions))]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(
                f"{self.format.data} {format_shape(self.rows)} : {format_shape(self.positions)}"
            )

    def verify(self) -> None:
        if self.format.data not in self.FORMATS:
            raise VerifyException(
                f"!spike.encoded: unknown format '{self.format.data}', expected one of "
                f"{list(self.FORMATS)}"
            )
        SpikeTrainType(self.get_shape()).verify()
        if not 1 <= self.address_axes.data <= len(self.get_shape()) - 2:
            raise VerifyException(
                "!spike.encoded: the address space must leave the time and batch axes as rows"
            )


@irdl_attr_definition
class PlacementAttr(ParametrizedAttribute):
    """Where a computation runs: `#spike.unit<head 3>` is head unit 3 of the design. Attached by
    the partitioning passes as the discardable attribute `spike.unit`."""

    name = "spike.unit"

    kind: StringAttr
    """The kind of unit (head, expert, ...)."""

    index: IntAttr
    """Which one."""

    def __init__(self, kind: str, index: int) -> None:
        super().__init__(StringAttr(kind), IntAttr(index))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            kind = parser.parse_identifier()
            index = parser.parse_integer(allow_boolean=False, allow_negative=False)
        return [StringAttr(kind), IntAttr(index)]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"{self.kind.data} {self.index.data}")


@dataclass(frozen=True, init=False)
class OneOfKinds(AnyOf[Attribute]):
    """`AnyOf` over attribute classes, whose error says what was expected in words."""

    description: str

    def __init__(self, description: str, *kinds: type[Attribute]) -> None:
        super().__init__(tuple(base(k) for k in kinds))
        object.__setattr__(self, "description", description)

    def verify(self, attr: Attribute, constraint_context: VerificationContext) -> None:
        try:
            super().verify(attr, constraint_context)
        except VerifyException:
            raise VerifyException(f"expected {self.description}, got {attr}") from None


ACTIVATION = OneOfKinds("a spike train or a tensor", SpikeTrainType, TensorType)
"""Constraint of an activation operand: a spike train or a real tensor."""

ENCODABLE = OneOfKinds(
    "a spike train (dense or encoded) or a tensor", SpikeTrainType, EncodedSpikesType, TensorType
)
"""Constraint of an operand that may also take spikes in address-encoded form."""

SPIKES = OneOfKinds("a spike train (dense or encoded)", SpikeTrainType, EncodedSpikesType)
"""Constraint of a binary operand or result, dense or encoded."""


class ResetMode(StrEnum):
    """How a SpikingJelly-style neuron resets after a spike."""

    HARD = "hard"
    """`V = H * (1 - S) + v_reset * S`"""
    SOFT = "soft"
    """`V = H - v_threshold * S`"""


@irdl_attr_definition
class ResetModeAttr(EnumAttribute[ResetMode], SpacedOpaqueSyntaxAttribute):
    """`#spike<reset hard>` or `#spike<reset soft>`."""

    name = "spike.reset"


class LeakyResetMode(StrEnum):
    """snnTorch `Leaky.reset_mechanism`."""

    SUBTRACT = "subtract"
    """`V_t = (beta * V_{t-1} + X_t) - R_t * threshold`"""
    ZERO = "zero"
    """`V_t = beta * ((1 - R_t) * V_{t-1}) + X_t`"""
    NONE = "none"
    """`V_t = beta * V_{t-1} + X_t`"""


@irdl_attr_definition
class LeakyResetModeAttr(EnumAttribute[LeakyResetMode], SpacedOpaqueSyntaxAttribute):
    """`#spike<leaky_reset subtract>`, `zero` or `none`."""

    name = "spike.leaky_reset"


# ---------------------------------------------------------------------------------------------
# Helpers for verifiers and builders
# ---------------------------------------------------------------------------------------------


def format_shape(shape: Sequence[int]) -> str:
    return "x".join("?" if d == DYNAMIC else str(d) for d in shape)


def real_type(shape: Sequence[int]) -> TensorType[Float32Type]:
    return TensorType(f32, shape)


def is_spike(value_or_type: SSAValue | Attribute) -> bool:
    """Binary values: a spike train, dense or encoded."""
    t = value_or_type.type if isinstance(value_or_type, SSAValue) else value_or_type
    return isinstance(t, SpikeTrainType | EncodedSpikesType)


def is_encoded(value_or_type: SSAValue | Attribute) -> bool:
    t = value_or_type.type if isinstance(value_or_type, SSAValue) else value_or_type
    return isinstance(t, EncodedSpikesType)


def shape_of(value_or_type: SSAValue | Attribute) -> Shape:
    t = value_or_type.type if isinstance(value_or_type, SSAValue) else value_or_type
    if isinstance(t, ShapedType):
        return t.get_shape()
    raise VerifyException(f"expected a tensor or spike train, got {t}")


def activation_type(shape: Sequence[int], spike: bool) -> SpikeTrainType | TensorType[Float32Type]:
    """A spike train of `shape` if `spike`, else a real tensor."""
    return SpikeTrainType(shape) if spike else real_type(shape)


def check_real(value: SSAValue, what: str) -> None:
    """Activations and weights that are not spike trains must be float32 tensors."""
    t = value.type
    if isinstance(t, SpikeTrainType | EncodedSpikesType):
        return
    if not isinstance(t, TensorType) or not isinstance(t.element_type, Float32Type):
        raise VerifyException(f"{what} must be a spike train or a tensor of f32, got {t}")


def check_time_major(value: SSAValue, what: str) -> int:
    """Return T for a value that must be time-major `[T, B, ...]` with a static T."""
    shape = shape_of(value)
    if len(shape) < 2 or shape[0] == DYNAMIC:
        raise VerifyException(
            f"{what} must be time-major [T, B, ...] with a static T, got {format_shape(shape)}"
        )
    return shape[0]


def dims_compatible(a: int, b: int) -> bool:
    return DYNAMIC in (a, b) or a == b


def shapes_compatible(a: Sequence[int], b: Sequence[int]) -> bool:
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b, strict=True))


def check_result(result_shape: Sequence[int], expected: Sequence[int], op_name: str) -> None:
    if not shapes_compatible(result_shape, expected):
        raise VerifyException(
            f"{op_name}: result shape {format_shape(result_shape)} does not match the "
            f"inferred shape {format_shape(expected)}"
        )


def broadcast_shapes(a: Sequence[int], b: Sequence[int]) -> Shape:
    """numpy broadcasting, with `?` standing for an unknown size (the batch)."""
    rank = max(len(a), len(b))
    pa = (1,) * (rank - len(a)) + tuple(a)
    pb = (1,) * (rank - len(b)) + tuple(b)
    out: list[int] = []
    for x, y in zip(pa, pb, strict=True):
        if x == y:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x == DYNAMIC:
            out.append(y)
        elif y == DYNAMIC:
            out.append(x)
        else:
            raise VerifyException(
                f"shapes {format_shape(a)} and {format_shape(b)} do not broadcast"
            )
    return tuple(out)


def normalize_axis(axis: int, rank: int, op_name: str) -> int:
    if not -rank <= axis < rank:
        raise VerifyException(f"{op_name}: axis {axis} is out of range for rank {rank}")
    return axis % rank


@dataclass(frozen=True)
class Canonicalized(HasCanonicalizationPatternsTrait):
    """Trait naming the canonicalisation patterns of an op, looked up lazily by class name in
    `compiler.dialects.spike.canonicalization` (the dialect does not import passes)."""

    patterns: tuple[str, ...]

    def get_patterns(self, op: type[Operation]) -> tuple[RewritePattern, ...]:
        from compiler.dialects.spike import canonicalization

        return tuple(getattr(canonicalization, name)() for name in self.patterns)

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        return ()
