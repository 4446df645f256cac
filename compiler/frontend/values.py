"""How the frontend sees an ONNX value while it builds IR: the SSA value that carries it and the
layout of its axes.

ONNX graphs of spiking networks keep time in one of two places. Spiking layers and most tensors
are time-major `[T, B, ...]`; stateless layers (Conv, BatchNorm, MaxPool) run on the time axis
folded into the batch, `[T*B, ...]`, between two Reshapes (SpikingJelly's SeqToANNContainer). In
the IR every activation is time-major; a folded ONNX value is carried by a time-major SSA value,
and the frontend shifts the axes an ONNX node names. After a mean over time, values have no time
axis (`[B, ...]`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from xdsl.ir import SSAValue

from compiler.dialects.spike.types import DYNAMIC, Shape, is_spike, shape_of


class Layout(enum.Enum):
    TIME = "time-major [T, B, ...]"
    FOLDED = "time folded into the batch [T*B, ...]"
    STATIC = "no time axis [B, ...]"
    CONST = "constant"


class NodeError(Exception):
    """Why one ONNX node cannot be imported; the importer collects these."""


@dataclass
class Value:
    """An ONNX value during import."""

    layout: Layout
    ssa: SSAValue | None = None
    """The IR value (None for constants, which are materialised where used)."""
    array: np.ndarray | None = None
    """The data of a constant."""
    name: str = ""
    """The ONNX name."""

    @property
    def is_const(self) -> bool:
        return self.layout is Layout.CONST

    @property
    def spike(self) -> bool:
        return self.ssa is not None and is_spike(self.ssa)

    def ir_shape(self) -> Shape:
        if self.ssa is None:
            assert self.array is not None
            return tuple(self.array.shape)
        return shape_of(self.ssa)

    def onnx_shape(self) -> Shape:
        """The shape ONNX sees, with -1 for a dynamic size."""
        shape = tuple(-1 if d == DYNAMIC else d for d in self.ir_shape())
        if self.layout is Layout.FOLDED:
            t, b = shape[0], shape[1]
            return (-1 if b == -1 else t * b, *shape[2:])
        return shape

    def ir_axis(self, axis: int) -> int:
        """The IR axis of ONNX axis `axis` (normalised); axis 0 of a folded value is two axes."""
        rank = len(self.onnx_shape())
        if not -rank <= axis < rank:
            raise NodeError(f"axis {axis} is out of range for rank {rank}")
        axis %= rank
        if self.layout is Layout.FOLDED:
            if axis == 0:
                raise NodeError("cannot act on axis 0 of a time-folded [T*B, ...] tensor")
            return axis + 1
        return axis

    def check_not_time_or_batch(self, ir_axis: int) -> None:
        leading = {Layout.TIME: 2, Layout.FOLDED: 2, Layout.STATIC: 1}.get(self.layout, 0)
        if ir_axis < leading:
            what = "time" if self.layout is not Layout.STATIC and ir_axis == 0 else "batch"
            raise NodeError(f"cannot act on the {what} axis")


def batch_multiple(dim: int | str, symbol: str) -> int | None:
    """k where `dim` is k times the batch `symbol` (as the importer writes ONNX shape
    inference's dimensions under a dynamic batch)."""
    if dim == symbol:
        return 1
    if isinstance(dim, str) and dim.endswith(f"*{symbol}") and dim.split("*", 1)[0].isdigit():
        return int(dim.split("*", 1)[0])
    return None
