"""What the attention recognisers of `attention` share: the graph's shapes, the spike operands
they read with the roles of their axes, and the layout built around the `spike` call they make.

An operand is followed back through Reshape, Transpose, Split and Slice to the neuron that fires
it; the Reshape that splits heads off the channels names its axes (time, batch, heads, channels
of a head, tokens). `AttentionLayout.tokens` brings an operand to the call's `[T, B, N, D]` from the
earliest tensor that holds it, `AttentionLayout.restore` puts the call's result back into the
layout the graph reads, and `AttentionLayout.commit` splices the call in and reports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.frontend.onnx_functions import DOMAIN, NEURON_FUNCTIONS, spike_functions
from compiler.frontend.raising.graph import (
    Graph,
    int_attribute,
    ints_attribute,
    is_standard,
    label,
)
from compiler.frontend.raising.report import NotRaised, Raised, RaiseReport

SPIKING = {
    *NEURON_FUNCTIONS,
    "Bernoulli",
    "SDSA",
    "TokenAttention",
    "StochasticAttention",
}
"""`spike` functions whose outputs are spikes."""
LAYOUT = {"Reshape", "Transpose", "Split", "Slice"}

T, B, H, C, N, D, UNKNOWN = "T", "B", "H", "C", "N", "D", "?"
"""Axis roles: time, batch, heads, channels of a head, tokens, all channels (heads x channels),
unknown."""
ROLE_NAMES = {H: "heads", C: "channels", D: "channels", T: "time", B: "batch", N: "tokens"}
TOKEN_MAJOR = (T, B, N, D)

Shape = list[int | str]


@dataclass
class Operand:
    """A spike tensor an attention reads, with the roles of its axes."""

    name: str
    shape: Shape
    roles: tuple[str, ...]
    start: str
    """The earliest tensor holding exactly this operand's data (no Split after it) whose axes
    are known: the best place to take Q, K or V from."""
    start_roles: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return len(self.roles) == 5 and sorted(self.roles) == sorted((T, B, H, C, N))

    def dim(self, role: str) -> int:
        size = self.shape[self.roles.index(role)]
        if not isinstance(size, int):
            raise NotRaised(
                f"the size of the {ROLE_NAMES[role]} axis of '{self.name}' is not known"
            )
        return size


def dims_equal(a: int | str, b: int | str) -> bool:
    return a == b and a not in ("", "?")


def token_major_perm(roles: tuple[str, ...]) -> list[int]:
    """The permutation taking axes with `roles` to [T, B, N, H, C] (or [T, B, N, D])."""
    order = (T, B, N, H, C) if len(roles) == 5 else TOKEN_MAJOR
    return [roles.index(r) for r in order]


def show_roles(roles: tuple[str, ...]) -> str:
    return "[" + ", ".join(roles) + "]"


def same_shape(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x == y and x != UNKNOWN for x, y in zip(a, b, strict=True))


# -- shapes --------------------------------------------------------------------------------------


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """ONNX shape inference on the graph as the passes have left it (time-major, with `spike`
    calls), on a skeleton that declares the weights by shape only."""
    graph.sort()
    used = {name for node in graph.nodes for name in node.input if name}
    produced = {name for node in graph.nodes for name in node.output}
    inputs = [vi for vi in graph.graph.input if not graph.is_constant(vi.name)]
    declared = {vi.name for vi in inputs}
    initializers: list[onnx.TensorProto] = []
    for name in sorted(used - produced - declared):
        if name in graph.constants:
            array = graph.constants[name]
            if array.dtype.kind in "iub" or array.size <= 64:
                initializers.append(numpy_helper.from_array(array, name))
            else:
                dtype = helper.np_dtype_to_tensor_dtype(array.dtype)
                inputs.append(helper.make_tensor_value_info(name, dtype, list(array.shape)))
        elif name in graph.tensors:
            tensor = graph.tensors.tensors[name]
            small = int(np.prod(tensor.dims)) <= 64
            if small or tensor.data_type in (TensorProto.INT64, TensorProto.INT32):
                initializers.append(numpy_helper.from_array(graph.tensors.array(name), name))
            else:
                inputs.append(
                    helper.make_tensor_value_info(name, tensor.data_type, list(tensor.dims))
                )
    outputs = [
        helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
        for o in graph.graph.output
    ]
    skeleton = helper.make_graph(graph.nodes, "shapes", inputs, outputs, initializers)
    used_spike = {n.op_type for n in graph.nodes if n.domain == DOMAIN}
    opsets = [o for o in graph.model.opset_import if o.domain != DOMAIN]
    model = helper.make_model(
        skeleton,
        opset_imports=[*opsets, helper.make_opsetid(DOMAIN, 1)],
        functions=[f for f in spike_functions() if f.name in used_spike],
    )
    model.ir_version = 10
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # no shapes: nothing is raised, the importer checks the graph itself
        return {}
    shapes: dict[str, Shape] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or UNKNOWN)
                for d in t.shape.dim
            ]
    return shapes


# -- operands ------------------------------------------------------------------------------------


def _head_split(before: Shape, after: Shape) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(roles after, roles before) when a Reshape [T, B, P, Q] -> [T, B, a, b, c] splits one
    axis into heads and channels and keeps the other as the tokens."""
    if len(before) != 4 or len(after) != 5:
        return None
    if not all(isinstance(d, int) for d in [*before[2:], *after[2:]]):
        return None
    p, q = before[2], before[3]
    a, b, c = after[2], after[3], after[4]
    assert isinstance(a, int) and isinstance(b, int) and isinstance(c, int)
    channels_first = c == q and a * b == p
    tokens_first = a == p and b * c == q
    if channels_first == tokens_first:
        return None
    if channels_first:
        return (T, B, H, C, N), (T, B, D, N)
    return (T, B, N, H, C), (T, B, N, D)


