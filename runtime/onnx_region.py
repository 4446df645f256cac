"""Generic regions: ONNX arithmetic that spikec recognised but could not raise into a `spike` op
(e.g. a neuron whose charge matches no neuron model), kept as one ONNX function and executed as
it is, by `onnx.reference` (numpy, float32), in the reference interpreter and in every target's
fallback unit alike.

A region's body is an ONNX `FunctionProto`, serialized and base64-encoded (a string that the IR
and the instruction stream carry as an attribute). Its inputs and outputs are time-major tensors.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

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


@functools.lru_cache(maxsize=64)
def region(body: str) -> Region:
    """The decoded body and its evaluator (built once per body)."""
    from onnx.reference import ReferenceEvaluator

    function = decode_body(body)
    return Region(function, ReferenceEvaluator(function))


@dataclass
class RegionRun:
    outputs: list[np.ndarray]
    node_elements: list[tuple[str, int]]
    """Each body node's op type and the elements of its outputs."""


def run_region(body: str, inputs: Sequence[np.ndarray]) -> RegionRun:
    """The region's outputs on `inputs` (float32), with every node's output sizes."""
    r = region(body)
    if len(inputs) != len(r.inputs):
        raise ValueError(f"the region takes {len(r.inputs)} inputs, got {len(inputs)}")
    feeds = {
        name: np.asarray(x, dtype=np.float32) for name, x in zip(r.inputs, inputs, strict=True)
    }
    values = r.evaluator.run(None, feeds, attributes={}, intermediate=True)
    assert isinstance(values, dict)
    outputs = [np.asarray(values[name]) for name in r.outputs]
    sizes = [
        (node.op_type, sum(int(np.asarray(values[o]).size) for o in node.output if o in values))
        for node in r.function.node
    ]
    return RegionRun(outputs, sizes)


def region_outputs(body: str, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return run_region(body, inputs).outputs


@functools.lru_cache(maxsize=64)
def node_elements(body: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[str, int], ...]:
    """Each body node's op type and output elements on inputs of these shapes (they depend on
    the shapes only: the body runs once on zeros per shape). What a target prices a region by."""
    zeros = [np.zeros(s, dtype=np.float32) for s in shapes]
    return tuple(run_region(body, zeros).node_elements)
