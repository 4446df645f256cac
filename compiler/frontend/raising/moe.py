"""Raise top-k mixture-of-experts blocks into spikec's `TopKRouter` / `Dispatch` / `Combine`.

A PyTorch top-k MoE exports as a router `ScatterElements(zeros, TopK(Softmax(L)).indices,
TopK(Softmax(L)).values)` (softmax-weighted gates; the values divided by their `ReduceSum`,
renormalised as Mixtral routes; or ones at the top-k logits, binary gates),
experts applied densely to every token, and the sum over experts of `gate[..., e] * expert_e(X)`.
spikec's convention gives each expert only its routed tokens (`Dispatch`: X where the gate is
not zero), so an expert's work follows the routing, as on MoE hardware.

The two agree bit for bit when each expert treats tokens independently (linear layers on the
feature axis, neurons, elementwise arithmetic with constants) and the routing does not change
over time (a router on time-averaged spikes): then a routed token sees the same input history
in both, and an unrouted one is multiplied by a zero gate in both. The pass checks both and the
order of the sum; anything else is left as it is, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from compiler.frontend.onnx_functions import DOMAIN, NEURON_FUNCTIONS
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.report import Left, NotRaised, Raised, RaiseReport

TOKENWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Relu", "Cast", "Identity"}
"""Elementwise ops an expert may apply (with constants broadcast along the feature axis)."""
NEURONS = NEURON_FUNCTIONS


@dataclass
class Router:
    scatter: onnx.NodeProto
    logits: str
    k: int
    softmax: bool
    normalize: bool = False
    """The chosen probabilities divided by their sum."""


def _last_axis(graph: Graph, node: onnx.NodeProto, name: str, default: int = -1) -> bool:
    axis = attributes(node).get("axis", default)
    shape = graph.shapes.get(name)
    return axis == -1 or (shape is not None and axis == len(shape) - 1)


def _router(graph: Graph, scatter: onnx.NodeProto) -> Router | None:
    """The router computing `scatter`'s gates, if it is one."""
    if not is_standard(scatter) or scatter.op_type != "ScatterElements":
        return None
    topk = graph.producer.get(scatter.input[1])
    if topk is None or topk.op_type != "TopK" or scatter.input[1] != topk.output[1]:
        return None
    attrs = attributes(topk)
    k = graph.ints(topk.input[1])
    if attrs.get("largest", 1) != 1 or k is None or len(k) != 1:
        return None
    if not _last_axis(graph, topk, topk.input[0]) or not _last_axis(
        graph, scatter, scatter.input[0]
    ):
        return None
    zeros = graph.constant(scatter.input[0])
    if zeros is None or np.any(zeros != 0):
        return None
    probabilities = topk.input[0]
    softmax = graph.producer.get(probabilities)
    ones = graph.scalar(scatter.input[2])
    normalize = _renormalised(graph, scatter.input[2], topk.output[0])
    if scatter.input[2] == topk.output[0] or normalize:
        if softmax is None or softmax.op_type != "Softmax" or not _last_axis(graph, softmax, ""):
            return None
        return Router(scatter, softmax.input[0], k[0], softmax=True, normalize=normalize)
    if ones == 1.0 and (softmax is None or softmax.op_type != "Softmax"):
        return Router(scatter, probabilities, k[0], softmax=False)
    return None


def _renormalised(graph: Graph, name: str, values: str) -> bool:
    """Whether `name` is `values / ReduceSum(values, axes=[-1], keepdims=1)`."""
    div = graph.producer.get(name)
    if div is None or not is_standard(div) or div.op_type != "Div" or div.input[0] != values:
        return False
    total = graph.producer.get(div.input[1])
    if total is None or not is_standard(total) or total.op_type != "ReduceSum":
        return False
    rank = len(graph.shapes.get(values) or [])
    axes = graph.axes(total)
    last = axes is not None and len(axes) == 1 and axes[0] in (-1, rank - 1) and rank > 0
    return total.input[0] == values and last and attributes(total).get("keepdims", 1) == 1


@dataclass
class Expert:
    index: int
    output: str
    """Its output Y_e."""
    gated: str
    """`gate_e * Y_e`, the term of the sum."""
    nodes: list[onnx.NodeProto]
    """Its nodes, in graph order."""
    reads: list[tuple[onnx.NodeProto, int]]
    """(node, input position) where it reads the shared input."""


