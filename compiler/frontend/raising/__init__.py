"""Raising: turn the plain-arithmetic graphs that `torch.onnx` exports of spiking networks into
spikec's ONNX convention (time-major tensors, `spike` functions) before import.

The raising is a pipeline declared as data (`PIPELINE`): an ordered list of passes, each with one
signature, `run(graph, ctx)`, over one graph toolkit (`graph.Graph`: producers and uses, constants,
one Slice/Reshape/attribute decoder, the shape map kept current between passes). A pass recognises
a pattern by dataflow and rewrites it, or leaves it with the reason (`report.Left`, from the one
exception type `report.NotRaised`). Each pass runs alone too (`spikec import --raise=neurons`);
with none (`--no-raise`) a model imports node by node as dedicated and generic ops.

Raising happens on ONNX rather than on the IR so that every step can be checked the way the
frontend is: the raised model, with its `spike` functions, runs in onnxruntime and must give the
exported model's outputs. `spikec import --explain` lists per pass what it raised and what it
left, with why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from compiler.frontend.onnx_functions import DOMAIN, spike_functions
from compiler.frontend.raising.attention import raise_attention
from compiler.frontend.raising.fold import fold_constants
from compiler.frontend.raising.graph import Graph, is_standard, label
from compiler.frontend.raising.loops import unroll_loops
from compiler.frontend.raising.moe import raise_moe
from compiler.frontend.raising.neurons import find_neurons
from compiler.frontend.raising.report import Left, NotRaised, PassRecord, Raised, RaiseReport
from compiler.frontend.raising.rolling import roll
from compiler.frontend.raising.semm import raise_semm
from compiler.frontend.raising.spikes import read_spikes
from compiler.frontend.raising.time_input import add_time_axes, raise_repeated_inputs
from compiler.ir.weights import OnnxTensors

__all__ = [
    "PASS_NAMES",
    "PIPELINE",
    "Left",
    "NotRaised",
    "RaiseContext",
    "RaiseReport",
    "Raised",
    "RaisingPass",
    "raise_model",
]


@dataclass
class RaiseContext:
    """What the passes share besides the graph: the model they write back to and the report."""

    model: onnx.ModelProto
    report: RaiseReport

    def note(self, line: str) -> None:
        """A finding of the running pass that is neither raised nor left (e.g. nodes folded)."""
        self.report.passes[-1].notes.append(line)


@dataclass(frozen=True)
class RaisingPass:
    name: str
    """Kebab-case, as `--raise` names it."""
    run: Callable[[Graph, RaiseContext], None]
    summary: str
    """What it recognises, one line."""
    required: bool = False
    """It runs whatever the selection: not an optimisation but what the import needs to give
    every value a static shape and a time axis (constants folded, an input repeated over T
    taken time-major, so that a dynamic batch the model folds with its T stays one `?`; other
    inputs given a time axis)."""
    fresh_shapes: bool = False
    """It reads shapes: the graph is written back and its shapes inferred anew before it runs
    when an earlier pass changed it (the others read `graph.shapes` as the passes before them
    updated it, or infer their own)."""


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


# -- the passes ----------------------------------------------------------------------------------


def run_loops(graph: Graph, ctx: RaiseContext) -> None:
    ctx.report.loops = unroll_loops(graph)
    if ctx.report.loops:
        ctx.note(f"unrolled {ctx.report.loops} time loops")


FOLD_ROUNDS = 8


def run_fold(graph: Graph, ctx: RaiseContext) -> None:
    """Fold constants until nothing more folds. ONNX shape inference does not see through an
    `Expand` to a computed shape (TorchScript writes `ConstantOfShape -> Expand -> Tile` for a
    repeat), so the shapes it gives after one round of folding resolve `Shape` nodes it could not
    resolve before."""
    folded = last = fold_constants(graph, graph.shapes)
    for _ in range(FOLD_ROUNDS):
        pending = any(n.op_type == "Shape" and is_standard(n) for n in graph.nodes)
        if not last or not pending:
            break
        graph.write_back()
        graph.shapes = _infer_shapes(ctx.model)
        last = fold_constants(graph, graph.shapes)
        folded += last
    ctx.report.folded = folded
    ctx.note(f"folded {folded} constant nodes")


def run_repeated_inputs(graph: Graph, ctx: RaiseContext) -> None:
    repeated = raise_repeated_inputs(graph)
    report = ctx.report
    report.repeated_inputs = sorted(repeated)
    timesteps = set(repeated.values())
    if len(timesteps) == 1:
        report.timesteps = timesteps.pop()
    for name in report.repeated_inputs:
        ctx.note(f"input '{name}' is repeated over T = {repeated[name]} inside the model")


def run_neurons(graph: Graph, ctx: RaiseContext) -> None:
    report = ctx.report
    neurons, left = find_neurons(graph)
    report.left.extend(Left(label(node), reason) for node, reason in left)
    if report.timesteps is None:
        report.timesteps = _metadata_timesteps(ctx.model)
    before = set(report.repeated_inputs)
    roll(graph, neurons, report.timesteps, graph.shapes, report)
    if report.timesteps is None and report.raised:
        report.timesteps = len(neurons[0].chain)
    for name in report.repeated_inputs:  # read by a layer rolled from the steps
        if name not in before:
            ctx.note(f"input '{name}' is repeated over T = {report.timesteps} inside the model")


def run_spikes(graph: Graph, ctx: RaiseContext) -> None:
    replaced = read_spikes(graph)
    if replaced:
        ctx.note(f"read as the spikes they equal: {len(replaced)} values")


def run_attention(graph: Graph, ctx: RaiseContext) -> None:
    raise_attention(graph, ctx.report)


def run_moe(graph: Graph, ctx: RaiseContext) -> None:
    raise_moe(graph, ctx.report)


def run_semm(graph: Graph, ctx: RaiseContext) -> None:
    raise_semm(graph, ctx.report)


def run_time_axes(graph: Graph, ctx: RaiseContext) -> None:
    report = ctx.report
    if report.timesteps is None:
        report.timesteps = _metadata_timesteps(ctx.model)
    untimed = add_time_axes(graph, report.timesteps or 1, report.timesteps is not None)
    if not untimed:
        return
    report.timesteps = report.timesteps or 1
    report.untimed_inputs = untimed
    report.repeated_inputs = sorted({*report.repeated_inputs, *untimed})
    for name in untimed:
        ctx.note(
            f"input '{name}' has no time axis: given one of T = {report.timesteps} (the same "
            "values at every step), which the model reads at step 0"
        )


PIPELINE: tuple[RaisingPass, ...] = (
    RaisingPass("loops", run_loops, "ONNX Loops over time (constant trip count) unrolled"),
    RaisingPass(
        "fold",
        run_fold,
        "Identity, shape subgraphs and constant arithmetic evaluated",
        required=True,
    ),
    RaisingPass(
        "repeated-inputs",
        run_repeated_inputs,
        "an input the model repeats over T (Unsqueeze, Expand/Tile) taken time-major",
        required=True,
    ),
    RaisingPass(
        "neurons",
        run_neurons,
        "neurons unrolled over T identified bit for bit and rolled into one spike call each",
    ),
    RaisingPass(
        "spikes",
        run_spikes,
        "values provably equal to spikes (Identity, Cast to bool and back, * 1.0, Where(S, 1, 0))"
        " read as the spikes",
    ),
    RaisingPass(
        "attention", run_attention, "spiking self-attention (SSA, SDSA, QKFormer token attention)"
    ),
    RaisingPass("moe", run_moe, "top-k routed mixtures of experts", fresh_shapes=True),
    RaisingPass("semm", run_semm, "spike-gated (SEMM) mixtures of experts", fresh_shapes=True),
    RaisingPass(
        "time-axes",
        run_time_axes,
        "inputs without a time axis (or not of the raised T) given one, read at step 0",
        required=True,
    ),
)
PASS_NAMES = tuple(p.name for p in PIPELINE if not p.required)
"""The passes a user selects (`--raise`); the required ones always run."""


def select(names: Sequence[str] | None) -> list[RaisingPass]:
    """The pipeline's passes named in `names` (all when None) and the required ones, in pipeline
    order; a ValueError names an unknown one."""
    if names is None:
        return list(PIPELINE)
    unknown = [n for n in names if n not in PASS_NAMES]
    if unknown:
        raise ValueError(
            f"unknown raising pass(es) {', '.join(unknown)}; the passes are {', '.join(PASS_NAMES)}"
        )
    return [p for p in PIPELINE if p.name in names or p.required]


def _fingerprint(graph: Graph) -> tuple[object, ...]:
    """The graph's nodes, their inputs and the inputs' shapes: changed when a pass rewrote it."""
    inputs = tuple(str(vi.type.tensor_type.shape) for vi in graph.graph.input)
    return (inputs, *((id(n), tuple(n.input)) for n in graph.nodes))


def raise_model(
    model: onnx.ModelProto,
    tensors: OnnxTensors,
    shapes: dict[str, list[int | str]],
    passes: Sequence[str] | None = None,
) -> RaiseReport:
    """Raise `model` in place with the named passes (default: the whole pipeline); `shapes` are
    ONNX shape inference's shapes of its values."""
    report = RaiseReport()
    graph = Graph(model, tensors)
    graph.shapes = shapes
    ctx = RaiseContext(model, report)
    report.export_nodes = len(graph.nodes)
    inferred = _fingerprint(graph)
    for step in select(passes):
        if step.fresh_shapes and _fingerprint(graph) != inferred:
            _store(graph, model, report)
            graph.shapes = _infer_shapes(model)  # of the time-major graph the passes made
            inferred = _fingerprint(graph)
        raised, left = {id(r) for r in report.raised}, {id(item) for item in report.left}
        report.passes.append(PassRecord(step.name))
        with np.errstate(all="ignore"):  # probes at +-Inf and NaN overflow on purpose
            step.run(graph, ctx)
        if step.name == "loops":  # what coverage figures count against: the steps unrolled
            report.export_nodes = len(graph.nodes)
        record = report.passes[-1]
        record.raised = [r for r in report.raised if id(r) not in raised]
        record.left = [item for item in report.left if id(item) not in left]
    _store(graph, model, report)
    return report
