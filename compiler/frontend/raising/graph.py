"""A mutable view of an ONNX graph for the raising passes: who produces and who consumes each
value, which values are constants, and the edits the passes make (replace a value, add a node,
drop what nothing uses)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler.frontend.onnx_check import subgraphs
from compiler.frontend.raising.report import NotRaised
from compiler.ir.weights import OnnxTensors


def is_standard(node: onnx.NodeProto) -> bool:
    return node.domain in ("", "ai.onnx")


def reads(node: onnx.NodeProto) -> list[str]:
    """The values `node` reads: its inputs and the enclosing graph's values its subgraphs (If,
    Loop and Scan bodies) refer to."""
    if not any(a.HasField("g") or a.graphs for a in node.attribute):
        return list(node.input)
    return [*node.input, *(n for sub in subgraphs(node) for n in _free_names(sub))]


def _free_names(graph: onnx.GraphProto) -> list[str]:
    """What `graph` reads from the scopes around it."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    free: list[str] = []
    for node in graph.node:
        free.extend(n for n in reads(node) if n and n not in defined)
        defined.update(node.output)
    return free


def _rename_free(graph: onnx.GraphProto, old: str, new: str) -> None:
    if old in {i.name for i in graph.input} | {t.name for t in graph.initializer}:
        return  # the subgraph's own value of that name
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        for sub in subgraphs(node):
            _rename_free(sub, old, new)
        if old in node.output:
            return  # defined from here on inside the subgraph


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def int_attribute(node: onnx.NodeProto, name: str, default: int) -> int:
    value = attributes(node).get(name, default)
    if not isinstance(value, int):
        raise NotRaised(f"attribute '{name}' of {label(node)} is not an integer")
    return value


def float_attribute(node: onnx.NodeProto, name: str, default: float) -> float:
    value = attributes(node).get(name, default)
    if not isinstance(value, int | float):
        raise NotRaised(f"attribute '{name}' of {label(node)} is not a number")
    return float(value)


def ints_attribute(node: onnx.NodeProto, name: str) -> list[int] | None:
    value = attributes(node).get(name)
    if not isinstance(value, list):
        return None
    return [int(v) for v in value]


def label(node: onnx.NodeProto) -> str:
    """How a node is named in messages: its name (or first output) and its type."""
    return f"'{node.name or (node.output[0] if node.output else '?')}' ({node.op_type})"


INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class SliceSpec:
    """What one `Slice` takes, decoded once for every pass: per sliced axis (non-negative),
    start, stop and step, with negative and out-of-range bounds resolved against the input's
    size when it is known."""

    axes: tuple[int, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    steps: tuple[int, ...]

    def single(self) -> tuple[int, int, int] | None:
        """(axis, start, stop) when the Slice takes one contiguous range of one axis."""
        if len(self.axes) != 1 or self.steps[0] != 1:
            return None
        return self.axes[0], self.starts[0], self.ends[0]


def _resolve(bound: int, size: int | None, step: int) -> int | None:
    """A Slice bound as ONNX clamps it (for step > 0), or None when it needs an unknown size."""
    if size is None:
        return bound if 0 <= bound < INT64_MAX // 2 else None
    if bound < 0:
        bound += size
    return min(max(bound, 0), size) if step > 0 else min(max(bound, -1), size - 1)


def slice_spec(
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int] | None,
    steps: Sequence[int] | None,
    shape: Sequence[int | str] | None,
) -> SliceSpec | None:
    """A Slice's constant inputs decoded against its input's `shape` (None when unknown):
    None when they are malformed or need a size that is not known."""
    if len(starts) != len(ends):
        return None
    rank = len(shape) if shape is not None else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = list(steps) if steps else [1] * len(starts)
    if len(axes) != len(starts) or len(steps) != len(starts) or 0 in steps:
        return None
    if any(a < 0 for a in axes):
        if rank is None:
            return None
        axes = [a % rank for a in axes]
    sizes: list[int | None] = []
    for a in axes:
        dim = shape[a] if shape is not None and a < len(shape) else None
        sizes.append(dim if isinstance(dim, int) and dim >= 0 else None)
    resolved_starts = [_resolve(b, n, k) for b, n, k in zip(starts, sizes, steps, strict=True)]
    resolved_ends = [_resolve(b, n, k) for b, n, k in zip(ends, sizes, steps, strict=True)]
    if None in resolved_starts or None in resolved_ends:
        return None
    return SliceSpec(
        tuple(axes),
        tuple(int(b) for b in resolved_starts if b is not None),
        tuple(int(b) for b in resolved_ends if b is not None),
        tuple(steps),
    )


