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

An operand's axes are identified by dataflow: it must be the output of a spiking op seen
through Reshape, Transpose, Split and Slice only (so it is binary, time-major), and the Reshape
that splits heads off a `[T, B, N, D]` or `[T, B, D, N]` tensor names its axes (heads, channels
of a head, tokens).
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

The recognisers are here; what they share (shape inference, operands and the roles of their axes,
the layout built around the call, splicing it in) is in `attention_layout`.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.raising.attention_layout import (
    ROLE_NAMES,
    UNKNOWN,
    AttentionLayout,
    B,
    C,
    H,
    N,
    Operand,
    T,
    dims_equal,
    same_shape,
    show_roles,
    token_major_perm,
)
from compiler.frontend.raising.graph import (
    Graph,
    float_attribute,
    int_attribute,
    is_standard,
    label,
)
from compiler.frontend.raising.report import Left, NotRaised, RaiseReport

NEURONS = {"LIF", "IF", "Leaky"}
"""Neurons that may follow an SSA (they act on each element, so any layout of the non-time
axes gives the same spikes); any of them on a sum is recognised as an attention's neuron (SDSA
and token attention take a LIF only)."""
EXACT_COUNTS = 1 << 24
"""Integers up to this are exact in float32."""


def _is_pow2(value: float) -> bool:
    mantissa, exponent = np.frexp(np.float32(value))
    return bool(abs(mantissa) == 0.5 and -100 < exponent < 100)


