"""Raise spike-gated mixtures of experts (SEMM, the Spiking Experts Mixture Mechanism of Zhou et
al., "Spiking Transformer with Experts Mixture", NeurIPS 2024) into `Dispatch` / `Combine`.

In SEMM the router is a spiking layer: a neuron's spikes `R[T, B, N, E]` gate the experts, token
by token and step by step, and the block computes `sum_e R[..., e] * Y_e` with every expert
`Y_e = expert_e(X)` applied densely to every token. PyTorch writes the sum in one of two ways,
both recognised by dataflow:

- stacked: `ReduceSum(Unsqueeze(R, -1) * Concat(Unsqueeze(Y_e, a)), a)`, the experts stacked on
  an expert axis `a` (the second to last, `[T, B, N, E, D]`, with the gates unsqueezed on the
  last axis; or the last, `[T, B, N, D, E]`, with the gates unsqueezed before it), which is how
  SEMM is usually written;
- gated adds: `((R[..., 0:1] * Y_0 + R[..., 1:2] * Y_1) + ...)`, a gate column taken by Slice or
  Gather on the last axis.

They become `Dispatch(X, R; expert=e)` before each expert, the experts' outputs stacked on a new
axis 0 (Unsqueeze, Concat) and `Combine(R, Ystack)`, which the frontend imports as one
`spike.moe` whose gates are the neuron's spikes (binary, time-major). That is exact when

- the gates are a neuron's spikes, 0 or 1: the products `R_e * Y_e` are then the same numbers;
- each expert is token-wise and stateless (linear layers on the feature axis and elementwise
  arithmetic, no neuron): the routing changes from step to step, so a dispatched (masked) input
  would change what a neuron integrates, and an expert that mixes tokens would see masked ones;
- the sum adds the experts in expert order, as Combine does (`g_0 * y_0 + g_1 * y_1 + ...`). The
  gated adds must be in that order. onnxruntime's ReduceSum (CPU, 1.2x-1.3x) adds them in order
  when the expert axis is not the last one and there are at most `IN_ORDER_EXPERTS` experts
  (measured: tests/test_raising_semm.py checks it); otherwise its order differs in the last bits,
  and the block is raised only when no spiking op reads the sum (reals within 1e-5), since a
  neuron's threshold could turn that difference into a different spike.

Near misses (a stateful or token-mixing expert, gates that are not a neuron's spikes, a sum out of
order) are left as they are, with the reason (`spikec import --explain`).
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from compiler.frontend.onnx_functions import DOMAIN, NEURON_FUNCTIONS
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.moe import _router, _shared_input, dispatch_experts
from compiler.frontend.raising.report import Left, NotRaised, Raised, RaiseReport

GATE_NEURONS = {*NEURON_FUNCTIONS, "Bernoulli"}
"""`spike` functions whose output is binary spikes, time-major: what may gate the experts."""
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Relu", "Identity"}
"""Elementwise ops an expert may apply, on its own values or constants."""
IN_ORDER_EXPERTS = 5
"""onnxruntime's ReduceSum over an axis that is not the last adds its slices one after another
(as Combine does) up to this many; with more, or over the last axis, it adds them in another
order (measured on onnxruntime 1.32, CPU)."""


@dataclass
class Mixture:
    """A recognised gated sum `sum_e G[..., e] * Y_e`."""

    gates: str
    outputs: list[str]
    """Y_e, in expert order."""
    readers: list[onnx.NodeProto]
    """The gating node that reads each Y_e (its Unsqueeze onto the stack, or its Mul)."""
    last: onnx.NodeProto
    """The node computing the sum (ReduceSum, or the last Add)."""
    nodes: list[onnx.NodeProto]
    """The gating nodes (gate columns or Unsqueeze, products, stack, sum)."""
    form: str
    """How the sum is written, for the report."""
    in_order: bool
    """Whether the sum adds the experts in expert order (exactly as Combine)."""
    order_note: str = ""


def _axis(value: int, rank: int) -> int:
    return value + rank if value < 0 else value


def _int(node: onnx.NodeProto, name: str, default: int) -> int:
    value = attributes(node).get(name, default)
    return value if isinstance(value, int) else default


def _unsqueeze_axis(graph: Graph, node: onnx.NodeProto, rank: int) -> int | None:
    """The axis a one-axis Unsqueeze inserts, in its output's rank `rank`."""
    if not is_standard(node) or node.op_type != "Unsqueeze":
        return None
    axes = graph.axes(node)
    return _axis(axes[0], rank) if axes is not None and len(axes) == 1 else None