class Graph:
    """The nodes of one ONNX graph with their def-use relations and constant values.

    Constant values are initializers, `Constant` nodes and whatever the folding pass computes;
    `constant(name)` returns the array or None for a value computed at run time.
    """

    def __init__(self, model: onnx.ModelProto, tensors: OnnxTensors) -> None:
        self.model = model
        self.graph = model.graph
        self.nodes: list[onnx.NodeProto] = list(self.graph.node)
        self.tensors = tensors
        self.shapes: dict[str, list[int | str]] = {}
        """ONNX shape inference's shapes of the values (refreshed between passes)."""
        self.constants: dict[str, np.ndarray] = {}
        """Constants computed by the passes (the model's own are read from `tensors`)."""
        self.outputs = {o.name for o in self.graph.output}
        self._issued: set[str] = set()
        self.reindex()
        self._unused_from_start = {id(n) for n in self.nodes if not self._used(n)}
        """Nodes the model itself leaves unused: kept, so that the importer reports them as it
        would without raising."""

    def reindex(self) -> None:
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.nodes:
            for name in node.output:
                if name:
                    self.producer[name] = node
            for name in reads(node):
                if name:
                    self.consumers[name].append(node)

    # -- queries -----------------------------------------------------------------------------

    def constant(self, name: str) -> np.ndarray | None:
        if name in self.constants:
            return self.constants[name]
        if name in self.tensors and name not in self.producer:
            return self.tensors.array(name)
        if name in self.tensors:  # a Constant node
            self.constants[name] = self.tensors.array(name)
            return self.constants[name]
        return None

    def is_constant(self, name: str) -> bool:
        return name in self.constants or name in self.tensors

    def full_like_nodes(self, name: str) -> list[onnx.NodeProto]:
        """The Expand/ConstantOfShape and the Shape that make `name` a scalar broadcast to
        another value's shape (see `scalar`), when they feed nothing else; [] otherwise."""
        node = self.producer.get(name)
        if node is None or node.op_type not in ("Expand", "ConstantOfShape"):
            return []
        shape = self.producer.get(node.input[-1] if node.op_type == "Expand" else node.input[0])
        if shape is None or shape.op_type != "Shape" or self.scalar(name) is None:
            return []
        if len(self.uses(name)) != 1 or len(self.uses(shape.output[0])) != 1:
            return []
        return [node, shape]

    def scalar(self, name: str) -> float | None:
        """The value of a constant whose elements are all equal (a scalar broadcast), else None.
        A scalar expanded to another value's shape counts (`torch.full_like`, which exporters
        write as `Expand(c, Shape(x))` or `ConstantOfShape(Shape(x))` when the batch is
        dynamic)."""
        node = self.producer.get(name)
        if node is not None and node.op_type == "Expand" and is_standard(node):
            shape_of = self.producer.get(node.input[1])
            if shape_of is not None and shape_of.op_type == "Shape":
                bounds = attributes(shape_of)
                if bounds.get("start", 0) == 0 and "end" not in bounds:
                    return self.scalar(node.input[0])
        if node is not None and node.op_type == "ConstantOfShape" and is_standard(node):
            value = attributes(node).get("value")
            if value is None:
                return 0.0
            filled = numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else None
            if filled is not None and filled.size == 1 and filled.dtype.kind in "fiu":
                return float(filled.reshape(-1)[0])
            return None
        array = self.constant(name)
        if array is None or array.size == 0 or array.dtype.kind not in "fiu":
            return None
        flat = array.reshape(-1)
        first = flat[0]
        if array.size > 1 and not np.all(flat == first):
            return None
        return float(first)

    def ints(self, name: str) -> list[int] | None:
        array = self.constant(name)
        if array is None or array.dtype.kind not in "iu":
            return None
        return [int(v) for v in array.reshape(-1)]

    def reshape_target(self, node: onnx.NodeProto) -> list[int] | None:
        """The target shape of a Reshape as constants: its shape input, or a shape computed from
        its own input (`Concat(Unsqueeze(Gather(Shape(x), k)), [-1])`, as `x.reshape(x.shape[0],
        -1)` exports), a piece read from the input's axis k at position k written 0 (copy) and
        one of a static size written as that size. None when a piece is not known."""
        if node.op_type != "Reshape" or not is_standard(node) or len(node.input) < 2:
            return None
        constant = self.ints(node.input[1])
        if constant is not None:
            return constant
        concat = self.producer.get(node.input[1])
        if concat is None or concat.op_type != "Concat" or not is_standard(concat):
            return None
        allowzero = attributes(node).get("allowzero", 0)
        target: list[int] = []
        for part in concat.input:
            known = self.ints(part)
            if known is None:
                axis = self._shape_axis(part, node.input[0])
                if axis is None:
                    return None
                size = (self.shapes.get(node.input[0]) or [])[axis:][:1]
                if size and isinstance(size[0], int) and size[0] > 0:
                    known = [size[0]]
                elif axis == len(target) and not allowzero:
                    known = [0]
                else:
                    return None
            target += known
        return target

    def _shape_axis(self, name: str, source: str) -> int | None:
        """k when `name` is `[dim k of source]`: Unsqueeze(Gather(Shape(source), k)), or
        Gather(Shape(source), [k])."""
        node = self.producer.get(name)
        if node is not None and node.op_type == "Unsqueeze" and self.axes(node) == [0]:
            node = self.producer.get(node.input[0])
            scalar = True
        else:
            scalar = False
        if node is None or node.op_type != "Gather" or not is_standard(node):
            return None
        shape = self.producer.get(node.input[0])
        index = self.constant(node.input[1])
        if shape is None or shape.op_type != "Shape" or shape.input[0] != source:
            return None
        if index is None or index.size != 1 or index.ndim != (0 if scalar else 1):
            return None
        rank = len(self.shapes.get(source) or [])
        bounds = attributes(shape)
        start, end = (int(bounds.get(b, d)) for b, d in (("start", 0), ("end", rank)))  # type: ignore[call-overload]
        start, end = (max(0, min(rank, b + rank if b < 0 else b)) for b in (start, end))
        i = int(index.reshape(-1)[0])
        i += end - start if i < 0 else 0
        return start + i if 0 <= i < end - start else None

    def axes(self, node: onnx.NodeProto) -> list[int] | None:
        """The `axes` of a Reduce*, Squeeze or Unsqueeze: its second input (a constant, from
        opset 13/18) or its `axes` attribute (earlier opsets); None if neither is known."""
        if len(node.input) > 1 and node.input[1]:
            return self.ints(node.input[1])
        found = attributes(node).get("axes")
        return [int(a) for a in found] if isinstance(found, list) else None

    def slice_of(
        self, node: onnx.NodeProto, shape: Sequence[int | str] | None = None
    ) -> SliceSpec | None:
        """The decoded `Slice` (inputs from opset 10, attributes before), or None when its
        bounds are not constants or need a size that is not known; `shape` is its input's
        (default: shape inference's)."""
        if node.op_type != "Slice" or not is_standard(node):
            return None

        def given(index: int, attribute: str) -> list[int] | None:
            if len(node.input) > index and node.input[index]:
                return self.ints(node.input[index])
            found = attributes(node).get(attribute)
            return [int(v) for v in found] if isinstance(found, list) else None

        computed = [i for i in node.input[1:] if i and self.ints(i) is None]
        starts, ends = given(1, "starts"), given(2, "ends")
        if computed or starts is None or ends is None:
            return None
        if shape is None:
            shape = self.shapes.get(node.input[0])
        return slice_spec(starts, ends, given(3, "axes"), given(4, "steps"), shape)

    def uses(self, name: str) -> list[onnx.NodeProto]:
        return self.consumers.get(name, [])

    def is_output(self, name: str) -> bool:
        return name in self.outputs

    # -- edits -------------------------------------------------------------------------------

    def fresh(self, stem: str) -> str:
        """A value name not used in the model: `stem`, or `stem.N` if it is taken."""
        name, n = stem, 1
        while self._taken(name):
            n += 1
            name = f"{stem}.{n}"
        self._issued.add(name)
        return name

    def _taken(self, name: str) -> bool:
        """Looked up in each table (building their union on every call made raising a large
        export quadratic)."""
        return (
            name in self._issued
            or name in self.constants
            or name in self.tensors
            or name in self.producer
            or name in self.consumers
            or name in self.outputs
            or any(vi.name == name for vi in self.graph.input)
        )

    def replace_uses(self, old: str, new: str) -> None:
        """Every consumer (and graph output) of `old` reads `new` instead."""
        for node in self.consumers.get(old, []):
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new
            for sub in subgraphs(node):
                _rename_free(sub, old, new)
        if old in self.outputs:
            for out in self.graph.output:
                if out.name == old:
                    producer = self.producer.get(new)
                    if producer is not None:
                        for i, name in enumerate(producer.output):
                            if name == new:
                                producer.output[i] = old
                        self._rename(new, old)
                        return
        self.reindex()

    def _rename(self, old: str, new: str) -> None:
        for node in self.nodes:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new
        self.reindex()

    def insert_after(self, anchor: onnx.NodeProto | None, nodes: Iterable[onnx.NodeProto]) -> None:
        """Add nodes right after `anchor` (at the front when None); `sort` restores the order."""
        index = 0 if anchor is None else self.nodes.index(anchor) + 1
        self.nodes[index:index] = list(nodes)
        self.reindex()

    def _used(self, node: onnx.NodeProto) -> bool:
        return any(
            name and (self.consumers.get(name) or name in self.outputs) for name in node.output
        )

    def dead_from(self, node: onnx.NodeProto) -> set[int] | None:
        """`node` and what only it feeds, when none of that reaches a graph output or another
        node (e.g. a reset computed after the last step); None when something is used."""
        dead: set[int] = set()
        pending = [node]
        while pending:
            current = pending.pop()
            if id(current) in dead:
                continue
            dead.add(id(current))
            for name in current.output:
                if name in self.outputs:
                    return None
                pending.extend(self.consumers.get(name, []))
            if len(dead) > 64:
                return None
        return dead

    def absorb(self, nodes: set[int]) -> None:
        """Let `remove_dead` drop these unused nodes (a raised pattern owns them)."""
        self._unused_from_start -= nodes

    def remove_dead(self) -> int:
        """Drop the nodes the raising left unused (graph outputs count as used)."""
        removed = 0
        changed = True
        while changed:
            changed = False
            live: list[onnx.NodeProto] = []
            for node in self.nodes:
                if self._used(node) or id(node) in self._unused_from_start:
                    live.append(node)
                else:
                    removed += 1
                    changed = True
            if changed:
                self.nodes = live
                self.reindex()
        return removed

    def sort(self) -> None:
        """Order the nodes topologically (the passes insert nodes where convenient)."""
        ready = {i.name for i in self.graph.input} | set(self.constants) | {""}
        ready |= {name for name in self.tensors.tensors if name not in self.producer}
        pending = list(self.nodes)
        ordered: list[onnx.NodeProto] = []
        while pending:
            rest = []
            for node in pending:
                if all(name in ready for name in reads(node)):
                    ordered.append(node)
                    ready.update(node.output)
                else:
                    rest.append(node)
            if len(rest) == len(pending):
                ordered.extend(rest)  # a cycle or a dangling input: the importer reports it
                break
            pending = rest
        self.nodes = ordered

    def write_back(self) -> None:
        """Store the nodes and the constants the passes computed into the model."""
        self.sort()
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        used = {name for node in self.nodes for name in reads(node)}
        kept = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)
        present = {t.name for t in kept} | set(self.producer)
        for name in sorted(used - present):
            array = self.constants.get(name)
            if array is not None:
                self.graph.initializer.append(numpy_helper.from_array(array, name))