def _gate_slice(graph: Graph, node: onnx.NodeProto, gates: str) -> int | None:
    """The expert whose gate column `node` takes from `gates` (Slice or Gather on the last
    axis), if it does."""
    if node.op_type == "Slice":
        spec = graph.slice_of(node)
        taken = spec.single() if spec is not None else None
        rank = len(graph.shapes.get(gates, []))
        if taken is not None and taken[0] == rank - 1 and taken[2] == taken[1] + 1:
            return taken[1]
    if node.op_type == "Gather" and _last_axis(graph, node, gates, 0):
        index = graph.constant(node.input[1])
        if index is not None and index.shape == (1,):
            return int(index[0])
    return None


def _terms(graph: Graph, gates: str, experts: int) -> dict[int, tuple[str, str]]:
    """expert -> (Y_e, gate * Y_e) for every use of the gates as `Mul(column, Y_e)`."""
    terms: dict[int, tuple[str, str]] = {}
    for use in graph.uses(gates):
        e = _gate_slice(graph, use, gates)
        if e is None:
            raise NotRaised(f"the gates are used by {label(use)}, not only to weight the experts")
        column = use.output[0]
        after = graph.uses(column)
        if (
            len(after) == 1
            and after[0].op_type == "Unsqueeze"
            and graph.ints(after[0].input[1]) == [0]
        ):
            column = after[0].output[0]
            after = graph.uses(column)
        if len(after) != 1 or after[0].op_type != "Mul":
            raise NotRaised(f"the gate of expert {e} does not multiply an expert's output")
        mul = after[0]
        other = mul.input[1] if mul.input[0] == column else mul.input[0]
        if e in terms or not 0 <= e < experts:
            raise NotRaised(f"expert {e} is weighted twice or does not exist")
        terms[e] = (other, mul.output[0])
    if sorted(terms) != list(range(experts)):
        raise NotRaised(f"the gates weight experts {sorted(terms)} of {experts}")
    return terms


def _sum(graph: Graph, terms: list[str]) -> onnx.NodeProto:
    """The last Add of `((t_0 + t_1) + t_2) + ...`, in this order, each used only there."""
    node = None
    current = terms[0]
    for term in terms[1:]:
        uses = graph.uses(current)
        if len(uses) != 1 or uses[0].op_type != "Add" or graph.is_output(current):
            raise NotRaised("the weighted experts are not summed one after another")
        node = uses[0]
        if set(node.input) != {current, term}:
            raise NotRaised("the weighted experts are summed out of expert order")
        current = node.output[0]
    if node is None:
        raise NotRaised("a single expert is no mixture")
    return node


def _ancestors(graph: Graph, value: str) -> set[str]:
    """The computed values `value` depends on, itself included."""
    found: set[str] = set()
    pending = [value]
    while pending:
        name = pending.pop()
        if name in found or not name or graph.is_constant(name):
            continue
        found.add(name)
        node = graph.producer.get(name)
        if node is not None:
            pending.extend(node.input)
    return found


def _shared_input(graph: Graph, outputs: list[str]) -> tuple[str, list[set[str]]]:
    """The one value every expert is computed from, and each expert's own values."""
    ancestry = [_ancestors(graph, output) for output in outputs]
    common = set.intersection(*ancestry)
    latest = [v for v in common if not any(o in common for u in graph.uses(v) for o in u.output)]
    if len(latest) != 1:
        raise NotRaised(f"the experts share {len(latest)} inputs; they must read one")
    return latest[0], [a - common for a in ancestry]


def _expert(
    graph: Graph, index: int, output: str, gated: str, source: str, values: set[str]
) -> Expert:
    """Expert `index`: the nodes computing `values` (from `source` and constants)."""
    nodes = [n for n in graph.nodes if any(o in values for o in n.output)]
    own = {id(n) for n in nodes}
    reads = [(n, i) for n in nodes for i, name in enumerate(n.input) if name == source]
    for node in nodes:
        _check_tokenwise(graph, node)
        for out in node.output:
            users = [u for u in graph.uses(out) if id(u) not in own]
            allowed = out == output and all(u.output[0] == gated for u in users)
            if (users and not allowed) or graph.is_output(out):
                raise NotRaised(f"expert {index}'s value '{out}' is also used outside it")
    return Expert(index, output, gated, nodes, reads)


