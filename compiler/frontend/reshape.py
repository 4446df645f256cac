"""Which layout a Reshape produces.

A reshape may fold time into the batch (`[T, B, C, H, W] -> [T*B, C, H, W]`), unfold it, or
reshape the per-item axes; it must never mix time or batch with the other axes. Sizes are tracked
as monomials `coef * B^power` so that the same rules hold whether the batch is static or dynamic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from compiler.dialects.spike.types import DYNAMIC, Shape
from compiler.frontend.values import Layout, NodeError, Value

Mono = tuple[int, int]
"""(coefficient, power of the batch B)."""


def _mul(a: Mono, b: Mono) -> Mono:
    return (a[0] * b[0], a[1] + b[1])


def _product(dims: Sequence[Mono]) -> Mono:
    result: Mono = (1, 0)
    for d in dims:
        result = _mul(result, d)
    return result


def _symbolic_input(value: Value, timesteps: int, batch: Mono) -> list[Mono]:
    shape = value.ir_shape()
    rest: list[Mono] = [(d, 0) for d in shape[2:]]
    if value.layout is Layout.TIME:
        return [(timesteps, 0), batch, *rest]
    if value.layout is Layout.FOLDED:
        return [_mul((timesteps, 0), batch), *rest]
    return [batch, *[(d, 0) for d in shape[1:]]]


def reshape_target(
    value: Value, target: Sequence[int], timesteps: int, batch: int, allowzero: bool = False
) -> tuple[Layout, Shape]:
    """(layout, IR shape) of `value` reshaped to the ONNX shape `target`."""
    b: Mono = (1, 1) if batch == DYNAMIC else (batch, 0)
    source = _symbolic_input(value, timesteps, b)
    dims: list[Mono | None] = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(source):
                raise NodeError(f"shape entry {i} is 0 (copy) but the input has rank {len(source)}")
            dims.append(source[i])
        elif d == -1:
            dims.append(None)
        elif d > 0:
            dims.append((int(d), 0))
        else:
            raise NodeError(f"shape {list(target)} has an invalid entry {d}")
    unknown = [i for i, d in enumerate(dims) if d is None]
    if len(unknown) > 1:
        raise NodeError(f"shape {list(target)} has more than one -1")
    total = _product(source)
    known = _product([d for d in dims if d is not None])
    if unknown:
        coef, power = total[0] // max(known[0], 1), total[1] - known[1]
        if known[0] == 0 or total[0] % known[0] or power not in (0, 1):
            raise NodeError(f"cannot reshape {_describe(source)} into {list(target)}")
        dims[unknown[0]] = (coef, power)
    elif known != total:
        raise NodeError(f"cannot reshape {_describe(source)} into {list(target)}")
    out = [d for d in dims if d is not None]
    return _classify(value.layout, out, timesteps, b, source, target)


def _classify(
    layout: Layout,
    out: list[Mono],
    timesteps: int,
    b: Mono,
    source: list[Mono],
    target: Sequence[int],
) -> tuple[Layout, Shape]:
    batch_ir = DYNAMIC if b[1] else b[0]

    def plain(dims: Sequence[Mono]) -> list[int]:
        if any(p for _, p in dims):
            raise NodeError(
                f"reshape {_describe(source)} -> {list(target)} mixes the batch with other axes"
            )
        return [c for c, _ in dims]

    if layout in (Layout.TIME, Layout.FOLDED):
        if len(out) >= 2 and out[0] == (timesteps, 0) and out[1] == b:
            return Layout.TIME, (timesteps, batch_ir, *plain(out[2:]))
        if out and out[0] == _mul((timesteps, 0), b):
            return Layout.FOLDED, (timesteps, batch_ir, *plain(out[1:]))
        raise NodeError(
            f"reshape {_describe(source)} -> {list(target)} moves the time or batch axis; "
            "spikec accepts [T, B, ...] <-> [T*B, ...] and reshapes of the other axes"
        )
    if out and out[0] == b:
        return Layout.STATIC, (batch_ir, *plain(out[1:]))
    raise NodeError(f"reshape {_describe(source)} -> {list(target)} moves the batch axis")


def _describe(dims: Sequence[Mono]) -> str:
    parts = []
    for coef, power in dims:
        if power == 0:
            parts.append(str(coef))
        else:
            parts.append("B" if coef == 1 else f"{coef}*B")
    return "[" + ", ".join(parts) + "]"


def squeeze_target(shape: Shape, axes: Sequence[int]) -> list[int]:
    rank = len(shape)
    normal = {a % rank for a in axes} if axes else {i for i, d in enumerate(shape) if d == 1}
    for a in normal:
        if shape[a] != 1:
            raise NodeError(f"cannot squeeze axis {a} of size {shape[a]}")
    return [d for i, d in enumerate(shape) if i not in normal]


def unsqueeze_target(shape: Shape, axes: Sequence[int]) -> list[int]:
    rank = len(shape) + len(axes)
    normal = sorted(a % rank for a in axes)
    out = list(shape)
    for a in normal:
        out.insert(a, 1)
    return out


def flatten_target(shape: Shape, axis: int) -> list[int]:
    rank = len(shape)
    axis %= rank if rank else 1
    head, tail = shape[:axis], shape[axis:]
    if -1 in tail:
        raise NodeError("Flatten would merge the batch into the feature axis")
    return [-1 if -1 in head else math.prod(head), math.prod(tail)]