def _merge_reshapes(
    chain: list[onnx.NodeProto], values: list[str]
) -> tuple[list[onnx.NodeProto], list[str]]:
    """Consecutive Reshapes as one (the last, from the first one's input): SpikingJelly's
    TorchScript export splits a fused Q/K/V neuron `[T, B, 3*D, N]` by `[T, B, 3, H, C, N]` then
    `[T, B, 3*H, C, N]`, which together split heads off the channels."""
    merged_chain: list[onnx.NodeProto] = []
    merged_values = values[:1]
    for node, after in zip(chain, values[1:], strict=True):
        if merged_chain and node.op_type == "Reshape" and merged_chain[-1].op_type == "Reshape":
            merged_chain[-1] = node
            merged_values[-1] = after
            continue
        merged_chain.append(node)
        merged_values.append(after)
    return merged_chain, merged_values


def _base(rank: int) -> tuple[str, ...]:
    return (T, B, *[UNKNOWN] * (rank - 2))


class AttentionLayout:
    """The graph an attention is raised in, with what every recogniser needs: the shapes of its
    values, its operands as views of spikes, and the building and splicing in of the call."""

    def __init__(self, graph: Graph, report: RaiseReport) -> None:
        self.graph = graph
        self.report = report
        self._shapes: dict[str, Shape] | None = None
        self.done: set[int] = set()
        """Nodes already part of a raised attention."""

    # -- queries ---------------------------------------------------------------------------------

    @property
    def shapes(self) -> dict[str, Shape]:
        """The shapes of the graph's values, inferred on first use after each edit."""
        if self._shapes is None:
            self._shapes = infer_shapes(self.graph)
        return self._shapes

    def shape(self, name: str) -> Shape:
        shape = self.shapes.get(name)
        if shape is None:
            raise NotRaised(
                f"the shape of '{name}' is not known (ONNX shape inference fails on it)"
            )
        return shape

    def dynamic(self, name: str) -> bool:
        return bool(name) and not self.graph.is_constant(name)

    def keeps_time_and_batch(self, node: onnx.NodeProto, before: Shape, after: Shape) -> bool:
        """Whether a Reshape keeps axes 0 and 1: equal dims, or, with a dynamic batch that shape
        inference names afresh on each side, a target shape that copies the batch (0) or infers
        it (-1) from trailing axes of the same static size."""
        if all(dims_equal(before[k], after[k]) for k in (0, 1)):
            return True
        target = self.graph.ints(node.input[1]) if len(node.input) > 1 else None
        if target is None or len(target) < 3 or int_attribute(node, "allowzero", 0):
            return False
        if not isinstance(before[0], int) or target[0] not in (0, before[0]):
            return False
        if target[1] == 0:
            return True
        rest = [d for d in before[2:] if isinstance(d, int)]
        static = len(rest) == len(before) - 2 and all(d > 0 for d in target[2:])
        return target[1] == -1 and static and math.prod(rest) == math.prod(target[2:])

    def only_use(self, name: str) -> onnx.NodeProto | None:
        uses = self.graph.uses(name)
        if len(uses) != 1 or self.graph.is_output(name):
            return None
        return uses[0]

    def operand(self, name: str, what: str) -> Operand:
        """`name` as a view of spikes, with the roles of its axes."""
        chain: list[onnx.NodeProto] = []
        values = [name]
        while True:
            node = self.graph.producer.get(values[-1])
            if node is None:
                raise NotRaised(f"{what} '{name}' is not spikes: it is an input of the graph")
            if node.domain == DOMAIN and node.op_type in SPIKING:
                break
            if not is_standard(node) or node.op_type not in LAYOUT or len(chain) > 32:
                raise NotRaised(
                    f"{what} '{name}' is not spikes: it is computed by {label(node)}, not by a "
                    "spiking neuron seen through Reshape, Transpose, Split and Slice"
                )
            chain.append(node)
            values.append(node.input[0])
        chain.reverse()
        values.reverse()
        chain, values = _merge_reshapes(chain, values)
        current = values[0]
        roles: dict[str, tuple[str, ...]] = {}
        shape = self.shape(current)
        if len(shape) < 3:
            raise NotRaised(f"{what} '{name}' is not time-major [T, B, ...]")
        roles[current] = _base(len(shape))
        for i, node in enumerate(chain):
            before, after = values[i], values[i + 1]
            r = roles[before]
            if node.op_type == "Transpose":
                perm = ints_attribute(node, "perm")
                if perm is None or perm[:2] != [0, 1]:
                    raise NotRaised(f"{label(node)} moves the time or batch axis of {what}")
                roles[after] = tuple(r[p] for p in perm)
            elif node.op_type == "Split":
                axis = int_attribute(node, "axis", 0)
                if axis < 0:
                    axis += len(r)
                if axis < 2:
                    raise NotRaised(f"{label(node)} splits the time or batch axis of {what}")
                roles[after] = r
            elif node.op_type == "Slice":
                spec = self.graph.slice_of(node, self.shape(before))
                if spec is None or any(a < 2 for a in spec.axes) or set(spec.steps) != {1}:
                    raise NotRaised(
                        f"{label(node)} is not a constant slice of the non-time, non-batch axes "
                        f"of {what}"
                    )
                roles[after] = r
            else:
                in_shape, out_shape = self.shape(before), self.shape(after)
                if len(out_shape) < 3 or not self.keeps_time_and_batch(node, in_shape, out_shape):
                    raise NotRaised(
                        f"{label(node)} does not keep the time and batch axes of {what}"
                    )
                split = _head_split(in_shape, out_shape)
                if split is None:
                    roles[after] = _base(len(out_shape))
                    continue
                roles[after] = split[0]
                for earlier in values[:i]:
                    roles[earlier] = _base(len(roles[earlier]))
                roles[before] = split[1]
                for j in range(i - 1, -1, -1):  # back through the transposes of that tensor
                    if chain[j].op_type != "Transpose":
                        break
                    perm = ints_attribute(chain[j], "perm") or []
                    later = roles[values[j + 1]]
                    earlier_roles = [UNKNOWN] * len(later)
                    for k, p in enumerate(perm):
                        earlier_roles[p] = later[k]
                    roles[values[j]] = tuple(earlier_roles)
        last_split = max(
            (i + 1 for i, n in enumerate(chain) if n.op_type in ("Split", "Slice")), default=0
        )
        candidates = values[last_split:]
        start = next((v for v in candidates if roles[v] == TOKEN_MAJOR), None)
        if start is None:
            start = next(
                (
                    v
                    for v in candidates
                    if roles[v] == (T, B, D, N) or sorted(roles[v]) == sorted((T, B, H, C, N))
                ),
                name,
            )
        return Operand(name, self.shape(name), roles[name], start, roles[start])

    # -- building ------------------------------------------------------------------------------

    def const(self, stem: str, values: list[int]) -> str:
        name = self.graph.fresh(stem)
        self.graph.constants[name] = np.asarray(values, dtype=np.int64)
        return name

    def transpose(self, x: str, perm: list[int], out: list[onnx.NodeProto], stem: str) -> str:
        if perm == list(range(len(perm))):
            return x
        y = self.graph.fresh(stem)
        out.append(helper.make_node("Transpose", [x], [y], name=y, perm=perm))
        return y

    def reshape(self, x: str, target: list[int], out: list[onnx.NodeProto], stem: str) -> str:
        y = self.graph.fresh(stem)
        out.append(
            helper.make_node("Reshape", [x, self.const(f"{stem}.shape", target)], [y], name=y)
        )
        return y

    def tokens(self, op: Operand, perm: list[int], out: list[onnx.NodeProto]) -> str:
        """The operand as `[T, B, N, D]`; `perm` takes its axes to `[T, B, N, ...]`."""
        stem = f"{op.name}.tokens"
        if op.complete and perm == token_major_perm(op.roles):
            if op.start_roles == TOKEN_MAJOR:
                return op.start
            if op.start_roles == (T, B, D, N):
                return self.transpose(op.start, [0, 1, 3, 2], out, f"{op.start}.tokens")
            if sorted(op.start_roles) == sorted((T, B, H, C, N)):
                x = self.transpose(
                    op.start, token_major_perm(op.start_roles), out, f"{op.start}.heads"
                )
                return self.reshape(x, [0, 0, 0, -1], out, f"{op.start}.tokens")
        x = self.transpose(op.name, perm, out, f"{op.name}.heads" if len(perm) > 4 else stem)
        return x if len(perm) == 4 else self.reshape(x, [0, 0, 0, -1], out, stem)

    def restore(
        self, y: str, original: str, shape: Shape, perm: list[int], out: list[onnx.NodeProto]
    ) -> tuple[str, str]:
        """(the value to read instead, the value it replaces): `y` `[T, B, N, D]` put back into
        the layout of `original` (of `shape`, whose axes `perm` takes to `[T, B, N, ...]`).
        Transposes that read `original` alone are folded in; a Reshape that merges the heads
        back into `[T, B, N, D]` is skipped."""
        rank = len(shape)
        inverse = [perm.index(i) for i in range(rank)]
        target = original
        while True:
            use = self.only_use(target)
            if use is None or not is_standard(use) or use.op_type != "Transpose":
                break
            p = ints_attribute(use, "perm")
            if p is None or len(p) != rank:
                break
            inverse = [inverse[a] for a in p]
            target = use.output[0]
        use = self.only_use(target)
        merging = use is not None and is_standard(use) and use.op_type == "Reshape"
        if merging and rank == 5 and inverse == list(range(rank)):
            assert use is not None
            merged = self.shapes.get(use.output[0])
            y_shape = self.shapes.get(y) or self._token_shape(shape, perm)
            if merged is not None and len(merged) == 4 and same_shape(merged, y_shape):
                return y, use.output[0]
        if rank > 4:
            dims = [shape[p] for p in perm][3:-1]
            if not all(isinstance(d, int) for d in dims):
                raise NotRaised(f"the sizes of '{original}' are not known")
            y = self.reshape(y, [0, 0, 0, *[int(d) for d in dims], -1], out, f"{target}.heads")
        return self.transpose(y, inverse, out, f"{target}.layout"), target

    @staticmethod
    def _token_shape(shape: Shape, perm: list[int]) -> Shape:
        moved = [shape[p] for p in perm]
        rest = 1
        for d in moved[3:]:
            if not isinstance(d, int):
                return [*moved[:3], UNKNOWN]
            rest *= d
        return [*moved[:3], rest]

    def commit(
        self,
        call: onnx.NodeProto,
        out: list[onnx.NodeProto],
        replace: tuple[str, str],
        details: str,
        pattern: list[onnx.NodeProto],
        moved: int = 0,
    ) -> None:
        """Add `out` (which holds the `spike` call), make the value `replace[1]` computed by
        `replace[0]`, drop what is left unused and report the call."""
        graph = self.graph
        new, old = replace
        before = graph.producer.get(old)
        dropped = 0
        if before is not None and len(before.output) == 1 and new in _outputs(out):
            # the new value takes the exported name: its old producer goes
            for node in out:
                for names in (node.input, node.output):
                    for i, name in enumerate(names):
                        if name == new:
                            names[i] = old
            graph.nodes = [n for n in graph.nodes if n is not before]
            dropped = 1
            graph.nodes.extend(out)
            graph.reindex()
        else:
            graph.nodes.extend(out)
            graph.reindex()
            graph.replace_uses(old, new)
        self.done |= {id(n) for n in pattern}
        removed = graph.remove_dead() + dropped
        graph.reindex()
        self._shapes = None
        kind = call.op_type
        self.report.raised.append(Raised(kind, call.output[0], details, removed - moved))


def _outputs(nodes: list[onnx.NodeProto]) -> set[str]:
    return {name for node in nodes for name in node.output}
