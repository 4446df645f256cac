"""One converter per NIR node type: the `spike` ops a node becomes.

Neurons are discretised with the step `dt` as the library named by the import's
discretisation does it, in that library's float32 arithmetic:

- LIF: snntorch `spike.leaky` with β = 1 - dt/τ, reset to zero in the step that fired;
  norse `spike.lif_box` with dt/τ (Norse ignores r); nir the same on r · x.
- CubaLIF: snntorch `spike.leaky` with α = 1 - dt/τ_syn too; norse and nir: w_in · x →
  `spike.li` (the current, dt/τ_syn) → r · I → `spike.lif_box`.
- IF: norse `spike.if` (strict) on x, as Norse's IAFCell adds its input; snntorch and nir on
  dt · r · x (snnTorch's importer makes an IF a leaky neuron with β = 0.9, which we do not copy).
- LI, CubaLI, I (no snnTorch or Norse importer reads them): `spike.li` with the leak (CubaLI
  through a current as above), I without a leak and with the gain dt · r.

snnTorch folds an input scale `r·dt/τ` other than 1 into the threshold, as its importer does.
Norse's current-based neuron leaks its current towards `v_leak` (its importer reuses the
membrane's leak); nir's current decays to 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from xdsl.ir import SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.types import LeakyResetMode
from compiler.frontend.nir_import import NodeProblem

if TYPE_CHECKING:
    from compiler.frontend.nir_import import GraphBuilder

Converted = tuple[SSAValue, list[int]]
Converter = Callable[["GraphBuilder", str, Any, SSAValue, list[int]], Converted]

F32 = np.float32


def uniform(node: Any, key: str) -> float:
    """A parameter every neuron of the node shares; spike's neurons take one value a layer."""
    array = np.asarray(getattr(node, key), dtype=np.float64)
    if array.size == 0:
        raise NodeProblem(f"{key} is empty")
    if not np.all(np.isfinite(array)):
        raise NodeProblem(f"{key} holds NaN or Inf")
    first = array.reshape(-1)[0]
    if np.any(array != first):
        raise NodeProblem(
            f"{key} differs across its {array.size} neurons (from {array.min():g} to "
            f"{array.max():g}); spikec's neurons take one value per layer"
        )
    return float(first)


def _f32(node: Any, key: str) -> np.ndarray:
    return np.asarray(getattr(node, key), dtype=np.float32)


def _pair(value: Any, key: str) -> tuple[int, int]:
    flat = [int(v) for v in np.asarray(value).reshape(-1)]
    if len(flat) == 1:
        flat = flat * 2
    if len(flat) != 2:
        raise NodeProblem(f"{key} {flat} is not one or two sizes")
    return flat[0], flat[1]


def scaled(b: GraphBuilder, name: str, x: SSAValue, factor: np.ndarray | float) -> SSAValue:
    """`x` times a per-neuron (or shared) factor; nothing where the factor is 1 everywhere."""
    array = np.asarray(factor, dtype=np.float32)
    if np.all(array == 1.0):
        return x
    value = array.reshape(-1)[0] if np.all(array == array.reshape(-1)[0]) else array
    return b.insert(spike.MulOp(x, b.constant(value)), f"{name}.scaled")


# -- layers ---------------------------------------------------------------------------------