def _only_use(graph: Graph, name: str) -> onnx.NodeProto | None:
    uses = graph.uses(name)
    return uses[0] if len(uses) == 1 and not graph.is_output(name) else None


def _shape(graph: Graph, name: str) -> list[int | str] | None:
    """A value's shape: shape inference's, or a graph input's declared one."""
    if name in graph.shapes:
        return graph.shapes[name]
    for vi in graph.graph.input:
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
    return None


def _rank(graph: Graph, name: str) -> int | None:
    shape = _shape(graph, name)
    return len(shape) if shape is not None else None


# -- the stacked form -----------------------------------------------------------------------


def _stacked(graph: Graph, reduce: onnx.NodeProto) -> Mixture | None:
    """`ReduceSum(Unsqueeze(G) * Concat(Unsqueeze(Y_e)), expert axis)`, if `reduce` is one."""
    if not is_standard(reduce) or reduce.op_type != "ReduceSum":
        return None
    mul = graph.producer.get(reduce.input[0])
    if mul is None or mul.op_type != "Mul" or not is_standard(mul):
        return None
    rank = _rank(graph, mul.output[0])
    axes = graph.axes(reduce)
    if rank is None or axes is None or len(axes) != 1:
        return None
    axis = _axis(axes[0], rank)
    for g_side in (0, 1):
        unsqueeze = graph.producer.get(mul.input[g_side])
        concat = graph.producer.get(mul.input[1 - g_side])
        if unsqueeze is None or concat is None or concat.op_type != "Concat":
            continue
        inserted = _unsqueeze_axis(graph, unsqueeze, rank)
        if inserted is None or _axis(_int(concat, "axis", 0), rank) != axis:
            continue
        # the gates' expert axis lands on `axis`: G [.., E] unsqueezed after it or before it
        if (axis, inserted) not in ((rank - 2, rank - 1), (rank - 1, rank - 2)):
            continue
        rows = [graph.producer.get(name) for name in concat.input]
        if not all(r is not None and _unsqueeze_axis(graph, r, rank) == axis for r in rows):
            continue
        stack = [r for r in rows if r is not None]
        gates = unsqueeze.input[0]
        return Mixture(
            gates,
            [r.input[0] for r in stack],
            stack,
            reduce,
            [unsqueeze, *stack, concat, mul, reduce],
            "ReduceSum over the stacked experts",
            in_order=False,
        )
    return None


def _check_stacked(graph: Graph, mixture: Mixture) -> None:
    reduce = mixture.last
    mul, concat = mixture.nodes[-2], mixture.nodes[-3]
    if _int(reduce, "keepdims", 1) != 0:
        raise NotRaised("the ReduceSum keeps the expert axis (keepdims=1)")
    if _int(reduce, "noop_with_empty_axes", 0) != 0:
        raise NotRaised("the ReduceSum has noop_with_empty_axes set")
    for name in (mixture.nodes[0].output[0], concat.output[0], mul.output[0]):
        if _only_use(graph, name) is None:
            raise NotRaised(f"'{name}', a step of the gated sum, is also used elsewhere")
    for e, row in enumerate(mixture.readers):
        if _only_use(graph, row.output[0]) is None:
            raise NotRaised(f"expert {e}'s stacked output is also used elsewhere")
    rank = _rank(graph, mul.output[0])
    assert rank is not None
    axis = _axis((graph.axes(reduce) or [0])[0], rank)
    experts = len(mixture.outputs)
    if axis < rank - 1 and experts <= IN_ORDER_EXPERTS:
        mixture.in_order = True
    else:
        where = "the last axis" if axis == rank - 1 else f"more than {IN_ORDER_EXPERTS} experts"
        mixture.order_note = f"onnxruntime's ReduceSum over {where} adds them in another order"


