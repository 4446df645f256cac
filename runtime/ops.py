"""The semantics of every `spike` operation on runtime values, with the op's properties given as
instruction attributes of the same names (`tau`, `strides`, `heads`, ...).

Targets build their opcodes from these functions (a target's instruction computes what the
reference interpreter computes, through the same kernels) and add their own costs. Inputs may
be dense arrays or address-encoded spikes; results are dense, and the interpreter encodes those
that the program declares as `addr` buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from runtime import kernels, onnx_region
from runtime.encoded import EncodedSpikes
from runtime.isa import AttrSpec, ResultKind
from runtime.program import AttrValue
from runtime.random import uniform_tables

Value = np.ndarray | EncodedSpikes
Attrs = dict[str, AttrValue]
OpSemantics = Callable[[Sequence[np.ndarray], Attrs], list[np.ndarray]]


def dense(value: Value) -> np.ndarray:
    return value.to_dense() if isinstance(value, EncodedSpikes) else value


def _ints(attrs: Attrs, key: str) -> list[int]:
    value = attrs[key]
    assert isinstance(value, list)
    return [int(v) for v in value]  # type: ignore[arg-type]


def _f(attrs: Attrs, key: str) -> float:
    return float(attrs[key])  # type: ignore[arg-type]


def _i(attrs: Attrs, key: str) -> int:
    return int(attrs[key])  # type: ignore[arg-type]


def _b(attrs: Attrs, key: str, default: bool = False) -> bool:
    return bool(attrs.get(key, default))


def _lif_args(a: Attrs) -> tuple[float, float, float, bool, bool]:
    """The LIF parameters every neuron-carrying op has, in the kernels' order (`LIF_ATTRS`)."""
    return (
        _f(a, "tau"),
        _f(a, "v_threshold"),
        _f(a, "v_reset"),
        _b(a, "decay_input"),
        a["reset"] == "soft",
    )


