"""Generic regions: ONNX arithmetic that spikec recognised but could not raise into a `spike` op
(e.g. a neuron whose charge matches no neuron model), kept as one ONNX function and executed as
it is, by `onnx.reference` (numpy, float32), in the reference interpreter and in every target's
fallback unit alike.

A region's body is an ONNX `FunctionProto`, serialized and base64-encoded (a string that the IR
and the instruction stream carry as an attribute). Its inputs and outputs are time-major tensors.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from runtime.errors import ProgramError

if TYPE_CHECKING:  # onnx is imported where a region is decoded: importing it costs over a second
    import onnx
    from onnx.reference import ReferenceEvaluator


def encode_body(function: onnx.FunctionProto) -> str:
    return base64.b64encode(function.SerializeToString()).decode("ascii")


def decode_body(body: str) -> onnx.FunctionProto:
    """The region's function; ValueError when `body` is not one."""
    import onnx

    try:
        data = base64.b64decode(body.encode("ascii"), validate=True)
        function = onnx.FunctionProto()
        function.ParseFromString(data)
    except Exception as e:  # binascii.Error, DecodeError, UnicodeEncodeError
        raise ValueError(f"the body is not a base64-encoded ONNX FunctionProto: {e}") from e
    if not function.name or not function.output:
        raise ValueError("the body is not a base64-encoded ONNX FunctionProto (no name/outputs)")
    return function


@dataclass(frozen=True)
class Region:
    function: onnx.FunctionProto
    evaluator: ReferenceEvaluator

    @property
    def inputs(self) -> list[str]:
        return list(self.function.input)

    @property
    def outputs(self) -> list[str]:
        return list(self.function.output)


