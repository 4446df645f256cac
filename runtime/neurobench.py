"""Workload figures as NeuroBench defines them, counted from the values of a run and from the
`spike` op each instruction computes, never from a target's costs: the same run gives the same
figures on every target (a target that splits an op, by heads or experts, splits its counts).

The definitions follow NeuroBench 2.3 (`neurobench.metrics.workload`):

- **Synaptic operations** are the products of a layer with weights (`spike.linear`,
  `spike.conv2d`, and a recurrent neuron's feedback `S Wᵀ`), bias excluded. *Dense*: every
  product, zero weights and zero inputs included (a convolution's padding is not an input).
  *Effective*: only products of a non-zero input and a non-zero weight; accumulates (ACs) where
  that timestep's input holds only 0 and ±1 (spikes), multiply-accumulates (MACs) otherwise.
- **Attention products** (two activations: `spike.matmul` and the attention ops) are counted
  apart, dense; NeuroBench does not count them (they are no layer with weights).
- **Activation sparsity**: the share of zeros among the outputs of the spiking neurons (and of
  the neurons inside attention ops), over all timesteps.
- **Membrane updates**: NeuroBench counts, per neuron, the first step and then every step that
  changes the membrane (`changed`); `all` counts every neuron at every step.

Figures are per batch (the run); the report divides by the batch for per inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from runtime import kernels
from runtime.encoded import EncodedSpikes
from runtime.isa import Value
from runtime.ops import run_op
from runtime.program import AttrValue

F64 = np.float64


@dataclass
class Workload:
    """NeuroBench's counts of one instruction (per batch)."""

    dense_synops: float = 0.0
    effective_macs: float = 0.0
    effective_acs: float = 0.0
    attention_products: float = 0.0
    spikes: float = 0.0
    """Non-zero outputs of spiking neurons."""
    neurons: float = 0.0
    """Outputs of spiking neurons (neurons x timesteps x batch)."""
    membrane_updates: float = 0.0
    """NeuroBench's: the first step, then the steps that change the membrane."""
    membrane_updates_all: float = 0.0
    """Every neuron at every step."""

    def add(self, other: Workload) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _dense(value: Value) -> np.ndarray:
    return value.to_dense() if isinstance(value, EncodedSpikes) else np.asarray(value)


def _spiking_steps(x: np.ndarray) -> np.ndarray:
    """NeuroBench's test, per timestep: every value is 0, 1 or -1 (`[T]` booleans)."""
    binary = (x == 0) | (x == 1) | (x == -1)
    return binary.reshape(x.shape[0], -1).all(axis=1)


def _credit(work: Workload, effective: np.ndarray, spiking: np.ndarray) -> None:
    """Per timestep: ACs where the input was spikes, MACs where it was not."""
    work.effective_acs += float(effective[spiking].sum())
    work.effective_macs += float(effective[~spiking].sum())


def _linear(x: np.ndarray, w: np.ndarray, transpose: bool, work: Workload) -> None:
    """Per timestep: the non-zero inputs of each feature times that feature's non-zero weights."""
    weight = w.T if transpose else w  # [in, out]
    fan_out = np.count_nonzero(weight, axis=1).astype(F64)  # non-zero weights per input
    steps = x.reshape(x.shape[0], -1, x.shape[-1])
    work.dense_synops += float(steps.shape[0] * steps.shape[1] * weight.size)
    per_feature = np.count_nonzero(steps, axis=1).astype(F64)  # [T, in]
    _credit(work, per_feature @ fan_out, _spiking_steps(x))


def _conv2d(x: np.ndarray, w: np.ndarray, attrs: dict[str, AttrValue], work: Workload) -> None:
    """Per timestep and kernel position: the non-zero inputs each output position reads (not
    the padding) times the non-zero weights at that position."""
    strides, pads, dilations = (_ints(attrs, k) for k in ("strides", "pads", "dilations"))
    group = int(attrs["group"])  # type: ignore[arg-type]
    out_c, in_per_group, kh, kw = w.shape
    channels = x.shape[-3]
    h, wd = x.shape[-2:]
    # non-zero weights per (input channel, p, q): over the output channels of its group
    per_group = out_c // group
    nonzero = (w != 0).reshape(group, per_group, in_per_group, kh, kw).sum(axis=1)
    fan_out = nonzero.reshape(channels, kh, kw).astype(F64)
    steps = x.reshape(x.shape[0], -1, channels, h, wd)
    window = ((kh, kw), strides, pads, dilations)
    valid = _covered(np.ones((1, 1, 1, h, wd), np.float32), *window).sum()  # one channel's
    work.dense_synops += float(steps.shape[0] * steps.shape[1] * per_group * channels * valid)
    reads = _covered((steps != 0).astype(np.float32), *window)  # [T, C, kh, kw]
    _credit(work, (reads * fan_out).sum(axis=(1, 2, 3)), _spiking_steps(x))


def _ints(attrs: dict[str, AttrValue], key: str) -> list[int]:
    value = attrs[key]
    assert isinstance(value, list)
    return [int(v) for v in value]  # type: ignore[arg-type]


