"""Values provably equal to a neuron's spikes, read as those spikes.

Exporters and users write spikes through ops that leave a binary value as it is: `Identity`, a
`Cast` to bool and back (or to float32 again), a multiplication by 1.0 (graded spikes at gain 1),
`Where(S, 1, 0)`. A binary-value analysis follows each float value back through them to the output
of a `spike` neuron or attention function; when it gets there, the value is that function's
spikes bit for bit (0.0 and 1.0 pass through all of them unchanged), so its readers read the
spikes instead, and the raising passes after this one (attention, MoE, SEMM) see spikes where
the export wrote a cast. The ops themselves become dead and are removed.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto

from compiler.frontend.onnx_functions import DOMAIN, NEURON_FUNCTIONS
from compiler.frontend.raising.graph import Graph, attributes, is_standard

SPIKE_FUNCTIONS = {*NEURON_FUNCTIONS, "Bernoulli", "SDSA", "TokenAttention", "StochasticAttention"}
"""The `spike` functions whose output is binary spikes."""

_LIMIT = 64
"""How many binary-preserving ops the analysis follows back from one value."""


def spike_source(graph: Graph, name: str) -> str | None:
    """The output of a `spike` function that float value `name` equals, if provably so."""
    for _ in range(_LIMIT):
        node = graph.producer.get(name)
        if node is None:
            return None
        if node.domain == DOMAIN:
            return name if node.op_type in SPIKE_FUNCTIONS else None
        if not is_standard(node):
            return None
        nxt = _float_step(graph, node, name)
        if nxt is None:
            return None
        name = nxt
    return None


def _float_step(graph: Graph, node: onnx.NodeProto, name: str) -> str | None:
    """The float value one binary-preserving op passes on to `name`, None if it is none."""
    if node.op_type == "Identity":
        return node.input[0]
    if node.op_type == "Cast" and attributes(node).get("to") == TensorProto.FLOAT:
        return _float_of(graph, node.input[0])
    if node.op_type == "Mul" and len(node.input) == 2:
        for keep, one in ((0, 1), (1, 0)):
            if graph.scalar(node.input[one]) == 1.0 and _same_shape(graph, node.input[keep], name):
                return node.input[keep]
        return None
    if node.op_type == "Where" and len(node.input) == 3:
        if graph.scalar(node.input[1]) != 1.0 or graph.scalar(node.input[2]) != 0.0:
            return None
        if not _same_shape(graph, node.input[0], name):
            return None
        return _float_of(graph, node.input[0])
    return None


def _float_of(graph: Graph, name: str) -> str | None:
    """The float value a float or bool value `name` equals as 0/1: itself if float, the input of
    the Cast that made it if bool (`Cast(S, to=bool)` of float spikes)."""
    node = graph.producer.get(name)
    to_bool = node is not None and is_standard(node) and node.op_type == "Cast"
    if node is not None and to_bool and attributes(node).get("to") == TensorProto.BOOL:
        source = node.input[0]
        return source if _elem_type(graph, source) == TensorProto.FLOAT else None
    return name if _elem_type(graph, name) == TensorProto.FLOAT else None


def _elem_type(graph: Graph, name: str) -> int | None:
    node = graph.producer.get(name)
    if node is not None and node.domain == DOMAIN:
        return TensorProto.FLOAT  # every `spike` function computes float32
    if node is not None and is_standard(node) and node.op_type == "Cast":
        to = attributes(node).get("to")
        return to if isinstance(to, int) else None
    if node is not None and is_standard(node) and node.op_type in ("Identity", "Mul", "Where"):
        return _elem_type(graph, node.input[-1])
    return None  # not known here: the value is not followed (it reaches no spike function)


def _same_shape(graph: Graph, a: str, b: str) -> bool:
    """Whether broadcasting left `a`'s shape as it was (a scalar 1.0 added no axis)."""
    sa, sb = graph.shapes.get(a), graph.shapes.get(b)
    return sa is not None and sa == sb


def read_spikes(graph: Graph) -> list[tuple[str, str]]:
    """Make every reader of a value provably equal to a function's spikes read the spikes;
    returns (value, spikes) for each value replaced."""
    replaced: list[tuple[str, str]] = []
    for node in list(graph.nodes):
        if not is_standard(node) or node.op_type not in ("Identity", "Cast", "Mul", "Where"):
            continue
        out = node.output[0]
        if graph.is_output(out) or not graph.uses(out):
            continue
        source = spike_source(graph, out)
        if source is not None and source != out:
            graph.replace_uses(out, source)
            replaced.append((out, source))
    graph.remove_dead()
    return replaced