@functools.lru_cache(maxsize=4096)
def region(body: str) -> Region:
    """The decoded body and its evaluator (built once per body).

    The body runs as a model whose inputs are typed float32 and whose values are typed by shape
    inference: operators that ONNX defines by a function of their input types (Gelu, ...)
    have no `onnx.reference` kernel and are expanded from those types."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    function = decode_body(body)
    model = body_model(function)
    with contextlib.suppress(Exception):  # without the types, it runs what it can
        model = onnx.shape_inference.infer_shapes(model)
    try:
        evaluator = ReferenceEvaluator(model)
    except Exception as e:  # onnx.reference refuses the node as it is (e.g. an attribute)
        raise ProgramError(f"{_nodes(function)} cannot be evaluated: {_reason(e)}") from None
    return Region(function, evaluator)


def _nodes(function: onnx.FunctionProto) -> str:
    """The ONNX nodes of a region, as messages name them."""
    named = [f"'{n.name or n.output[0]}' ({n.op_type})" for n in function.node if n.name != ADAPTER]
    return f"generic op {function.name} (node {', '.join(named) or '?'})"


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def body_model(
    function: onnx.FunctionProto, shapes: Sequence[Sequence[int]] | None = None
) -> onnx.ModelProto:
    """A region's body as a model with float32 inputs (of `shapes`, if given), for shape
    inference and the reference evaluator."""
    import onnx
    from onnx import helper

    inputs = [
        helper.make_tensor_value_info(
            name, onnx.TensorProto.FLOAT, None if shapes is None else list(shapes[i])
        )
        for i, name in enumerate(function.input)
    ]
    outputs = [helper.make_empty_tensor_value_info(name) for name in function.output]
    graph = helper.make_graph(list(function.node), function.name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=list(function.opset_import))
    model.ir_version = min(model.ir_version, 10)
    return model


UNRAISED = "Unraised"
"""Name prefix of the regions that are neurons spikec recognised but could not raise (the
others, `Generic0`, ..., are single ONNX nodes without a dedicated op)."""

ADAPTER = "spikec.adapter"
"""Name of the body nodes that only keep spikec's conventions (casts to a node's own types,
folding of time): nothing a target executes."""


@dataclass(frozen=True)
class NodeWork:
    op_type: str
    outputs: int
    """Elements of its outputs."""
    inputs: int
    """Elements of its inputs."""
    macs: int
    """Multiply-accumulates of a product (MatMul, Gemm, Conv, Einsum); 0 otherwise."""


def product_macs(node: onnx.NodeProto, ins: list[np.ndarray], outs: list[np.ndarray]) -> int:
    """A product's multiply-accumulates: output elements times the reduced extent."""
    if not outs or not ins:
        return 0
    out = int(outs[0].size)
    op = node.op_type
    if op in ("MatMul", "MatMulInteger") and ins[0].ndim:
        return out * int(ins[0].shape[-1])
    if op == "Gemm" and ins[0].ndim == 2:
        trans_a = any(a.name == "transA" and a.i for a in node.attribute)
        return out * int(ins[0].shape[0 if trans_a else 1])
    if op in ("Conv", "ConvTranspose") and len(ins) > 1 and ins[1].ndim > 1:
        per_channel = int(ins[1].size) // max(int(ins[1].shape[0]), 1)
        # Conv: each output reads a C_in/g x kernel window; ConvTranspose: each input writes one
        return (out if op == "Conv" else int(ins[0].size)) * per_channel
    if op == "Einsum":  # the whole iteration space: every index of the equation, once
        equation = next((a.s.decode() for a in node.attribute if a.name == "equation"), "")
        sizes: dict[str, int] = {}
        for term, x in zip(equation.split("->")[0].split(","), ins, strict=False):
            letters = term.strip().replace("...", "")
            for letter, d in zip(letters[::-1], x.shape[::-1], strict=False):
                sizes[letter] = int(d)
        space = math.prod(sizes.values())
        if "->" not in equation:
            return space
        kept = math.prod(sizes.get(c, 1) for c in set(equation.split("->")[1].strip()))
        return space * max(out // max(kept, 1), 1)  # times the broadcast (`...`) extent
    return 0


@dataclass
class RegionRun:
    outputs: list[np.ndarray]
    work: list[NodeWork]
    """What each body node did (adapters left out)."""

    @property
    def node_elements(self) -> list[tuple[str, int]]:
        """Each body node's op type and the elements of its outputs."""
        return [(w.op_type, w.outputs) for w in self.work]


def run_region(body: str, inputs: Sequence[np.ndarray]) -> RegionRun:
    """The region's outputs on `inputs` (float32), with what every node did."""
    r = region(body)
    if len(inputs) != len(r.inputs):
        raise ValueError(f"the region takes {len(r.inputs)} inputs, got {len(inputs)}")
    feeds = {
        name: np.asarray(x, dtype=np.float32) for name, x in zip(r.inputs, inputs, strict=True)
    }
    try:
        values = r.evaluator.run(None, feeds, attributes={}, intermediate=True)
    except Exception as e:  # the node rejects these inputs (shapes, types), as onnxruntime would
        raise ProgramError(f"{_nodes(r.function)} fails on its inputs: {_reason(e)}") from None
    assert isinstance(values, dict)
    outputs = [as_float32(np.asarray(values[name]), name) for name in r.outputs]
    work = []
    for node in r.function.node:
        if node.name == ADAPTER:
            continue
        ins = [np.asarray(values[i]) for i in node.input if i in values]
        outs = [np.asarray(values[o]) for o in node.output if o in values]
        work.append(
            NodeWork(
                node.op_type,
                sum(int(o.size) for o in outs),
                sum(int(i.size) for i in ins),
                product_macs(node, ins, outs),
            )
        )
    if len(_OBSERVED) > 4096:
        _OBSERVED.clear()
    _OBSERVED[body, tuple(tuple(int(d) for d in np.shape(x)) for x in inputs)] = tuple(work)
    return RegionRun(outputs, work)


EXACT_INTEGERS = 2**24
"""float32 holds every integer up to this magnitude exactly."""


def as_float32(value: np.ndarray, name: str) -> np.ndarray:
    """A region output as spikec carries it: float32, refused where that would change it (an
    integer beyond 2^24), so that no run gives a silently wrong answer."""
    if value.dtype == np.float32:
        return value
    if value.dtype.kind in "iu" and value.size and int(np.abs(value).max()) > EXACT_INTEGERS:
        raise ValueError(
            f"output '{name}' holds the integer {int(np.abs(value).max())}, which float32 "
            f"cannot hold exactly (spikec carries values as float32: integers up to 2^24)"
        )
    return value.astype(np.float32)


def region_outputs(body: str, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return run_region(body, inputs).outputs


_OBSERVED: dict[tuple[str, tuple[tuple[int, ...], ...]], tuple[NodeWork, ...]] = {}
"""What each body did when it last ran on inputs of each shape: data-dependent work (a Loop's
trips, a NonZero's count) is priced as it really ran."""


def node_work(body: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[NodeWork, ...]:
    """What each body node does on inputs of these shapes: as it last ran on such inputs, else
    as it runs once on zeros. What a target prices a region by."""
    key = (body, shapes)
    if key not in _OBSERVED:
        zeros = [np.zeros(s, dtype=np.float32) for s in shapes]
        with np.errstate(all="ignore"):  # zeros may divide by zero: the counts stay right
            _OBSERVED[key] = tuple(run_region(body, zeros).work)
    return _OBSERVED[key]
