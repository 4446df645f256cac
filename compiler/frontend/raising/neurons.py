"""Raise neurons unrolled over time into one `spike.LIF` / `spike.IF` call.

An exporter writes a multi-step neuron as T copies of its step: charge `H = f(V, X[t])`, fire
`S = (H >= θ)` (or `H - θ >= 0`), reset `V = g(H, S)`, and restacks the spikes with
Unsqueeze + Concat. The pass finds the fires, follows the state from one fire's reset into the next
fire's charge (dataflow, not names or node order), and accepts a chain only when

- every step's charge computes, bit for bit on probe values, the charge of one neuron model (LIF
  with `decay_input` true or false, IF) with parameters read from the graph, and the first step
  starts from that model's resting state;
- every reset is a hard reset to one potential or a subtractive reset by the threshold;
- the inputs are the time slices 0..T-1 of one time-major tensor, and the spikes are restacked in
  order; the membrane is used by nothing but the neuron itself.

A chain that fails a check is left as it is, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper

from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.raising.expr import Expr, evaluate, extract, leaf, probes, same_bits
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.report import Left, Raised, RaiseReport

STATE = "@V"
"""The leaf that stands for the previous step's membrane in a charge expression."""


@dataclass
class Fire:
    """One step's threshold comparison and the spike it casts to float."""

    cast: onnx.NodeProto
    compare: onnx.NodeProto
    membrane: str
    threshold: float
    strict: bool
    nodes: set[int] = field(default_factory=set)
    charge: Expr | None = None
    reset: Expr | None = None
    """The previous step's reset, in terms of the previous fire's membrane and spike."""
    previous: Fire | None = None
    input: str = ""

    @property
    def spike(self) -> str:
        return self.cast.output[0]


def _fire(graph: Graph, cast: onnx.NodeProto) -> Fire | str | None:
    """The fire whose spike `cast` produces; None when it is no fire, a reason when it is one that
    cannot be raised."""
    if not is_standard(cast) or cast.op_type != "Cast" or not cast.input:
        return None
    compare = graph.producer.get(cast.input[0])
    if compare is None or compare.op_type not in ("GreaterOrEqual", "Greater"):
        return None
    if attributes(cast).get("to") != TensorProto.FLOAT:
        return "the comparison is cast to a type other than float32"
    a, b = compare.input[0], compare.input[1]
    bound = graph.scalar(b)
    if bound is None:
        return "the comparison is not against a constant threshold"
    nodes = {id(cast), id(compare)}
    membrane, threshold = a, bound
    sub = graph.producer.get(a)
    if bound == 0.0 and sub is not None and sub.op_type == "Sub" and is_standard(sub):
        offset = graph.scalar(sub.input[1])
        if offset is not None and graph.uses(a) == [compare]:
            membrane, threshold = sub.input[0], offset
            nodes.add(id(sub))
    return Fire(cast, compare, membrane, threshold, compare.op_type == "Greater", nodes)


# -- neuron models -------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A neuron's charge: `H = charge(V, X)`, starting from V = `rest`."""

    kind: str
    params: dict[str, float]
    decay_input: bool
    charge: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _lif(tau: float, vr: float, decay_input: bool) -> Model:
    t, r = np.float32(tau), np.float32(vr)

    def charge(v: np.ndarray, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            if decay_input:
                return (v + (x - (v - r)) / t).astype(np.float32)
            return (v - (v - r) / t + x).astype(np.float32)

    return Model("LIF", {"tau": tau, "v_reset": vr}, decay_input, charge)


def _if(vr: float) -> Model:
    def charge(v: np.ndarray, x: np.ndarray) -> np.ndarray:
        return (v + x).astype(np.float32)

    return Model("IF", {"v_reset": vr}, True, charge)


def _candidates(constants: set[float], vr: float) -> list[Model]:
    models = [_if(vr)]
    for c in sorted(constants):
        for tau in {c, float(np.float32(1.0 / c)) if c else 0.0}:
            if tau > 0:
                models.append(_lif(tau, vr, True))
                models.append(_lif(tau, vr, False))
    return models


class ChainError(Exception):
    """Why a chain of fires is not one neuron."""


def _reset_kind(reset: Expr, fire: Fire) -> tuple[str, float]:
    """('hard', v_reset) or ('soft', 0.0) for the reset expression of `fire`'s step."""
    h = probes()
    env0 = {fire.membrane: h, fire.spike: np.zeros_like(h)}
    env1 = {fire.membrane: h, fire.spike: np.ones_like(h)}
    missing = set(reset.leaves()) - set(env0)
    if missing:
        raise ChainError(f"the reset reads {sorted(missing)} besides the membrane and the spike")
    if not same_bits(evaluate(reset, env0), h):
        raise ChainError("the state after a step without a spike is not the membrane itself")
    after = np.broadcast_to(evaluate(reset, env1), h.shape)
    if np.all(after == after[0]):
        return "hard", float(after[0])
    theta = np.float32(fire.threshold)
    if same_bits(after, h - theta):
        return "soft", 0.0
    raise ChainError(
        "the reset is neither to a constant potential (hard) nor a subtraction of the threshold "
        "(soft)"
    )


def _identify(chain: list[Fire], vr: float) -> Model:
    constants: set[float] = set()
    for fire in chain:
        assert fire.charge is not None
        constants.update(fire.charge.constants())
    x = probes(seed=1)
    v = probes(seed=2)
    for model in _candidates(constants, vr):
        ok = True
        for t, fire in enumerate(chain):
            assert fire.charge is not None
            state = np.full_like(x, vr) if t == 0 else v
            env = {fire.input: x, STATE: v}
            if not same_bits(evaluate(fire.charge, env), model.charge(state, x)):
                ok = False
                break
        if ok:
            return model
    first = chain[0].charge
    raise ChainError(
        "the charge matches no neuron model (LIF with decay_input true or false, IF) starting from "
        f"V = {vr:g}, for any constant of the graph as τ (charge of step 0: {_show(first)})"
    )


def _show(expr: Expr | None) -> str:
    if expr is None:
        return "?"
    if expr.op == "const":
        return f"{expr.value:g}"
    if expr.op == "leaf":
        return "V" if expr.name == STATE else "X"
    if expr.op == "Neg":
        return f"-({_show(expr.args[0])})"
    sym = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}[expr.op]
    return f"({_show(expr.args[0])} {sym} {_show(expr.args[1])})"