def _covered(
    nonzero: np.ndarray,
    kernel: tuple[int, int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
) -> np.ndarray:
    """`[T, C, kh, kw]` from `[T, rows, C, H, W]`: for each timestep, input channel and kernel
    position, how many (row, output position) pairs read a non-zero input there."""
    kh, kw = kernel
    per_channel = nonzero.sum(axis=1)  # [T, C, H, W], rows summed
    padded = np.pad(per_channel, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    h, w = padded.shape[-2:]
    ho = (h - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    wo = (w - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    out = np.zeros((*padded.shape[:2], kh, kw), F64)
    for p in range(kh):
        for q in range(kw):
            r0, c0 = p * dilations[0], q * dilations[1]
            window = padded[
                ...,
                r0 : r0 + strides[0] * (ho - 1) + 1 : strides[0],
                c0 : c0 + strides[1] * (wo - 1) + 1 : strides[1],
            ]
            out[..., p, q] = window.sum(axis=(-2, -1), dtype=F64)
    return out


def _membranes(work: Workload, trace: list[np.ndarray]) -> None:
    if not trace:
        return
    stacked = np.stack(trace)
    work.membrane_updates_all += float(stacked.size)
    work.membrane_updates += float(stacked[0].size)
    if len(trace) > 1:
        work.membrane_updates += float(np.count_nonzero(stacked[1:] != stacked[:-1]))


def _spikes(work: Workload, spikes: np.ndarray) -> None:
    work.spikes += float(np.count_nonzero(spikes))
    work.neurons += float(spikes.size)


def _neuron(
    op: str,
    args: list[np.ndarray],
    attrs: dict[str, AttrValue],
    spikes: np.ndarray,
    membranes: list[np.ndarray],
    work: Workload,
) -> None:
    """A neuron's spikes and membrane updates, from the membranes its semantics recorded (a
    design whose semantics computed the neuron its own way records none: run it again)."""
    trace = membranes if membranes else []
    if not membranes:
        run_op(op, args, attrs, trace)
    _membranes(work, trace)
    _spikes(work, spikes)
    if op == "leaky" and len(args) > 1:  # the recurrent feedback `S(t-1) Wᵀ`: a layer
        previous = np.concatenate([np.zeros_like(spikes[:1]), spikes[:-1]])
        _linear(previous, args[1], True, work)


NEURONS = ("lif", "if", "leaky", "cuba_lif", "lif_box")
"""Spiking neurons with a membrane."""

STATELESS_NEURONS = ("bernoulli", "threshold")
"""Spiking neurons without one: spikes, no membrane updates."""


def count(
    op: str,
    args: Sequence[Value],
    results: Sequence[Value],
    attrs: dict[str, AttrValue],
    membranes: list[np.ndarray] | None = None,
) -> Workload:
    """NeuroBench's counts of one instruction computing `spike.<op>` (its own operands first;
    `membranes`: a neuron's, as its semantics recorded them, `Execution.membranes`)."""
    work = Workload()
    if op in ("linear", "conv2d"):
        x, w = _dense(args[0]), _dense(args[1])
        if op == "linear":
            _linear(x, w, bool(attrs.get("transpose_weight", False)), work)
        else:
            _conv2d(x, w, attrs, work)
    elif op in NEURONS:
        dense = [_dense(a) for a in args]
        _neuron(op, dense, attrs, _dense(results[0]), membranes or [], work)
    elif op in STATELESS_NEURONS:
        _spikes(work, _dense(results[0]))
    elif op == "li":
        out = _dense(results[0])
        _membranes(work, list(out))
    elif op in ("sdsa", "token_attention"):
        _attention_neuron(op, [_dense(a) for a in args], attrs, work)
    elif op in ("ssa", "stochastic_attention"):
        # Q Kᵀ and (Q Kᵀ) V: each query's channels against every key (a partition's operands
        # are its heads' and queries' slices; head_range and query_range only place them)
        q, k = _dense(args[0]), _dense(args[1])
        work.attention_products += 2.0 * q.size * k.shape[-2]
    elif op == "matmul":
        a, b = _dense(args[0]), _dense(args[1])
        work.attention_products += float(a.size * b.shape[-1])
    return work


def _attention_neuron(
    op: str, args: list[np.ndarray], a: dict[str, AttrValue], work: Workload
) -> None:
    """SDSA's LIF over `Σ K ⊙ V` gates Q; token attention's over each token's Q sum gates K:
    the products counted apart, the LIF as a neuron."""
    trace: list[np.ndarray] = []
    if op == "sdsa":
        q, k, v = args[:3]
        current = kernels.sdsa_current(k, v)
        work.attention_products += float(k.size + q.size)  # K ⊙ V, then Q ⊙ mask
    else:
        q, k = args[:2]
        current = kernels.token_sums(q, int(a["heads"]))  # type: ignore[arg-type]
        work.attention_products += float(k.size)  # mask ⊙ K
    (mask,) = run_op("lif", [current], a, trace)  # the op's LIF properties are LIF's
    _spikes(work, mask)
    _membranes(work, trace)
