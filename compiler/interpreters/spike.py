"""Reference interpreter of the `spike` dialect, on xDSL's interpreter framework.

Each `@impl` unpacks an op's properties and calls the numpy kernel in `kernels`. Stochastic ops
without uniform tables draw them from `random.uniform_tables`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import BoolAttr, DenseArrayBase, FloatAttr, IntegerAttr
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)

from compiler.dialects import spike
from compiler.dialects.spike.layers import ints
from compiler.dialects.spike.types import EncodedSpikesType, ResetMode
from compiler.ir.weights import WeightStore, dense_to_array
from runtime import kernels, onnx_region
from runtime.encoded import EncodedSpikes
from runtime.random import uniform_tables


def _float(attr: FloatAttr) -> float:
    return float(attr.value.data)


def _int(attr: IntegerAttr) -> int:
    return int(attr.value.data)


def _bool(attr: BoolAttr | IntegerAttr) -> bool:
    return bool(attr.value.data)


def _ints(attr: DenseArrayBase) -> tuple[int, ...]:
    return ints(attr)


def _recurrent(args: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A neuron's recurrent weight and bias operands, if any."""
    if not args:
        return None
    return args[0], args[1] if len(args) > 1 else None


def _soft(op: Any) -> bool:
    return op.reset.data == ResetMode.SOFT


def _lif_args(op: Any) -> tuple[float, float, float, bool, bool]:
    """The LIF properties of `spike.lif`, `spike.sdsa` and `spike.token_attention` (declared by
    `lif_properties`), in the kernels' order."""
    return (
        _float(op.tau),
        _float(op.v_threshold),
        _float(op.v_reset),
        _bool(op.decay_input),
        _soft(op),
    )


Impl = Callable[[Any, Interpreter, Any, PythonValues], PythonValues]


def dense_args(run: Impl) -> Impl:
    """Give an op's implementation dense arrays for its encoded operands: the reference semantics
    of an op on encoded spikes is its semantics on the spikes they encode."""

    @functools.wraps(run)
    def wrapper(self: Any, interp: Interpreter, op: Any, args: PythonValues) -> PythonValues:
        dense = tuple(a.to_dense() if isinstance(a, EncodedSpikes) else a for a in args)
        return run(self, interp, op, dense)

    return wrapper


def encode_results(run: Impl) -> Impl:
    """Encode the results whose type is `!spike.encoded` (a neuron that emits addresses)."""

    @functools.wraps(run)
    def wrapper(self: Any, interp: Interpreter, op: Any, args: PythonValues) -> PythonValues:
        results = run(self, interp, op, args)
        return tuple(
            EncodedSpikes.from_dense(r, t.address_axes.data)
            if isinstance(t := value.type, EncodedSpikesType)
            else r
            for r, value in zip(results, op.results, strict=True)
        )

    return wrapper


