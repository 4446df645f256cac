"""Spiking neurons: stateful over the time axis, stateless across every other axis.

Each neuron takes a time-major membrane input `X[T, B, ...]` (real, or spikes used as input
current) and returns a spike train of the same shape. The state starts at rest before t = 0 and is
updated step by step in the arithmetic order of the source library, so that threshold comparisons
stay bit-exact against it (DESIGN.md, semantics contract).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    BoolAttr,
    FloatAttr,
    IntegerAttr,
    TensorType,
    UnitAttr,
    f32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
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
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from compiler.dialects.spike.computes import Computes
from compiler.dialects.spike.types import (
    ACTIVATION,
    SPIKES,
    LeakyResetMode,
    LeakyResetModeAttr,
    ResetMode,
    ResetModeAttr,
    SpikeTrainType,
    broadcast_shapes,
    check_real,
    check_time_major,
    format_shape,
    shape_of,
    shapes_compatible,
)


def module_timesteps(op: Operation) -> int | None:
    """The `spike.timesteps` attribute of the enclosing module, if any."""
    anchor: Operation | None = op
    while anchor is not None and anchor.parent_op() is not None:
        anchor = anchor.parent_op()
    if anchor is None:
        return None
    attr = anchor.attributes.get("spike.timesteps")
    return attr.value.data if isinstance(attr, IntegerAttr) else None


class NeuronOp(IRDLOperation):
    """Shared fields and checks of the neuron ops."""

    input = operand_def(ACTIVATION)
    """Membrane input current `X[T, B, ...]`."""

    output = result_def(SPIKES)
    """Spikes `S[T, B, ...]`, same shape as the input (dense, or address-encoded after
    `sparsity-encoding`)."""

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        check_real(self.input, f"{self.name} input")
        steps = check_time_major(self.input, f"{self.name} input")
        if not shapes_compatible(shape_of(self.input), shape_of(self.output)):
            raise VerifyException(
                f"{self.name}: output {format_shape(shape_of(self.output))} must have the "
                f"input's shape {format_shape(shape_of(self.input))}"
            )
        expected = module_timesteps(self)
        if expected is not None and steps != expected:
            raise VerifyException(
                f"{self.name}: input has T = {steps} but the module runs T = {expected} steps"
            )


def _f32(value: float) -> FloatAttr:
    return FloatAttr(value, f32)


def lif_properties(
    tau: float, v_threshold: float, v_reset: float, decay_input: bool, reset: ResetMode
) -> dict[str, Attribute]:
    """The properties of a SpikingJelly LIF, shared by `spike.lif` and the attention ops whose
    neuron is one (`spike.sdsa`, `spike.token_attention`)."""
    return {
        "tau": _f32(tau),
        "v_threshold": _f32(v_threshold),
        "v_reset": _f32(v_reset),
        "decay_input": BoolAttr.from_bool(decay_input),
        "reset": ResetModeAttr(reset),
    }


@irdl_op_definition
class LIFOp(NeuronOp):
    """Leaky integrate-and-fire neuron, SpikingJelly `LIFNode` (multi-step).

    numpy, per step t, with `V` starting at `v_reset`:

        decay_input=True:  H = V + (X[t] - (V - v_reset)) / tau
        decay_input=False: H = V - (V - v_reset) / tau + X[t]
        S[t] = (H >= v_threshold)
        hard reset: V = H * (1 - S[t]) + v_reset * S[t]
        soft reset: V = H - v_threshold * S[t]

    With `decay` k (SpikingJelly's `ParametricLIFNode`, k = sigmoid(w)), `* k` replaces `/ tau`.
    """

    name = "spike.lif"

    traits = traits_def(Pure(), Computes("lif"))

    tau = prop_def(FloatAttr)
    """Membrane time constant τ (> 1 leaks; τ = 1 keeps nothing of the past)."""

    v_threshold = prop_def(FloatAttr)
    """Firing threshold V_th."""

    v_reset = prop_def(FloatAttr)
    """Reset and resting potential (the initial V)."""

    decay_input = prop_def(BoolAttr)
    """Whether the input is divided by τ too (SpikingJelly's `decay_input`)."""

    reset = prop_def(ResetModeAttr)
    """Hard (to v_reset) or soft (subtract v_threshold) reset."""

    decay = opt_prop_def(FloatAttr)
    """The leak as a factor k multiplied in (SpikingJelly's `ParametricLIFNode`, k = sigmoid(w)),
    which rounds differently from dividing by τ = 1/k; absent: divide by `tau`."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        tau: float,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        decay_input: bool = True,
        reset: ResetMode = ResetMode.HARD,
        decay: float | None = None,
    ) -> None:
        value = SSAValue.get(input)
        properties = lif_properties(tau, v_threshold, v_reset, decay_input, reset)
        if decay is not None:
            properties["decay"] = _f32(decay)
        super().__init__(
            operands=[value],
            result_types=[SpikeTrainType(shape_of(value))],
            properties=properties,
        )

    def verify_(self) -> None:
        super().verify_()
        if self.tau.value.data <= 0:
            raise VerifyException(f"spike.lif: tau must be > 0, got {self.tau.value.data}")
        if self.decay is not None and not 0 < self.decay.value.data <= 1:
            raise VerifyException(
                f"spike.lif: decay must be in (0, 1], got {self.decay.value.data}"
            )


@irdl_op_definition
class IFOp(NeuronOp):
    """Integrate-and-fire neuron (no leak), SpikingJelly `IFNode`.

    numpy, per step t, with `V` starting at `v_reset`:

        H = V + X[t]
        S[t] = (H >= v_threshold)            # strict: (H > v_threshold)
        hard reset: V = H * (1 - S[t]) + v_reset * S[t]
        soft reset: V = H - v_threshold * S[t]

    `strict` is Norse's `IAFCell` and NIR's IF, which fire where `H - v_threshold > 0`.
    """

    name = "spike.if"

    traits = traits_def(Pure(), Computes("if"))

    v_threshold = prop_def(FloatAttr)
    """Firing threshold V_th."""

    v_reset = prop_def(FloatAttr)
    """Reset and resting potential (the initial V)."""

    reset = prop_def(ResetModeAttr)
    """Hard or soft reset."""

    strict = opt_prop_def(UnitAttr)
    """Fire strictly above the threshold (Norse, NIR); absent: at or above (SpikingJelly)."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        reset: ResetMode = ResetMode.HARD,
        strict: bool = False,
    ) -> None:
        value = SSAValue.get(input)
        properties: dict[str, Attribute] = {
            "v_threshold": _f32(v_threshold),
            "v_reset": _f32(v_reset),
            "reset": ResetModeAttr(reset),
        }
        if strict:
            properties["strict"] = UnitAttr()
        super().__init__(
            operands=[value],
            result_types=[SpikeTrainType(shape_of(value))],
            properties=properties,
        )


@irdl_op_definition
class LeakyOp(NeuronOp):
    """snnTorch `Leaky` neuron: the reset comes from the previous step's membrane and is applied
    with the decay; firing is strictly above threshold.

    numpy, per step t, with `V` starting at 0:

        R = (V - threshold > 0)                       # the previous step's spike
        subtract: V = (beta * V + X[t]) - R * threshold
        zero:     V = beta * ((1 - R) * V) + X[t]
        none:     V = beta * V + X[t]
        S[t] = (V - threshold > 0)

    With `alpha`, snnTorch's `Synaptic`: the input charges a synaptic current `I` (starting at
    0) that the membrane integrates in place of `X[t]`:

        I = alpha * I + X[t]
        subtract: V = (beta * V + I) - R * threshold
        zero:     J = beta * V + I; V = J - J * R       # the current is not reset
        none:     V = beta * V + I

    With `immediate_reset` (snnTorch's `reset_delay=False`, as its NIR import builds neurons), the
    step that fires resets at once, after `S[t]`:

        D = S[t] - R
        subtract: V = V - D * threshold
        zero:     V = V - D * V
    """

    name = "spike.leaky"

    traits = traits_def(Pure(), Computes("leaky"))

    input = operand_def(ACTIVATION)
    """Membrane input current `X[T, B, ..., N]` (redeclared so that it stays operand 0)."""

    recurrent = var_operand_def(TensorType)
    """snnTorch's `RLeaky`/`RSynaptic`: the recurrent weight `W[N, N]` and optionally its bias
    `b[N]`; the previous step's spikes (0 before t = 0) feed back as `S @ W.T + b`, added after
    the decay: `H = (beta * V + X[t]) + W S` (with `alpha`: `I = (alpha * I + X[t]) + W S`),
    and a reset to zero subtracts `R * H` rather than zeroing V before the decay."""

    beta = prop_def(FloatAttr)
    """Membrane decay factor β in [0, 1]."""

    threshold = prop_def(FloatAttr)
    """Firing threshold."""

    reset_mechanism = prop_def(LeakyResetModeAttr)
    """subtract, zero or none."""

    alpha = opt_prop_def(FloatAttr)
    """Synaptic current decay factor α in [0, 1] (snnTorch's `Synaptic`); absent: no current."""

    immediate_reset = opt_prop_def(UnitAttr)
    """Reset in the step that fired (snnTorch's `reset_delay=False`); absent: in the next step,
    snnTorch's default."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        beta: float,
        threshold: float = 1.0,
        reset_mechanism: LeakyResetMode = LeakyResetMode.SUBTRACT,
        alpha: float | None = None,
        reset_delay: bool = True,
        recurrent: Sequence[SSAValue | Operation] = (),
    ) -> None:
        value = SSAValue.get(input)
        properties: dict[str, Attribute] = {
            "beta": _f32(beta),
            "threshold": _f32(threshold),
            "reset_mechanism": LeakyResetModeAttr(reset_mechanism),
        }
        if alpha is not None:
            properties["alpha"] = _f32(alpha)
        if not reset_delay:
            properties["immediate_reset"] = UnitAttr()
        super().__init__(
            operands=[value, [SSAValue.get(r) for r in recurrent]],
            result_types=[SpikeTrainType(shape_of(value))],
            properties=properties,
        )

    def verify_(self) -> None:
        super().verify_()
        for name, attr in (("beta", self.beta), ("alpha", self.alpha)):
            if attr is not None and not 0.0 <= attr.value.data <= 1.0:
                raise VerifyException(
                    f"spike.leaky: {name} must be in [0, 1], got {attr.value.data}"
                )
        if self.recurrent:
            self._verify_recurrent()

    def _verify_recurrent(self) -> None:
        n = shape_of(self.input)[-1]
        if len(self.recurrent) > 2:
            raise VerifyException(
                f"spike.leaky: takes a recurrent weight and bias, got {len(self.recurrent)} "
                "recurrent operands"
            )
        if len(shape_of(self.input)) != 3:
            raise VerifyException(
                "spike.leaky: a recurrent neuron takes a [T, B, N] input, got "
                f"{format_shape(shape_of(self.input))}"
            )
        weight = shape_of(self.recurrent[0])
        if not shapes_compatible(weight, (n, n)):
            raise VerifyException(
                f"spike.leaky: recurrent weight {format_shape(weight)} must be [{n}, {n}]"
            )
        if len(self.recurrent) == 2 and not shapes_compatible(shape_of(self.recurrent[1]), (n,)):
            raise VerifyException(
                f"spike.leaky: recurrent bias {format_shape(shape_of(self.recurrent[1]))} must "
                f"be [{n}]"
            )


@irdl_op_definition
class CubaLIFOp(NeuronOp):
    """Current-based LIF neuron, Norse `LIFCell` (feed-forward step): the input jumps into a
    synaptic current first, the membrane integrates that current, firing is strictly above
    threshold, the reset is hard. The `dt * tau^-1` products are folded into the properties as
    Norse's exported graphs fold them.

    numpy, per step t, all float32, with `V` starting at `v_leak` and `I` at 0:

        J = I + X[t]                                        # current jump
        H = V + dt_tau_mem_inv * ((v_leak - V) + J)         # membrane update
        I = J + (-dt_tau_syn_inv) * J                       # current decay
        S[t] = (H - v_threshold > 0)
        V = (1 - S[t]) * H + S[t] * v_reset
    """

    name = "spike.cuba_lif"

    traits = traits_def(Pure(), Computes("cuba_lif"))

    dt_tau_mem_inv = prop_def(FloatAttr)
    """`dt / tau_mem`: the share of the way to `v_leak + J` the membrane moves each step (> 0)."""

    dt_tau_syn_inv = prop_def(FloatAttr)
    """`dt / tau_syn`: the share of the synaptic current lost each step (>= 0; 0 never decays)."""

    v_leak = prop_def(FloatAttr)
    """Leak (resting) potential the membrane decays towards; also the initial V."""

    v_threshold = prop_def(FloatAttr)
    """Firing threshold: a spike where `H - v_threshold > 0`."""

    v_reset = prop_def(FloatAttr)
    """Potential the membrane is set to where it fired."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        dt_tau_mem_inv: float,
        dt_tau_syn_inv: float,
        v_leak: float = 0.0,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
    ) -> None:
        value = SSAValue.get(input)
        super().__init__(
            operands=[value],
            result_types=[SpikeTrainType(shape_of(value))],
            properties={
                "dt_tau_mem_inv": _f32(dt_tau_mem_inv),
                "dt_tau_syn_inv": _f32(dt_tau_syn_inv),
                "v_leak": _f32(v_leak),
                "v_threshold": _f32(v_threshold),
                "v_reset": _f32(v_reset),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        mem = self.dt_tau_mem_inv.value.data
        if not mem > 0.0:
            raise VerifyException(f"spike.cuba_lif: dt_tau_mem_inv must be > 0, got {mem}")
        syn = self.dt_tau_syn_inv.value.data
        if not syn >= 0.0:
            raise VerifyException(f"spike.cuba_lif: dt_tau_syn_inv must be >= 0, got {syn}")


@irdl_op_definition
class LIFBoxOp(NeuronOp):
    """Leaky integrate-and-fire neuron without a synaptic current, Norse `LIFBoxCell` (Norse's
    reading of NIR's LIF): firing strictly above threshold, hard reset.

    numpy, per step t, all float32, with `V` starting at `v_leak`:

        H = V + dt_tau_mem_inv * ((X[t] + v_leak) - V)
        S[t] = (H - v_threshold > 0)
        V = (1 - S[t]) * H + S[t] * v_reset
    """

    name = "spike.lif_box"

    traits = traits_def(Pure(), Computes("lif_box"))

    dt_tau_mem_inv = prop_def(FloatAttr)
    """`dt / tau_mem` (> 0), as Norse computes it: `dt * (1 / tau)` in float32."""

    v_leak = prop_def(FloatAttr)
    """Leak (resting) potential; also the initial V."""

    v_threshold = prop_def(FloatAttr)
    """Firing threshold: a spike where `H - v_threshold > 0`."""

    v_reset = prop_def(FloatAttr)
    """Potential the membrane is set to where it fired."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        dt_tau_mem_inv: float,
        v_leak: float = 0.0,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
    ) -> None:
        value = SSAValue.get(input)
        super().__init__(
            operands=[value],
            result_types=[SpikeTrainType(shape_of(value))],
            properties={
                "dt_tau_mem_inv": _f32(dt_tau_mem_inv),
                "v_leak": _f32(v_leak),
                "v_threshold": _f32(v_threshold),
                "v_reset": _f32(v_reset),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        mem = self.dt_tau_mem_inv.value.data
        if not mem > 0.0:
            raise VerifyException(f"spike.lif_box: dt_tau_mem_inv must be > 0, got {mem}")


@irdl_op_definition
class BernoulliOp(NeuronOp):
    """Bernoulli (stochastic) neuron: fires with probability equal to its input.

    numpy: `S = (U < X)` with `U` uniform in [0, 1), shaped like X. U is the `uniform` operand when
    given (it broadcasts over the batch), else it is drawn from the counter-based generator keyed by
    `(seed, stream)` (see `runtime.random`).
    """

    name = "spike.bernoulli"

    traits = traits_def(Pure(), Computes("bernoulli"))

    input = operand_def(ACTIVATION)
    """Firing probability `X[T, B, ...]` (redeclared so that it stays operand 0)."""

    uniform = opt_operand_def(TensorType)
    """Optional table of uniform numbers in [0, 1), broadcastable to the input."""

    seed = prop_def(IntegerAttr)
    """Seed of the random numbers."""

    stream = prop_def(IntegerAttr)
    """Which stream of that seed this op draws from; unique per stochastic op in a module."""

    def __init__(
        self,
        input: SSAValue | Operation,
        *,
        seed: int,
        stream: int,
        uniform: SSAValue | Operation | None = None,
    ) -> None:
        value = SSAValue.get(input)
        super().__init__(
            operands=[value, [] if uniform is None else [SSAValue.get(uniform)]],
            result_types=[SpikeTrainType(shape_of(value))],
            properties={"seed": IntegerAttr(seed, i64), "stream": IntegerAttr(stream, i64)},
        )

    def verify_(self) -> None:
        super().verify_()
        if self.uniform is not None:
            x_shape = shape_of(self.input)
            u_shape = shape_of(self.uniform)
            if len(u_shape) != len(x_shape) or broadcast_shapes(x_shape, u_shape) != x_shape:
                raise VerifyException(
                    f"spike.bernoulli: uniform table {format_shape(u_shape)} does not broadcast "
                    f"to the input {format_shape(x_shape)}"
                )
