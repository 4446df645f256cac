"""Converters for spikec's ONNX functions (domain `spike`, see `onnx_functions`).

Each call becomes one `spike` op; attributes a call leaves out take the function's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.generic import encode_body
from compiler.dialects.spike.types import (
    DYNAMIC,
    LeakyResetMode,
    ResetMode,
    format_shape,
    shape_of,
    shapes_compatible,
)
from compiler.frontend.convert_moe import combine, dispatch_outside_moe
from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.onnx_import import Converter, Importer, attributes
from compiler.frontend.values import Layout, NodeError, Value

_REQUIRED = object()


def _attrs(node: onnx.NodeProto, spec: dict[str, object]) -> dict[str, object]:
    given = attributes(node)
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise NodeError(f"unknown attribute(s) {unknown}; {node.op_type} takes {sorted(spec)}")
    result: dict[str, object] = {}
    for name, default in spec.items():
        if name in given:
            result[name] = given[name]
        elif default is _REQUIRED:
            raise NodeError(f"attribute '{name}' is required")
        else:
            result[name] = default
    return result


def _float(attrs: dict[str, object], name: str) -> float:
    value = attrs[name]
    if not isinstance(value, int | float):
        raise NodeError(f"attribute '{name}' must be a number")
    return float(value)


def _int(attrs: dict[str, object], name: str) -> int:
    value = attrs[name]
    if not isinstance(value, int):
        raise NodeError(f"attribute '{name}' must be an integer")
    return value


def _flag(attrs: dict[str, object], name: str) -> bool:
    value = _int(attrs, name)
    if value not in (0, 1):
        raise NodeError(f"attribute '{name}' must be 0 or 1, got {value}")
    return bool(value)


def _emit(imp: Importer, node: onnx.NodeProto, op: Operation) -> None:
    imp.insert(op)
    imp.define(node, 0, op.results[0], Layout.TIME)


def _spikes(imp: Importer, node: onnx.NodeProto, index: int, what: str) -> SSAValue:
    v = imp.time_major(node, index, what)
    if not v.spike:
        raise NodeError(
            f"{what} must be spikes (the output of a spiking neuron), got a real tensor"
        )
    return imp.operand(v)


_LIF_SPEC: dict[str, object] = {
    "tau": 2.0,
    "v_threshold": 1.0,
    "v_reset": 0.0,
    "decay_input": 1,
    "soft_reset": 0,
}


@dataclass
class _LIFParams:
    """The LIF keyword arguments of `spike.lif`, `spike.sdsa` and `spike.token_attention`."""

    tau: float
    v_threshold: float
    v_reset: float
    decay_input: bool
    reset: ResetMode


def _lif_params(attrs: dict[str, object]) -> _LIFParams:
    tau = _float(attrs, "tau")
    if tau <= 0:
        raise NodeError("tau must be > 0")
    return _LIFParams(
        tau,
        _float(attrs, "v_threshold"),
        _float(attrs, "v_reset"),
        _flag(attrs, "decay_input"),
        ResetMode.SOFT if _flag(attrs, "soft_reset") else ResetMode.HARD,
    )


def lif(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, {**_LIF_SPEC, "decay": 0.0})
    p = _lif_params(attrs)
    decay = _float(attrs, "decay")
    if not 0 <= decay <= 1:
        raise NodeError(f"decay must be in (0, 1] (or 0: divide by tau), got {decay}")
    x = imp.operand(imp.time_major(node, 0, "the input"))
    op = spike.LIFOp(
        x,
        **vars(p),
        decay=decay or None,
    )
    _emit(imp, node, op)


def if_neuron(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, {"v_threshold": 1.0, "v_reset": 0.0, "soft_reset": 0})
    x = imp.operand(imp.time_major(node, 0, "the input"))
    op = spike.IFOp(
        x,
        v_threshold=_float(attrs, "v_threshold"),
        v_reset=_float(attrs, "v_reset"),
        reset=ResetMode.SOFT if _flag(attrs, "soft_reset") else ResetMode.HARD,
    )
    _emit(imp, node, op)


_LEAKY_MECHANISMS = (LeakyResetMode.SUBTRACT, LeakyResetMode.ZERO, LeakyResetMode.NONE)


def leaky(imp: Importer, node: onnx.NodeProto) -> None:
    """`spike.Leaky`, or `spike.Synaptic` (a Leaky with a synaptic current decaying by alpha)."""
    synaptic = node.op_type == "Synaptic"
    spec: dict[str, object] = {"beta": _REQUIRED, "threshold": 1.0, "reset_mechanism": 0}
    attrs = _attrs(node, {**spec, "alpha": _REQUIRED} if synaptic else spec)
    mechanism = _int(attrs, "reset_mechanism")
    if mechanism not in (0, 1, 2):
        raise NodeError("reset_mechanism must be 0 (subtract), 1 (zero) or 2 (none)")
    factors = ("alpha", "beta") if synaptic else ("beta",)
    for name in factors:
        if not 0.0 <= _float(attrs, name) <= 1.0:
            raise NodeError(f"{name} must be in [0, 1], got {_float(attrs, name)}")
    x = imp.operand(imp.time_major(node, 0, "the input"))
    op = spike.LeakyOp(
        x,
        beta=_float(attrs, "beta"),
        threshold=_float(attrs, "threshold"),
        reset_mechanism=_LEAKY_MECHANISMS[mechanism],
        alpha=_float(attrs, "alpha") if synaptic else None,
    )
    _emit(imp, node, op)


_CUBA_LIF_SPEC: dict[str, object] = {
    "dt_tau_mem_inv": _REQUIRED,
    "dt_tau_syn_inv": _REQUIRED,
    "v_leak": 0.0,
    "v_threshold": 1.0,
    "v_reset": 0.0,
}


def cuba_lif(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, _CUBA_LIF_SPEC)
    mem = _float(attrs, "dt_tau_mem_inv")
    if not mem > 0.0:
        raise NodeError(f"dt_tau_mem_inv must be > 0, got {mem}")
    syn = _float(attrs, "dt_tau_syn_inv")
    if not syn >= 0.0:
        raise NodeError(f"dt_tau_syn_inv must be >= 0, got {syn}")
    x = imp.operand(imp.time_major(node, 0, "the input"))
    op = spike.CubaLIFOp(
        x,
        dt_tau_mem_inv=mem,
        dt_tau_syn_inv=syn,
        v_leak=_float(attrs, "v_leak"),
        v_threshold=_float(attrs, "v_threshold"),
        v_reset=_float(attrs, "v_reset"),
    )
    _emit(imp, node, op)


def _uniform(imp: Importer, node: onnx.NodeProto, index: int) -> SSAValue:
    v: Value = imp.input(node, index)
    if not v.is_const and v.layout is not Layout.TIME:
        raise NodeError(f"uniform table (input {index}) must be a constant or time-major")
    return imp.operand(v)


def bernoulli(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, {"seed": 0})
    x = imp.operand(imp.time_major(node, 0, "the probability"))
    op = spike.BernoulliOp(
        x, seed=_int(attrs, "seed"), stream=imp.next_stream(), uniform=_uniform(imp, node, 1)
    )
    _emit(imp, node, op)


def _qkv(imp: Importer, node: onnx.NodeProto) -> tuple[SSAValue, SSAValue, SSAValue]:
    return (
        _spikes(imp, node, 0, "Q"),
        _spikes(imp, node, 1, "K"),
        _spikes(imp, node, 2, "V"),
    )


def ssa(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, {"heads": _REQUIRED, "scale": _REQUIRED})
    q, k, v = _qkv(imp, node)
    op = spike.SSAOp(q, k, v, heads=_int(attrs, "heads"), scale=_float(attrs, "scale"))
    _emit(imp, node, op)


def sdsa(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, {"heads": _REQUIRED, **_LIF_SPEC, "v_threshold": 0.5})
    p = _lif_params(attrs)
    q, k, v = _qkv(imp, node)
    op = spike.SDSAOp(
        q,
        k,
        v,
        heads=_int(attrs, "heads"),
        **vars(p),
    )
    _emit(imp, node, op)


def token_attention(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node, {"heads": _REQUIRED, **_LIF_SPEC, "v_threshold": 0.5})
    p = _lif_params(attrs)
    heads = _int(attrs, "heads")
    q, k = _spikes(imp, node, 0, "Q"), _spikes(imp, node, 1, "K")
    shape = shape_of(q)
    if len(shape) != 4:
        raise NodeError(f"Q must be [T, B, N, D], got [{format_shape(shape).replace('x', ', ')}]")
    if heads < 1 or shape[3] % heads:
        raise NodeError(f"heads = {heads} must be >= 1 and divide D = {shape[3]}")
    if not shapes_compatible(shape_of(k), shape):
        raise NodeError(
            f"K [{format_shape(shape_of(k)).replace('x', ', ')}] must have Q's shape "
            f"[{format_shape(shape).replace('x', ', ')}] (each token masks its own K)"
        )
    op = spike.TokenAttentionOp(
        q,
        k,
        heads=heads,
        **vars(p),
    )
    _emit(imp, node, op)


def stochastic_attention(imp: Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(
        node,
        {"heads": _REQUIRED, "c1": _REQUIRED, "c2": _REQUIRED, "mask_diagonal": 1, "seed": 0},
    )
    q, k, v = _qkv(imp, node)
    op = spike.StochasticAttentionOp(
        q,
        k,
        v,
        heads=_int(attrs, "heads"),
        c1=_float(attrs, "c1"),
        c2=_float(attrs, "c2"),
        mask_diagonal=_flag(attrs, "mask_diagonal"),
        seed=_int(attrs, "seed"),
        stream=imp.next_stream(),
        uniforms=(_uniform(imp, node, 3), _uniform(imp, node, 4)),
    )
    _emit(imp, node, op)


def topk_router(imp: Importer, node: onnx.NodeProto) -> None:
    """Scores time-major `[T, B, N, E]` (routed at every step) or without the time axis
    `[B, N, E]` (routed once for all steps: the gates keep that layout)."""
    attrs = _attrs(node, {"k": _REQUIRED, "softmax": 0, "normalize": 0})
    v = imp.activation(node, 0, "the router scores")
    if v.layout not in (Layout.TIME, Layout.STATIC):
        raise NodeError(
            "the router scores must be time-major [T, B, ..., E] or have no time axis "
            "[B, ..., E]; reshape time-folded scores [T*B, ...] first"
        )
    softmax = _flag(attrs, "softmax")
    if _flag(attrs, "normalize") and not softmax:
        raise NodeError("normalize 1 renormalises softmax weights: it needs softmax 1")
    op = spike.RouteTopKOp(
        imp.operand(v),
        k=_int(attrs, "k"),
        softmax=softmax,
        normalize=_flag(attrs, "normalize"),
        spike_output=not softmax and v.layout is Layout.TIME,
    )
    imp.insert(op)
    imp.define(node, 0, op.gates, v.layout)


def onnx_region(imp: Importer, node: onnx.NodeProto) -> None:
    """A generic region (`UnraisedK`, a function of the model): time-major tensors in and out,
    the outputs shaped as ONNX shape inference says (else like the first input)."""
    function = next(
        (f for f in imp.model.functions if f.domain == DOMAIN and f.name == node.op_type), None
    )
    if function is None:
        raise NodeError(
            f"operator not supported by spikec: '{node.op_type}' is no function of the model"
        )
    reason = attributes(node).get("reason", b"")
    text = reason.decode() if isinstance(reason, bytes) else str(reason)
    inputs = [imp.time_major(node, i, f"input {i}") for i in range(len(node.input))]
    operands = [imp.operand(v) for v in inputs]
    first = list(shape_of(operands[0])) if operands else []
    shapes: list[list[int]] = []
    for name in node.output:
        declared = imp.declared.get(name)
        if declared is None or not first or len(declared) != len(first):
            shapes.append(first)
            continue
        shapes.append(
            [
                d if isinstance(d, int) and d > 0 and d != DYNAMIC else f
                for d, f in zip(declared, first, strict=True)
            ]
        )
    op = spike.OnnxRegionOp(operands, shapes, node.op_type, encode_body(function), text)
    imp.insert(op)
    for i, result in enumerate(op.outputs):
        imp.define(node, i, result, Layout.TIME)


SPIKE_CONVERTERS: dict[str, Converter] = {
    "LIF": lif,
    "IF": if_neuron,
    "Leaky": leaky,
    "Synaptic": leaky,
    "CubaLIF": cuba_lif,
    "Bernoulli": bernoulli,
    "SSA": ssa,
    "SDSA": sdsa,
    "TokenAttention": token_attention,
    "StochasticAttention": stochastic_attention,
    "TopKRouter": topk_router,
    "Dispatch": dispatch_outside_moe,
    "Combine": combine,
}
