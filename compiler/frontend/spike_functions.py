"""The `spike` functions a model carries are checked, not trusted.

spikec imports a call of `spike.LIF` (or any function of its convention, `onnx_functions`) as
the `spike` op of that name, while onnxruntime runs the body the model carries. The two agree
only if the body is the convention's. A body identical to spikec's own is trusted as it is;
another body is probed at each call: the call alone, on the shapes it sees in the model, run by
`onnx.reference` (as onnxruntime runs it) and by spikec's importer and reference interpreter (as
spikec would import it), on spikes, uniform numbers and wide normal values. Where they differ,
or the call cannot be probed, the function's calls are replaced by its body (standard ONNX,
raised or kept as generic regions as any export is), with a warning naming the function. A
`spike` function of another name is inlined the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from compiler.frontend.onnx_check import inline_functions, set_defaults
from compiler.frontend.onnx_functions import DOMAIN, spike_functions
from runtime.onnx_region import UNRAISED

logger = logging.getLogger("spikec")


PROBE_BATCH = 2
PROBE_SEED = 16


def check_spike_functions(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """The model with the calls of every `spike` function whose body is not the semantics of
    its name replaced by the body."""
    canonical = {f.name: f for f in spike_functions()}
    untrusted: dict[str, str] = {}
    suspects: dict[str, onnx.FunctionProto] = {}
    for function in model.functions:
        if function.domain != DOMAIN or function.name.startswith(UNRAISED):
            continue  # spikec's own generic regions: their body is what is executed
        known = canonical.get(function.name)
        if known is None:
            untrusted[function.name] = "is no function of spikec's convention"
        elif not _same_body(function, known):
            suspects[function.name] = function
    if suspects:
        untrusted.update(_disagreements(model, suspects, canonical, path))
    if not untrusted:
        return model
    for name, reason in untrusted.items():
        logger.warning(
            "%s: spike.%s %s; its calls are imported from the body the model carries",
            path,
            name,
            reason,
        )
    return inline_functions(model, [(DOMAIN, name) for name in untrusted], path)


def _same_body(function: onnx.FunctionProto, known: onnx.FunctionProto) -> bool:
    def canonical(f: onnx.FunctionProto) -> bytes:
        copy = onnx.FunctionProto()
        copy.CopyFrom(f)
        copy.ClearField("doc_string")
        copy.ClearField("metadata_props")
        for node in copy.node:
            node.ClearField("doc_string")
            node.ClearField("name")
        return copy.SerializeToString(deterministic=True)

    return canonical(function) == canonical(known)


def _disagreements(
    model: onnx.ModelProto,
    suspects: dict[str, onnx.FunctionProto],
    canonical: dict[str, onnx.FunctionProto],
    path: Path,
) -> dict[str, str]:
    """Why the calls of each suspect function cannot be imported as its name (functions whose
    every call agrees are left out). Calls are probed in graph order; the shapes a probe
    produced help ONNX's shape inference past the calls it cannot see through."""
    constants = {t.name: t for t in model.graph.initializer}
    learned: dict[str, tuple[int, ...]] = {}
    shapes = _value_shapes(model, learned)
    probed: set[bytes] = set()
    problems: dict[str, str] = {}
    for node in model.graph.node:
        function = suspects.get(node.op_type) if node.domain == DOMAIN else None
        if function is None or node.op_type in problems:
            continue
        inputs = [n for n in node.input if n and n not in constants]
        if any(n not in shapes for n in inputs):
            shapes = _value_shapes(model, learned)
        missing = [n for n in inputs if n not in shapes]
        if missing:
            problems[node.op_type] = (
                f"has a body other than spikec's, and the shape of '{missing[0]}' is unknown"
            )
            continue
        key = _call_key(node, shapes)
        if key in probed:
            continue  # the same attributes on the same shapes: probed already
        probed.add(key)
        feeds = {n: shapes[n] for n in inputs}
        problem, produced = _probe(model, node, function, canonical[node.op_type], feeds, constants)
        learned.update(produced)
        if problem is not None:
            problems[node.op_type] = problem
    return problems