def _check_tokenwise(graph: Graph, node: onnx.NodeProto) -> None:
    if node.domain == DOMAIN:
        if node.op_type not in NEURONS:
            raise NotRaised(f"an expert holds {label(node)}, which mixes tokens")
        return
    if node.op_type in ("MatMul", "Gemm"):
        weight = graph.constant(node.input[1])
        if weight is None or weight.ndim != 2:
            raise NotRaised(f"an expert's {label(node)} has no constant 2-D weight")
        return
    if node.op_type not in TOKENWISE:
        raise NotRaised(f"an expert holds {label(node)}; only token-wise layers can be dispatched")


def raise_moe(graph: Graph, report: RaiseReport) -> None:
    for node in list(graph.nodes):
        router = _router(graph, node)
        if router is None:
            continue
        try:
            _raise_block(graph, router, report)
        except NotRaised as e:
            report.left.append(Left(label(router.scatter), f"mixture of experts not raised: {e}"))


def _raise_block(graph: Graph, router: Router, report: RaiseReport) -> None:
    gates = router.scatter.output[0]
    shape = graph.shapes.get(gates)
    if not shape or not isinstance(shape[-1], int):
        raise NotRaised("the number of experts is not known")
    count = shape[-1]
    terms = _terms(graph, gates, count)
    last = _sum(graph, [terms[e][1] for e in range(count)])
    source, values = _shared_input(graph, [terms[e][0] for e in range(count)])
    experts = [_expert(graph, e, *terms[e], source, values[e]) for e in range(count)]
    source_shape = graph.shapes.get(source)
    if source_shape is None or len(source_shape) != len(shape) + 1:
        raise NotRaised(
            "the routing changes over time (the gates have a time axis); dispatching would "
            "change what a stateful expert sees"
            if source_shape is not None and len(source_shape) == len(shape)
            else "the experts' input and the gates do not line up"
        )
    new_nodes: list[onnx.NodeProto] = [
        helper.make_node(
            "TopKRouter",
            [router.logits],
            [gates],
            name=f"{gates}.router",
            domain=DOMAIN,
            k=router.k,
            softmax=int(router.softmax),
            normalize=int(router.normalize),
        )
    ]
    new_nodes += dispatch_experts(
        graph,
        source,
        gates,
        [(e.output, e.reads) for e in experts],
        last.output[0],
        f"{gates}.combine",
    )
    removed = {id(router.scatter), id(last)}
    graph.nodes = [n for n in graph.nodes if id(n) not in removed] + new_nodes
    graph.reindex()
    graph.sort()
    weighting = "softmax-weighted" if router.softmax else "binary"
    if router.normalize:
        weighting = "renormalised softmax-weighted"
    report.raised.append(
        Raised(
            "MoE",
            last.output[0],
            f"experts={count}, k={router.k}, {weighting} gates, routed once for all timesteps",
            sum(len(e.nodes) for e in experts),
        )
    )


def dispatch_experts(
    graph: Graph,
    source: str,
    gates: str,
    experts: list[tuple[str, list[tuple[onnx.NodeProto, int]]]],
    output: str,
    combine_name: str,
) -> list[onnx.NodeProto]:
    """spikec's routing around experts that read `source` densely: each expert (its output, and
    the (node, input position) where it reads `source`) is rewired to read its `Dispatch` of
    `source` by `gates`; their outputs, stacked on a new first axis, are `Combine`d by the gates
    into `output`. The new nodes (the caller removes the old sum)."""
    axis = graph.fresh("expert_axis")
    graph.constants[axis] = np.asarray([0], dtype=np.int64)
    nodes: list[onnx.NodeProto] = []
    rows = []
    for index, (expert_output, reads) in enumerate(experts):
        dispatched = graph.fresh(f"{source}.expert{index}")
        nodes.append(
            helper.make_node(
                "Dispatch",
                [source, gates],
                [dispatched],
                name=f"{dispatched}.dispatch",
                domain=DOMAIN,
                expert=index,
            )
        )
        for node, position in reads:
            node.input[position] = dispatched
        row = graph.fresh(f"{expert_output}.row")
        nodes.append(helper.make_node("Unsqueeze", [expert_output, axis], [row]))
        rows.append(row)
    stacked = graph.fresh(f"{gates}.experts")
    nodes.append(helper.make_node("Concat", rows, [stacked], axis=0))
    nodes.append(
        helper.make_node("Combine", [gates, stacked], [output], name=combine_name, domain=DOMAIN)
    )
    return nodes