def _lif(
    args: Sequence[np.ndarray], a: Attrs, trace: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    decay = a.get("decay")
    return [
        kernels.lif(
            args[0],
            *_lif_args(a),
            None if decay is None else float(decay),  # type: ignore[arg-type]
            trace=trace,
        )
    ]


def _if(
    args: Sequence[np.ndarray], a: Attrs, trace: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    return [
        kernels.if_neuron(
            args[0],
            _f(a, "v_threshold"),
            _f(a, "v_reset"),
            a["reset"] == "soft",
            _b(a, "strict"),
            trace=trace,
        )
    ]


def _leaky(
    args: Sequence[np.ndarray], a: Attrs, trace: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    alpha = a.get("alpha")
    mechanism = str(a["reset_mechanism"])
    return [
        kernels.leaky(
            args[0],
            _f(a, "beta"),
            _f(a, "threshold"),
            mechanism,
            None if alpha is None else float(alpha),  # type: ignore[arg-type]
            not _b(a, "immediate_reset"),
            None if len(args) == 1 else (args[1], args[2] if len(args) == 3 else None),
            trace=trace,
        )
    ]


def _cuba_lif(
    args: Sequence[np.ndarray], a: Attrs, trace: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    return [
        kernels.cuba_lif(
            args[0],
            _f(a, "dt_tau_mem_inv"),
            _f(a, "dt_tau_syn_inv"),
            _f(a, "v_leak"),
            _f(a, "v_threshold"),
            _f(a, "v_reset"),
            trace=trace,
        )
    ]


def _lif_box(
    args: Sequence[np.ndarray], a: Attrs, trace: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    return [
        kernels.lif_box(
            args[0],
            _f(a, "dt_tau_mem_inv"),
            _f(a, "v_leak"),
            _f(a, "v_threshold"),
            _f(a, "v_reset"),
            trace=trace,
        )
    ]


def _sdsa(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    return [kernels.sdsa(args[0], args[1], args[2], *_lif_args(a))]


def _token_attention(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    return [kernels.token_attention(args[0], args[1], _i(a, "heads"), *_lif_args(a))]


def _li(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    v_leak = a.get("v_leak")
    leak = None if v_leak is None else float(v_leak)  # type: ignore[arg-type]
    return [kernels.leaky_integrator(args[0], _f(a, "dt_tau_mem_inv"), leak)]


def _bernoulli(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    x = args[0]
    if len(args) == 2:
        uniform = args[1]
    else:
        (uniform,) = uniform_tables(_i(a, "seed"), _i(a, "stream"), [x.shape])
    return [kernels.bernoulli(x, uniform)]


def _linear(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    bias = args[2] if len(args) == 3 else None
    return [kernels.linear(args[0], args[1], bias, _b(a, "transpose_weight"))]


def _conv2d(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    bias = args[2] if len(args) == 3 else None
    return [
        kernels.conv2d(
            args[0],
            args[1],
            bias,
            _ints(a, "strides"),
            _ints(a, "pads"),
            _ints(a, "dilations"),
            _i(a, "group"),
        )
    ]


def _batch_norm(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    x, scale, bias, mean, var = args
    return [kernels.batch_norm(x, scale, bias, mean, var, _f(a, "epsilon"), _i(a, "axis"))]


def _layer_norm(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    beta = args[2] if len(args) == 3 else None
    return [kernels.layer_norm(args[0], args[1], beta, _f(a, "epsilon"))]


def stochastic_stages(
    args: Sequence[np.ndarray], a: Attrs
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`spike.stochastic_attention` with its intermediates (`kernels.stochastic_attention_stages`):
    the uniform numbers are the operands, or drawn from (seed, stream) for the whole attention
    and cut to this op's heads and queries."""
    q, k, v = args[:3]
    heads = _i(a, "heads")
    h0, total_heads = _ints(a, "head_range") if "head_range" in a else (0, heads)
    q0, total_queries = _ints(a, "query_range") if "query_range" in a else (0, q.shape[2])
    if len(args) == 5:
        u1, u2 = args[3], args[4]
    else:
        t, b, nq, d = q.shape
        full1, full2 = uniform_tables(
            _i(a, "seed"),
            _i(a, "stream"),
            [
                (t, b, total_heads, total_queries, k.shape[2]),
                (t, b, total_heads, total_queries, d // heads),
            ],
        )
        u1 = full1[:, :, h0 : h0 + heads, q0 : q0 + nq]
        u2 = full2[:, :, h0 : h0 + heads, q0 : q0 + nq]
    return kernels.stochastic_attention_stages(
        q, k, v, u1, u2, heads, _f(a, "c1"), _f(a, "c2"), _b(a, "mask_diagonal"), q0
    )


def _stochastic(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    return [stochastic_stages(args, a)[0]]


def _dispatch(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    tokens = _ints(a, "tokens") if "tokens" in a else None
    return [
        kernels.dispatch(
            args[0], args[1], _i(a, "expert"), None if tokens is None else (tokens[0], tokens[1])
        )
    ]


def _combine(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    experts = _ints(a, "experts") if "experts" in a else None
    flat = _ints(a, "tokens") if "tokens" in a else None
    tokens: list[tuple[int, int] | None] | None = None
    if flat is not None:
        tokens = [(flat[2 * j], flat[2 * j + 1]) for j in range(len(flat) // 2)]
    return [kernels.combine(args[0], args[1:], experts, tokens)]


def _split(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
    bounds = np.cumsum(_ints(a, "sizes"))[:-1]
    return list(np.split(args[0], bounds, axis=_i(a, "axis")))


def _reduce(kind: str) -> OpSemantics:
    def run(args: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
        method = getattr(args[0], kind)
        return [method(axis=tuple(_ints(a, "axes")), keepdims=_b(a, "keepdims"))]

    return run


Entry = tuple[OpSemantics, tuple[int, int], int, dict[str, AttrSpec]]

_FLOAT, _INT, _BOOL, _STR, _LIST = (
    AttrSpec(float),
    AttrSpec(int),
    AttrSpec(bool),
    AttrSpec(str),
    AttrSpec(list),
)


def _opt(spec: AttrSpec) -> AttrSpec:
    return AttrSpec(spec.kind, required=False, accepts=spec.accepts)


def _one_of(*choices: str) -> AttrSpec:
    def accepts(value: object) -> str | None:
        return None if value in choices else f"is none of {', '.join(choices)}"

    return AttrSpec(str, accepts=accepts)


def _number(low: float, high: float = math.inf, *, open_low: bool = False) -> AttrSpec:
    """A finite number in [low, high] (or (low, high] with `open_low`)."""

    def accepts(value: object) -> str | None:
        x = float(value)  # type: ignore[arg-type]
        fits = (x > low if open_low else x >= low) and x <= high and math.isfinite(x)
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        return None if fits else f"is out of range: it must be finite and in {bounds}"

    return AttrSpec(float, accepts=accepts)


def _count(low: int = 1) -> AttrSpec:
    def accepts(value: object) -> str | None:
        return None if int(value) >= low else f"must be at least {low}"  # type: ignore[call-overload]

    return AttrSpec(int, accepts=accepts)


LIF_ATTRS = {
    "tau": _number(0.0, open_low=True),
    "v_threshold": _FLOAT,
    "v_reset": _FLOAT,
    "decay_input": _BOOL,
    "reset": _one_of("hard", "soft"),
}

LEAKY_ATTRS = {
    "beta": _number(0.0, 1.0),
    "threshold": _FLOAT,
    "reset_mechanism": _one_of("subtract", "zero", "none"),
    "alpha": _opt(_number(0.0, 1.0)),
    "immediate_reset": _opt(_BOOL),
}
CUBA_LIF_ATTRS = {
    "dt_tau_mem_inv": _number(0.0, open_low=True),
    "dt_tau_syn_inv": _number(0.0),
    "v_leak": _FLOAT,
    "v_threshold": _FLOAT,
    "v_reset": _FLOAT,
}
LIF_BOX_ATTRS = {
    "dt_tau_mem_inv": _number(0.0, open_low=True),
    "v_leak": _FLOAT,
    "v_threshold": _FLOAT,
    "v_reset": _FLOAT,
}

SEMANTICS: dict[str, Entry] = {
    "lif": (_lif, (1, 1), 1, {**LIF_ATTRS, "decay": _opt(_number(0.0, 1.0, open_low=True))}),
    "if": (
        _if,
        (1, 1),
        1,
        {
            "v_threshold": _FLOAT,
            "v_reset": _FLOAT,
            "reset": _one_of("hard", "soft"),
            "strict": _opt(_BOOL),
        },
    ),
    "leaky": (_leaky, (1, 3), 1, LEAKY_ATTRS),
    "cuba_lif": (_cuba_lif, (1, 1), 1, CUBA_LIF_ATTRS),
    "lif_box": (_lif_box, (1, 1), 1, LIF_BOX_ATTRS),
    "li": (
        _li,
        (1, 1),
        1,
        {"dt_tau_mem_inv": _number(0.0, open_low=True), "v_leak": _opt(_FLOAT)},
    ),
    "delay": (
        lambda args, a: [kernels.delay(args[0], _i(a, "steps"))],
        (1, 1),
        1,
        {"steps": _count(0)},
    ),
    "threshold": (
        lambda args, a: [kernels.threshold(args[0], _f(a, "threshold"))],
        (1, 1),
        1,
        {"threshold": _FLOAT},
    ),
    "bernoulli": (_bernoulli, (1, 2), 1, {"seed": _INT, "stream": _INT}),
    "linear": (_linear, (2, 3), 1, {"transpose_weight": _opt(_BOOL)}),
    "conv2d": (
        _conv2d,
        (2, 3),
        1,
        {"strides": _LIST, "pads": _LIST, "dilations": _LIST, "group": _INT},
    ),
    "matmul": (lambda args, a: [kernels.matmul(args[0], args[1])], (2, 2), 1, {}),
    "batch_norm": (_batch_norm, (5, 5), 1, {"epsilon": _FLOAT, "axis": _INT}),
    "layer_norm": (_layer_norm, (2, 3), 1, {"epsilon": _FLOAT}),
    "maxpool": (
        lambda args, a: [
            kernels.maxpool(args[0], _ints(a, "kernel"), _ints(a, "strides"), _ints(a, "pads"))
        ],
        (1, 1),
        1,
        {"kernel": _LIST, "strides": _LIST, "pads": _LIST},
    ),
    "avgpool": (
        lambda args, a: [
            kernels.avgpool(
                args[0],
                _ints(a, "kernel"),
                _ints(a, "strides"),
                _ints(a, "pads"),
                _b(a, "count_include_pad"),
            )
        ],
        (1, 1),
        1,
        {"kernel": _LIST, "strides": _LIST, "pads": _LIST, "count_include_pad": _BOOL},
    ),
    "add": (lambda args, a: [args[0] + args[1]], (2, 2), 1, {}),
    "sub": (lambda args, a: [args[0] - args[1]], (2, 2), 1, {}),
    "mul": (lambda args, a: [args[0] * args[1]], (2, 2), 1, {}),
    "div": (lambda args, a: [args[0] / args[1]], (2, 2), 1, {}),
    "reduce_sum": (_reduce("sum"), (1, 1), 1, {"axes": _LIST, "keepdims": _BOOL}),
    "reduce_mean": (_reduce("mean"), (1, 1), 1, {"axes": _LIST, "keepdims": _BOOL}),
    "reduce_max": (_reduce("max"), (1, 1), 1, {"axes": _LIST, "keepdims": _BOOL}),
    "reshape": (lambda args, a: [args[0].reshape(_ints(a, "shape"))], (1, 1), 1, {"shape": _LIST}),
    "transpose": (
        lambda args, a: [np.ascontiguousarray(args[0].transpose(_ints(a, "perm")))],
        (1, 1),
        1,
        {"perm": _LIST},
    ),
    "concat": (
        lambda args, a: [np.concatenate(list(args), axis=_i(a, "axis"))],
        (1, 1 << 16),
        1,
        {"axis": _INT},
    ),
    "split": (_split, (1, 1), -1, {"axis": _INT, "sizes": _LIST}),
    "ssa": (
        lambda args, a: [kernels.ssa(args[0], args[1], args[2], _i(a, "heads"), _f(a, "scale"))],
        (3, 3),
        1,
        {"heads": _count(), "scale": _FLOAT},
    ),
    "sdsa": (
        _sdsa,
        (3, 3),
        1,
        {"heads": _count(), **LIF_ATTRS},
    ),
    "token_attention": (
        _token_attention,
        (2, 2),
        1,
        {"heads": _count(), **LIF_ATTRS},
    ),
    "stochastic_attention": (
        _stochastic,
        (3, 5),
        1,
        {
            "heads": _INT,
            "c1": _FLOAT,
            "c2": _FLOAT,
            "mask_diagonal": _BOOL,
            "seed": _INT,
            "stream": _INT,
            "head_range": _opt(_LIST),
            "query_range": _opt(_LIST),
        },
    ),
    "route_topk": (
        lambda args, a: [
            kernels.route_topk(args[0], _i(a, "k"), _b(a, "softmax"), _b(a, "normalize"))
        ],
        (1, 1),
        1,
        {"k": _count(), "softmax": _opt(_BOOL), "normalize": _opt(_BOOL)},
    ),
    "dispatch": (_dispatch, (2, 2), 1, {"expert": _INT, "tokens": _opt(_LIST)}),
    "combine": (_combine, (2, 1 << 16), 1, {"experts": _opt(_LIST), "tokens": _opt(_LIST)}),
    "encode": (lambda args, a: [args[0]], (1, 1), 1, {}),
    "decode": (lambda args, a: [args[0]], (1, 1), 1, {}),
    "copy": (lambda args, a: [args[0].copy()], (1, 1), 1, {}),
    "onnx_region": (
        lambda args, a: onnx_region.region_outputs(str(a["body"]), args),
        (1, 1 << 16),
        -1,
        {"name": _STR, "body": _STR, "reason": _opt(_STR)},
    ),
}
"""op name -> (semantics on dense inputs, (least, most) inputs, outputs (-1: any), attributes)."""

RESULT_KINDS: dict[str, ResultKind] = {
    **dict.fromkeys(
        ("lif", "if", "leaky", "cuba_lif", "lif_box", "bernoulli", "encode", "decode", "sdsa"),
        "spikes",
    ),
    "threshold": "spikes",
    "li": "reals",
    "delay": "first",
    **dict.fromkeys(("token_attention", "stochastic_attention"), "spikes"),
    **dict.fromkeys(
        ("linear", "conv2d", "matmul", "batch_norm", "layer_norm", "ssa", "onnx_region"), "reals"
    ),
    **dict.fromkeys(("avgpool", "reduce_mean", "reduce_sum", "add", "sub", "div"), "reals"),
    **dict.fromkeys(("reshape", "transpose", "split", "maxpool", "reduce_max", "copy"), "first"),
    **dict.fromkeys(("concat", "mul"), "all"),
    **dict.fromkeys(("route_topk", "dispatch", "combine"), "either"),
}
"""op name -> whether its results are spikes, as the `spike` dialect's verifiers decide
(`runtime.isa.ResultKind`)."""


TRACED = frozenset({"lif", "if", "leaky", "cuba_lif", "lif_box"})
"""The ops whose semantics run a neuron with a membrane (a keyword `trace` receives it)."""


def run_op(
    name: str,
    args: Sequence[Value],
    attrs: Attrs,
    membranes: list[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """The op's results from any (dense or encoded) inputs; a neuron's membrane after each
    step is appended to `membranes` when given (NeuroBench's membrane updates)."""
    semantics = SEMANTICS[name][0]
    values = [dense(a) for a in args]
    if membranes is not None and name in TRACED:
        return semantics(values, attrs, trace=membranes)  # type: ignore[call-arg]
    return semantics(values, attrs)
