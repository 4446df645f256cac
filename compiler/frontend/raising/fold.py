"""Evaluate at import time what does not depend on the input: Identity, shape subgraphs
(Shape of a statically shaped value, then Gather/Concat/Reshape/Mod/... of constants) and any
other node whose inputs are all constants (a constant Clip, Cast or arithmetic), so that the
patterns the raising passes look for are not hidden behind them."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper
from onnx.reference import ReferenceEvaluator

from compiler.frontend.raising.graph import Graph, is_standard

NOT_FOLDED = {"Constant", "RandomUniform", "RandomNormal", "RandomUniformLike", "Bernoulli"}
MAX_ELEMENTS = 1 << 16
"""Constant results larger than this are left to be computed (they would bloat the model)."""


def _evaluate(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    names = [n if n else "" for n in node.input]
    feeds = {n: a for n, a in zip(names, inputs, strict=True) if n and a is not None}
    graph = helper.make_graph(
        [node],
        "fold",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in feeds.items()
        ],
        [
            helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
            for o in node.output
            if o
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    results = ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(r) for r in results]


def fold_constants(graph: Graph, shapes: dict[str, list[int | str]]) -> int:
    """Fold in place; returns how many nodes were evaluated away."""
    folded = 0
    evaluated: set[int] = set()
    for node in list(graph.nodes):
        if not is_standard(node) or node.op_type in NOT_FOLDED or not node.input:
            continue
        if node.op_type == "Identity" and not graph.is_output(node.output[0]):
            graph.replace_uses(node.output[0], node.input[0])
            folded += 1
            continue
        if node.op_type == "Shape":
            shape = shapes.get(node.input[0])
            if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            start, end = attrs.get("start", 0), attrs.get("end", len(shape))
            graph.constants[node.output[0]] = np.asarray(shape[start:end], dtype=np.int64)
            evaluated.add(id(node))
            continue
        inputs = [graph.constant(n) if n else None for n in node.input]
        if any(a is None for n, a in zip(node.input, inputs, strict=True) if n):
            continue
        try:
            results = _evaluate(node, inputs)
        except Exception:  # an op the reference evaluator lacks: the importer handles it
            continue
        if any(r.size > MAX_ELEMENTS for r in results):
            continue
        for name, result in zip([o for o in node.output if o], results, strict=False):
            graph.constants[name] = result
        evaluated.add(id(node))
    graph.nodes = [n for n in graph.nodes if id(n) not in evaluated]
    graph.reindex()
    graph.remove_dead()
    return folded + len(evaluated)
