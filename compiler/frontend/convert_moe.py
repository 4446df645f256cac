"""Mixture-of-experts blocks: `spike.Dispatch` ... expert ... `spike.Combine` -> `spike.moe`.

In ONNX, expert e is the subgraph between `Dispatch(X, G, expert=e)` and the e-th input of the
Concat (of Unsqueezes on axis 0) that feeds `Combine(G, Ystack)`. Before conversion the frontend
claims each expert's nodes (`claim_experts`); when it reaches the Combine node it builds one
`spike.moe` whose regions hold the experts. An expert may read its dispatched input and
constants, nothing else, and nothing it computes may be used outside it. X is time-major
`[T, B, N, D]`; the gates G are too, or have no time axis (`[B, N, E]`: routed once for all
timesteps, e.g. a TopKRouter on spikes averaged over time); binary or real (softmax-weighted).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import onnx
from xdsl.builder import Builder, InsertPoint

from compiler.dialects import spike
from compiler.dialects.spike.moe import binary_top1
from compiler.dialects.spike.types import is_spike, shapes_compatible
from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.onnx_import import (
    AlreadyReported,
    Importer,
    attributes,
    convert_nodes,
    node_label,
)
from compiler.frontend.values import Layout, NodeError, Value


@dataclass
class ExpertPlan:
    dispatch: onnx.NodeProto
    body: list[onnx.NodeProto]
    output: str


@dataclass
class MoEPlan:
    input: str
    gates: str
    experts: list[ExpertPlan]


def _is(node: onnx.NodeProto, op_type: str, domain: str = "") -> bool:
    return node.op_type == op_type and node.domain in ((domain,) if domain else ("", "ai.onnx"))


def _axes_of(imp: Importer, node: onnx.NodeProto) -> list[int]:
    if len(node.input) > 1 and node.input[1]:
        if node.input[1] not in imp.tensors:
            return []
        return [int(a) for a in imp.tensors.array(node.input[1]).reshape(-1)]
    axes = attributes(node).get("axes")
    return [int(a) for a in axes] if isinstance(axes, list) else []


def claim_experts(imp: Importer) -> list[str]:
    """Plan every MoE block of the graph; returns the problems found."""
    graph = imp.model.graph
    order = {id(n): i for i, n in enumerate(graph.node)}
    users: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in graph.node:
        for name in n.input:
            users[name].append(n)
    problems: list[str] = []
    for node in graph.node:
        if not _is(node, "Combine", DOMAIN):
            continue
        try:
            plan, owned = _plan(imp, node, order, users)
        except NodeError as e:
            problems.append(f"{node_label(node)}: {e}")
            imp.owned.add(id(node))
            imp.failed.update(node.output)
            continue
        imp.moe_plans[id(node)] = plan
        imp.owned.update(owned)
    return problems


def _plan(
    imp: Importer,
    combine_node: onnx.NodeProto,
    order: dict[int, int],
    users: dict[str, list[onnx.NodeProto]],
) -> tuple[MoEPlan, set[int]]:
    if len(combine_node.input) != 2:
        raise NodeError("Combine takes two inputs (G, Ystack)")
    gates, stack = combine_node.input
    concat = imp.producers.get(stack)
    if concat is None or not _is(concat, "Concat") or attributes(concat).get("axis") != 0:
        raise NodeError("Ystack must be a Concat on axis 0 of the experts' outputs")
    owned = {id(concat)}
    experts: list[ExpertPlan] = []
    moe_input: str | None = None
    for e, name in enumerate(concat.input):
        unsqueeze = imp.producers.get(name)
        if unsqueeze is None or not _is(unsqueeze, "Unsqueeze") or _axes_of(imp, unsqueeze) != [0]:
            raise NodeError(
                f"Concat input {e} must be an Unsqueeze on axis 0 of expert {e}'s output"
            )
        if len(users[name]) != 1:
            raise NodeError(f"expert {e}'s stacked output is used outside the Combine")
        owned.add(id(unsqueeze))
        expert = _expert(imp, e, unsqueeze.input[0], gates, order, users)
        x = expert.dispatch.input[0]
        if moe_input is not None and x != moe_input:
            raise NodeError(f"expert {e} dispatches '{x}', expert 0 dispatches '{moe_input}'")
        moe_input = x
        owned.add(id(expert.dispatch))
        owned.update(id(n) for n in expert.body)
        experts.append(expert)
    if not experts or moe_input is None:
        raise NodeError("a Combine needs at least one expert")
    return MoEPlan(moe_input, gates, experts), owned


def _expert(
    imp: Importer,
    e: int,
    output: str,
    gates: str,
    order: dict[int, int],
    users: dict[str, list[onnx.NodeProto]],
) -> ExpertPlan:
    dispatches = [
        n
        for n in imp.model.graph.node
        if _is(n, "Dispatch", DOMAIN) and attributes(n).get("expert") == e and n.input[1] == gates
    ]
    if len(dispatches) != 1:
        raise NodeError(
            f"expected one Dispatch(X, {gates}, expert={e}) for expert {e}, found {len(dispatches)}"
        )
    dispatch = dispatches[0]
    downstream = _downstream(dispatch.output[0], users)
    body: dict[int, onnx.NodeProto] = {}
    pending, seen = [output], set()
    while pending:
        name = pending.pop()
        if name in seen or name == dispatch.output[0]:
            continue
        seen.add(name)
        producer = imp.producers.get(name)
        if producer is None:
            if name in imp.tensors:
                continue
            raise NodeError(f"expert {e} reads the graph input '{name}'; experts read only X")
        if id(producer) not in downstream and not _is(producer, "Constant"):
            raise NodeError(
                f"expert {e} uses '{name}', computed outside the expert; an expert may read "
                "only its Dispatch output and constants"
            )
        body[id(producer)] = producer
        pending.extend(producer.input)
    for n in body.values():
        for o in n.output:
            for user in users.get(o, []):
                if id(user) not in body and o != output:
                    raise NodeError(f"'{o}' of expert {e} is also used outside the expert")
    for user in users.get(dispatch.output[0], []):
        if id(user) not in body:
            raise NodeError(f"the Dispatch output of expert {e} is used outside the expert")
    ordered = sorted(body.values(), key=lambda n: order[id(n)])
    return ExpertPlan(dispatch, ordered, output)


def _downstream(start: str, users: dict[str, list[onnx.NodeProto]]) -> set[int]:
    seen: set[int] = set()
    pending = [start]
    while pending:
        for user in users.get(pending.pop(), []):
            if id(user) not in seen:
                seen.add(id(user))
                pending.extend(user.output)
    return seen


def combine(imp: Importer, node: onnx.NodeProto) -> None:
    plan = imp.moe_plans.get(id(node))
    if not isinstance(plan, MoEPlan):
        raise NodeError("not a well-formed MoE block")
    x = imp.value(plan.input)
    if x.is_const or x.layout is not Layout.TIME:
        raise NodeError("the MoE input X must be a time-major activation [T, B, N, D]")
    g = imp.value(plan.gates)
    if g.is_const or g.layout not in (Layout.TIME, Layout.STATIC):
        raise NodeError(
            "the gates G must be computed (TopKRouter or a neuron), time-major [T, B, N, E] "
            "or without the time axis [B, N, E] (routed once for all timesteps)"
        )
    xs, gs = x.ir_shape(), g.ir_shape()
    tokens = xs[:-1] if g.layout is Layout.TIME else xs[1:-1]
    if not shapes_compatible(gs[:-1], tokens):
        raise NodeError(
            f"the gates G {list(g.onnx_shape())} do not match X {list(x.onnx_shape())}: "
            f"expected {[*tokens, 'E']} ({g.layout.value})"
        )
    assert x.ssa is not None and g.ssa is not None and imp.builder is not None
    outer = imp.builder
    regions = []
    yields_spikes = True
    try:
        for e, expert in enumerate(plan.experts):
            region = spike.MoEOp.expert_region(x.ssa.type)
            arg = region.block.args[0]
            arg.name_hint = f"expert{e}_in"
            imp.values[expert.dispatch.output[0]] = Value(Layout.TIME, ssa=arg, name="")
            imp.builder = Builder(InsertPoint.at_end(region.block))
            before = len(imp.problems)
            convert_nodes(imp, expert.body, imp.problems, skip_owned=False)
            if len(imp.problems) > before or expert.output in imp.failed:
                raise AlreadyReported()
            y = imp.value(expert.output)
            if y.is_const or y.layout is not Layout.TIME or y.ssa is None:
                raise NodeError(f"expert {e} must output a time-major activation")
            yields_spikes = yields_spikes and is_spike(y.ssa)
            imp.insert(spike.YieldOp(y.ssa))
            regions.append(region)
    finally:
        imp.builder = outer
    top1 = binary_top1(g.ssa)
    op = spike.MoEOp(x.ssa, g.ssa, regions, spike_output=top1 and yields_spikes)
    imp.insert(op)
    imp.define(node, 0, op.output, Layout.TIME)


def dispatch_outside_moe(imp: Importer, node: onnx.NodeProto) -> None:
    raise NodeError("a Dispatch must start an expert whose output reaches a Combine")