# -- time slices and restacking -------------------------------------------------------------


def time_slice(graph: Graph, name: str) -> tuple[str, int] | None:
    """(source, t) when `name` is step t of the time-major `source`: Slice+Squeeze, Gather, or
    Split+Squeeze along axis 0."""
    node = graph.producer.get(name)
    if node is None or not is_standard(node):
        return None
    if node.op_type == "Gather":
        index = graph.constant(node.input[1])
        if index is None or index.ndim != 0 or attributes(node).get("axis", 0) != 0:
            return None
        return node.input[0], int(index)
    squeezed = graph.ints(node.input[1]) if len(node.input) > 1 else None
    if node.op_type != "Squeeze" or squeezed != [0]:
        return None
    inner = graph.producer.get(node.input[0])
    if inner is None or not is_standard(inner):
        return None
    if inner.op_type == "Slice":
        starts, ends = graph.ints(inner.input[1]), graph.ints(inner.input[2])
        axes = graph.ints(inner.input[3]) if len(inner.input) > 3 and inner.input[3] else [0]
        steps = graph.ints(inner.input[4]) if len(inner.input) > 4 and inner.input[4] else [1]
        one_step = starts and ends and len(starts) == 1 and ends[0] == starts[0] + 1
        if one_step and axes == [0] and steps == [1]:
            assert starts is not None
            return inner.input[0], starts[0]
        return None
    if inner.op_type == "Split" and attributes(inner).get("axis", 0) == 0:
        sizes = graph.ints(inner.input[1]) if len(inner.input) > 1 and inner.input[1] else None
        if sizes is None or all(s == 1 for s in sizes):
            return inner.input[0], list(inner.output).index(node.input[0])
    return None


def _restack(graph: Graph, chain: list[Fire], own: set[int]) -> onnx.NodeProto:
    """The Concat that stacks the chain's spikes along a new time axis, in order."""
    concat: onnx.NodeProto | None = None
    for t, fire in enumerate(chain):
        uses = [u for u in graph.uses(fire.spike) if id(u) not in own]
        if graph.is_output(fire.spike) or len(uses) != 1 or uses[0].op_type != "Unsqueeze":
            raise ChainError(
                f"the spikes of step {t} are used outside a restacking along time "
                f"({', '.join(label(u) for u in uses) or 'a graph output'})"
            )
        unsqueeze = uses[0]
        if graph.ints(unsqueeze.input[1]) != [0]:
            raise ChainError(f"the spikes of step {t} are unsqueezed on an axis other than 0")
        after = graph.uses(unsqueeze.output[0])
        if len(after) != 1 or after[0].op_type != "Concat" or attributes(after[0]).get("axis"):
            raise ChainError(f"the spikes of step {t} are not concatenated along axis 0")
        if concat is not None and after[0] is not concat:
            raise ChainError("the spikes of the steps go to different Concats")
        concat = after[0]
        if list(concat.input).index(unsqueeze.output[0]) != t:
            raise ChainError("the spikes are restacked out of time order")
    assert concat is not None
    if len(concat.input) != len(chain):
        raise ChainError(f"the Concat joins {len(concat.input)} tensors for {len(chain)} steps")
    return concat


# -- the pass ------------------------------------------------------------------------------


def _link(graph: Graph, fires: list[Fire]) -> None:
    """Each fire's charge, with the previous fire's reset replaced by the state leaf."""
    owner: dict[str, Fire] = {}
    for fire in fires:
        owner[fire.membrane] = fire
        owner[fire.spike] = fire
    for fire in fires:
        charge = extract(graph, fire.membrane, set(owner) - {fire.membrane}, fire.nodes)
        found: list[tuple[Fire, Expr]] = []
        fire.charge = charge.substitute(_state_of(fire, owner, found))
        if len({id(p) for p, _ in found}) == 1:
            fire.previous, fire.reset = found[0]
        inputs = {n for n in fire.charge.leaves() if n != STATE}
        fire.input = next(iter(inputs)) if len(inputs) == 1 else ""


