"""Keep what cannot be raised as a generic region.

A chain of fires that is recognised as a neuron but matches no neuron model (or whose membrane
check fails) stays plain ONNX. When it is in SpikingJelly form (its step inputs are the time slices
0..T-1 of one time-major tensor X and its spikes are restacked in order into S), it is a clean
region, time-major X in, time-major S out: its nodes (the slices, every node of its steps, the
restacking) become one model-local ONNX function `spike.UnraisedK(X) -> S`, whose call replaces
them and carries the reason as the attribute `reason`. The frontend imports the call as
`spike.onnx_region`, which runs the function as it is (`runtime.onnx_region`).

Function bodies cannot read the graph's initializers, so the constants the nodes read become
`Constant` nodes inside the body.
"""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper

from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.raising.graph import Graph
from compiler.frontend.raising.neurons import Fire, Model, Neuron
from compiler.frontend.raising.rolling import restacking, sliced_source
from runtime.onnx_region import UNRAISED

PREFIX = UNRAISED
"""Generic regions are the `spike` functions `Unraised0`, `Unraised1`, ..."""


def is_region_call(node: onnx.NodeProto, model: onnx.ModelProto) -> bool:
    """Whether `node` calls a generic region of `model`."""
    return (
        node.domain == DOMAIN
        and node.op_type.startswith(PREFIX)
        and any(f.domain == DOMAIN and f.name == node.op_type for f in model.functions)
    )


def _region_nodes(graph: Graph, source: str, output: str) -> list[onnx.NodeProto] | None:
    """The nodes `output` is computed by from `source` and constants, in graph order; None when
    it reads another run-time value."""
    seen: dict[int, onnx.NodeProto] = {}
    pending = [output]
    while pending:
        name = pending.pop()
        if not name or name == source or graph.is_constant(name):
            continue
        node = graph.producer.get(name)
        if node is None:
            return None  # another graph input
        if id(node) in seen:
            continue
        seen[id(node)] = node
        pending.extend(node.input)
    return [n for n in graph.nodes if id(n) in seen]


def wrap_unraised(graph: Graph, chain: list[Fire], reason: str) -> str | None:
    """Replace the chain's region by a call of a new generic region; its name, or None when the
    chain is not a clean region (then the graph is unchanged)."""
    inputs = [fire.input for fire in chain]
    if not all(inputs):
        return None
    source = sliced_source(graph, inputs)
    if source is None:
        return None
    own: set[int] = set()
    for fire in chain:
        own |= fire.walked
    last = restacking(graph, Neuron(chain, Model(PREFIX, {}), own))
    if last is None:
        return None
    output = last.output[0]
    nodes = _region_nodes(graph, source, output)
    if nodes is None or not own <= {id(n) for n in nodes}:
        return None
    region = {id(n) for n in nodes}
    dead: set[int] = set()
    for node in nodes:
        for out in node.output:
            if out == output or not out:
                continue
            if graph.is_output(out):
                return None
            for user in graph.uses(out):
                if id(user) in region or id(user) in dead:
                    continue
                unused = graph.dead_from(user)  # e.g. the last step's reset, which feeds nothing
                if unused is None:
                    return None
                dead |= unused
    name = _fresh_name(graph.model)
    function = _function(graph, name, source, output, nodes)
    anchor = chain[0].anchor
    call = helper.make_node(
        name,
        [source],
        [output],
        name=f"{anchor.name if anchor is not None else output}.unraised",
        domain=DOMAIN,
        reason=reason,
    )
    index = graph.nodes.index(last)
    graph.nodes[index] = call
    graph.nodes = [n for n in graph.nodes if id(n) not in (region | dead)]
    graph.reindex()
    graph.model.functions.append(function)
    inside = {o for n in nodes for o in n.output} - {output}
    kept = [vi for vi in graph.graph.value_info if vi.name not in inside]
    del graph.graph.value_info[:]
    graph.graph.value_info.extend(kept)
    return name


def _fresh_name(model: onnx.ModelProto) -> str:
    taken = {f.name for f in model.functions if f.domain == DOMAIN}
    k = 0
    while f"{PREFIX}{k}" in taken:
        k += 1
    return f"{PREFIX}{k}"


def _function(
    graph: Graph, name: str, source: str, output: str, nodes: list[onnx.NodeProto]
) -> onnx.FunctionProto:
    produced = {o for n in nodes for o in n.output}
    constants: list[onnx.NodeProto] = []
    for node in nodes:
        for value in node.input:
            if not value or value in produced or value == source:
                continue
            array = graph.constant(value)
            assert array is not None, value
            constants.append(
                helper.make_node(
                    "Constant", [], [value], value=numpy_helper.from_array(array, value)
                )
            )
            produced.add(value)
    body: list[onnx.NodeProto] = []
    for node in nodes:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        body.append(copy)
    opsets = [o for o in graph.model.opset_import if o.domain in ("", "ai.onnx")]
    return helper.make_function(
        DOMAIN,
        name,
        [source],
        [output],
        constants + body,
        opsets or [helper.make_opsetid("", 17)],
        attributes=["reason"],
    )