# -- the gated adds -------------------------------------------------------------------------


def _column(graph: Graph, node: onnx.NodeProto, gates: str) -> tuple[int, str] | None:
    """(e, the column `G[..., e:e+1]`) if `node` takes gate column e on the last axis (Slice, or
    Gather followed by an Unsqueeze on the last axis when its index is a scalar)."""
    rank = _rank(graph, gates)
    if rank is None or not is_standard(node) or node.input[0] != gates:
        return None
    if node.op_type == "Slice":
        spec = graph.slice_of(node, _shape(graph, gates))
        taken = spec.single() if spec is not None else None
        if taken is not None and taken[0] == rank - 1 and taken[2] == taken[1] + 1:
            return taken[1], node.output[0]
    if node.op_type == "Gather" and _axis(_int(node, "axis", 0), rank) == rank - 1:
        index = graph.constant(node.input[1])
        if index is None or index.size != 1 or index.dtype.kind not in "iu" or index.ndim > 1:
            return None
        e = int(index.reshape(-1)[0])
        if index.ndim == 1:
            return e, node.output[0]
        after = _only_use(graph, node.output[0])
        if after is not None and _unsqueeze_axis(graph, after, rank) == rank - 1:
            return e, after.output[0]
    return None


def _is_add(node: onnx.NodeProto | None) -> bool:
    return node is not None and node.op_type == "Add" and is_standard(node)


def _gated_adds(graph: Graph, gates: str) -> Mixture | None:
    """The gated adds `sum_e G[..., e:e+1] * Y_e` of `gates`, when at least two gate columns
    weight a value (a Mul); raises NotRaised when they are not a sum in expert order."""
    terms: dict[int, tuple[str, str, list[onnx.NodeProto]]] = {}
    for use in graph.uses(gates):
        found = _column(graph, use, gates)
        if found is None:
            continue
        e, column = found
        mul = _only_use(graph, column)
        if mul is None or mul.op_type != "Mul" or not is_standard(mul):
            continue
        nodes = [use] if column == use.output[0] else [use, graph.producer[column]]
        other = mul.input[1] if mul.input[0] == column else mul.input[0]
        if e in terms:
            raise NotRaised(f"gate column {e} weights two values")
        terms[e] = (other, mul.output[0], [*nodes, mul])
    products = [product for _, product, _ in terms.values()]
    if len(terms) < 2 or not all(_is_add(_only_use(graph, name)) for name in products):
        return None  # not a sum of gated values
    shape = _shape(graph, gates)
    experts = shape[-1] if shape else None
    if sorted(terms) != list(range(len(terms))) or experts != len(terms):
        raise NotRaised(f"the gates weight experts {sorted(terms)} of {experts}")
    products = [terms[e][1] for e in range(len(terms))]
    current, adds = products[0], []
    for product in products[1:]:
        add = _only_use(graph, current)
        if add is None or not _is_add(add):
            raise NotRaised("the gated experts are not summed one after another")
        if set(add.input) != {current, product} or _only_use(graph, product) is not add:
            raise NotRaised("the gated experts are summed out of expert order")
        adds.append(add)
        current = add.output[0]
    return Mixture(
        gates,
        [terms[e][0] for e in range(len(terms))],
        [terms[e][2][-1] for e in range(len(terms))],
        adds[-1],
        [n for e in range(len(terms)) for n in terms[e][2]] + adds,
        "gated Adds",
        in_order=True,
    )


# -- checks shared by both forms ------------------------------------------------------------


