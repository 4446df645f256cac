"""Images repeated over time inside the model.

Exported spiking models usually take a static image `[B, ...]` and create the time axis
themselves: `Unsqueeze(x, 0)` then `Expand` and/or `Tile` to `[T, B, ...]`. spikec computes on
time-major tensors, so the pass makes such an input time-major `[T, B, ...]` and marks it as
repeated: `spikec eval/run` repeat a `[B, ...]` array given for it (DESIGN: activations carry
time as the leading axis).
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from compiler.frontend.coverage import STEP_NODE_SUFFIX
from compiler.frontend.raising.graph import Graph, attributes, is_standard

DYNAMIC = -1
"""A dimension of unknown size (the dynamic batch) in the shapes followed here."""


def _reshaped(shape: list[int], target: list[int], allowzero: bool) -> list[int] | None:
    """`shape` after a Reshape to `target`, None if it does not apply. A dynamic axis (the batch)
    must stay at its position behind the same leading axes, copied (`0`) or inferred (`-1`, the
    axes after it then of the same size); the axes after it are reshaped per batch item."""
    sizes = [
        shape[i] if d == 0 and not allowzero and i < len(shape) else d for i, d in enumerate(target)
    ]
    b = shape.index(DYNAMIC) if DYNAMIC in shape else len(shape)
    if b < len(shape):
        if b >= len(target) or sizes[:b] != shape[:b]:
            return None
        copied = target[b] == 0 and not allowzero
        inferred = target[b] == -1 and -1 not in target[b + 1 :]
        if not (copied or inferred):
            return None
    lead = b + 1 if b < len(shape) else 0  # the axes kept as they are
    rest = _reshape(shape[lead:], sizes[lead:])
    return None if rest is None else [*shape[:lead], *rest]


def _reshape(shape: list[int], sizes: list[int]) -> list[int] | None:
    """numpy's reshape of the dims alone (at most one -1, inferred), without an array."""
    if any(d < 0 for d in shape) or sizes.count(-1) > 1 or any(d < -1 for d in sizes):
        return None
    total, known = math.prod(shape), math.prod(d for d in sizes if d != -1)
    if -1 in sizes:
        if known == 0 or total % known:
            return None
        return [total // known if d == -1 else d for d in sizes]
    return list(sizes) if known == total else None


def _reshapes(
    graph: Graph, name: str, shape: list[int]
) -> tuple[list[tuple[onnx.NodeProto, list[int]]], list[int]]:
    """The Reshapes that `name` goes through alone (e.g. [B, 1, H, W] -> [B, H, W]), to a
    constant or a computed shape (`x.reshape(x.shape[0], -1)`), and the shape after them."""
    chain: list[tuple[onnx.NodeProto, list[int]]] = []
    while True:
        reshapes = [u for u in graph.uses(name) if u.op_type == "Reshape" and u.input[0] == name]
        if len(reshapes) != 1 or graph.is_output(name):
            return chain, shape
        (node,) = reshapes
        own = _target_nodes(graph, node)
        if any(id(u) not in own for u in graph.uses(name) if u is not node):
            return chain, shape  # the value (or its shape) is used elsewhere too
        target = graph.reshape_target(node)
        if target is None:
            return chain, shape
        reshaped = _reshaped(shape, target, bool(attributes(node).get("allowzero", 0)))
        if reshaped is None:
            return chain, shape
        shape = reshaped
        chain.append((node, shape))
        name = node.output[0]


def _target_nodes(graph: Graph, reshape: onnx.NodeProto) -> set[int]:
    """ids of the nodes that compute a Reshape's target shape and feed nothing else (a shape
    computed from its input: once the input is time-major, only that Reshape may read them)."""
    own: set[int] = set()
    pending = [reshape.input[1]]
    while pending:
        name = pending.pop()
        node = graph.producer.get(name)
        if node is None or id(node) in own or graph.is_constant(name):
            continue
        own.add(id(node))
        pending += [i for i in node.input if i and i != reshape.input[0]]
    for node in graph.nodes:
        if id(node) in own:
            for out in node.output:
                users = graph.uses(out)
                if graph.is_output(out) or any(
                    u is not reshape and id(u) not in own for u in users
                ):
                    return set()
    return own


def _repeat_chain(graph: Graph, name: str, shape: list[int]) -> tuple[str, int] | None:
    """(value, T) when `name` only feeds Unsqueeze(axis 0) -> Expand/Tile -> [T, *shape]."""
    uses = graph.uses(name)
    if len(uses) != 1 or uses[0].op_type != "Unsqueeze" or not is_standard(uses[0]):
        return None
    unsqueeze = uses[0]
    axes = graph.ints(unsqueeze.input[1]) if len(unsqueeze.input) > 1 else None
    if axes is None:
        axes = [int(a) for a in attributes(unsqueeze).get("axes", [])]  # type: ignore[attr-defined]
    if axes != [0]:
        return None
    current, dims = unsqueeze.output[0], [1, *shape]
    while True:
        uses = graph.uses(current)
        if len(uses) != 1 or uses[0].op_type not in ("Expand", "Tile") or graph.is_output(current):
            break
        node = uses[0]
        factors = graph.ints(node.input[1])
        if factors is None:
            return None
        if any(f != 1 for f, d in zip(factors[::-1], dims[::-1], strict=False) if d == DYNAMIC):
            return None  # a dynamic batch may only be kept as it is
        if node.op_type == "Expand":
            if len(factors) > len(dims) or any(
                f not in (1, d) and d != 1 for f, d in zip(factors[::-1], dims[::-1], strict=False)
            ):
                return None
            padded = [1] * (len(factors) - len(dims)) + dims
            target = [1] * (len(padded) - len(factors)) + factors
            dims = [d if d == DYNAMIC else max(d, f) for d, f in zip(padded, target, strict=True)]
        else:
            if len(factors) != len(dims):
                return None
            dims = [d if d == DYNAMIC else d * f for d, f in zip(dims, factors, strict=True)]
        current = node.output[0]
    if current == unsqueeze.output[0] or dims[1:] != shape or dims[0] < 1:
        return None
    return current, dims[0]


def raise_repeated_inputs(graph: Graph) -> dict[str, int]:
    """Rewrite inputs repeated over time; returns {input name: T}."""
    repeated: dict[str, int] = {}
    for vi in graph.graph.input:
        if graph.is_constant(vi.name):
            continue
        if not vi.type.tensor_type.HasField("shape"):
            continue
        dims = list(vi.type.tensor_type.shape.dim)
        if sum(not d.HasField("dim_value") for d in dims) > 1:
            continue  # static, or with one dynamic axis: the batch
        shape = [d.dim_value if d.HasField("dim_value") else DYNAMIC for d in dims]
        reshapes, reshaped = _reshapes(graph, vi.name, shape)
        last = reshapes[-1][0].output[0] if reshapes else vi.name
        found = _repeat_chain(graph, last, reshaped)
        if found is None:
            continue
        value, timesteps = found
        batch = next((d.dim_param or "?" for d in dims if not d.HasField("dim_value")), "?")
        for node, out_shape in reshapes:  # now reshaping [T, ...]: keep the time axis
            target = graph.fresh(node.input[1])  # the one dynamic axis (-1) is inferred
            graph.constants[target] = np.asarray([timesteps, *out_shape], dtype=np.int64)
            node.input[1] = target
            graph.shapes[node.output[0]] = [
                timesteps,
                *(batch if d == DYNAMIC else d for d in out_shape),
            ]
        graph.replace_uses(value, last)
        if vi.name in graph.shapes:  # the shapes the later passes read stay current
            graph.shapes[vi.name] = [timesteps, *graph.shapes[vi.name]]
        vi.type.tensor_type.shape.ClearField("dim")
        vi.type.tensor_type.shape.dim.add().dim_value = timesteps
        for d in dims:
            vi.type.tensor_type.shape.dim.add().CopyFrom(d)
        repeated[vi.name] = timesteps
    graph.remove_dead()
    return repeated


def add_time_axes(graph: Graph, timesteps: int, known: bool = False) -> list[str]:
    """Give every input without a time axis one of `timesteps` steps, which the model reads at
    step 0: an input whose leading dimension is not static (`[B, ...]`), and, when the raising
    `known` the model's `timesteps`, one whose static leading dimension is another size.
    `spikec eval/run` repeat a `[B, ...]` array given for it, as for a repeated input, so every
    step holds the same values. Returns the inputs changed. (A model that creates its time axis
    in a way `raise_repeated_inputs` does not recognise, or an ANN, still imports: exactly, with
    its time-dependent work in generic ops.)"""
    changed: list[str] = []
    for vi in graph.graph.input:
        if graph.is_constant(vi.name) or graph.is_output(vi.name):
            continue
        if not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        static_time = len(dims) > 0 and dims[0].HasField("dim_value")
        if len(dims) < 1 or (static_time and (not known or dims[0].dim_value == timesteps)):
            continue
        if len(dims) > 1 and not dims[1].HasField("dim_value") and dims[0].HasField("dim_value"):
            continue  # [T, B, ...] with a dynamic batch: time-major as spikec writes models
        step = graph.fresh(f"{vi.name}__step")
        index = graph.fresh(f"{vi.name}__step0")
        graph.constants[index] = np.asarray(0, dtype=np.int64)
        graph.replace_uses(vi.name, step)
        gather = onnx.helper.make_node(
            "Gather", [vi.name, index], [step], name=f"{vi.name}{STEP_NODE_SUFFIX}", axis=0
        )
        graph.insert_after(None, [gather])
        old = list(dims)
        vi.type.tensor_type.shape.ClearField("dim")
        vi.type.tensor_type.shape.dim.add().dim_value = timesteps
        for d in old:
            vi.type.tensor_type.shape.dim.add().CopyFrom(d)
        changed.append(vi.name)
    return changed