class Attention(AttentionLayout):
    """The three recognisers, each given one node of its pattern (SSA's outer MatMul, the
    ReduceSum of SDSA or of token attention): it returns when the node is not in that pattern,
    raises `NotRaised` with the reason for a near miss, and otherwise commits the `spike` call."""

    # -- SSA -----------------------------------------------------------------------------------

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
            raise NotRaised(f"both operands of {label(outer_node)} are products: not Q Kᵀ V")
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
                raise NotRaised(f"the product '{value}' is also used outside the attention")
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
                raise NotRaised("the products are scaled twice")
            outer_scale, (_, factor, problem), output = use, scaled, use.output[0]
        pattern = [matmul, outer_node, *(n for n in (inner_scale, outer_scale) if n is not None)]
        if any(id(n) in self.done for n in pattern):
            return
        if problem:
            raise NotRaised(problem)

        ops = [self.operand(x, f"operand {i + 1} of the products") for i, x in enumerate(leaves)]
        for op in ops:
            if not op.complete or op.roles[:3] != (T, B, H):
                raise NotRaised(
                    f"operand '{op.name}' is not split into heads [T, B, H, ·, ·] by a Reshape of "
                    f"its channel axis (its axes are {show_roles(op.roles)})"
                )
        pairs = [op.roles[3:] for op in ops]
        if pairs == [(N, C), (C, N), (N, C)]:
            form, (q, k, v) = "token-major", ops
        elif pairs == [(C, N), (N, C), (C, N)]:
            form, (v, k, q) = "channel-major", ops
        else:
            raise NotRaised(
                "the tokens and channels of the operands do not chain as Q Kᵀ V or its transpose: "
                + " @ ".join(show_roles(op.roles[3:]) for op in ops)
            )
        heads = {op.dim(H) for op in ops}
        channels = {op.dim(C) for op in ops}
        if len(heads) != 1 or len(channels) != 1:
            raise NotRaised(
                f"the operands are split into different heads: {sorted(heads)} heads of "
                f"{sorted(channels)} channels"
            )
        (h,), (dh,) = heads, channels
        if len({(str(op.shape[0]), str(op.shape[1])) for op in ops}) != 1:
            raise NotRaised("the operands differ in their time or batch sizes")
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
            raise NotRaised(
                f"the scale {factor:g} is applied {where}; SSA applies it to Q Kᵀ, and it is not a "
                "power of two, so moving it changes the rounding"
            )
        if not in_place and dh * nk > EXACT_COUNTS:
            raise NotRaised(f"dh x N = {dh * nk} counts are not exact in float32")

        out: list[onnx.NodeProto] = []
        names = [self.tokens(x, token_major_perm(x.roles), out) for x in (q, k, v)]
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
        replace = self.restore(y, original, shape, token_major_perm(p_roles), out)
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
            raise NotRaised(f"the neuron on the token sums is a {neuron.op_type}; SDSA's is a LIF")
        gate = self.only_use(neuron.output[0])
        if gate is None or not is_standard(gate) or gate.op_type != "Mul":
            raise NotRaised(
                f"the spikes of {label(neuron)} do not gate the queries alone (one Mul)"
            )
        if self.only_use(product.output[0]) is not reduce:
            raise NotRaised(f"the product '{product.output[0]}' is also used outside the attention")
        (query,) = [i for i in gate.input if i != neuron.output[0]] or [""]
        if not self.dynamic(query):
            raise NotRaised(f"{label(gate)} does not gate a run-time tensor")
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
            and all(dims_equal(a, b) or a == b for a, b in zip(k.shape, v.shape, strict=True))
            and all(dims_equal(a, b) or a == b for a, b in zip(k.shape, q.shape, strict=True))
        ):
            raise NotRaised(
                f"Q, K and V are not tensors of one shape [T, B, ...] of rank 4 or 5: "
                f"{q.shape}, {k.shape}, {v.shape}"
            )
        axis = axes + rank if axes < 0 else axes
        if axis < 2:
            raise NotRaised(f"{label(reduce)} sums over the time or batch axis")
        if k.roles[axis] not in (N, UNKNOWN):
            raise NotRaised(
                f"{label(reduce)} sums over the {ROLE_NAMES[k.roles[axis]]} axis, not the tokens"
            )
        if k.complete:
            perm, heads = token_major_perm(k.roles), k.dim(H)
        else:
            perm = [0, 1, axis, *[a for a in range(2, rank) if a != axis]]
            heads = 1
        self.commit_gated_call("SDSA", [q, k, v], neuron, gate, perm, heads, pattern)

    def summed_axis(self, reduce: onnx.NodeProto) -> int:
        """The one axis `reduce` sums over, keeping it (as given: may be negative)."""
        if int_attribute(reduce, "keepdims", 1) != 1:
            raise NotRaised(f"{label(reduce)} drops the summed axis (keepdims = 0)")
        axes = self.graph.axes(reduce)
        if axes is None or len(axes) != 1:
            raise NotRaised(f"{label(reduce)} does not sum over exactly one axis")
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
            raise NotRaised(
                f"the neuron on the sums is {neuron.op_type}, not LIF (QKFormer's token attention "
                "fires a LIF)"
            )
        axes = self.summed_axis(reduce)

        q = self.operand(reduce.input[0], "Q")
        k = self.operand(key, "K")
        rank = len(q.shape)
        if rank not in (4, 5) or len(k.shape) != rank:
            raise NotRaised(
                f"Q and K are not time-major tensors of rank 4 or 5: {q.shape}, {k.shape}"
            )
        axis = axes + rank if axes < 0 else axes
        if axis < 2:
            raise NotRaised(f"{label(reduce)} sums over the time or batch axis")
        role = q.roles[axis]
        if role == N:
            raise NotRaised(
                f"{label(reduce)} sums over the tokens axis, not the channels of a head: a sum "
                "over tokens is SDSA's (of K ⊙ V), not token attention's"
            )
        if role not in (C, UNKNOWN) or (role == UNKNOWN and rank == 5):
            raise NotRaised(
                f"{label(reduce)} sums over the {ROLE_NAMES.get(role, 'unknown')} axis of "
                f"{show_roles(q.roles)}, not the channels of a head"
            )
        if q.roles != k.roles or not all(
            dims_equal(a, b) or a == b for a, b in zip(q.shape, k.shape, strict=True)
        ):
            raise NotRaised(
                f"Q {q.shape} {show_roles(q.roles)} and K {k.shape} {show_roles(k.roles)} are "
                "not split into heads alike: K must hold Q's tokens and channels"
            )
        gated = self.shapes.get(gate.output[0])
        if gated is None or not same_shape(gated, k.shape):
            raise NotRaised(f"{label(gate)} broadcasts K to {gated}: the spikes must only mask it")
        if q.complete:
            perm, heads = token_major_perm(q.roles), q.dim(H)
        else:
            perm, heads = [0, 1, 5 - axis, axis], 1  # one head: the other axis is the tokens
        self.commit_gated_call("TokenAttention", [q, k], neuron, gate, perm, heads, pattern)

    def commit_gated_call(
        self,
        op: str,
        operands: list[Operand],
        neuron: onnx.NodeProto,
        gate: onnx.NodeProto,
        perm: list[int],
        heads: int,
        pattern: list[onnx.NodeProto],
    ) -> None:
        """Replace `pattern` by one `spike` call `op` (SDSA, TokenAttention) on `operands`
        brought to `[T, B, N, D]` by `perm`, carrying `neuron`'s LIF parameters, its result put
        back into the layout `gate`'s output had."""
        dims = [operands[0].shape[p] for p in perm]
        if not all(isinstance(d, int) for d in dims[2:]):
            raise NotRaised("the sizes of the tokens and channels are not known")
        params = _lif_params(neuron)
        out: list[onnx.NodeProto] = []
        names = [self.tokens(x, perm, out) for x in operands]
        stem = "sdsa" if op == "SDSA" else "token_attention"
        y = self.graph.fresh(f"{gate.output[0]}.{stem}")
        node = helper.make_node(op, names, [y], name=y, domain=DOMAIN, heads=heads)
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
        "tau": float_attribute(neuron, "tau", 2.0),
        "v_threshold": float_attribute(neuron, "v_threshold", 1.0),
        "v_reset": float_attribute(neuron, "v_reset", 0.0),
        "decay_input": int_attribute(neuron, "decay_input", 1),
        "soft_reset": int_attribute(neuron, "soft_reset", 0),
    }


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
        except NotRaised as e:
            report.left.append(Left(label(node), f"not raised: {e}"))
