"""Raise spiking self-attention, left as plain ONNX between the neuron calls, into one `spike`
call: `spike.SSA` (Spikformer), `spike.SDSA` (Spike-driven Transformer) or
`spike.TokenAttention` (QKFormer's Q-K token attention).

After the neurons are raised, what remains of an attention block is layout (Reshape, Transpose,
Split splitting heads off the channels) and arithmetic on spikes:

- SSA: two MatMuls of three spike operands, one of them transposed, and a scalar Mul; the
  exporters write it token-major (`[T, B, H, N, dh]`: `(Q Kᵀ) V`, or `Q (Kᵀ V)`) or, in
  SpikingJelly's channel-major layout (`[T, B, H, dh, N]`), transposed (`(Vᵀ K) Qᵀ`);
- SDSA: `Q ⊙ LIF(ReduceSum_tokens(K ⊙ V, keepdims))`;
- token attention: `LIF(ReduceSum_channels(Q, keepdims)) ⊙ K`, Q and K split into heads (in
  SpikingJelly's QKFormer one `[T, B, 2H, dh, N]` tensor split into Q and K), the sum over the
  channels of each head.

An operand's axes are identified by dataflow: it must be the output of a spiking op seen through
Reshape, Transpose and Split only (so it is binary, time-major), and the Reshape that splits heads
off a `[T, B, N, D]` or `[T, B, D, N]` tensor names its axes (heads, channels of a head, tokens).
The call takes Q, K and V as `[T, B, N, D]`, built from the exported tensors by Transpose and
Reshape (or the neurons' own outputs when they already are), and its result is put back into the
layout the rest of the graph reads; a neuron that reads the SSA's result alone moves onto the
`[T, B, N, D]` result first (a neuron acts on each element, so its layout does not matter), and
a Transpose + Reshape that merges the heads back is dropped.

Every raise keeps the model's outputs bit for bit. SSA computes `((Q Kᵀ) * scale) V`; with binary
operands the products are integer counts, so any association order is exact, and the scale may
move when it is a power of two, or when it already scales the attention map `Q Kᵀ`. Anything else
(a scale of 0.1 after the second product, an operand that is not spikes, heads that do not match)
is left as it is with the reason (`spikec import --explain`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.frontend.onnx_functions import DOMAIN, spike_functions
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.report import Left, Raised, RaiseReport

SPIKING = {
    "LIF",
    "IF",
    "Leaky",
    "CubaLIF",
    "Bernoulli",
    "SDSA",
    "TokenAttention",
    "StochasticAttention",
}
"""`spike` functions whose outputs are spikes."""
NEURONS = {"LIF", "IF", "Leaky"}
"""Neurons that may follow an SSA (they act on each element, so any layout of the non-time
axes gives the same spikes); any of them on a sum is recognised as an attention's neuron (SDSA
and token attention take a LIF only)."""
LAYOUT = {"Reshape", "Transpose", "Split"}

T, B, H, C, N, D, UNKNOWN = "T", "B", "H", "C", "N", "D", "?"
"""Axis roles: time, batch, heads, channels of a head, tokens, all channels (heads x channels),
unknown."""
TOKEN_MAJOR = (T, B, N, D)
EXACT_COUNTS = 1 << 24
"""Integers up to this are exact in float32."""

Shape = list[int | str]


class Miss(Exception):
    """Why a recognised pattern is not raised."""


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
            raise Miss(f"the size of the {_ROLE_NAMES[role]} axis of '{self.name}' is not known")
        return size


def _is_pow2(value: float) -> bool:
    mantissa, exponent = np.frexp(np.float32(value))
    return bool(abs(mantissa) == 0.5 and -100 < exponent < 100)


def _int(node: onnx.NodeProto, name: str, default: int) -> int:
    value = attributes(node).get(name, default)
    if not isinstance(value, int):
        raise Miss(f"attribute '{name}' of {label(node)} is not an integer")
    return value


def _float(node: onnx.NodeProto, name: str, default: float) -> float:
    value = attributes(node).get(name, default)
    if not isinstance(value, int | float):
        raise Miss(f"attribute '{name}' of {label(node)} is not a number")
    return float(value)


def _ints(node: onnx.NodeProto, name: str) -> list[int] | None:
    value = attributes(node).get(name)
    if not isinstance(value, list):
        return None
    return [int(v) for v in value]


def _dims_equal(a: int | str, b: int | str) -> bool:
    return a == b and a not in ("", "?")


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


def _base(rank: int) -> tuple[str, ...]:
    return (T, B, *[UNKNOWN] * (rank - 2))


class Attention:
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
            raise Miss(f"the shape of '{name}' is not known (ONNX shape inference fails on it)")
        return shape

    def dynamic(self, name: str) -> bool:
        return bool(name) and not self.graph.is_constant(name)

    def only_use(self, name: str) -> onnx.NodeProto | None:
        uses = self.graph.uses(name)
        if len(uses) != 1 or self.graph.is_output(name):
            return None
        return uses[0]

    def scale_of(self, node: onnx.NodeProto) -> tuple[str, float, str] | None:
        """(the scaled value, the factor, '' or why SSA cannot take it) when `node` multiplies or
        divides by a scalar constant."""
        if not is_standard(node) or node.op_type not in ("Mul", "Div") or len(node.input) != 2:
            return None
        order = [(0, 1), (1, 0)] if node.op_type == "Mul" else [(0, 1)]
        for x, c in order:
            value = self.graph.scalar(node.input[c])
            array = self.graph.constant(node.input[c])
            if value is None or array is None or array.size != 1 or array.ndim > 5:
                continue
            if not self.dynamic(node.input[x]) or array.dtype != np.float32:
                continue
            if node.op_type == "Mul":
                return node.input[x], value, ""
            problem = ""
            if not _is_pow2(value):
                problem = (
                    f"{label(node)} divides by {value:g}, which SSA can only represent as a "
                    "multiplication by its inverse when it is a power of two"
                )
            return node.input[x], float(np.float32(1.0) / np.float32(value)), problem
        return None

    def operand(self, name: str, what: str) -> Operand:
        """`name` as a view of spikes, with the roles of its axes."""
        chain: list[onnx.NodeProto] = []
        values = [name]
        while True:
            node = self.graph.producer.get(values[-1])
            if node is None:
                raise Miss(f"{what} '{name}' is not spikes: it is an input of the graph")
            if node.domain == DOMAIN and node.op_type in SPIKING:
                break
            if not is_standard(node) or node.op_type not in LAYOUT or len(chain) > 32:
                raise Miss(
                    f"{what} '{name}' is not spikes: it is computed by {label(node)}, not by a "
                    "spiking neuron seen through Reshape, Transpose and Split"
                )
            chain.append(node)
            values.append(node.input[0])
        chain.reverse()
        values.reverse()
        current = values[0]
        roles: dict[str, tuple[str, ...]] = {}
        shape = self.shape(current)
        if len(shape) < 3:
            raise Miss(f"{what} '{name}' is not time-major [T, B, ...]")
        roles[current] = _base(len(shape))
        for i, node in enumerate(chain):
            before, after = values[i], values[i + 1]
            r = roles[before]
            if node.op_type == "Transpose":
                perm = _ints(node, "perm")
                if perm is None or perm[:2] != [0, 1]:
                    raise Miss(f"{label(node)} moves the time or batch axis of {what}")
                roles[after] = tuple(r[p] for p in perm)
            elif node.op_type == "Split":
                axis = _int(node, "axis", 0)
                if axis < 0:
                    axis += len(r)
                if axis < 2:
                    raise Miss(f"{label(node)} splits the time or batch axis of {what}")
                roles[after] = r
            else:
                in_shape, out_shape = self.shape(before), self.shape(after)
                if len(out_shape) < 3 or not all(
                    _dims_equal(in_shape[k], out_shape[k]) for k in (0, 1)
                ):
                    raise Miss(f"{label(node)} does not keep the time and batch axes of {what}")
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
                    perm = _ints(chain[j], "perm") or []
                    later = roles[values[j + 1]]
                    earlier_roles = [UNKNOWN] * len(later)
                    for k, p in enumerate(perm):
                        earlier_roles[p] = later[k]
                    roles[values[j]] = tuple(earlier_roles)
        last_split = max((i + 1 for i, n in enumerate(chain) if n.op_type == "Split"), default=0)
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
        if op.complete and perm == _perm(op.roles):
            if op.start_roles == TOKEN_MAJOR:
                return op.start
            if op.start_roles == (T, B, D, N):
                return self.transpose(op.start, [0, 1, 3, 2], out, f"{op.start}.tokens")
            if sorted(op.start_roles) == sorted((T, B, H, C, N)):
                x = self.transpose(op.start, _perm(op.start_roles), out, f"{op.start}.heads")
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
            p = _ints(use, "perm")
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
            if merged is not None and len(merged) == 4 and _same(merged, y_shape):
                return y, use.output[0]
        if rank > 4:
            dims = [shape[p] for p in perm][3:-1]
            if not all(isinstance(d, int) for d in dims):
                raise Miss(f"the sizes of '{original}' are not known")
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

    # -- SSA -----------------------------------------------------------------------------------

    def product(self, name: str) -> tuple[onnx.NodeProto, onnx.NodeProto | None, float, str] | None:
        """(MatMul, scale node, scale, '' or why SSA cannot take the scale) when `name` is a
        product of two run-time values, possibly scaled."""
        node = self.graph.producer.get(name)
        if node is None:
            return None
        scale: onnx.NodeProto | None = None
        factor, problem = 1.0, ""
        scaled = self.scale_of(node)
        if scaled is not None:
            scale, (_, factor, problem) = node, scaled
            node = self.graph.producer.get(scaled[0])
            if node is None:
                return None
        if not is_standard(node) or node.op_type != "MatMul":
            return None
        if not (self.dynamic(node.input[0]) and self.dynamic(node.input[1])):
            return None
        return node, scale, factor, problem

    def ssa(self, outer_node: onnx.NodeProto) -> None:
        if not all(self.dynamic(i) for i in outer_node.input):
            return
        inner = [self.product(i) for i in outer_node.input]
        if inner[0] is not None and inner[1] is not None:
            raise Miss(f"both operands of {label(outer_node)} are products: not Q Kᵀ V")
        side = 0 if inner[0] is not None else 1
        found = inner[side]
        if found is None:
            return
        matmul, inner_scale, inner_factor, problem = found
        for value, reader in (
            (matmul.output[0], inner_scale or outer_node),
            *([(inner_scale.output[0], outer_node)] if inner_scale is not None else []),
        ):
            if self.only_use(value) is not reader:
                raise Miss(f"the product '{value}' is also used outside the attention")
        if side == 0:
            leaves = [matmul.input[0], matmul.input[1], outer_node.input[1]]
        else:
            leaves = [outer_node.input[0], matmul.input[0], matmul.input[1]]
        association = "left" if side == 0 else "right"
        output, outer_scale, factor = outer_node.output[0], None, inner_factor
        use = self.only_use(output)
        scaled = self.scale_of(use) if use is not None else None
        if use is not None and scaled is not None:
            if inner_scale is not None:
                raise Miss("the products are scaled twice")
            outer_scale, (_, factor, problem), output = use, scaled, use.output[0]
        pattern = [matmul, outer_node, *(n for n in (inner_scale, outer_scale) if n is not None)]
        if any(id(n) in self.done for n in pattern):
            return
        if problem:
            raise Miss(problem)

        ops = [self.operand(x, f"operand {i + 1} of the products") for i, x in enumerate(leaves)]
        for op in ops:
            if not op.complete or op.roles[:3] != (T, B, H):
                raise Miss(
                    f"operand '{op.name}' is not split into heads [T, B, H, ·, ·] by a Reshape of "
                    f"its channel axis (its axes are {_show(op.roles)})"
                )
        pairs = [op.roles[3:] for op in ops]
        if pairs == [(N, C), (C, N), (N, C)]:
            form, (q, k, v) = "token-major", ops
        elif pairs == [(C, N), (N, C), (C, N)]:
            form, (v, k, q) = "channel-major", ops
        else:
            raise Miss(
                "the tokens and channels of the operands do not chain as Q Kᵀ V or its transpose: "
                + " @ ".join(_show(op.roles[3:]) for op in ops)
            )
        heads = {op.dim(H) for op in ops}
        channels = {op.dim(C) for op in ops}
        if len(heads) != 1 or len(channels) != 1:
            raise Miss(
                f"the operands are split into different heads: {sorted(heads)} heads of "
                f"{sorted(channels)} channels"
            )
        (h,), (dh,) = heads, channels
        if len({(str(op.shape[0]), str(op.shape[1])) for op in ops}) != 1:
            raise Miss("the operands differ in their time or batch sizes")
        nq, nk = q.dim(N), k.dim(N)
        # where the scale is applied: SSA scales the map Q Kᵀ (token-major (M1 M2) M3, or its
        # transpose M2 M3 channel-major)
        on_map = (form == "token-major") == (association == "left")
        if outer_scale is not None:
            where = "after the second product"
        else:
            where = "to the attention map" if on_map else "to Kᵀ V (or its transpose), not to Q Kᵀ"
        in_place = factor == 1.0 or (outer_scale is None and on_map)
        if not in_place and not _is_pow2(factor):
            raise Miss(
                f"the scale {factor:g} is applied {where}; SSA applies it to Q Kᵀ, and it is not a "
                "power of two, so moving it changes the rounding"
            )
        if not in_place and dh * nk > EXACT_COUNTS:
            raise Miss(f"dh x N = {dh * nk} counts are not exact in float32")

        out: list[onnx.NodeProto] = []
        names = [self.tokens(x, _perm(x.roles), out) for x in (q, k, v)]
        y = self.graph.fresh(f"{output}.ssa")
        node = helper.make_node(
            "SSA", names, [y], name=y, domain=DOMAIN, heads=h, scale=float(factor)
        )
        out.append(node)
        p_roles = (T, B, H, N, C) if form == "token-major" else (T, B, H, C, N)
        original, moved = output, 0
        neuron = self.only_use(output)
        if neuron is not None and neuron.domain == DOMAIN and neuron.op_type in NEURONS:
            moved_node = onnx.NodeProto()
            moved_node.CopyFrom(neuron)
            spikes = self.graph.fresh(f"{y}.{neuron.op_type.lower()}")
            del moved_node.input[:]
            moved_node.input.append(y)
            del moved_node.output[:]
            moved_node.output.append(spikes)
            moved_node.name = spikes
            out.append(moved_node)
            y, original, moved = spikes, neuron.output[0], 1
            pattern.append(neuron)
        shape = self.shape(output)
        replace = self.restore(y, original, shape, _perm(p_roles), out)
        details = f"heads={h}, scale={factor:g}, N={nq}, D={h * dh}, {form}"
        self.commit(node, out, replace, details, pattern, moved)

    # -- SDSA ----------------------------------------------------------------------------------

    def sums_product(self, reduce: onnx.NodeProto) -> onnx.NodeProto | None:
        """The Mul of two run-time values that `reduce` sums (SDSA's K ⊙ V), if it sums one."""
        product = self.graph.producer.get(reduce.input[0])
        if product is None or not is_standard(product) or product.op_type != "Mul":
            return None
        if not all(self.dynamic(i) for i in product.input):
            return None
        return product

    def sdsa(self, reduce: onnx.NodeProto) -> None:
        product = self.sums_product(reduce)
        if product is None:
            return
        neuron = self.only_use(reduce.output[0])
        if neuron is None or neuron.domain != DOMAIN or neuron.op_type not in NEURONS:
            return
        if neuron.op_type != "LIF":
            raise Miss(f"the neuron on the token sums is a {neuron.op_type}; SDSA's is a LIF")
        gate = self.only_use(neuron.output[0])
        if gate is None or not is_standard(gate) or gate.op_type != "Mul":
            raise Miss(f"the spikes of {label(neuron)} do not gate the queries alone (one Mul)")
        if self.only_use(product.output[0]) is not reduce:
            raise Miss(f"the product '{product.output[0]}' is also used outside the attention")
        (query,) = [i for i in gate.input if i != neuron.output[0]] or [""]
        if not self.dynamic(query):
            raise Miss(f"{label(gate)} does not gate a run-time tensor")
        pattern = [product, reduce, neuron, gate]
        if any(id(n) in self.done for n in pattern):
            return
        axes = self.summed_axis(reduce)

        k = self.operand(product.input[0], "K")
        v = self.operand(product.input[1], "V")
        q = self.operand(query, "Q")
        rank = len(k.shape)
        if rank not in (4, 5) or not (
            len(q.shape) == len(v.shape) == rank
            and all(_dims_equal(a, b) or a == b for a, b in zip(k.shape, v.shape, strict=True))
            and all(_dims_equal(a, b) or a == b for a, b in zip(k.shape, q.shape, strict=True))
        ):
            raise Miss(
                f"Q, K and V are not tensors of one shape [T, B, ...] of rank 4 or 5: "
                f"{q.shape}, {k.shape}, {v.shape}"
            )
        axis = axes + rank if axes < 0 else axes
        if axis < 2:
            raise Miss(f"{label(reduce)} sums over the time or batch axis")
        if k.roles[axis] not in (N, UNKNOWN):
            raise Miss(
                f"{label(reduce)} sums over the {_ROLE_NAMES[k.roles[axis]]} axis, not the tokens"
            )
        if k.complete:
            perm, heads = _perm(k.roles), k.dim(H)
        else:
            perm = [0, 1, axis, *[a for a in range(2, rank) if a != axis]]
            heads = 1
        dims = [k.shape[p] for p in perm]
        if not all(isinstance(d, int) for d in dims[2:]):
            raise Miss("the sizes of the tokens and channels are not known")
        params = _lif_params(neuron)

        out: list[onnx.NodeProto] = []
        names = [self.tokens(x, perm, out) for x in (q, k, v)]
        y = self.graph.fresh(f"{gate.output[0]}.sdsa")
        node = helper.make_node("SDSA", names, [y], name=y, domain=DOMAIN, heads=heads)
        node.attribute.extend(helper.make_attribute(k, v) for k, v in params.items())
        out.append(node)
        replace = self.restore(y, gate.output[0], self.shape(gate.output[0]), perm, out)
        channels = int(np.prod([int(d) for d in dims[3:]]))
        details = f"heads={heads}, N={dims[2]}, D={channels}, " + ", ".join(
            f"{key}={value:g}" for key, value in params.items()
        )
        self.commit(node, out, replace, details, pattern)

    def summed_axis(self, reduce: onnx.NodeProto) -> int:
        """The one axis `reduce` sums over, keeping it (as given: may be negative)."""
        if _int(reduce, "keepdims", 1) != 1:
            raise Miss(f"{label(reduce)} drops the summed axis (keepdims = 0)")
        if len(reduce.input) > 1 and reduce.input[1]:
            axes = self.graph.ints(reduce.input[1])
        else:
            axes = _ints(reduce, "axes")
        if axes is None or len(axes) != 1:
            raise Miss(f"{label(reduce)} does not sum over exactly one axis")
        return axes[0]

    # -- token attention -------------------------------------------------------------------------

    def token_attention(self, reduce: onnx.NodeProto) -> None:
        """`Mul(LIF(ReduceSum(Q, channels of a head, keepdims)), K)`: QKFormer's token attention.
        Recognised once a neuron reads the sum alone and its spikes gate one run-time tensor
        alone; near misses from there on are left with their reason."""
        if not self.dynamic(reduce.input[0]):
            return
        neuron = self.only_use(reduce.output[0])
        if neuron is None or neuron.domain != DOMAIN or neuron.op_type not in NEURONS:
            return
        gate = self.only_use(neuron.output[0])
        if gate is None or not is_standard(gate) or gate.op_type != "Mul":
            return
        (key,) = [i for i in gate.input if i != neuron.output[0]] or [""]
        if not self.dynamic(key):
            return
        pattern = [reduce, neuron, gate]
        if any(id(n) in self.done for n in pattern):
            return
        if neuron.op_type != "LIF":
            raise Miss(
                f"the neuron on the sums is {neuron.op_type}, not LIF (QKFormer's token attention "
                "fires a LIF)"
            )
        axes = self.summed_axis(reduce)

        q = self.operand(reduce.input[0], "Q")
        k = self.operand(key, "K")
        rank = len(q.shape)
        if rank not in (4, 5) or len(k.shape) != rank:
            raise Miss(f"Q and K are not time-major tensors of rank 4 or 5: {q.shape}, {k.shape}")
        axis = axes + rank if axes < 0 else axes
        if axis < 2:
            raise Miss(f"{label(reduce)} sums over the time or batch axis")
        role = q.roles[axis]
        if role == N:
            raise Miss(
                f"{label(reduce)} sums over the tokens axis, not the channels of a head: a sum "
                "over tokens is SDSA's (of K ⊙ V), not token attention's"
            )
        if role not in (C, UNKNOWN) or (role == UNKNOWN and rank == 5):
            raise Miss(
                f"{label(reduce)} sums over the {_ROLE_NAMES.get(role, 'unknown')} axis of "
                f"{_show(q.roles)}, not the channels of a head"
            )
        if q.roles != k.roles or not all(
            _dims_equal(a, b) or a == b for a, b in zip(q.shape, k.shape, strict=True)
        ):
            raise Miss(
                f"Q {q.shape} {_show(q.roles)} and K {k.shape} {_show(k.roles)} are not split "
                "into heads alike: K must hold Q's tokens and channels"
            )
        gated = self.shapes.get(gate.output[0])
        if gated is None or not _same(gated, k.shape):
            raise Miss(f"{label(gate)} broadcasts K to {gated}: the spikes must only mask it")
        if q.complete:
            perm, heads = _perm(q.roles), q.dim(H)
        else:
            perm, heads = [0, 1, 5 - axis, axis], 1  # one head: the other axis is the tokens
        dims = [q.shape[p] for p in perm]
        if not all(isinstance(d, int) for d in dims[2:]):
            raise Miss("the sizes of the tokens and channels are not known")
        params = _lif_params(neuron)

        out: list[onnx.NodeProto] = []
        names = [self.tokens(x, perm, out) for x in (q, k)]
        y = self.graph.fresh(f"{gate.output[0]}.token_attention")
        node = helper.make_node("TokenAttention", names, [y], name=y, domain=DOMAIN, heads=heads)
        node.attribute.extend(helper.make_attribute(a, b) for a, b in params.items())
        out.append(node)
        replace = self.restore(y, gate.output[0], self.shape(gate.output[0]), perm, out)
        channels = int(np.prod([int(d) for d in dims[3:]]))
        details = f"heads={heads}, N={dims[2]}, D={channels}, " + ", ".join(
            f"{key}={value:g}" for key, value in params.items()
        )
        self.commit(node, out, replace, details, pattern)


def _lif_params(neuron: onnx.NodeProto) -> dict[str, float | int]:
    """A raised LIF call's parameters, with the LIF's own defaults where it leaves one out."""
    return {
        "tau": _float(neuron, "tau", 2.0),
        "v_threshold": _float(neuron, "v_threshold", 1.0),
        "v_reset": _float(neuron, "v_reset", 0.0),
        "decay_input": _int(neuron, "decay_input", 1),
        "soft_reset": _int(neuron, "soft_reset", 0),
    }


_ROLE_NAMES = {H: "heads", C: "channels", D: "channels", T: "time", B: "batch", N: "tokens"}


def _perm(roles: tuple[str, ...]) -> list[int]:
    """The permutation taking axes with `roles` to [T, B, N, H, C] (or [T, B, N, D])."""
    order = (T, B, N, H, C) if len(roles) == 5 else TOKEN_MAJOR
    return [roles.index(r) for r in order]


def _outputs(nodes: list[onnx.NodeProto]) -> set[str]:
    return {name for node in nodes for name in node.output}


def _show(roles: tuple[str, ...]) -> str:
    return "[" + ", ".join(roles) + "]"


def _same(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x == y and x != UNKNOWN for x, y in zip(a, b, strict=True))


def raise_attention(graph: Graph, report: RaiseReport) -> None:
    """Replace each SSA, SDSA and token attention pattern by one `spike` call (see the module's
    documentation)."""
    kinds = {n.op_type for n in graph.nodes if is_standard(n)}
    if "MatMul" not in kinds and "ReduceSum" not in kinds:
        return
    graph.remove_dead()
    attention = Attention(graph, report)
    for node in list(graph.nodes):
        live = {id(n) for n in graph.nodes}
        if not is_standard(node) or id(node) in attention.done or id(node) not in live:
            continue
        try:
            if node.op_type == "MatMul":
                attention.ssa(node)
            elif node.op_type == "ReduceSum":
                if attention.sums_product(node) is not None:
                    attention.sdsa(node)
                else:
                    attention.token_attention(node)
        except Miss as e:
            report.left.append(Left(label(node), f"not raised: {e}"))
