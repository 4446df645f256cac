"""Import any ONNX node that has no dedicated `spike` op as a generic op, so that a model which
onnxruntime runs is never refused because spikec did not recognise a pattern.

The node becomes a `spike.onnx_region` whose body is the node itself (a one-node ONNX function,
run by `onnx.reference` in the reference interpreter and on every target's fallback unit), with
adapters that keep spikec's conventions at its edges:

- every IR activation is a float32 tensor: an input that ONNX types as int64 or bool is cast to
  that type inside the body, and the outputs are cast back to float32 (checked exact, see
  `runtime.onnx_region`);
- a time-folded `[T*B, ...]` input is carried time-major `[T, B, ...]` in the IR: the body
  reshapes it to what the node sees, and reshapes a folded output back;
- constants are written into the body, in their own data types; large float32 ones (weights)
  are operands, as a dedicated op would read them;
- the values a `Loop`, `If` or `Scan` body reads from the enclosing graph become inputs.

A node whose inputs are all constants is evaluated here and becomes a constant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.dialects.builtin import ModuleOp

from compiler.dialects import spike
from compiler.dialects.spike.types import DYNAMIC
from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.values import Layout, NodeError, Value, batch_multiple
from runtime.onnx_region import ADAPTER, encode_body

if TYPE_CHECKING:
    from compiler.frontend.onnx_import import Importer

GENERIC_PREFIX = "Generic"
"""Generic ops are the regions `Generic0`, `Generic1`, ... (raised neurons left as they were
are `Unraised0`, ...)."""

OPERAND_LIMIT = 1024
"""Float32 constants with more elements than this are operands of the op (weights), not part of
its body."""

_FLOAT = onnx.TensorProto.FLOAT


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def outer_names(graph: onnx.GraphProto) -> set[str]:
    """The values a subgraph reads from the scopes around it."""
    defined = {v.name for v in graph.input}
    defined |= {t.name for t in graph.initializer}
    defined |= {t.values.name for t in graph.sparse_initializer}
    used: set[str] = {o.name for o in graph.output}
    for node in graph.node:
        used.update(name for name in node.input if name)
        for sub in _subgraphs(node):
            used |= outer_names(sub)
        defined.update(node.output)
    return used - defined


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """Every value the node reads: its inputs, then what its subgraphs read from outside."""
    names = list(dict.fromkeys(name for name in node.input if name))
    for sub in _subgraphs(node):
        names.extend(sorted(outer_names(sub) - set(names)))
    return names


def _constant_node(name: str, array: np.ndarray, elem: int | None) -> onnx.NodeProto:
    if elem is not None and elem != onnx.TensorProto.UNDEFINED:
        array = array.astype(helper.tensor_dtype_to_np_dtype(elem))
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(array, name), name=ADAPTER
    )


def _ints(name: str, values: list[int]) -> onnx.NodeProto:
    tensor = numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)
    return helper.make_node("Constant", [], [name], value=tensor, name=ADAPTER)


def _function(
    name: str,
    inputs: list[str],
    nodes: list[onnx.NodeProto],
    outputs: list[str],
    model: onnx.ModelProto,
) -> onnx.FunctionProto:
    opsets = [o for o in model.opset_import if o.domain not in ("", "ai.onnx", DOMAIN)]
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    return helper.make_function(
        DOMAIN, name, inputs, outputs, nodes, [helper.make_opsetid("", version), *opsets]
    )


class GenericBuilder:
    """Builds one generic op; `Importer.generic` keeps the count for unique names."""

    def __init__(self, imp: Importer, node: onnx.NodeProto, reason: str) -> None:
        self.imp = imp
        self.node = node
        self.reason = reason
        self.body: list[onnx.NodeProto] = []
        self.inputs: list[str] = []
        self.operands: list[Value] = []

    def _read(self, name: str) -> None:
        imp = self.imp
        v = imp.value(name)
        elem = imp.elem_types.get(name)
        if v.is_const:
            array = np.asarray(v.array)
            if array.dtype == np.float32 and array.size > OPERAND_LIMIT:
                self._operand(name, v, elem)
            else:
                self.body.append(_constant_node(name, array, elem))
            return
        self._operand(name, v, elem)

    def _operand(self, name: str, v: Value, elem: int | None) -> None:
        inner = f"{name}__in{len(self.inputs)}"
        self.inputs.append(inner)
        self.operands.append(v)
        current = inner
        if v.layout is Layout.FOLDED:
            rest = list(v.ir_shape()[2:])
            if any(d == DYNAMIC for d in rest):
                raise NodeError(f"input '{name}' is time-folded with a dynamic inner axis")
            shape = f"{inner}__shape"
            self.body.append(_ints(shape, [-1, *rest]))
            self.body.append(
                helper.make_node("Reshape", [current, shape], [f"{inner}__flat"], name=ADAPTER)
            )
            current = f"{inner}__flat"
        if elem is not None and elem not in (_FLOAT, onnx.TensorProto.UNDEFINED):
            self.body.append(
                helper.make_node("Cast", [current], [f"{inner}__cast"], to=elem, name=ADAPTER)
            )
            current = f"{inner}__cast"
        self.body.append(helper.make_node("Identity", [current], [name], name=ADAPTER))

    def build(self) -> None:
        imp, node = self.imp, self.node
        for name in node_inputs(node):
            self._read(name)
        self.body.append(node)
        outputs = [name for name in node.output if name]
        if not self.operands:
            self._evaluate(outputs)
            return
        layouts = {v.layout for v in self.operands if v.layout is not Layout.CONST}
        joint = next(
            (lay for lay in (Layout.FOLDED, Layout.TIME, Layout.STATIC) if lay in layouts),
            Layout.STATIC,
        )
        if Layout.FOLDED in layouts and Layout.TIME in layouts:
            joint = Layout.STATIC  # shapes alone then say nothing about where time is
        returned: list[str] = []
        shapes: list[list[int]] = []
        out_layouts: list[Layout] = []
        for name in outputs:
            layout, ir_shape = self._output_type(name, joint)
            result = f"{name}__out"
            if layout is Layout.FOLDED:
                shape = f"{name}__unfold"
                self.body.append(_ints(shape, [imp.timesteps, -1, *ir_shape[2:]]))
                self.body.append(helper.make_node("Reshape", [name, shape], [result], name=ADAPTER))
            else:
                self.body.append(helper.make_node("Identity", [name], [result], name=ADAPTER))
            returned.append(result)
            shapes.append(ir_shape)
            out_layouts.append(layout)
        region = f"{GENERIC_PREFIX}{imp.generic}"
        imp.generic += 1
        function = _function(region, self.inputs, self.body, returned, imp.model)
        operands = [imp.operand(v) for v in self.operands]
        op = spike.OnnxRegionOp(operands, shapes, region, encode_body(function), self.reason)
        imp.insert(op)
        for i, (value, layout) in enumerate(zip(op.outputs, out_layouts, strict=True)):
            imp.define(node, list(node.output).index(outputs[i]), value, layout)

    def _output_type(self, name: str, joint: Layout) -> tuple[Layout, list[int]]:
        """The output's layout and IR shape, from ONNX shape inference."""
        imp = self.imp
        declared = imp.declared.get(name)
        if declared is None:
            raise NodeError(
                f"ONNX shape inference gives output '{name}' no shape; spikec needs static "
                "shapes (only the batch may be dynamic)"
            )
        t, b = imp.timesteps, imp.batch
        symbol = imp.batch_symbol if b == DYNAMIC else None
        dims: list[int] = []
        folded = False
        for i, d in enumerate(declared):
            k = None if symbol is None else batch_multiple(d, symbol)
            if isinstance(d, int) and d >= 0:
                dims.append(d)
            elif k == 1:
                dims.append(DYNAMIC)
            elif k == t and i == 0:
                dims.append(DYNAMIC)
                folded = True  # T * batch: time folded into the batch
            else:
                what = "depends on the batch" if k is not None else "depends on the data"
                raise NodeError(
                    f"output '{name}' has a shape that {what} ({declared}, axis {i}); spikec "
                    "needs static shapes, where only the batch, or time and batch folded into "
                    "the leading axis, may be dynamic"
                )
        if joint is Layout.TIME and len(dims) >= 2 and dims[0] == t and dims[1] == b:
            return Layout.TIME, dims
        if dims and (folded or (joint is Layout.FOLDED and b != DYNAMIC and dims[0] == t * b)):
            return Layout.FOLDED, [t, b, *dims[1:]]
        return Layout.STATIC, dims

    def _evaluate(self, outputs: list[str]) -> None:
        """All inputs are constants: the outputs are too."""
        from onnx.reference import ReferenceEvaluator

        function = _function("Fold", [], self.body, outputs, self.imp.model)
        try:
            values = ReferenceEvaluator(function).run(None, {}, attributes={})
        except Exception as e:  # onnx.reference raises what the op's kernel raises
            raise NodeError(f"evaluating it on its constant inputs fails: {e}") from None
        for name, value in zip(outputs, values, strict=True):
            self.imp.define_const(name, np.asarray(value))


def convert_generic(imp: Importer, node: onnx.NodeProto, reason: str) -> None:
    """Import `node` as a generic op (see the module docstring); `reason` says why it has no
    dedicated op (`spikec import --explain` and the IR carry it)."""
    GenericBuilder(imp, node, reason).build()


def generic_op_lines(module: ModuleOp) -> list[str]:
    """What `spikec import --explain` says of the generic ops in `module`: each, and why."""
    ops = [
        op
        for op in module.walk()
        if isinstance(op, spike.OnnxRegionOp) and op.region_name.data.startswith(GENERIC_PREFIX)
    ]
    if not ops:
        return ["generic ops: none (every node has a dedicated spike op)"]
    lines = [f"generic ops: {len(ops)}, each one ONNX node run as it is (onnx.reference)"]
    lines += [f"  {op.region_name.data}: {op.reason.data}" for op in ops]
    return lines
