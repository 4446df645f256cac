"""Converters for standard ONNX operators (default domain)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.types import shape_of
from compiler.frontend.onnx_import import (
    Converter,
    Importer,
    attr_float,
    attr_int,
    attributes,
)
from compiler.frontend.raising.graph import slice_spec
from compiler.frontend.reshape import (
    flatten_target,
    reshape_target,
    squeeze_target,
    unsqueeze_target,
)
from compiler.frontend.values import Layout, NodeError, Value
from compiler.ir.locations import name_hint

STANDARD_CONVERTERS: dict[str, Converter] = {}


def converts(*op_types: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            STANDARD_CONVERTERS[op_type] = fn
        return fn

    return register


def _emit(imp: Importer, node: onnx.NodeProto, op: Operation, layout: Layout) -> None:
    imp.insert(op)
    for i, result in enumerate(op.results):
        imp.define(node, i, result, layout)


def _joint_layout(values: list[Value]) -> Layout:
    layouts = {v.layout for v in values if not v.is_const}
    if Layout.FOLDED in layouts and Layout.TIME in layouts:
        raise NodeError("mixes a time-folded [T*B, ...] and a time-major [T, B, ...] operand")
    for layout in (Layout.FOLDED, Layout.TIME, Layout.STATIC):
        if layout in layouts:
            return layout
    return Layout.CONST


def _spatial_layout(v: Value, op_type: str) -> None:
    """Conv, BatchNorm and pooling treat axis 0 as the batch and axis 1 as channels."""
    if v.layout is Layout.TIME:
        raise NodeError(
            f"{op_type} on a time-major [T, B, ...] tensor would treat B as channels; fold time "
            "into the batch first (Reshape to [T*B, ...]), as SpikingJelly's SeqToANNContainer does"
        )
    if v.is_const:
        raise NodeError(f"{op_type} on a constant is not supported")


def _ints(value: object, default: list[int]) -> list[int]:
    if value is None:
        return default
    assert isinstance(value, list | tuple)
    return [int(v) for v in value]


def _check_auto_pad(attrs: dict[str, object]) -> None:
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    if auto_pad not in (b"NOTSET", "NOTSET"):
        raise NodeError(f"auto_pad={auto_pad!r} is not supported; export with explicit pads")


# -- constants and no-ops --------------------------------------------------------------------


@converts("Constant")
def constant(imp: Importer, node: onnx.NodeProto) -> None:
    if node.output[0] in imp.tensors:  # `OnnxTensors` decodes every numeric form
        imp.define_const(node.output[0], imp.tensors.array(node.output[0]))
        return
    attrs = attributes(node)
    raise NodeError(f"only numeric constants are supported, got attributes {sorted(attrs)}")


@converts("Identity", "Dropout")
def identity(imp: Importer, node: onnx.NodeProto) -> None:
    imp.values[node.output[0]] = imp.input(node, 0)
    if node.op_type == "Dropout" and len(node.output) > 1 and node.output[1]:
        raise NodeError("the Dropout mask output is not supported (inference only)")


@converts("Cast")
def cast(imp: Importer, node: onnx.NodeProto) -> None:
    v = imp.input(node, 0)
    to = attr_int(node, "to")
    if v.is_const:
        assert v.array is not None
        dtype = onnx.helper.tensor_dtype_to_np_dtype(to)
        imp.define_const(node.output[0], np.asarray(v.array).astype(dtype))
        return
    if to != onnx.TensorProto.FLOAT:
        raise NodeError("only casts to float32 of float32 activations are supported")
    imp.values[node.output[0]] = v


# -- linear algebra --------------------------------------------------------------------------


@converts("MatMul")
def matmul(imp: Importer, node: onnx.NodeProto) -> None:
    a, b = imp.input(node, 0), imp.input(node, 1)
    if a.is_const:
        raise NodeError("a constant left operand is not supported (write X @ W)")
    if b.is_const:
        assert b.array is not None
        if b.array.ndim != 2:
            raise NodeError(f"the weight must be 2-D, got shape {list(b.array.shape)}")
        original = imp.transposed.get(node.input[1])
        if original is not None:  # X @ W^T with W stored as it is (a Gemm with transB)
            weight = imp.operand(imp.value(original))
            op: Operation = spike.LinearOp(imp.operand(a), weight, transpose_weight=True)
        else:
            op = spike.LinearOp(imp.operand(a), imp.operand(b))
        _emit(imp, node, op, a.layout)
        return
    layout = _joint_layout([a, b])
    if a.layout is not b.layout:
        raise NodeError("both operands of an activation product must have the same layout")
    _emit(imp, node, spike.MatMulOp(imp.operand(a), imp.operand(b)), layout)


@converts("Gemm")
def gemm(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = attributes(node)
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise NodeError("only Gemm with transA = 0 and alpha = beta = 1 is supported")
    x = imp.activation(node, 0, "the input")
    w = imp.const_array(node, 1, "the weight")
    if w.ndim != 2:
        raise NodeError("the weight must be 2-D")
    bias = imp.optional_input(node, 2)
    bias_ssa = None
    if bias is not None:
        if not bias.is_const or bias.array is None or bias.array.ndim != 1:
            raise NodeError("the bias must be a 1-D constant")
        bias_ssa = imp.operand(bias)
    op = spike.LinearOp(
        imp.operand(x),
        imp.operand(imp.input(node, 1)),
        bias_ssa,
        transpose_weight=bool(attrs.get("transB", 0)),
    )
    _emit(imp, node, op, x.layout)


# -- elementwise -----------------------------------------------------------------------------

_NUMPY_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.divide,
}
_SPIKE_BINARY: dict[str, type[spike.AddOp | spike.SubOp | spike.MulOp | spike.DivOp]] = {
    "Add": spike.AddOp,
    "Sub": spike.SubOp,
    "Mul": spike.MulOp,
    "Div": spike.DivOp,
}


def _fold_bias(imp: Importer, node: onnx.NodeProto, a: Value, b: Value) -> bool:
    """`Add(MatMul(x, W), b)` with a 1-D constant b becomes one `spike.linear` with a bias."""
    if a.is_const:
        a, b = b, a
    if not b.is_const or b.array is None or b.array.ndim != 1 or a.ssa is None:
        return False
    producer = a.ssa.owner
    if not isinstance(producer, spike.LinearOp) or producer.bias is not None:
        return False
    if imp.consumers[a.name] != 1 or shape_of(producer.output)[-1] != b.array.shape[0]:
        return False
    fused = spike.LinearOp(
        producer.input,
        producer.weight,
        imp.operand(b),
        transpose_weight=producer.transpose_weight is not None,
    )
    assert imp.builder is not None
    imp.insert(fused)
    fused.output.name_hint = name_hint(node.output[0])
    block = producer.parent_block()
    assert block is not None
    block.erase_op(producer)
    imp.values[node.output[0]] = Value(a.layout, ssa=fused.output, name=node.output[0])
    return True


@converts("Add", "Sub", "Mul", "Div")
def binary(imp: Importer, node: onnx.NodeProto) -> None:
    a, b = imp.input(node, 0), imp.input(node, 1)
    layout = _joint_layout([a, b])
    if layout is Layout.CONST:
        assert a.array is not None and b.array is not None
        result = _NUMPY_BINARY[node.op_type](a.array, b.array)
        imp.define_const(node.output[0], np.asarray(result, dtype=a.array.dtype))
        return
    if node.op_type == "Add" and _fold_bias(imp, node, a, b):
        return
    active = a if not a.is_const else b
    for v in (a, b):
        if v.is_const and layout is Layout.FOLDED:
            _check_folded_broadcast(v, len(active.onnx_shape()))
    op = _SPIKE_BINARY[node.op_type](imp.operand(a), imp.operand(b))
    _emit(imp, node, op, layout)


def _check_folded_broadcast(v: Value, rank: int) -> None:
    """A constant broadcasts along trailing axes; against a folded value it cannot vary along
    axis 0 ([T*B]), which the IR splits in two."""
    assert v.array is not None
    if v.array.ndim >= rank and v.array.shape[v.array.ndim - rank] != 1:
        raise NodeError("a constant operand cannot vary along the folded [T*B] axis")


# -- convolution, normalisation, pooling -----------------------------------------------------


@converts("Conv")
def conv(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.activation(node, 0, "the input")
    _spatial_layout(x, "Conv")
    rank = len(x.onnx_shape())
    if rank not in (3, 4):
        raise NodeError("only 1-D and 2-D convolutions (input [N, C, L] or [N, C, H, W])")
    attrs = attributes(node)
    _check_auto_pad(attrs)
    w = imp.const_array(node, 1, "the weight")
    if list(w.shape[2:]) != _ints(attrs.get("kernel_shape"), list(w.shape[2:])):
        raise NodeError("kernel_shape does not match the weight")
    bias = imp.optional_input(node, 2)
    strides = _ints(attrs.get("strides"), [1] * (rank - 2))
    pads = _ints(attrs.get("pads"), [0] * 2 * (rank - 2))
    dilations = _ints(attrs.get("dilations"), [1] * (rank - 2))
    weight = imp.input(node, 1)
    source = imp.operand(x)
    if rank == 3:
        # A 1-D convolution is a 2-D one over a height of 1 (Conv1d in SpikingJelly models).
        source = _unit_height(imp, source)
        weight = Value(Layout.CONST, array=w[:, :, None, :], name=f"{node.input[1]}.as_2d")
        strides, dilations = [1, *strides], [1, *dilations]
        pads = [0, pads[0], 0, pads[1]]
    op = spike.Conv2dOp(
        source,
        imp.operand(weight),
        None if bias is None else imp.operand(bias),
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=attr_int(node, "group", 1),
    )
    if rank == 3:
        imp.insert(op)
        *outer, _, length = shape_of(op.output)
        _emit(imp, node, spike.ReshapeOp(op.output, [*outer, length]), x.layout)
        return
    _emit(imp, node, op, x.layout)


def _unit_height(imp: Importer, value: SSAValue) -> SSAValue:
    """`value` [..., C, L] as [..., C, 1, L]."""
    shape = shape_of(value)
    op = spike.ReshapeOp(value, [*shape[:-1], 1, shape[-1]])
    imp.insert(op)
    return op.output


@converts("BatchNormalization")
def batch_norm(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = attributes(node)
    if attrs.get("training_mode", 0):
        raise NodeError("training_mode = 1 is not supported (export in eval mode)")
    if len([o for o in node.output if o]) > 1:
        raise NodeError("the running-statistics outputs are not supported")
    x = imp.activation(node, 0, "the input")
    _spatial_layout(x, "BatchNormalization")
    params = []
    for i, what in enumerate(("scale", "bias", "mean", "var"), start=1):
        imp.const_array(node, i, what)
        params.append(imp.operand(imp.input(node, i)))
    op = spike.BatchNormOp(
        imp.operand(x),
        *params,
        axis=x.ir_axis(1),
        epsilon=attr_float(node, "epsilon", 1e-5),
    )
    _emit(imp, node, op, x.layout)


@converts("LayerNormalization")
def layer_norm(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.activation(node, 0, "the input")
    rank = len(x.onnx_shape())
    axis = attr_int(node, "axis", -1)
    if axis % rank != rank - 1:
        raise NodeError(f"only normalisation over the last axis is supported (axis = {axis})")
    if len([o for o in node.output if o]) > 1:
        raise NodeError("the Mean and InvStdDev outputs are not supported")
    imp.const_array(node, 1, "the scale")
    beta = imp.optional_input(node, 2)
    op = spike.LayerNormOp(
        imp.operand(x),
        imp.operand(imp.input(node, 1)),
        None if beta is None else imp.operand(beta),
        epsilon=attr_float(node, "epsilon", 1e-5),
    )
    _emit(imp, node, op, x.layout)


def _pool_attrs(node: onnx.NodeProto) -> tuple[list[int], list[int], list[int]]:
    attrs = attributes(node)
    _check_auto_pad(attrs)
    if attrs.get("ceil_mode", 0):
        raise NodeError("ceil_mode = 1 is not supported")
    if any(d != 1 for d in _ints(attrs.get("dilations"), [1, 1])):
        raise NodeError("dilated pooling is not supported")
    if attrs.get("storage_order", 0):
        raise NodeError("storage_order = 1 is not supported")
    kernel = _ints(attrs.get("kernel_shape"), [])
    if len(kernel) != 2:
        raise NodeError("only 2-D pooling is supported")
    return kernel, _ints(attrs.get("strides"), [1, 1]), _ints(attrs.get("pads"), [0, 0, 0, 0])


@converts("MaxPool")
def maxpool(imp: Importer, node: onnx.NodeProto) -> None:
    if len([o for o in node.output if o]) > 1:
        raise NodeError("the Indices output is not supported")
    x = imp.activation(node, 0, "the input")
    _spatial_layout(x, "MaxPool")
    kernel, strides, pads = _pool_attrs(node)
    op = spike.MaxPoolOp(imp.operand(x), kernel=kernel, strides=strides, pads=pads)
    _emit(imp, node, op, x.layout)


@converts("AveragePool")
def avgpool(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.activation(node, 0, "the input")
    _spatial_layout(x, "AveragePool")
    kernel, strides, pads = _pool_attrs(node)
    include = bool(attributes(node).get("count_include_pad", 0))
    op = spike.AvgPoolOp(
        imp.operand(x), kernel=kernel, strides=strides, pads=pads, count_include_pad=include
    )
    _emit(imp, node, op, x.layout)


@converts("GlobalAveragePool")
def global_avgpool(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.activation(node, 0, "the input")
    _spatial_layout(x, "GlobalAveragePool")
    rank = len(x.ir_shape())
    op = spike.ReduceMeanOp(imp.operand(x), axes=[rank - 2, rank - 1], keepdims=True)
    _emit(imp, node, op, x.layout)


# -- reductions ------------------------------------------------------------------------------

_REDUCE: dict[str, type[spike.ReduceSumOp | spike.ReduceMeanOp | spike.ReduceMaxOp]] = {
    "ReduceSum": spike.ReduceSumOp,
    "ReduceMean": spike.ReduceMeanOp,
    "ReduceMax": spike.ReduceMaxOp,
}


@converts("ReduceSum", "ReduceMean", "ReduceMax")
def reduce(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = attributes(node)
    x = imp.activation(node, 0, "the input")
    keepdims = bool(attrs.get("keepdims", 1))  # 0 or 1 by now: onnx_check.canonical_flags
    if len(node.input) > 1 and node.input[1]:
        axes = [int(a) for a in imp.const_array(node, 1, "axes").reshape(-1)]
    else:
        axes = _ints(attrs.get("axes"), [])
    if not axes:
        if attrs.get("noop_with_empty_axes", 0):
            imp.values[node.output[0]] = x
            return
        raise NodeError("reducing over all axes would mix time and batch")
    ir_axes = [x.ir_axis(a) for a in axes]
    layout = x.layout
    if layout is Layout.TIME and 0 in ir_axes:
        if keepdims or 1 in ir_axes:
            raise NodeError("a reduction over time must drop the time axis (keepdims = 0)")
        layout = Layout.STATIC
        for a in ir_axes:
            if a != 0:
                x.check_not_time_or_batch(a)
    else:
        for a in ir_axes:
            x.check_not_time_or_batch(a)
    op = _REDUCE[node.op_type](imp.operand(x), axes=ir_axes, keepdims=keepdims)
    _emit(imp, node, op, layout)


# -- data movement ---------------------------------------------------------------------------


def _reshape_to(
    imp: Importer, node: onnx.NodeProto, x: Value, target: list[int], allowzero: bool = False
) -> None:
    """Reshape with ONNX semantics (0 copies the input's size unless `allowzero`)."""
    if x.is_const:
        assert x.array is not None
        array = np.asarray(x.array)
        sizes = [array.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
        imp.define_const(node.output[0], array.reshape(sizes))
        return
    layout, shape = reshape_target(x, target, imp.timesteps, imp.batch, allowzero)
    assert x.ssa is not None
    if tuple(shape) == x.ir_shape():
        imp.values[node.output[0]] = Value(layout, ssa=x.ssa, name=node.output[0])
        return
    _emit(imp, node, spike.ReshapeOp(x.ssa, shape), layout)


@converts("Reshape")
def reshape(imp: Importer, node: onnx.NodeProto) -> None:
    target = [int(d) for d in imp.const_array(node, 1, "the shape").reshape(-1)]
    allowzero = bool(attr_int(node, "allowzero", 0))
    _reshape_to(imp, node, imp.input(node, 0), target, allowzero)


@converts("Flatten")
def flatten(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.input(node, 0)
    axis = attr_int(node, "axis", 1)
    _reshape_to(imp, node, x, flatten_target(x.onnx_shape(), axis))


def _axes(imp: Importer, node: onnx.NodeProto) -> list[int]:
    if len(node.input) > 1 and node.input[1]:
        return [int(a) for a in imp.const_array(node, 1, "axes").reshape(-1)]
    return _ints(attributes(node).get("axes"), [])


@converts("Squeeze")
def squeeze(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.input(node, 0)
    _reshape_to(imp, node, x, squeeze_target(x.onnx_shape(), _axes(imp, node)))


@converts("Unsqueeze")
def unsqueeze(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.input(node, 0)
    _reshape_to(imp, node, x, unsqueeze_target(x.onnx_shape(), _axes(imp, node)))


@converts("Transpose")
def transpose(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.input(node, 0)
    rank = len(x.onnx_shape())
    perm = _ints(attributes(node).get("perm"), list(reversed(range(rank))))
    if x.is_const:
        assert x.array is not None
        imp.define_const(node.output[0], np.ascontiguousarray(np.asarray(x.array).transpose(perm)))
        if perm == [1, 0] and node.input[0] in imp.tensors:
            imp.transposed[node.output[0]] = node.input[0]
        return
    if x.layout is Layout.FOLDED:
        if perm[0] != 0:
            raise NodeError("a transpose of a time-folded tensor must keep axis 0 [T*B] first")
        ir_perm = [0, 1, *[p + 1 for p in perm[1:]]]
    else:
        fixed = 2 if x.layout is Layout.TIME else 1
        if perm[:fixed] != list(range(fixed)):
            raise NodeError(f"perm {perm} moves the time or batch axis")
        ir_perm = perm
    if ir_perm == list(range(len(ir_perm))):
        imp.values[node.output[0]] = x
        return
    assert x.ssa is not None
    _emit(imp, node, spike.TransposeOp(x.ssa, ir_perm), x.layout)


@converts("Concat")
def concat(imp: Importer, node: onnx.NodeProto) -> None:
    values = [imp.value(name) for name in node.input]
    axis = attr_int(node, "axis")
    layout = _joint_layout(values)
    if layout is Layout.CONST:
        arrays = [np.asarray(v.array) for v in values]
        imp.define_const(node.output[0], np.concatenate(arrays, axis=axis))
        return
    first = next(v for v in values if not v.is_const)
    ir_axis = first.ir_axis(axis)
    first.check_not_time_or_batch(ir_axis)
    operands: list[SSAValue] = []
    for v in values:
        if v.is_const:
            raise NodeError("joining a constant with activations is not supported")
        operands.append(imp.operand(v))
    _emit(imp, node, spike.ConcatOp(operands, ir_axis), layout)


@converts("Slice")
def slice_(imp: Importer, node: onnx.NodeProto) -> None:
    """A constant range of one non-time, non-batch axis, as the middle piece of a `spike.split`
    (which keeps spikes spikes, as fused Q/K/V neurons sliced apart need)."""
    x = imp.activation(node, 0, "the input")
    bounds = [
        [int(b) for b in imp.const_array(node, i, what).reshape(-1)]
        if len(node.input) > i and node.input[i]
        else None
        for i, what in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps"))
    ]
    starts, ends, axes, steps = bounds
    if starts is None or ends is None:
        raise NodeError("starts and ends (inputs 1 and 2) are needed")
    spec = slice_spec(starts, ends, axes, steps, x.onnx_shape())
    taken = spec.single() if spec is not None else None
    if taken is None:
        raise NodeError("only a range of one axis with step 1 has a dedicated op")
    axis, start, stop = taken
    ir_axis = x.ir_axis(axis)
    x.check_not_time_or_batch(ir_axis)
    length = x.ir_shape()[ir_axis]
    if stop <= start:
        raise NodeError("the slice is empty")
    if start == 0 and stop == length:
        imp.define(node, 0, imp.operand(x), x.layout)
        return
    before, after = start, length - stop
    sizes = [size for size in (before, stop - start, after) if size > 0]
    op = spike.SplitOp(imp.operand(x), ir_axis, sizes)
    imp.insert(op)
    imp.define(node, 0, op.results[1 if before else 0], x.layout)


@converts("Split")
def split(imp: Importer, node: onnx.NodeProto) -> None:
    x = imp.activation(node, 0, "the input")
    attrs = attributes(node)
    axis = attr_int(node, "axis", 0)
    ir_axis = x.ir_axis(axis)
    x.check_not_time_or_batch(ir_axis)
    length = x.ir_shape()[ir_axis]
    outputs = len(node.output)
    if len(node.input) > 1 and node.input[1]:
        sizes = [int(s) for s in imp.const_array(node, 1, "split").reshape(-1)]
    elif "split" in attrs:
        sizes = _ints(attrs["split"], [])
    else:
        chunk = -(-length // outputs)
        sizes = [chunk] * (outputs - 1) + [length - chunk * (outputs - 1)]
    if len(sizes) != outputs:
        raise NodeError(f"{len(sizes)} split sizes for {outputs} outputs")
    _emit(imp, node, spike.SplitOp(imp.operand(x), ir_axis, sizes), x.layout)