def _state_of(
    fire: Fire, owner: dict[str, Fire], found: list[tuple[Fire, Expr]]
) -> Callable[[Expr], Expr | None]:
    """A substitution: a subtree computed from one earlier fire's membrane and spike alone is
    that fire's reset, i.e. the state `fire` charges from."""

    def state(sub: Expr) -> Expr | None:
        names = set(sub.leaves())
        if not names or not all(n in owner for n in names):
            return None
        previous = {id(owner[n]): owner[n] for n in names}
        if len(previous) != 1:
            return None
        (before,) = previous.values()
        if before is fire:
            return None
        found.append((before, sub))
        return leaf(STATE)

    return state


def _chains(fires: list[Fire]) -> tuple[list[list[Fire]], list[tuple[Fire, str]]]:
    following: dict[int, list[Fire]] = {}
    for fire in fires:
        if fire.previous is not None:
            following.setdefault(id(fire.previous), []).append(fire)
    chains: list[list[Fire]] = []
    bad: list[tuple[Fire, str]] = []
    for fire in fires:
        if fire.previous is not None:
            continue
        chain = [fire]
        while True:
            nxt = following.get(id(chain[-1]), [])
            if len(nxt) > 1:
                bad.append((chain[-1], "its state feeds the charge of more than one later step"))
                break
            if not nxt:
                break
            chain.append(nxt[0])
        chains.append(chain)
    return chains, bad


def raise_neurons(graph: Graph, timesteps: int | None, report: RaiseReport) -> None:
    fires: list[Fire] = []
    for node in graph.nodes:
        found = _fire(graph, node)
        if isinstance(found, str):
            report.left.append(Left(label(node), found))
        elif found is not None:
            fires.append(found)
    _link(graph, fires)
    chains, bad = _chains(fires)
    for fire, reason in bad:
        report.left.append(Left(label(fire.compare), reason))
    for chain in chains:
        try:
            node, replaced = _raise_chain(graph, chain, timesteps)
        except ChainError as e:
            report.left.append(Left(label(chain[0].compare), f"not raised: {e}"))
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        details = ", ".join(f"{k}={v:g}" for k, v in attrs.items())
        report.raised.append(
            Raised(node.op_type, node.output[0], f"T={len(chain)}, {details}", replaced)
        )


def _raise_chain(
    graph: Graph, chain: list[Fire], timesteps: int | None
) -> tuple[onnx.NodeProto, int]:
    if timesteps is not None and len(chain) != timesteps:
        raise ChainError(
            f"the state is threaded through {len(chain)} steps, the model has T = {timesteps}"
        )
    first = chain[0]
    if any(f.threshold != first.threshold for f in chain):
        raise ChainError("the threshold differs between steps")
    if first.strict:
        raise ChainError(
            "the comparison is strict (Greater) where LIF/IF fire at H >= threshold "
            "(snnTorch-style neurons fire at H > threshold)"
        )
    if any(not f.input for f in chain):
        raise ChainError("a step's charge reads more than one input besides the state")
    kinds = {_reset_kind(f.reset, f.previous) for f in chain[1:] if f.reset and f.previous}
    if len(kinds) > 1:
        raise ChainError("the reset differs between steps")
    kind, vr = kinds.pop() if kinds else ("hard", 0.0)
    model = _identify(chain, vr)
    source = None
    for t, fire in enumerate(chain):
        sliced = time_slice(graph, fire.input)
        if sliced is None or sliced[1] != t or (source is not None and sliced[0] != source):
            raise ChainError(
                f"the input of step {t} is not time slice {t} of one time-major tensor "
                "(Slice+Squeeze, Gather or Split along axis 0)"
            )
        source = sliced[0]
    assert source is not None
    own: set[int] = set()
    for fire in chain:
        own |= fire.nodes
    concat = _restack(graph, chain, own)
    for node in graph.nodes:
        if id(node) not in own:
            continue
        for out in node.output:
            if node.op_type == "Cast" and out in {f.spike for f in chain}:
                continue
            escaping = [u for u in graph.uses(out) if id(u) not in own]
            if escaping or graph.is_output(out):
                user = label(escaping[0]) if escaping else "a graph output"
                raise ChainError(f"its membrane '{out}' is also used by {user}")
    attrs: dict[str, float | int] = {
        "v_threshold": first.threshold,
        "v_reset": vr,
        "soft_reset": int(kind == "soft"),
    }
    if model.kind == "LIF":
        attrs["tau"] = model.params["tau"]
        attrs["decay_input"] = int(model.decay_input)
    node = helper.make_node(
        model.kind,
        [source],
        [concat.output[0]],
        name=f"{concat.name or concat.output[0]}.{model.kind.lower()}",
        domain=DOMAIN,
    )
    node.attribute.extend(helper.make_attribute(k, v) for k, v in sorted(attrs.items()))
    index = graph.nodes.index(concat)
    graph.nodes[index] = node
    graph.reindex()
    return node, len(own) + len(chain) + 1