@register_impls
@dataclass
class SpikeFunctions(InterpreterFunctions):
    """numpy implementations of every `spike` op."""

    weights: WeightStore

    # -- structure -------------------------------------------------------------------------

    @impl(spike.WeightOp)
    def run_weight(self, interp: Interpreter, op: spike.WeightOp, args: PythonValues):
        return (self.weights[op.symbol],)

    @impl(spike.ConstantOp)
    def run_constant(self, interp: Interpreter, op: spike.ConstantOp, args: PythonValues):
        return (dense_to_array(op.value),)

    # -- neurons ---------------------------------------------------------------------------

    @impl(spike.LIFOp)
    @encode_results
    @dense_args
    def run_lif(self, interp: Interpreter, op: spike.LIFOp, args: PythonValues):
        decay = None if op.decay is None else _float(op.decay)
        return (
            kernels.lif(
                args[0],
                *_lif_args(op),
                decay,
            ),
        )

    @impl(spike.IFOp)
    @encode_results
    @dense_args
    def run_if(self, interp: Interpreter, op: spike.IFOp, args: PythonValues):
        return (
            kernels.if_neuron(
                args[0],
                _float(op.v_threshold),
                _float(op.v_reset),
                _soft(op),
                op.strict is not None,
            ),
        )

    @impl(spike.LeakyOp)
    @encode_results
    @dense_args
    def run_leaky(self, interp: Interpreter, op: spike.LeakyOp, args: PythonValues):
        mechanism = op.reset_mechanism.data.value
        alpha = None if op.alpha is None else _float(op.alpha)
        return (
            kernels.leaky(
                args[0],
                _float(op.beta),
                _float(op.threshold),
                mechanism,
                alpha,
                op.immediate_reset is None,
                _recurrent(args[1:]),
            ),
        )

    @impl(spike.CubaLIFOp)
    @encode_results
    @dense_args
    def run_cuba_lif(self, interp: Interpreter, op: spike.CubaLIFOp, args: PythonValues):
        return (
            kernels.cuba_lif(
                args[0],
                _float(op.dt_tau_mem_inv),
                _float(op.dt_tau_syn_inv),
                _float(op.v_leak),
                _float(op.v_threshold),
                _float(op.v_reset),
            ),
        )

    @impl(spike.LIFBoxOp)
    @encode_results
    @dense_args
    def run_lif_box(self, interp: Interpreter, op: spike.LIFBoxOp, args: PythonValues):
        return (
            kernels.lif_box(
                args[0],
                _float(op.dt_tau_mem_inv),
                _float(op.v_leak),
                _float(op.v_threshold),
                _float(op.v_reset),
            ),
        )

    @impl(spike.LIOp)
    @dense_args
    def run_li(self, interp: Interpreter, op: spike.LIOp, args: PythonValues):
        v_leak = None if op.v_leak is None else _float(op.v_leak)
        return (kernels.leaky_integrator(args[0], _float(op.dt_tau_mem_inv), v_leak),)

    @impl(spike.DelayOp)
    @encode_results
    @dense_args
    def run_delay(self, interp: Interpreter, op: spike.DelayOp, args: PythonValues):
        return (kernels.delay(args[0], _int(op.steps)),)

    @impl(spike.ThresholdOp)
    @encode_results
    @dense_args
    def run_threshold(self, interp: Interpreter, op: spike.ThresholdOp, args: PythonValues):
        return (kernels.threshold(args[0], _float(op.threshold)),)

    @impl(spike.BernoulliOp)
    @encode_results
    @dense_args
    def run_bernoulli(self, interp: Interpreter, op: spike.BernoulliOp, args: PythonValues):
        x = args[0]
        if len(args) == 2:
            uniform = args[1]
        else:
            (uniform,) = uniform_tables(_int(op.seed), _int(op.stream), [x.shape])
        return (kernels.bernoulli(x, uniform),)

    # -- layers ----------------------------------------------------------------------------

    @impl(spike.LinearOp)
    @dense_args
    def run_linear(self, interp: Interpreter, op: spike.LinearOp, args: PythonValues):
        bias = args[2] if len(args) == 3 else None
        return (kernels.linear(args[0], args[1], bias, op.transpose_weight is not None),)

    @impl(spike.Conv2dOp)
    @dense_args
    def run_conv2d(self, interp: Interpreter, op: spike.Conv2dOp, args: PythonValues):
        bias = args[2] if len(args) == 3 else None
        return (
            kernels.conv2d(
                args[0],
                args[1],
                bias,
                _ints(op.strides),
                _ints(op.pads),
                _ints(op.dilations),
                _int(op.group),
            ),
        )

    @impl(spike.MatMulOp)
    @dense_args
    def run_matmul(self, interp: Interpreter, op: spike.MatMulOp, args: PythonValues):
        return (kernels.matmul(args[0], args[1]),)

    @impl(spike.BatchNormOp)
    def run_batch_norm(self, interp: Interpreter, op: spike.BatchNormOp, args: PythonValues):
        x, scale, bias, mean, var = args
        return (kernels.batch_norm(x, scale, bias, mean, var, _float(op.epsilon), _int(op.axis)),)

    @impl(spike.LayerNormOp)
    def run_layer_norm(self, interp: Interpreter, op: spike.LayerNormOp, args: PythonValues):
        beta = args[2] if len(args) == 3 else None
        return (kernels.layer_norm(args[0], args[1], beta, _float(op.epsilon)),)

    @impl(spike.MaxPoolOp)
    @dense_args
    def run_maxpool(self, interp: Interpreter, op: spike.MaxPoolOp, args: PythonValues):
        return (kernels.maxpool(args[0], _ints(op.kernel), _ints(op.strides), _ints(op.pads)),)

    @impl(spike.AvgPoolOp)
    @dense_args
    def run_avgpool(self, interp: Interpreter, op: spike.AvgPoolOp, args: PythonValues):
        return (
            kernels.avgpool(
                args[0],
                _ints(op.kernel),
                _ints(op.strides),
                _ints(op.pads),
                _bool(op.count_include_pad),
            ),
        )

    # -- elementwise and reductions --------------------------------------------------------

    @impl(spike.AddOp)
    @dense_args
    def run_add(self, interp: Interpreter, op: spike.AddOp, args: PythonValues):
        return (args[0] + args[1],)

    @impl(spike.SubOp)
    @dense_args
    def run_sub(self, interp: Interpreter, op: spike.SubOp, args: PythonValues):
        return (args[0] - args[1],)

    @impl(spike.MulOp)
    @dense_args
    def run_mul(self, interp: Interpreter, op: spike.MulOp, args: PythonValues):
        return (args[0] * args[1],)

    @impl(spike.DivOp)
    @dense_args
    def run_div(self, interp: Interpreter, op: spike.DivOp, args: PythonValues):
        return (args[0] / args[1],)

    @impl(spike.ReduceSumOp)
    @dense_args
    def run_reduce_sum(self, interp: Interpreter, op: spike.ReduceSumOp, args: PythonValues):
        return (args[0].sum(axis=_ints(op.axes), keepdims=_bool(op.keepdims)),)

    @impl(spike.ReduceMeanOp)
    @dense_args
    def run_reduce_mean(self, interp: Interpreter, op: spike.ReduceMeanOp, args: PythonValues):
        return (args[0].mean(axis=_ints(op.axes), keepdims=_bool(op.keepdims)),)

    @impl(spike.ReduceMaxOp)
    @dense_args
    def run_reduce_max(self, interp: Interpreter, op: spike.ReduceMaxOp, args: PythonValues):
        return (args[0].max(axis=_ints(op.axes), keepdims=_bool(op.keepdims)),)

    # -- data movement ---------------------------------------------------------------------

    @impl(spike.ReshapeOp)
    def run_reshape(self, interp: Interpreter, op: spike.ReshapeOp, args: PythonValues):
        return (args[0].reshape(_ints(op.shape)),)

    @impl(spike.TransposeOp)
    def run_transpose(self, interp: Interpreter, op: spike.TransposeOp, args: PythonValues):
        return (np.ascontiguousarray(args[0].transpose(_ints(op.perm))),)

    @impl(spike.ConcatOp)
    def run_concat(self, interp: Interpreter, op: spike.ConcatOp, args: PythonValues):
        return (np.concatenate(args, axis=_int(op.axis)),)

    @impl(spike.SplitOp)
    def run_split(self, interp: Interpreter, op: spike.SplitOp, args: PythonValues):
        bounds = np.cumsum(_ints(op.sizes))[:-1]
        return tuple(np.split(args[0], bounds, axis=_int(op.axis)))

    # -- attention -------------------------------------------------------------------------

    @impl(spike.SSAOp)
    @dense_args
    def run_ssa(self, interp: Interpreter, op: spike.SSAOp, args: PythonValues):
        q, k, v = args
        return (kernels.ssa(q, k, v, op.num_heads, _float(op.scale)),)

    @impl(spike.SDSAOp)
    @dense_args
    def run_sdsa(self, interp: Interpreter, op: spike.SDSAOp, args: PythonValues):
        q, k, v = args
        return (
            kernels.sdsa(
                q,
                k,
                v,
                *_lif_args(op),
            ),
        )

    @impl(spike.TokenAttentionOp)
    @dense_args
    def run_token_attention(
        self, interp: Interpreter, op: spike.TokenAttentionOp, args: PythonValues
    ):
        q, k = args
        return (
            kernels.token_attention(
                q,
                k,
                op.num_heads,
                *_lif_args(op),
            ),
        )

    @impl(spike.StochasticAttentionOp)
    @dense_args
    def run_stochastic_attention(
        self, interp: Interpreter, op: spike.StochasticAttentionOp, args: PythonValues
    ):
        q, k, v = args[:3]
        heads = op.num_heads
        (h0, total_heads), (q0, total_queries) = op.ranges()
        if len(args) == 5:
            u1, u2 = args[3], args[4]
        else:
            t, b, nq, d = q.shape
            nk = k.shape[2]
            full1, full2 = uniform_tables(
                _int(op.seed),
                _int(op.stream),
                [
                    (t, b, total_heads, total_queries, nk),
                    (t, b, total_heads, total_queries, d // heads),
                ],
            )
            u1 = full1[:, :, h0 : h0 + heads, q0 : q0 + nq]
            u2 = full2[:, :, h0 : h0 + heads, q0 : q0 + nq]
        return (
            kernels.stochastic_attention(
                q,
                k,
                v,
                u1,
                u2,
                heads,
                _float(op.c1),
                _float(op.c2),
                _bool(op.mask_diagonal),
                q0,
            ),
        )

    # -- mixture of experts ----------------------------------------------------------------

    @impl(spike.RouteTopKOp)
    def run_route_topk(self, interp: Interpreter, op: spike.RouteTopKOp, args: PythonValues):
        return (kernels.route_topk(args[0], _int(op.k), op.softmax_weights(), op.renormalised()),)

    @impl(spike.MoEOp)
    def run_moe(self, interp: Interpreter, op: spike.MoEOp, args: PythonValues):
        x, gates = args
        outputs = []
        for e, region in enumerate(op.experts):
            (y,) = interp.run_ssacfg_region(region, (kernels.dispatch(x, gates, e),), "expert")
            outputs.append(y)
        return (kernels.combine(gates, outputs),)

    @impl(spike.EncodeOp)
    def run_encode(self, interp: Interpreter, op: spike.EncodeOp, args: PythonValues):
        assert isinstance(op.output.type, EncodedSpikesType)
        return (EncodedSpikes.from_dense(args[0], op.output.type.address_axes.data),)

    @impl(spike.DecodeOp)
    def run_decode(self, interp: Interpreter, op: spike.DecodeOp, args: PythonValues):
        return (args[0].to_dense(),)

    @impl_terminator(spike.YieldOp)
    def run_yield(
        self, interp: Interpreter, op: spike.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()

    @impl(spike.DispatchOp)
    def run_dispatch(self, interp: Interpreter, op: spike.DispatchOp, args: PythonValues):
        return (kernels.dispatch(args[0], args[1], _int(op.expert), op.token_range()),)

    @impl(spike.CombineOp)
    def run_combine(self, interp: Interpreter, op: spike.CombineOp, args: PythonValues):
        return (kernels.combine(args[0], args[1:], op.input_experts(), op.input_tokens()),)

    # -- generic regions -------------------------------------------------------------------

    @impl(spike.OnnxRegionOp)
    @dense_args
    def run_onnx_region(self, interp: Interpreter, op: spike.OnnxRegionOp, args: PythonValues):
        return tuple(onnx_region.region_outputs(op.body.data, args))
