"""Unroll ONNX `Loop`s over time into straight-line steps.

A neuron exported with its time loop kept (scripted models, or exporters that keep `for t in
range(T)`) is a `Loop` whose body charges, fires and resets once, reads its step input with
`Gather(X, i)` and writes its spikes back with `ScatterND` into a loop-carried buffer (or
returns them as a scan output). Unrolled T times, with the iteration number a constant, the
body becomes the straight-line form that the neuron and rolling passes recognise; the
constant folding after it turns each step's index arithmetic into constants.

Only loops that certainly run their trip count are unrolled: a constant trip count (at most
`MAX_TRIPS`) and a condition that stays true; others are left as they are.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler.frontend.raising.graph import Graph, is_standard

MAX_TRIPS = 64
"""Longer loops are not unrolled (the graph would grow by the body's size each trip)."""


def _always_true(body: onnx.GraphProto, cond_in: str) -> bool:
    """Whether the body's condition output is its condition input, passed through, or true."""
    out = body.output[0].name
    if out == cond_in:
        return True
    for node in body.node:
        if out in node.output:
            if node.op_type == "Identity" and node.input[0] == cond_in:
                return True
            if node.op_type == "Constant":
                value = numpy_helper.to_array(node.attribute[0].t)
                return bool(value.size == 1 and value.reshape(-1)[0])
    return False


def _trips(graph: Graph, loop: onnx.NodeProto) -> int | None:
    if not loop.input or not loop.input[0]:
        return None
    count = graph.ints(loop.input[0])
    if count is None or len(count) != 1 or not 0 < count[0] <= MAX_TRIPS:
        return None
    if len(loop.input) > 1 and loop.input[1]:
        cond = graph.constant(loop.input[1])
        if cond is None or not bool(np.all(cond)):
            return None
    return count[0]


def unroll_loops(graph: Graph) -> int:
    """Unroll every Loop that runs a known number of trips; returns how many were."""
    unrolled = 0
    for index, loop in enumerate(list(graph.nodes)):
        if not is_standard(loop) or loop.op_type != "Loop":
            continue
        trips = _trips(graph, loop)
        body = next((a.g for a in loop.attribute if a.name == "body"), None)
        if trips is None or body is None or len(body.input) < 2:
            continue
        if not _always_true(body, body.input[1].name):
            continue
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for n in body.node for a in n.attribute):  # fmt: skip
            continue  # nested control flow
        steps = _unroll(graph, loop, body, trips, index)
        position = graph.nodes.index(loop)
        graph.nodes[position : position + 1] = steps
        graph.reindex()
        unrolled += 1
    return unrolled


def _unroll(
    graph: Graph, loop: onnx.NodeProto, body: onnx.GraphProto, trips: int, index: int
) -> list[onnx.NodeProto]:
    carried = len(body.input) - 2
    tag = f"loop{index}"
    local = {vi.name for vi in body.input} | {n for node in body.node for n in node.output}
    local |= {t.name for t in body.initializer}
    state = list(loop.input[2 : 2 + carried])
    scans: list[list[str]] = [[] for _ in range(len(body.output) - 1 - carried)]
    nodes: list[onnx.NodeProto] = []
    for t in range(trips):
        names: dict[str, str] = {name: f"{name}__{tag}_t{t}" for name in local}
        iteration = graph.fresh(f"{tag}_iteration{t}")
        graph.constants[iteration] = np.asarray(t, dtype=np.int64)
        condition = graph.fresh(f"{tag}_condition{t}")
        graph.constants[condition] = np.asarray(True)
        names[body.input[0].name] = iteration
        names[body.input[1].name] = condition
        for vi, value in zip(body.input[2:], state, strict=True):
            names[vi.name] = value
        for tensor in body.initializer:
            graph.constants[names[tensor.name]] = numpy_helper.to_array(tensor)
        for node in body.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = f"{node.name or node.op_type}__{tag}_t{t}"
            for i, name in enumerate(copy.input):
                copy.input[i] = names.get(name, name)
            for i, name in enumerate(copy.output):
                copy.output[i] = names.get(name, name)
            nodes.append(copy)
        outputs = [names.get(o.name, o.name) for o in body.output]
        state = outputs[1 : 1 + carried]
        for j, name in enumerate(outputs[1 + carried :]):
            scans[j].append(name)
    for final, name in zip(state, loop.output[:carried], strict=True):
        if name:
            nodes.append(helper.make_node("Identity", [final], [name], name=f"{name}.final"))
    axis = graph.fresh(f"{tag}_axis0")
    graph.constants[axis] = np.asarray([0], dtype=np.int64)
    for per_step, name in zip(scans, loop.output[carried:], strict=True):
        if not name:
            continue
        stacked = []
        for t, value in enumerate(per_step):
            row = f"{value}.row{t}"
            nodes.append(helper.make_node("Unsqueeze", [value, axis], [row]))
            stacked.append(row)
        nodes.append(helper.make_node("Concat", stacked, [name], axis=0, name=f"{name}.stack"))
    return nodes
