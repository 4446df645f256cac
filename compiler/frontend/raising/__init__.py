"""Raising: turn the plain-arithmetic graphs that `torch.onnx` exports of spiking networks into
spikec's ONNX convention (time-major tensors, `spike` functions) before import.

The passes run in order on the ONNX graph, each recognising a pattern by dataflow:

1. `loops`: time loops (ONNX `Loop` with a constant trip count) are unrolled, then `fold`
   evaluates Identity, shape subgraphs and constant arithmetic;
2. `time_input`: an image repeated over T inside the model becomes a time-major input;
3. `neurons`: neurons unrolled over T are found and their model identified;
4. `rolling`: each neuron's steps become one `spike` call on time-major tensors;
5. `attention`: spiking self-attention (SSA, SDSA, QKFormer token attention) between neuron calls;
6. `moe`: top-k routed mixtures of experts (`TopKRouter`, `Dispatch`, `Combine`);
7. `semm`: spike-gated (SEMM) mixtures of experts, a neuron's spikes gating stateless token-wise
   experts (`Dispatch`, `Combine`).

Raising happens on ONNX rather than on the IR so that every step can be checked the way the
frontend is: the raised model, with its `spike` functions, runs in onnxruntime and must give the
exported model's outputs. What a pass recognises but cannot raise stays as it was, and the
report says why (`spikec import --explain`).
"""

from __future__ import annotations

import onnx
from onnx import helper

from compiler.frontend.onnx_functions import DOMAIN, spike_functions
from compiler.frontend.raising.attention import raise_attention
from compiler.frontend.raising.fold import fold_constants
from compiler.frontend.raising.graph import Graph, is_standard, label
from compiler.frontend.raising.loops import unroll_loops
from compiler.frontend.raising.moe import raise_moe
from compiler.frontend.raising.neurons import find_neurons
from compiler.frontend.raising.report import Left, Raised, RaiseReport
from compiler.frontend.raising.rolling import roll
from compiler.frontend.raising.semm import raise_semm
from compiler.frontend.raising.time_input import add_time_axes, raise_repeated_inputs
from compiler.weights import OnnxTensors

__all__ = ["Left", "RaiseReport", "Raised", "raise_model"]


def _metadata_timesteps(model: onnx.ModelProto) -> int | None:
    for prop in model.metadata_props:
        if prop.key == "spike.timesteps" and prop.value.isdigit():
            return int(prop.value)
    return None


def _infer_shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    from compiler.frontend.onnx_import import _infer_shapes as infer

    return infer(model)


def _store(graph: Graph, model: onnx.ModelProto, report: RaiseReport) -> None:
    """Write the graph back into the model with the `spike` functions it calls."""
    graph.remove_dead()
    graph.write_back()
    if report.raised or report.repeated_inputs:
        del model.graph.value_info[:]  # the exporter's shapes predate the new time axes
    used = {n.op_type for n in graph.nodes if n.domain == DOMAIN}
    present = {f.name for f in model.functions if f.domain == DOMAIN}
    for function in spike_functions():
        if function.name in used - present:
            model.functions.append(function)
    if used and all(o.domain != DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))


FOLD_ROUNDS = 8


def _fold(graph: Graph, model: onnx.ModelProto, shapes: dict[str, list[int | str]]) -> int:
    """Fold constants until nothing more folds. ONNX shape inference does not see through an
    `Expand` to a computed shape (TorchScript writes `ConstantOfShape -> Expand -> Tile` for a
    repeat), so the shapes it gives after one round of folding resolve `Shape` nodes it could not
    resolve before."""
    folded = fold_constants(graph, shapes)
    last = folded
    for _ in range(FOLD_ROUNDS):
        pending = any(n.op_type == "Shape" and is_standard(n) for n in graph.nodes)
        if not last or not pending:
            break
        graph.write_back()
        graph.shapes = shapes = _infer_shapes(model)
        last = fold_constants(graph, shapes)
        folded += last
    graph.shapes = shapes
    return folded


def raise_model(
    model: onnx.ModelProto, tensors: OnnxTensors, shapes: dict[str, list[int | str]]
) -> RaiseReport:
    """Raise `model` in place; `shapes` are ONNX shape inference's shapes of its values."""
    report = RaiseReport()
    graph = Graph(model, tensors)
    graph.shapes = shapes
    report.loops = unroll_loops(graph)
    report.export_nodes = len(graph.nodes)
    report.folded = _fold(graph, model, shapes)
    shapes = graph.shapes
    repeated = raise_repeated_inputs(graph)
    report.repeated_inputs = sorted(repeated)
    timesteps = set(repeated.values())
    report.timesteps = timesteps.pop() if len(timesteps) == 1 else _metadata_timesteps(model)
    neurons, left = find_neurons(graph)
    report.left.extend(Left(label(node), reason) for node, reason in left)
    roll(graph, neurons, report.timesteps, shapes, report)
    if report.timesteps is None and report.raised:
        report.timesteps = len(neurons[0].chain)
    raise_attention(graph, report)
    _store(graph, model, report)
    graph.shapes = _infer_shapes(model)  # of the time-major graph the passes made
    raise_moe(graph, report)
    raise_semm(graph, report)
    untimed = add_time_axes(graph, report.timesteps or 1, report.timesteps is not None)
    if untimed:
        report.timesteps = report.timesteps or 1
        report.untimed_inputs = untimed
        report.repeated_inputs = sorted({*report.repeated_inputs, *untimed})
    _store(graph, model, report)
    return report