def affine(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    weight = np.asarray(node.weight)
    if weight.ndim != 2:
        raise NodeProblem(f"weight has shape {list(weight.shape)}; spikec takes [out, in]")
    if sample[-1] != weight.shape[1]:
        raise NodeProblem(
            f"weight [{weight.shape[0]}, {weight.shape[1]}] takes {weight.shape[1]} features; "
            f"its input has shape {sample}"
        )
    bias = getattr(node, "bias", None)
    bias_value = None
    if bias is not None:
        if np.shape(bias) != (weight.shape[0],):
            raise NodeProblem(f"bias has shape {list(np.shape(bias))}, not [{weight.shape[0]}]")
        bias_value = b.weight(name, "bias", np.asarray(bias))
    w = b.weight(name, "weight", weight)
    op = spike.LinearOp(x, w, bias_value, transpose_weight=True)
    return b.insert(op, name), [*sample[:-1], weight.shape[0]]


def scale(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    factor = np.asarray(node.scale)
    try:
        out = list(np.broadcast_shapes(tuple(sample), factor.shape))
    except ValueError:
        raise NodeProblem(f"scale {list(factor.shape)} does not broadcast to {sample}") from None
    if out != sample:
        raise NodeProblem(f"scale {list(factor.shape)} would grow the input {sample}")
    return b.insert(spike.MulOp(x, b.weight(name, "scale", factor)), name), sample


def _conv_pads(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> list[int]:
    """(top, left, bottom, right) from NIR's padding: sizes, 'valid' or 'same' (as torch)."""
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, str):
        if padding == "valid":
            return [0, 0, 0, 0]
        if padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            before = [t // 2 for t in total]
            return [before[0], before[1], total[0] - before[0], total[1] - before[1]]
        raise NodeProblem(f"padding '{padding}' is none of 'same', 'valid' or sizes")
    ph, pw = _pair(padding, "padding")
    return [ph, pw, ph, pw]


def _out_size(size: int, k: int, s: int, pad: int, d: int = 1) -> int:
    return (size + pad - d * (k - 1) - 1) // s + 1


def conv2d(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    weight = np.asarray(node.weight)
    if len(sample) != 3 or weight.ndim != 4:
        raise NodeProblem(
            f"takes a [C, H, W] input and a [O, C/groups, kh, kw] weight; got {sample} and "
            f"{list(weight.shape)}"
        )
    return _conv(b, name, node, x, sample, weight, b.weight(name, "weight", weight))


def _conv(
    b: GraphBuilder,
    name: str,
    node: Any,
    x: SSAValue,
    sample: list[int],
    weight: np.ndarray,
    w: SSAValue,
    one_d: bool = False,
) -> Converted:
    groups = int(np.asarray(node.groups).reshape(-1)[0])
    c, h, wd = sample
    if groups < 1 or c % groups or weight.shape[1] * groups != c or weight.shape[0] % groups:
        raise NodeProblem(
            f"weight {list(weight.shape)} with groups = {groups} does not fit {c} input channels"
        )
    kernel = (int(weight.shape[2]), int(weight.shape[3]))
    if one_d:
        stride = (1, int(np.asarray(node.stride).reshape(-1)[0]))
        dilation = (1, int(np.asarray(node.dilation).reshape(-1)[0]))
        padding = node.padding
        if not isinstance(padding, str | bytes):
            padding = (0, int(np.asarray(padding).reshape(-1)[0]))
    else:
        stride, dilation, padding = (
            _pair(node.stride, "stride"),
            _pair(node.dilation, "dilation"),
            node.padding,
        )
    pads = _conv_pads(padding, kernel, dilation)
    ho = _out_size(h, kernel[0], stride[0], pads[0] + pads[2], dilation[0])
    wo = _out_size(wd, kernel[1], stride[1], pads[1] + pads[3], dilation[1])
    if ho < 1 or wo < 1 or min(stride) < 1 or min(dilation) < 1:
        raise NodeProblem(f"its kernel {list(kernel)} does not fit the input {sample}")
    bias = getattr(node, "bias", None)
    bias_value = None
    if bias is not None and np.size(bias):
        if np.shape(bias) != (weight.shape[0],):
            raise NodeProblem(f"bias has shape {list(np.shape(bias))}, not [{weight.shape[0]}]")
        bias_value = b.weight(name, "bias", np.asarray(bias))
    op = spike.Conv2dOp(
        x, w, bias_value, strides=stride, pads=pads, dilations=dilation, group=groups
    )
    return b.insert(op, name), [int(weight.shape[0]), ho, wo]


def conv1d(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    """As a conv2d of height 1: `[C, L]` becomes `[C, 1, L]` and back."""
    weight = np.asarray(node.weight)
    if len(sample) != 2 or weight.ndim != 3:
        raise NodeProblem(
            f"takes a [C, L] input and a [O, C/groups, k] weight; got {sample} and "
            f"{list(weight.shape)}"
        )
    c, length = sample
    x2 = b.insert(spike.ReshapeOp(x, b.full_shape([c, 1, length])), f"{name}.2d")
    w = b.weight(name, "weight", weight)
    kernel = [weight.shape[0], weight.shape[1], 1, weight.shape[2]]
    w2 = b.insert(spike.ReshapeOp(w, kernel), f"{name}.weight2d")
    y, (o, _, lo) = _conv(b, name, node, x2, [c, 1, length], weight.reshape(kernel), w2, True)
    return b.insert(spike.ReshapeOp(y, b.full_shape([o, lo])), name), [o, lo]


def flatten(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    rank = len(sample)
    start, end = int(node.start_dim), int(node.end_dim)
    start, end = start + rank if start < 0 else start, end + rank if end < 0 else end
    if not 0 <= start <= end < rank:
        raise NodeProblem(
            f"start_dim {node.start_dim}, end_dim {node.end_dim} do not fit its input {sample} "
            "(NIR counts dimensions without batch and time)"
        )
    out = [*sample[:start], int(np.prod(sample[start : end + 1])), *sample[end + 1 :]]
    if out == sample:
        return x, sample
    return b.insert(spike.ReshapeOp(x, b.full_shape(out)), name), out


def _pool(
    b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]
) -> tuple[SSAValue, list[int], tuple[int, int]]:
    if len(sample) != 3:
        raise NodeProblem(f"takes a [C, H, W] input, got {sample}")
    kernel = _pair(node.kernel_size, "kernel_size")
    stride = _pair(node.stride, "stride")
    ph, pw = _pair(node.padding, "padding")
    c, h, w = sample
    ho, wo = _out_size(h, kernel[0], stride[0], 2 * ph), _out_size(w, kernel[1], stride[1], 2 * pw)
    if ho < 1 or wo < 1 or min(stride) < 1 or min(kernel) < 1:
        raise NodeProblem(f"its kernel {list(kernel)} does not fit the input {sample}")
    op = spike.AvgPoolOp(
        x, kernel=kernel, strides=stride, pads=(ph, pw, ph, pw), count_include_pad=True
    )
    return b.insert(op, name), [c, ho, wo], kernel


def avgpool2d(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    value, out, _ = _pool(b, name, node, x, sample)
    return value, out


def sumpool2d(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    """The average times the window's size, as torch's `LPPool2d(1)` (nirtorch, Norse) sums."""
    mean, out, kernel = _pool(b, f"{name}.mean", node, x, sample)
    area = b.constant(float(kernel[0] * kernel[1]))
    return b.insert(spike.MulOp(mean, area), name), out


def passthrough(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    return x, sample


def threshold(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    op = spike.ThresholdOp(x, threshold=uniform(node, "threshold"))
    return b.insert(op, name), sample


def delay(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    dt = b.need_dt(name, "a Delay")
    seconds = uniform(node, "delay")
    steps = round(seconds / dt)
    if steps < 0 or abs(steps * dt - seconds) > 1e-6 * max(abs(seconds), dt):
        raise NodeProblem(
            f"delay {seconds:g} s is not a whole number of steps of dt = {dt:g} s (nor >= 0)"
        )
    return b.insert(spike.DelayOp(x, steps=steps), name), sample


# -- neurons --------------------------------------------------------------------------------


def _dt_over(dt: float, tau: np.ndarray) -> float:
    """`dt * (1 / tau)` in float32, as Norse computes `dt * tau_mem_inv`."""
    inv = F32(1.0) / tau.astype(F32)
    gains = F32(dt) * inv
    first = gains.reshape(-1)[0]
    if np.any(gains != first):
        raise NodeProblem("its time constants differ across neurons; spikec takes one per layer")
    if not first > 0 or not np.isfinite(first):
        raise NodeProblem(f"dt / tau = {first:g} must be a positive finite number")
    return float(first)


def _snntorch_decay(dt: float, tau: np.ndarray, what: str) -> float:
    """snnTorch's `1 - dt / tau` in float32, clamped to [0, 1] as its neurons clamp β."""
    decay = 1 - (dt / tau.astype(F32))
    first = decay.reshape(-1)[0]
    if np.any(decay != first):
        raise NodeProblem(f"{what} differs across neurons; spikec takes one per layer")
    return float(min(max(first, F32(0.0)), F32(1.0)))


def _snntorch_threshold(node: Any, w_scale: np.ndarray) -> float:
    """The threshold snnTorch's importer sets: divided by the input scale where it is not 1."""
    vthr = _f32(node, "v_threshold")
    if not np.allclose(w_scale, 1.0):
        scales = np.unique(w_scale)
        if scales.size != 1:
            raise NodeProblem("its input scale r·dt/τ differs across neurons")
        vthr = vthr / scales[0]
    values = np.unique(vthr)
    if values.size != 1:
        raise NodeProblem("v_threshold differs across neurons; spikec takes one per layer")
    return float(values[0])


def _snntorch_no_leak(node: Any) -> None:
    if not np.allclose(node.v_leak, 0.0):
        raise NodeProblem(
            "snnTorch's discretisation has no leak potential (v_leak must be 0); import with "
            "--nir-discretisation nir"
        )


def _snntorch_checks(node: Any, tau_mem: np.ndarray, dt: float) -> None:
    _snntorch_no_leak(node)
    if not np.allclose(node.r, tau_mem / dt):
        raise NodeProblem(
            "snnTorch's discretisation needs r = tau / dt (what snntorch.export_nir writes); "
            "import with --nir-discretisation nir"
        )


def _recurrent_operands(b: GraphBuilder, name: str, sample: list[int]) -> list[SSAValue]:
    """The recurrent weight (and bias) of a neuron in an `RLeaky`-style cycle, if it is one."""
    weight_name = b.recurrent.get(name)
    if weight_name is None:
        return []
    if b.discretisation != "snntorch":
        raise NodeProblem(
            f"its spikes feed back through '{weight_name}': spikec follows snnTorch's recurrent "
            "neurons (RLeaky, RSynaptic) only; import with --nir-discretisation snntorch"
        )
    node = b.flat.nodes[weight_name]
    weight = np.asarray(node.weight)
    if len(sample) != 1 or weight.shape != (sample[0], sample[0]):
        raise NodeProblem(
            f"recurrent weight '{weight_name}' {list(weight.shape)} must be [N, N] for its "
            f"{sample} neurons"
        )
    operands = [b.weight(weight_name, "weight", weight)]
    bias = getattr(node, "bias", None)
    if bias is not None:
        operands.append(b.weight(weight_name, "bias", np.asarray(bias)))
    return operands


def lif(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    dt = b.need_dt(name, "a LIF")
    tau = _f32(node, "tau")
    recurrent = _recurrent_operands(b, name, sample)
    if b.discretisation == "snntorch":
        beta = _snntorch_decay(dt, tau, "tau")
        thr = _snntorch_threshold(node, _f32(node, "r") * dt / tau)
        _snntorch_no_leak(node)  # r enters as the threshold's scale, as snnTorch reads it
        op: spike.LeakyOp | spike.LIFBoxOp = spike.LeakyOp(
            x,
            beta=beta,
            threshold=thr,
            reset_mechanism=LeakyResetMode.ZERO,
            reset_delay=False,
            recurrent=recurrent,
        )
        return b.insert(op, name), sample
    if b.discretisation == "nir":
        x = scaled(b, name, x, _f32(node, "r"))
    op = spike.LIFBoxOp(
        x,
        dt_tau_mem_inv=_dt_over(dt, tau),
        v_leak=uniform(node, "v_leak"),
        v_threshold=uniform(node, "v_threshold"),
        v_reset=uniform(node, "v_reset"),
    )
    return b.insert(op, name), sample


def cuba_lif(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    dt = b.need_dt(name, "a CubaLIF")
    tau_syn, tau_mem = _f32(node, "tau_syn"), _f32(node, "tau_mem")
    recurrent = _recurrent_operands(b, name, sample)
    if b.discretisation == "snntorch":
        _snntorch_checks(node, tau_mem, dt)
        op = spike.LeakyOp(
            x,
            beta=_snntorch_decay(dt, tau_mem, "tau_mem"),
            threshold=_snntorch_threshold(node, _f32(node, "w_in") * (dt / tau_syn)),
            reset_mechanism=LeakyResetMode.ZERO,
            alpha=_snntorch_decay(dt, tau_syn, "tau_syn"),
            reset_delay=False,
            recurrent=recurrent,
        )
        return b.insert(op, name), sample
    membrane_input = _current(b, name, node, x, dt, tau_syn)
    box = spike.LIFBoxOp(
        membrane_input,
        dt_tau_mem_inv=_dt_over(dt, tau_mem),
        v_leak=uniform(node, "v_leak"),
        v_threshold=uniform(node, "v_threshold"),
        v_reset=uniform(node, "v_reset"),
    )
    return b.insert(box, name), sample


def _current(
    b: GraphBuilder, name: str, node: Any, x: SSAValue, dt: float, tau_syn: np.ndarray
) -> SSAValue:
    """The synaptic current `w_in · x` filtered by τ_syn, scaled by r: the membrane's input."""
    charge = scaled(b, f"{name}.w_in", x, _f32(node, "w_in"))
    leak = uniform(node, "v_leak") if b.discretisation == "norse" else 0.0
    current = b.insert(
        spike.LIOp(charge, dt_tau_mem_inv=_dt_over(dt, tau_syn), v_leak=leak), f"{name}.current"
    )
    return scaled(b, f"{name}.r", current, _f32(node, "r"))


def cuba_li(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    dt = b.need_dt(name, "a CubaLI")
    current = _current(b, name, node, x, dt, _f32(node, "tau_syn"))
    op = spike.LIOp(
        current,
        dt_tau_mem_inv=_dt_over(dt, _f32(node, "tau_mem")),
        v_leak=uniform(node, "v_leak"),
    )
    return b.insert(op, name), sample


def li(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    dt = b.need_dt(name, "an LI")
    x = scaled(b, name, x, _f32(node, "r"))
    op = spike.LIOp(
        x, dt_tau_mem_inv=_dt_over(dt, _f32(node, "tau")), v_leak=uniform(node, "v_leak")
    )
    return b.insert(op, name), sample


def integrator(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    dt = b.need_dt(name, "an I")
    gain = F32(dt) * _f32(node, "r")
    first = gain.reshape(-1)[0]
    if np.any(gain != first) or not first > 0:
        raise NodeProblem("r must be one positive value for the whole layer")
    return b.insert(spike.LIOp(x, dt_tau_mem_inv=float(first), v_leak=None), name), sample


def if_neuron(b: GraphBuilder, name: str, node: Any, x: SSAValue, sample: list[int]) -> Converted:
    if b.discretisation != "norse":  # Norse's IAFCell adds the input as it is
        dt = b.need_dt(name, "an IF")
        x = scaled(b, name, x, F32(dt) * _f32(node, "r"))
    op = spike.IFOp(
        x,
        v_threshold=uniform(node, "v_threshold"),
        v_reset=uniform(node, "v_reset"),
        strict=True,
    )
    return b.insert(op, name), sample


CONVERTERS: dict[str, Converter] = {
    "Input": passthrough,
    "Output": passthrough,
    "Identity": passthrough,
    "Affine": affine,
    "Linear": affine,
    "Scale": scale,
    "Conv1d": conv1d,
    "Conv2d": conv2d,
    "Flatten": flatten,
    "AvgPool2d": avgpool2d,
    "SumPool2d": sumpool2d,
    "Threshold": threshold,
    "Delay": delay,
    "LIF": lif,
    "CubaLIF": cuba_lif,
    "IF": if_neuron,
    "LI": li,
    "CubaLI": cuba_li,
    "I": integrator,
}
"""NIR node type name -> converter."""