def _check_gates(graph: Graph, mixture: Mixture) -> onnx.NodeProto:
    """The neuron call whose spikes are the gates."""
    producer = graph.producer.get(mixture.gates)
    if producer is None or producer.domain != DOMAIN or producer.op_type not in GATE_NEURONS:
        what = label(producer) if producer is not None else "a graph input"
        raise NotRaised(
            f"the gates '{mixture.gates}' come from {what}, not from a raised spiking neuron "
            f"({', '.join(sorted(GATE_NEURONS))}): a spike-gated mixture needs binary gates"
        )
    shape = _shape(graph, mixture.gates)
    if not shape or shape[-1] != len(mixture.outputs):
        columns = shape[-1] if shape else "?"
        raise NotRaised(f"the gates have {columns} columns for {len(mixture.outputs)} experts")
    return producer


def _check_expert_node(graph: Graph, e: int, node: onnx.NodeProto, own: set[str]) -> None:
    if node.domain == DOMAIN:
        if node.op_type in GATE_NEURONS or node.op_type.startswith("Unraised"):
            raise NotRaised(
                f"expert {e} holds the neuron {label(node)}: the spike gates change from step "
                "to step, so a dispatched (masked) input would change its state"
            )
        raise NotRaised(f"expert {e} holds {label(node)}, which is not token-wise")
    if not is_standard(node):
        raise NotRaised(f"expert {e} holds {label(node)}, which is not token-wise")
    if node.op_type == "MatMul":
        weight = graph.constant(node.input[1])
        if node.input[0] not in own or weight is None or weight.ndim != 2:
            raise NotRaised(
                f"expert {e}'s {label(node)} has no constant 2-D weight on the feature axis; "
                "only token-wise layers can be dispatched"
            )
        return
    if node.op_type not in ELEMENTWISE:
        raise NotRaised(f"expert {e} holds {label(node)}; only token-wise layers can be dispatched")
    if node.op_type == "Div" and graph.constant(node.input[1]) is None:
        raise NotRaised(f"expert {e}'s {label(node)} divides by a computed value")


def _expert_nodes(
    graph: Graph, mixture: Mixture, e: int, source: str, values: set[str]
) -> tuple[list[onnx.NodeProto], list[tuple[onnx.NodeProto, int]]]:
    """Expert e's nodes (in graph order) and where they read `source`."""
    output = mixture.outputs[e]
    if output == source or output not in values:
        raise NotRaised(f"expert {e} computes nothing from the experts' input")
    nodes = [n for n in graph.nodes if any(o in values for o in n.output)]
    own = {id(n) for n in nodes}
    for node in nodes:
        for name in node.input:
            if name and name != source and name not in values and not graph.is_constant(name):
                what = "the gates" if name == mixture.gates else f"'{name}'"
                raise NotRaised(f"expert {e} reads {what}; an expert may read only its input")
        _check_expert_node(graph, e, node, values | {source})
        for out in node.output:
            users = [u for u in graph.uses(out) if id(u) not in own]
            allowed = out == output and all(u is mixture.readers[e] for u in users)
            if (users and not allowed) or graph.is_output(out):
                raise NotRaised(f"expert {e}'s value '{out}' is also used outside it")
    reads = [(n, i) for n in nodes for i, name in enumerate(n.input) if name == source]
    return nodes, reads


def _spiking_reader(graph: Graph, name: str) -> onnx.NodeProto | None:
    """A `spike` call that reads `name`, directly or through other ops."""
    pending, seen = [name], set()
    while pending:
        for use in graph.uses(pending.pop()):
            if id(use) in seen:
                continue
            seen.add(id(use))
            if use.domain == DOMAIN:
                return use
            pending.extend(use.output)
    return None


# -- the pass -------------------------------------------------------------------------------


