"""Reference interpreter of the `spike` dialect, on xDSL's interpreter framework.

An op that computes (trait `Computes`) runs its entry of the runtime's semantics
(`runtime.ops.run_op`, the numpy kernels every target's instructions run too) on its operands,
with its properties as attributes (`op_attributes`): the interpreter holds no semantics of its
own. Only the structural ops are implemented here: weights, constants, and the MoE layer's
expert regions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from xdsl.ir import Operation

from compiler.dialects import spike
from compiler.dialects.spike.computes import op_attributes, semantics_of
from compiler.dialects.spike.types import EncodedSpikesType
from compiler.ir.weights import WeightStore, dense_to_array
from runtime import kernels
from runtime.encoded import EncodedSpikes
from runtime.ops import run_op

Impl = Callable[[Any, Interpreter, Any, PythonValues], PythonValues]


def computing_impl(op_type: type[Operation], semantics: str) -> Impl:
    """The implementation of an op computing `semantics`. Its operands may be address-encoded
    spikes: the semantics of an op on encoded spikes is its semantics on the spikes they encode.
    Its results of type `!spike.encoded` (a neuron that emits addresses) are encoded."""

    @impl(op_type)
    def run(self: Any, interp: Interpreter, op: Operation, args: PythonValues) -> PythonValues:
        results = run_op(semantics, args, op_attributes(op))
        return tuple(
            EncodedSpikes.from_dense(r, t.address_axes.data)
            if isinstance(t := value.type, EncodedSpikesType)
            else r
            for r, value in zip(results, op.results, strict=True)
        )

    return run


@dataclass
class SpikeFunctions(InterpreterFunctions):
    """numpy implementations of every `spike` op: the structural ops below, and one
    `computing_impl` per op with a `Computes` trait (added after the class)."""

    weights: WeightStore

    @impl(spike.WeightOp)
    def run_weight(self, interp: Interpreter, op: spike.WeightOp, args: PythonValues):
        return (self.weights[op.symbol],)

    @impl(spike.ConstantOp)
    def run_constant(self, interp: Interpreter, op: spike.ConstantOp, args: PythonValues):
        return (dense_to_array(op.value),)

    @impl(spike.MoEOp)
    def run_moe(self, interp: Interpreter, op: spike.MoEOp, args: PythonValues):
        x, gates = args
        outputs = []
        for e, region in enumerate(op.experts):
            (y,) = interp.run_ssacfg_region(region, (kernels.dispatch(x, gates, e),), "expert")
            outputs.append(y)
        return (kernels.combine(gates, outputs),)

    @impl_terminator(spike.YieldOp)
    def run_yield(
        self, interp: Interpreter, op: spike.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()


for _op_type in spike.Spike.operations:
    if (_semantics := semantics_of(_op_type)) is not None:
        setattr(SpikeFunctions, f"run_{_semantics}", computing_impl(_op_type, _semantics))
register_impls(SpikeFunctions)
