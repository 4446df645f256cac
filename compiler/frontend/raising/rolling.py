"""Join the steps of an unrolled graph into time-major ops.

After `neurons.find_neurons`, each neuron is known as T steps: per-step inputs `X_t` and per-step
spikes `S_t`. The neuron becomes one `spike` call on a time-major `X[T, ...]` giving `S[T, ...]`,
which needs both sides in time-major form:

- SpikingJelly-style exports already compute layers time-major and only unroll the neuron: `X_t`
  are the time slices of one tensor (Slice+Squeeze, Gather or Split along axis 0) and the spikes
  are restacked by Unsqueeze + Concat. The neuron call takes the sliced tensor and replaces the
  Concat.
- snnTorch/Norse-style exports unroll whole layers, with the same weights at every step. Here
  the steps are rolled: T nodes that do the same thing to step t of the same sequences (and to
  the same constants or step-independent values) become one node on the stacked sequences, with
  its axes shifted past the new time axis; values that do not depend on the step (an encoder
  applied once, before the loop) are computed on the input repeated over T, as SpikingJelly
  does; a sum of a sequence over the steps becomes a ReduceSum over time.
"""

from __future__ import annotations

import onnx
from onnx import helper

from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.neurons import ChainError, Neuron
from compiler.frontend.raising.report import Left, Raised, RaiseReport


def time_slice(graph: Graph, name: str) -> tuple[str, int] | None:
    """(source, t) when `name` is step t of the time-major `source`: Slice+Squeeze, Gather, or
    Split+Squeeze along axis 0."""
    node = graph.producer.get(name)
    if node is None or not is_standard(node):
        return None
    if node.op_type == "Gather":
        index = graph.constant(node.input[1])
        if index is None or index.ndim != 0 or attributes(node).get("axis", 0) != 0:
            return None
        return node.input[0], int(index)
    squeezed = graph.ints(node.input[1]) if len(node.input) > 1 else None
    if node.op_type != "Squeeze" or squeezed != [0]:
        return None
    inner = graph.producer.get(node.input[0])
    if inner is None or not is_standard(inner):
        return None
    if inner.op_type == "Slice":
        starts, ends = graph.ints(inner.input[1]), graph.ints(inner.input[2])
        axes = graph.ints(inner.input[3]) if len(inner.input) > 3 and inner.input[3] else [0]
        steps = graph.ints(inner.input[4]) if len(inner.input) > 4 and inner.input[4] else [1]
        one_step = starts and ends and len(starts) == 1 and ends[0] == starts[0] + 1
        if one_step and axes == [0] and steps == [1]:
            assert starts is not None
            return inner.input[0], starts[0]
        return None
    if inner.op_type == "Split" and attributes(inner).get("axis", 0) == 0:
        sizes = graph.ints(inner.input[1]) if len(inner.input) > 1 and inner.input[1] else None
        if sizes is None or all(s == 1 for s in sizes):
            return inner.input[0], list(inner.output).index(node.input[0])
    return None


def sliced_source(graph: Graph, inputs: list[str]) -> str | None:
    """The time-major tensor whose slices 0..T-1 `inputs` are, if they are."""
    source = None
    for t, name in enumerate(inputs):
        sliced = time_slice(graph, name)
        if sliced is None or sliced[1] != t or (source is not None and sliced[0] != source):
            return None
        source = sliced[0]
    return source


def restacking(graph: Graph, neuron: Neuron) -> onnx.NodeProto | None:
    """The Concat that stacks the neuron's spikes along a new time axis, in order, if the spikes
    go nowhere else."""
    concat: onnx.NodeProto | None = None
    for t, spike in enumerate(neuron.spikes):
        uses = [u for u in graph.uses(spike) if id(u) not in neuron.nodes]
        if graph.is_output(spike) or len(uses) != 1 or uses[0].op_type != "Unsqueeze":
            return None
        unsqueeze = uses[0]
        after = graph.uses(unsqueeze.output[0])
        if graph.ints(unsqueeze.input[1]) != [0] or len(after) != 1:
            return None
        if after[0].op_type != "Concat" or attributes(after[0]).get("axis") != 0:
            return None
        if concat is not None and after[0] is not concat:
            return None
        concat = after[0]
        if list(concat.input).index(unsqueeze.output[0]) != t:
            return None
    if concat is None or len(concat.input) != len(neuron.spikes):
        return None
    return concat


def neuron_node(neuron: Neuron, source: str, output: str, name: str) -> onnx.NodeProto:
    """The `spike` call computing the neuron on the time-major `source`."""
    node = helper.make_node(neuron.model.kind, [source], [output], name=name, domain=DOMAIN)
    node.attribute.extend(
        helper.make_attribute(k, v) for k, v in sorted(neuron.model.attributes.items())
    )
    return node


def describe(neuron: Neuron) -> str:
    attrs = ", ".join(f"{k}={v:g}" for k, v in sorted(neuron.model.attributes.items()))
    return f"T={len(neuron.chain)}, {attrs}"


def roll(graph: Graph, neurons: list[Neuron], timesteps: int | None, report: RaiseReport) -> None:
    """Replace each neuron's steps by one time-major call where its surroundings allow."""
    for neuron in neurons:
        try:
            _raise_sliced(graph, neuron, timesteps, report)
        except ChainError as e:
            report.left.append(Left(label(neuron.anchor), f"not raised: {e}"))


def _raise_sliced(graph: Graph, neuron: Neuron, timesteps: int | None, report: RaiseReport) -> None:
    steps = len(neuron.chain)
    if timesteps is not None and steps != timesteps:
        raise ChainError(
            f"the state is threaded through {steps} steps, the model has T = {timesteps}"
        )
    source = sliced_source(graph, neuron.inputs)
    if source is None:
        raise ChainError(
            "its step inputs are not the time slices 0..T-1 of one time-major tensor (Slice + "
            "Squeeze, Gather or Split along axis 0)"
        )
    concat = restacking(graph, neuron)
    if concat is None:
        raise ChainError(
            "its spikes are not restacked in time order (Unsqueeze on axis 0, one Concat) or are "
            "also used step by step"
        )
    kind = neuron.model.kind
    node = neuron_node(neuron, source, concat.output[0], f"{concat.name or concat.output[0]}.lif")
    graph.nodes[graph.nodes.index(concat)] = node
    graph.reindex()
    replaced = len(neuron.nodes) + steps + 1
    report.raised.append(Raised(kind, concat.output[0], describe(neuron), replaced))