def _candidates(graph: Graph) -> list[tuple[onnx.NodeProto, Mixture | None, str | None]]:
    """(anchor, mixture, why not) for each gated sum, in graph order."""
    found: list[tuple[onnx.NodeProto, Mixture | None, str | None]] = []
    gate_values: list[str] = []
    for node in graph.nodes:
        mixture = _stacked(graph, node)
        if mixture is not None:
            found.append((node, mixture, None))
        for name in node.output:
            if name and len(graph.uses(name)) >= 2:
                gate_values.append(name)
    for name in gate_values:
        producer = graph.producer.get(name)
        if producer is not None and _router(graph, producer) is not None:
            continue  # a top-k router's gates: the moe pass's
        try:
            mixture = _gated_adds(graph, name)
        except NotRaised as e:
            found.append((producer or graph.uses(name)[0], None, str(e)))
            continue
        if mixture is not None:
            found.append((mixture.last, mixture, None))
    return found


def raise_semm(graph: Graph, report: RaiseReport) -> None:
    """Raise every spike-gated mixture of experts of `graph`; report those left."""
    for anchor, mixture, why in _candidates(graph):
        present = {id(n) for n in graph.nodes}
        needed = [anchor] if mixture is None else mixture.nodes
        if any(id(n) not in present for n in needed):
            continue  # changed by a block raised before it
        try:
            if mixture is None:
                raise NotRaised(why or "not a gated sum")
            _raise_block(graph, mixture, report)
        except NotRaised as e:
            report.withdraw(label(anchor))
            report.left.append(
                Left(label(anchor), f"spike-gated mixture of experts (SEMM) not raised: {e}")
            )


def _raise_block(graph: Graph, mixture: Mixture, report: RaiseReport) -> None:
    if mixture.last.op_type == "ReduceSum":
        _check_stacked(graph, mixture)
    neuron = _check_gates(graph, mixture)
    count = len(mixture.outputs)
    source, values = _shared_input(graph, mixture.outputs)
    gates_shape, source_shape = _shape(graph, mixture.gates), _shape(graph, source)
    if (
        not gates_shape
        or not source_shape
        or len(source_shape) != len(gates_shape)
        or list(source_shape[:-1]) != list(gates_shape[:-1])
    ):
        raise NotRaised(
            f"the experts' input '{source}' {source_shape or '(shape unknown)'} and the gates "
            f"{gates_shape or '(shape unknown)'} do not line up (time-major [T, B, N, D] and "
            "[T, B, N, E])"
        )
    for e, output in enumerate(mixture.outputs):
        shape = _shape(graph, output)
        if not shape or len(shape) != len(gates_shape) or shape[:-1] != gates_shape[:-1]:
            raise NotRaised(f"expert {e}'s output {shape} is not token-wise like the gates")
    experts = [_expert_nodes(graph, mixture, e, source, values[e]) for e in range(count)]
    if not mixture.in_order:
        reader = _spiking_reader(graph, mixture.last.output[0])
        if reader is not None:
            raise NotRaised(
                f"the experts are not summed in expert order ({mixture.order_note}), and "
                f"{label(reader)} reads the sum: a threshold could turn the difference into "
                "different spikes"
            )
    output = mixture.last.output[0]
    new_nodes = dispatch_experts(
        graph,
        source,
        mixture.gates,
        [(mixture.outputs[e], reads) for e, (_, reads) in enumerate(experts)],
        output,
        f"{output}.combine",
    )
    graph.nodes = [n for n in graph.nodes if n is not mixture.last] + new_nodes
    graph.reindex()
    graph.sort()
    report.withdraw(label(mixture.last))  # raised after all
    order = (
        "in expert order"
        if mixture.in_order
        else f"not in expert order ({mixture.order_note}; no neuron reads the sum: reals "
        "within 1e-5)"
    )
    report.raised.append(
        Raised(
            "MoE",
            output,
            f"SEMM, experts={count}, binary gates: the spikes of {label(neuron)}, routed per "
            f"timestep; {mixture.form}, {order}",
            len(mixture.nodes) + sum(len(nodes) for nodes, _ in experts),
        )
    )