def _call_key(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> bytes:
    attributes = sorted(a.SerializeToString(deterministic=True) for a in node.attribute)
    inputs = [repr(shapes.get(name)).encode() for name in node.input]
    return b"|".join([*attributes, b"#", *inputs])


def _value_shapes(
    model: onnx.ModelProto, learned: dict[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """Concrete shapes of the graph's values at batch PROBE_BATCH (ONNX shape inference, told
    the `learned` shapes)."""
    from compiler.frontend.onnx_import import _infer_once, _with_batch

    probe = _with_batch(model, PROBE_BATCH)
    probe.graph.value_info.extend(
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(shape))
        for name, shape in learned.items()
    )
    shapes, _ = _infer_once(probe)
    return {
        name: tuple(d for d in dims if isinstance(d, int))
        for name, dims in shapes.items()
        if all(isinstance(d, int) and d >= 0 for d in dims)
    }


def _draws(shapes: dict[str, tuple[int, ...]]) -> list[dict[str, np.ndarray]]:
    """Probe inputs: spikes, uniform numbers in [0, 1), and normal values of deviation 2."""
    rng = np.random.default_rng(PROBE_SEED)
    draws = []
    for kind in ("spikes", "uniform", "normal"):
        feeds = {}
        for name, shape in shapes.items():
            if kind == "spikes":
                value = (rng.random(shape) < 0.3).astype(np.float32)
            elif kind == "uniform":
                value = rng.random(shape, dtype=np.float32)
            else:
                value = rng.normal(0.0, 2.0, shape).astype(np.float32)
            feeds[name] = value
        draws.append(feeds)
    return draws


def _probe(
    model: onnx.ModelProto,
    node: onnx.NodeProto,
    function: onnx.FunctionProto,
    known: onnx.FunctionProto,
    shapes: dict[str, tuple[int, ...]],
    constants: dict[str, onnx.TensorProto],
) -> tuple[str | None, dict[str, tuple[int, ...]]]:
    """Why the call `node` of `function` is not `known`'s semantics (None: it is), and the
    shapes of its outputs."""
    where = f"at node '{node.name or node.output[0]}'"

    def single(body: onnx.FunctionProto) -> onnx.ModelProto:
        call = _copy_node(node)
        set_defaults(call, body)  # onnx.reference does not apply a function's defaults
        graph = helper.make_graph(
            [call],
            f"probe_{function.name}",
            [
                helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, s)
                for n, s in shapes.items()
            ],
            [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in node.output],
            [constants[n] for n in node.input if n in constants],
        )
        probe = helper.make_model(graph, opset_imports=list(model.opset_import), functions=[body])
        probe.ir_version = model.ir_version
        return probe

    unknown = {a.name for a in node.attribute} - {
        *known.attribute,
        *(a.name for a in known.attribute_proto),
    }
    if unknown:
        names = ", ".join(sorted(unknown))
        return f"is called with attributes spike.{function.name} does not have ({names})", {}
    unprobed = f"has a body other than spikec's that could not be probed {where}"
    produced: dict[str, tuple[int, ...]] = {}
    try:
        theirs_run, ours_run = _runner(single(function)), _runner(single(known))
        for feeds in _draws(shapes):
            theirs, ours = theirs_run(feeds), ours_run(feeds)
            produced = {n: r.shape for n, r in zip(node.output, theirs, strict=True)}
            for got, expected in zip(theirs, ours, strict=True):
                if got.shape != expected.shape:
                    return (
                        f"computes outputs of another shape than spike.{function.name} {where}",
                        {},
                    )
                if not np.allclose(got, expected, rtol=1e-5, atol=1e-5, equal_nan=True):
                    worst = float(np.nanmax(np.abs(got - expected)))
                    return (
                        f"computes something else than spike.{function.name} {where} (on "
                        f"probe inputs its outputs differ from the convention's by up to "
                        f"{worst:.3g})"
                    ), produced
    except Exception as e:  # a call that cannot be probed is not trusted
        return f"{unprobed} ({e})", produced
    return None, produced


def _copy_node(node: onnx.NodeProto) -> onnx.NodeProto:
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    return copy


def _runner(model: onnx.ModelProto) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """The model as onnxruntime runs it (when installed; otherwise onnx.reference, which lacks
    some operators onnxruntime has)."""
    try:
        import onnxruntime as ort
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)
        return lambda feeds: [np.asarray(r, np.float32) for r in evaluator.run(None, feeds)]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda feeds: [np.asarray(r, np.float32) for r in session.run(None, feeds)]
