"""Ops over the time axis that NIR graphs need besides spiking neurons: the leaky integrator
readout (a membrane without a threshold), a delay line, and a stateless threshold.

Like the neurons, each takes a time-major input `X[T, B, ...]` and keeps its shape.
"""

from __future__ import annotations

from xdsl.dialects.builtin import FloatAttr, IntegerAttr, TensorType, f32, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.neurons import module_timesteps
from compiler.dialects.spike.types import (
    ACTIVATION,
    SPIKES,
    SpikeTrainType,
    activation_type,
    check_real,
    check_time_major,
    format_shape,
    is_spike,
    real_type,
    shape_of,
    shapes_compatible,
)

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


class TemporalOp(IRDLOperation):
    """Shared checks: a time-major real input, a result of its shape, the module's T."""

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def _check(self, input: SSAValue, output: SSAValue) -> None:
        check_real(input, f"{self.name} input")
        steps = check_time_major(input, f"{self.name} input")
        if not shapes_compatible(shape_of(input), shape_of(output)):
            raise VerifyException(
                f"{self.name}: output {format_shape(shape_of(output))} must have the input's "
                f"shape {format_shape(shape_of(input))}"
            )
        expected = module_timesteps(self)
        if expected is not None and steps != expected:
            raise VerifyException(
                f"{self.name}: input has T = {steps} but the module runs T = {expected} steps"
            )


@irdl_op_definition
class LIOp(TemporalOp):
    """Leaky integrator: a membrane that integrates its input and never fires, read out at
    every step (NIR's LI and I; Norse `LIBoxCell`). A network's readout layer, and the synaptic
    current of NIR's current-based neurons.

    numpy, per step t, all float32, with `V` starting at `v_leak` (0 without it):

        with v_leak:    V = V + dt_tau_mem_inv * ((v_leak - V) + X[t])
        without:        V = V + dt_tau_mem_inv * X[t]          # NIR's I: no leak
        Y[t] = V
    """

    name = "spike.li"

    traits = traits_def(Pure(), Computes("li"))

    input = operand_def(ACTIVATION)
    """Input current `X[T, B, ...]`."""

    output = result_def(TensorType)
    """Membrane `Y[T, B, ...]` after each step (real)."""

    dt_tau_mem_inv = prop_def(FloatAttr)
    """`dt / tau` (> 0): the share of the way to `v_leak + X` the membrane moves each step;
    without `v_leak`, the gain `dt * R` of the integrator."""

    v_leak = opt_prop_def(FloatAttr)
    """Leak (resting) potential, also the initial V; absent: no leak (NIR's I)."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        dt_tau_mem_inv: float,
        v_leak: float | None = 0.0,
    ) -> None:
        value = SSAValue.get(input)
        properties: dict[str, Attribute] = {"dt_tau_mem_inv": FloatAttr(dt_tau_mem_inv, f32)}
        if v_leak is not None:
            properties["v_leak"] = FloatAttr(v_leak, f32)
        super().__init__(
            operands=[value], result_types=[real_type(shape_of(value))], properties=properties
        )

    def verify_(self) -> None:
        self._check(self.input, self.output)
        gain = self.dt_tau_mem_inv.value.data
        if not gain > 0.0:
            raise VerifyException(f"spike.li: dt_tau_mem_inv must be > 0, got {gain}")


@irdl_op_definition
class DelayOp(TemporalOp):
    """Delay line (NIR's Delay): the input shifted `steps` steps later in time.

    numpy: `Y[t] = X[t - steps]` for t >= steps, 0 before. Spikes stay spikes.
    """

    name = "spike.delay"

    traits = traits_def(Pure(), Computes("delay"))

    input = operand_def(ACTIVATION)
    """`X[T, B, ...]`, spikes or reals."""

    output = result_def(ACTIVATION)
    """`Y[T, B, ...]`, of the input's kind."""

    steps = prop_def(IntegerAttr)
    """The delay in timesteps (>= 0; NIR's delay divided by dt)."""

    def __init__(self, input: SSAValue | Operation, *, steps: int) -> None:
        value = SSAValue.get(input)
        super().__init__(
            operands=[value],
            result_types=[activation_type(shape_of(value), is_spike(value))],
            properties={"steps": IntegerAttr(steps, i64)},
        )

    def verify_(self) -> None:
        self._check(self.input, self.output)
        if is_spike(self.input) != is_spike(self.output):
            kind = "a spike train" if is_spike(self.input) else "real"
            raise VerifyException(f"spike.delay: the result must be {kind}, as its input is")
        if self.steps.value.data < 0:
            raise VerifyException(f"spike.delay: steps must be >= 0, got {self.steps.value.data}")


@irdl_op_definition
class ThresholdOp(TemporalOp):
    """Stateless threshold (NIR's Threshold): a spike wherever the input exceeds `threshold`.

    numpy: `S = (X > threshold)`.
    """

    name = "spike.threshold"

    traits = traits_def(Pure(), Computes("threshold"))

    input = operand_def(ACTIVATION)
    """`X[T, B, ...]`."""

    output = result_def(SPIKES)
    """Spikes of the input's shape."""

    threshold = prop_def(FloatAttr)
    """The level to exceed."""

    def __init__(self, input: SSAValue | Operation, *, threshold: float) -> None:
        value = SSAValue.get(input)
        super().__init__(
            operands=[value],
            result_types=[SpikeTrainType(shape_of(value))],
            properties={"threshold": FloatAttr(threshold, f32)},
        )

    def verify_(self) -> None:
        self._check(self.input, self.output)
