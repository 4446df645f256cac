"""Stateless layers with weights, normalisation and pooling.

They act on every (t, b) item independently, so they accept time-major activations `[T, B, ...]`
and time-less ones `[B, ...]` alike; the axes they name count from the end (features, channels and
the spatial axes are trailing). Inputs may be spike trains or reals; results are reals, except
max-pooling of spikes, which is a spike train (the OR of the window).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from xdsl.dialects.builtin import (
    BoolAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    TensorType,
    UnitAttr,
    f32,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.types import (
    ACTIVATION,
    DYNAMIC,
    ENCODABLE,
    Shape,
    activation_type,
    check_real,
    check_result,
    dims_compatible,
    format_shape,
    is_spike,
    normalize_axis,
    real_type,
    shape_of,
)

Activation = ACTIVATION

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


def ints(attr: DenseArrayBase) -> tuple[int, ...]:
    """The values of an `array<i64: ...>` property."""
    return tuple(int(v) for v in cast("DenseArrayBase[IntegerType]", attr).get_values())


def window_output(
    size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1
) -> int:
    """Output length of a convolution or pooling window along one axis (ONNX, floor mode)."""
    if size == DYNAMIC:
        return DYNAMIC
    return (size + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1


def _check_window(
    op_name: str, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int]
) -> None:
    if len(kernel) != 2 or len(strides) != 2 or len(pads) != 4:
        raise VerifyException(
            f"{op_name}: kernel and strides need 2 values and pads 4 (top, left, bottom, right), "
            f"got {list(kernel)}, {list(strides)}, {list(pads)}"
        )
    if min(kernel) < 1 or min(strides) < 1 or min(pads) < 0:
        raise VerifyException(f"{op_name}: kernel and strides must be >= 1 and pads >= 0")
    if pads[0] >= kernel[0] or pads[2] >= kernel[0] or pads[1] >= kernel[1] or pads[3] >= kernel[1]:
        raise VerifyException(f"{op_name}: padding must be smaller than the kernel")


def _window_shape(
    shape: Shape,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int] = (1, 1),
) -> Shape:
    h = window_output(shape[-2], kernel[0], strides[0], pads[0], pads[2], dilations[0])
    w = window_output(shape[-1], kernel[1], strides[1], pads[1], pads[3], dilations[1])
    if (h != DYNAMIC and h < 1) or (w != DYNAMIC and w < 1):
        raise VerifyException(f"window {list(kernel)} does not fit the input {format_shape(shape)}")
    return (*shape[:-2], h, w)


@irdl_op_definition
class LinearOp(IRDLOperation):
    """Fully connected layer on the last axis (a 1×1 convolution over tokens is one too).

    numpy: `Y = X @ W + b` (`X @ W.T + b` with `transpose_weight`). With spike inputs every
    product is an accumulate of a weight row: the synaptic operations of an SNN.
    """

    name = "spike.linear"

    input = operand_def(ENCODABLE)
    """`X[..., D_in]`, spikes (dense or encoded) or reals."""

    weight = operand_def(TensorType)
    """`W[D_in, D_out]`, or `[D_out, D_in]` with `transpose_weight`."""

    bias = opt_operand_def(TensorType)
    """Optional `b[D_out]`."""

    output = result_def(TensorType)
    """`Y[..., D_out]`, real."""

    transpose_weight = opt_prop_def(UnitAttr)
    """Present when the weight is stored `[D_out, D_in]` (ONNX Gemm with transB = 1)."""

    traits = traits_def(Pure(), Computes("linear"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        bias: SSAValue | Operation | None = None,
        *,
        transpose_weight: bool = False,
    ) -> None:
        x, w = SSAValue.get(input), SSAValue.get(weight)
        out_features = shape_of(w)[0 if transpose_weight else 1]
        super().__init__(
            operands=[x, w, [] if bias is None else [SSAValue.get(bias)]],
            result_types=[real_type((*shape_of(x)[:-1], out_features))],
            properties={"transpose_weight": UnitAttr() if transpose_weight else None},
        )

    @property
    def features(self) -> tuple[int, int]:
        """(D_in, D_out)."""
        rows, cols = shape_of(self.weight)
        return (cols, rows) if self.transpose_weight else (rows, cols)

    def verify_(self) -> None:
        check_real(self.input, "spike.linear input")
        x_shape, w_shape = shape_of(self.input), shape_of(self.weight)
        if len(w_shape) != 2:
            raise VerifyException(f"spike.linear: weight must be 2-D, got {format_shape(w_shape)}")
        d_in, d_out = self.features
        if not x_shape or not dims_compatible(x_shape[-1], d_in):
            raise VerifyException(
                f"spike.linear: input {format_shape(x_shape)} has {x_shape[-1] if x_shape else 0} "
                f"features, the weight {format_shape(w_shape)} expects {d_in}"
            )
        if self.bias is not None and shape_of(self.bias) != (d_out,):
            raise VerifyException(
                f"spike.linear: bias must be [{d_out}], got {format_shape(shape_of(self.bias))}"
            )
        check_result(shape_of(self.output), (*x_shape[:-1], d_out), self.name)


@irdl_op_definition
class Conv2dOp(IRDLOperation):
    """2-D convolution over the last three axes `[C, H, W]` of each item (ONNX Conv semantics).

    numpy (per item): `Y[o, i, j] = b[o] + sum_{c, p, q} W[o, c, p, q] *
    Xpad[g*C_g + c, i*sh + p*dh, j*sw + q*dw]` for output channel o of group g.
    """

    name = "spike.conv2d"

    input = operand_def(ENCODABLE)
    """`X[..., C, H, W]`."""

    weight = operand_def(TensorType)
    """`W[C_out, C / group, kh, kw]`."""

    bias = opt_operand_def(TensorType)
    """Optional `b[C_out]`."""

    output = result_def(TensorType)
    """`Y[..., C_out, H', W']`, real."""

    strides = prop_def(DenseArrayBase)
    """(sh, sw)."""

    pads = prop_def(DenseArrayBase)
    """(top, left, bottom, right), zero padding."""

    dilations = prop_def(DenseArrayBase)
    """(dh, dw)."""

    group = prop_def(IntegerAttr)
    """Number of channel groups (C for a depthwise convolution)."""

    traits = traits_def(Pure(), Computes("conv2d"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        bias: SSAValue | Operation | None = None,
        *,
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        dilations: Sequence[int] = (1, 1),
        group: int = 1,
    ) -> None:
        x, w = SSAValue.get(input), SSAValue.get(weight)
        w_shape = shape_of(w)
        out = _window_shape(shape_of(x), w_shape[2:], strides, pads, dilations)
        out = (*out[:-3], w_shape[0], *out[-2:])
        super().__init__(
            operands=[x, w, [] if bias is None else [SSAValue.get(bias)]],
            result_types=[real_type(out)],
            properties={
                "strides": i64_array(strides),
                "pads": i64_array(pads),
                "dilations": i64_array(dilations),
                "group": IntegerAttr(group, i64),
            },
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.conv2d input")
        x_shape, w_shape = shape_of(self.input), shape_of(self.weight)
        group = self.group.value.data
        if len(x_shape) < 3 or len(w_shape) != 4:
            raise VerifyException(
                f"spike.conv2d: input must be [..., C, H, W] and weight [C_out, C/group, kh, kw], "
                f"got {format_shape(x_shape)} and {format_shape(w_shape)}"
            )
        if group < 1 or x_shape[-3] % group or w_shape[0] % group:
            raise VerifyException(
                f"spike.conv2d: group {group} must divide input channels {x_shape[-3]} and "
                f"output channels {w_shape[0]}"
            )
        if w_shape[1] * group != x_shape[-3]:
            raise VerifyException(
                f"spike.conv2d: weight {format_shape(w_shape)} expects {w_shape[1] * group} input "
                f"channels, the input has {x_shape[-3]}"
            )
        if self.bias is not None and shape_of(self.bias) != (w_shape[0],):
            raise VerifyException(f"spike.conv2d: bias must be [{w_shape[0]}]")
        strides, pads, dilations = ints(self.strides), ints(self.pads), ints(self.dilations)
        _check_window(self.name, w_shape[2:], strides, pads)
        if len(dilations) != 2 or min(dilations) < 1:
            raise VerifyException("spike.conv2d: dilations need 2 values >= 1")
        out = _window_shape(x_shape, w_shape[2:], strides, pads, dilations)
        check_result(shape_of(self.output), (*out[:-3], w_shape[0], *out[-2:]), self.name)


@irdl_op_definition
class MatMulOp(IRDLOperation):
    """Product of two activations (both operands dynamic), batched over the leading axes.

    numpy: `Y = A @ B` with `A[..., M, K]`, `B[..., K, N]` and equal leading axes.
    """

    name = "spike.matmul"

    lhs = operand_def(ENCODABLE)
    """`A[..., M, K]`."""

    rhs = operand_def(ENCODABLE)
    """`B[..., K, N]`."""

    output = result_def(TensorType)
    """`Y[..., M, N]`, real."""

    traits = traits_def(Pure(), Computes("matmul"))
    assembly_format = _FORMAT

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation) -> None:
        a, b = SSAValue.get(lhs), SSAValue.get(rhs)
        out = (*shape_of(a)[:-1], shape_of(b)[-1])
        super().__init__(operands=[a, b], result_types=[real_type(out)])

    def verify_(self) -> None:
        a, b = shape_of(self.lhs), shape_of(self.rhs)
        if len(a) < 2 or len(a) != len(b):
            raise VerifyException(
                f"spike.matmul: operands must have the same rank >= 2, got "
                f"{format_shape(a)} and {format_shape(b)}"
            )
        leading_ok = all(dims_compatible(x, y) for x, y in zip(a[:-2], b[:-2], strict=True))
        if not leading_ok or not dims_compatible(a[-1], b[-2]):
            raise VerifyException(
                f"spike.matmul: cannot multiply {format_shape(a)} by {format_shape(b)}"
            )
        check_result(shape_of(self.output), (*a[:-1], b[-1]), self.name)


@irdl_op_definition
class BatchNormOp(IRDLOperation):
    """Batch normalisation with frozen statistics (ONNX BatchNormalization, inference mode).

    numpy: `Y = (X - mean) / sqrt(var + epsilon) * scale + bias`, the four `[C]` vectors broadcast
    along `axis`.
    """

    name = "spike.batch_norm"

    input = operand_def(Activation)
    """`X`, with C channels on `axis`."""

    scale = operand_def(TensorType)
    """γ `[C]`."""

    bias = operand_def(TensorType)
    """β `[C]`."""

    mean = operand_def(TensorType)
    """Running mean `[C]`."""

    var = operand_def(TensorType)
    """Running variance `[C]`."""

    output = result_def(TensorType)
    """`Y`, same shape, real."""

    epsilon = prop_def(FloatAttr)
    """Added to the variance."""

    axis = prop_def(IntegerAttr)
    """The channel axis of the input (non-negative)."""

    traits = traits_def(Pure(), Computes("batch_norm"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        input: SSAValue | Operation,
        scale: SSAValue | Operation,
        bias: SSAValue | Operation,
        mean: SSAValue | Operation,
        var: SSAValue | Operation,
        *,
        axis: int,
        epsilon: float = 1e-5,
    ) -> None:
        x = SSAValue.get(input)
        super().__init__(
            operands=[x, scale, bias, mean, var],
            result_types=[real_type(shape_of(x))],
            properties={"epsilon": FloatAttr(epsilon, f32), "axis": IntegerAttr(axis, i64)},
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.batch_norm input")
        shape = shape_of(self.input)
        axis = self.axis.value.data
        if not 0 <= axis < len(shape):
            raise VerifyException(
                f"spike.batch_norm: axis {axis} out of range for {format_shape(shape)}"
            )
        channels = shape[axis]
        for name, value in (
            ("scale", self.scale),
            ("bias", self.bias),
            ("mean", self.mean),
            ("var", self.var),
        ):
            if shape_of(value) != (channels,):
                raise VerifyException(
                    f"spike.batch_norm: {name} must be [{channels}] (channels of axis {axis}), "
                    f"got {format_shape(shape_of(value))}"
                )
        check_result(shape_of(self.output), shape, self.name)


@irdl_op_definition
class LayerNormOp(IRDLOperation):
    """Layer normalisation over the last axis (ONNX LayerNormalization with axis = -1).

    numpy: `m = X.mean(-1); d = X - m; v = (d * d).mean(-1); Y = d / sqrt(v + epsilon) * gamma
    + beta`.
    """

    name = "spike.layer_norm"

    input = operand_def(Activation)
    """`X[..., D]`."""

    gamma = operand_def(TensorType)
    """Scale `[D]`."""

    beta = opt_operand_def(TensorType)
    """Optional shift `[D]`."""

    output = result_def(TensorType)
    """`Y[..., D]`, real."""

    epsilon = prop_def(FloatAttr)
    """Added to the variance."""

    traits = traits_def(Pure(), Computes("layer_norm"))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self,
        input: SSAValue | Operation,
        gamma: SSAValue | Operation,
        beta: SSAValue | Operation | None = None,
        *,
        epsilon: float = 1e-5,
    ) -> None:
        x = SSAValue.get(input)
        super().__init__(
            operands=[x, gamma, [] if beta is None else [SSAValue.get(beta)]],
            result_types=[real_type(shape_of(x))],
            properties={"epsilon": FloatAttr(epsilon, f32)},
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.layer_norm input")
        shape = shape_of(self.input)
        if not shape:
            raise VerifyException("spike.layer_norm: input must have at least one axis")
        features = shape[-1]
        for name, value in (("gamma", self.gamma), ("beta", self.beta)):
            if value is not None and shape_of(value) != (features,):
                raise VerifyException(
                    f"spike.layer_norm: {name} must be [{features}], "
                    f"got {format_shape(shape_of(value))}"
                )
        check_result(shape_of(self.output), shape, self.name)


class PoolOp(IRDLOperation):
    """Shared fields of the 2-D pooling ops: a window over the last two axes."""

    input = operand_def(ENCODABLE)
    """`X[..., H, W]`."""

    output = result_def(Activation)
    """`Y[..., H', W']`."""

    kernel = prop_def(DenseArrayBase)
    """(kh, kw)."""

    strides = prop_def(DenseArrayBase)
    """(sh, sw)."""

    pads = prop_def(DenseArrayBase)
    """(top, left, bottom, right)."""

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def _window(self) -> Shape:
        kernel, strides, pads = ints(self.kernel), ints(self.strides), ints(self.pads)
        _check_window(self.name, kernel, strides, pads)
        shape = shape_of(self.input)
        if len(shape) < 3:
            raise VerifyException(f"{self.name}: input must be [..., H, W] with a batch axis")
        return _window_shape(shape, kernel, strides, pads)


@irdl_op_definition
class MaxPoolOp(PoolOp):
    """Max pooling; on spikes it is the OR of the window, so spikes stay spikes.

    numpy: `Y[..., i, j] = max(Xpad[..., i*sh : i*sh + kh, j*sw : j*sw + kw])`, padding ignored.
    """

    name = "spike.maxpool"

    traits = traits_def(Pure(), Computes("maxpool"))

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        kernel: Sequence[int],
        strides: Sequence[int],
        pads: Sequence[int] = (0, 0, 0, 0),
    ) -> None:
        x = SSAValue.get(input)
        out = _window_shape(shape_of(x), kernel, strides, pads)
        super().__init__(
            operands=[x],
            result_types=[activation_type(out, is_spike(x))],
            properties={
                "kernel": i64_array(kernel),
                "strides": i64_array(strides),
                "pads": i64_array(pads),
            },
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.maxpool input")
        if is_spike(self.input) != is_spike(self.output):
            raise VerifyException("spike.maxpool: result must be spikes exactly when the input is")
        check_result(shape_of(self.output), self._window(), self.name)


@irdl_op_definition
class AvgPoolOp(PoolOp):
    """Average pooling.

    numpy: `Y[..., i, j] = sum(window) / n`, n = kh * kw with `count_include_pad`, else the number
    of non-padding positions in the window.
    """

    name = "spike.avgpool"

    traits = traits_def(Pure(), Computes("avgpool"))

    count_include_pad = prop_def(BoolAttr)
    """Whether padding positions count in the divisor."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        kernel: Sequence[int],
        strides: Sequence[int],
        pads: Sequence[int] = (0, 0, 0, 0),
        count_include_pad: bool = False,
    ) -> None:
        x = SSAValue.get(input)
        out = _window_shape(shape_of(x), kernel, strides, pads)
        super().__init__(
            operands=[x],
            result_types=[real_type(out)],
            properties={
                "kernel": i64_array(kernel),
                "strides": i64_array(strides),
                "pads": i64_array(pads),
                "count_include_pad": BoolAttr.from_bool(count_include_pad),
            },
        )

    def verify_(self) -> None:
        check_real(self.input, "spike.avgpool input")
        if is_spike(self.output):
            raise VerifyException("spike.avgpool: the result is real, not a spike train")
        check_result(shape_of(self.output), self._window(), self.name)


def check_axes(axes: Sequence[int], rank: int, op_name: str) -> list[int]:
    """Normalised, sorted, distinct axes."""
    normal = sorted({normalize_axis(a, rank, op_name) for a in axes})
    if len(normal) != len(axes):
        raise VerifyException(f"{op_name}: repeated axis in {list(axes)}")
    return normal
