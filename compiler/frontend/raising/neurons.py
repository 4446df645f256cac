"""Find neurons unrolled over time and identify their model.

An exporter writes a multi-step neuron as T copies of its step. Each step fires by comparing a
membrane with a constant threshold (`H >= θ`, `H - θ >= 0`, `H - θ > 0`, ...) and casting the
result to float; the next step's membrane is computed from the previous membrane, the previous
spike and the step's input. The pass finds the fires, links each to the fire of the step before by
dataflow (the leaves of its membrane's arithmetic), and identifies the neuron model of a chain by
evaluating each step's arithmetic on probe values: a chain is a `spike.LIF`, `spike.IF` or
`spike.leaky` only when every step gives, bit for bit, what that model computes with parameters
read from the graph's constants, starting from the model's resting state. So the exporter's way
of writing the arithmetic does not matter (operands swapped, `x * 0.5` for `x / 2`, the reset
folded into the next charge, the first step's state folded away, the last step's reset dropped),
and a chain that differs from every model in one rounding is not raised.

`neurons.py` only finds and identifies (`find_neurons`); how a neuron's steps are joined into one
time-major op is the business of `rolling.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto

from compiler.frontend.raising.expr import Expr, evaluate, extract, leaf, probes, same_bits
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.report import NotRaised

MEMBRANE = "@H"
"""Leaf standing for the previous step's membrane (the value its fire compared)."""
SPIKE = "@S"
"""Leaf standing for the previous step's spike."""


@dataclass
class Fire:
    """One step's threshold comparison: the membrane it compares and the spikes it casts."""

    membrane: str
    threshold: float
    strict: bool
    spikes: list[str]
    """The float spike tensor, and its aliases (a second cast, a `* 1.0`)."""
    conditions: list[str] = field(default_factory=list)
    """The comparisons' boolean outputs (a `Where` reset may select on them)."""
    nodes: set[int] = field(default_factory=set)
    anchor: onnx.NodeProto | None = None
    charge: Expr | None = None
    """The membrane's arithmetic, the previous step's state replaced by MEMBRANE and SPIKE."""
    raw: Expr | None = None
    """The charge before its input subtree was made one leaf."""
    walked: set[int] = field(default_factory=set)
    """`nodes` before the input subtree's nodes were taken out of them."""
    previous: Fire | None = None
    input: str = ""
    """The step's input (the charge's only leaf that is not the state)."""

    @property
    def spike(self) -> str:
        return self.spikes[0]


def _compare(graph: Graph, node: onnx.NodeProto) -> tuple[str, float, bool] | str | None:
    """(membrane, threshold, strict) of a threshold comparison, a reason when the node compares
    but not against a constant, None when it is no comparison."""
    if not is_standard(node) or node.op_type not in ("GreaterOrEqual", "Greater"):
        return None
    a, b = node.input[0], node.input[1]
    bound = graph.scalar(b)
    if bound is None:
        return "the comparison is not against a constant threshold"
    membrane, threshold = a, bound
    sub = graph.producer.get(a)
    if bound == 0.0 and sub is not None and sub.op_type == "Sub" and is_standard(sub):
        offset = graph.scalar(sub.input[1])
        if offset is not None and all(u.op_type == node.op_type for u in graph.uses(a)):
            membrane, threshold = sub.input[0], offset
    return membrane, threshold, node.op_type == "Greater"


def find_fires(graph: Graph) -> tuple[list[Fire], list[tuple[onnx.NodeProto, str]]]:
    """Every fire of the graph (comparisons of one membrane merged), and comparisons that cannot
    be fires with the reason."""
    fires: dict[tuple[str, float, bool], Fire] = {}
    rejected: list[tuple[onnx.NodeProto, str]] = []
    for node in graph.nodes:
        found = _compare(graph, node)
        if found is None:
            continue
        if isinstance(found, str):
            rejected.append((node, found))
            continue
        casts = [u for u in graph.uses(node.output[0]) if u.op_type == "Cast"]
        if not casts:
            continue
        if any(attributes(c).get("to") != TensorProto.FLOAT for c in casts):
            rejected.append((node, "the comparison is cast to a type other than float32"))
            continue
        fire = fires.setdefault(found, Fire(*found, spikes=[], anchor=node))
        fire.nodes |= {id(node), *(id(c) for c in casts)}
        fire.conditions.append(node.output[0])
        if node.input[0] != fire.membrane:
            fire.nodes.add(id(graph.producer[node.input[0]]))
        for cast in casts:
            fire.spikes.append(cast.output[0])
            for use in graph.uses(cast.output[0]):  # graded spikes scaled by 1.0
                if use.op_type == "Mul" and 1.0 in (graph.scalar(i) for i in use.input):
                    fire.spikes.append(use.output[0])
                    fire.nodes.add(id(use))
    return list(fires.values()), rejected


def link(graph: Graph, fires: list[Fire]) -> None:
    """Each fire's charge in terms of the previous fire's membrane and spike and of its input.

    The previous fire is the one whose membrane the charge reads (a membrane is used by its own
    neuron only; spikes of other neurons may be part of the input). The input is the smallest
    subtree holding every other non-constant leaf; it must not involve the state.
    """
    owner: dict[str, Fire] = {}
    membranes: dict[str, Fire] = {}
    for fire in fires:
        membranes[fire.membrane] = fire
        owner[fire.membrane] = fire
        for spike in [*fire.spikes, *fire.conditions]:
            owner[spike] = fire
    for fire in fires:
        charge = extract(graph, fire.membrane, set(owner) - {fire.membrane}, fire.nodes)
        previous = {id(membranes[n]): membranes[n] for n in charge.leaves() if n in membranes}
        if len(previous) > 1:
            continue
        if previous:
            (before,) = previous.values()
            fire.previous = before

            def state(sub: Expr, before: Fire = before) -> Expr | None:
                if sub.op != "leaf" or owner.get(sub.name) is not before:
                    return None
                return leaf(MEMBRANE if sub.name == before.membrane else SPIKE)

            charge = charge.substitute(state)
        fire.raw = charge
        fire.walked = set(fire.nodes)
        fire.charge, fire.input = _with_input(charge)
        if fire.input:  # the input's own arithmetic is not the neuron's
            inside = _input_values(charge, fire.input)
            fire.nodes -= {id(graph.producer[n]) for n in inside if n in graph.producer}


def _input_values(charge: Expr, name: str) -> set[str]:
    """The values computed inside the input subtree `name` of `charge` (the subtree included)."""
    for sub in charge.subtrees():
        if sub.name == name and sub.op != "leaf":
            return {s.name for s in sub.subtrees() if s.op not in ("leaf", "const")}
    return set()


def _with_input(charge: Expr) -> tuple[Expr, str]:
    """The charge with its input subtree as one leaf, and the input's name ('' if none fits)."""
    inputs = {n for n in charge.leaves() if n not in (MEMBRANE, SPIKE)}
    if not inputs:
        return charge, ""
    smallest: Expr | None = None
    for sub in charge.subtrees():
        names = set(sub.leaves())
        if inputs <= names and (smallest is None or sub.size() < smallest.size()):
            smallest = sub
    assert smallest is not None
    if {MEMBRANE, SPIKE} & set(smallest.leaves()) or not smallest.name:
        return charge, ""
    name = smallest.name
    return charge.substitute(lambda sub: leaf(name) if sub is smallest else None), name


def chains(fires: list[Fire]) -> tuple[list[list[Fire]], list[tuple[Fire, str]]]:
    """The fires grouped into chains from the first step to the last."""
    following: dict[int, list[Fire]] = {}
    for fire in fires:
        if fire.previous is not None:
            following.setdefault(id(fire.previous), []).append(fire)
    found: list[list[Fire]] = []
    bad: list[tuple[Fire, str]] = []
    for fire in fires:
        if fire.previous is not None:
            continue
        chain = [fire]
        while True:
            after = following.get(id(chain[-1]), [])
            if len(after) > 1:
                bad.append((chain[-1], "its state feeds the charge of more than one later step"))
                break
            if not after:
                break
            chain.append(after[0])
        found.append(chain)
    return found, bad


# -- neuron models -------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """What a chain of fires is: a spike function and its attributes."""

    kind: str
    """The spike function: LIF, IF, Leaky, Synaptic or CubaLIF."""
    attributes: dict[str, float | int]


@dataclass(frozen=True)
class Candidate:
    """A one-state neuron model as two functions of float32 arrays: the first step's membrane
    from its input, and a step's membrane from the previous membrane and the input."""

    model: Model
    first: Callable[[np.ndarray], np.ndarray]
    step: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _reset(h: np.ndarray, vth: np.float32, vr: np.float32, soft: bool) -> np.ndarray:
    """As `runtime.kernels` resets: a hard reset is `H * (1 - S) + vr * S`, NaN where an
    infinite membrane fired."""
    fired = h >= vth
    if soft:
        return np.where(fired, h - vth, h)
    return np.where(fired & np.isinf(h), np.float32(np.nan), np.where(fired, vr, h)).astype(
        np.float32
    )


def _lif(tau: float, vth: float, vr: float, decay_input: bool, soft: bool) -> Candidate:
    t, th, r = np.float32(tau), np.float32(vth), np.float32(vr)

    def charge(v: np.ndarray, x: np.ndarray) -> np.ndarray:
        if decay_input:
            return np.asarray(v + (x - (v - r)) / t, dtype=np.float32)
        return np.asarray(v - (v - r) / t + x, dtype=np.float32)

    attrs = {
        "tau": tau,
        "v_threshold": vth,
        "v_reset": vr,
        "decay_input": int(decay_input),
        "soft_reset": int(soft),
    }
    return Candidate(
        Model("LIF", attrs),
        lambda x: charge(np.full_like(x, r), x),
        lambda h, x: charge(_reset(h, th, r, soft), x),
    )


def _plif(decay: float, vth: float, vr: float, decay_input: bool, soft: bool) -> Candidate:
    """SpikingJelly's ParametricLIFNode: the leak multiplied by k = sigmoid(w)."""
    k, th, r = np.float32(decay), np.float32(vth), np.float32(vr)

    def charge(v: np.ndarray, x: np.ndarray) -> np.ndarray:
        if decay_input:
            return np.asarray(v + (x - (v - r)) * k, dtype=np.float32)
        return np.asarray(v - (v - r) * k + x, dtype=np.float32)

    attrs = {
        "tau": float(np.float32(1.0) / k),
        "v_threshold": vth,
        "v_reset": vr,
        "decay_input": int(decay_input),
        "soft_reset": int(soft),
        "decay": decay,
    }
    return Candidate(
        Model("LIF", attrs),
        lambda x: charge(np.full_like(x, r), x),
        lambda h, x: charge(_reset(h, th, r, soft), x),
    )


def _if(vth: float, vr: float, soft: bool) -> Candidate:
    th, r = np.float32(vth), np.float32(vr)
    attrs = {"v_threshold": vth, "v_reset": vr, "soft_reset": int(soft)}
    return Candidate(
        Model("IF", attrs),
        lambda x: np.asarray(np.full_like(x, r) + x, dtype=np.float32),
        lambda h, x: np.asarray(_reset(h, th, r, soft) + x, dtype=np.float32),
    )


LEAKY_MECHANISMS = {"subtract": 0, "zero": 1, "none": 2}


def _leaky(beta: float, threshold: float, mechanism: str) -> Candidate:
    b, thr, one = np.float32(beta), np.float32(threshold), np.float32(1.0)

    def step(v: np.ndarray, x: np.ndarray) -> np.ndarray:
        r = (v - thr > 0).astype(np.float32)
        if mechanism == "subtract":
            return np.asarray((b * v + x) - r * thr, dtype=np.float32)
        if mechanism == "zero":
            return np.asarray(b * ((one - r) * v) + x, dtype=np.float32)
        return np.asarray(b * v + x, dtype=np.float32)

    attrs = {"beta": beta, "threshold": threshold, "reset_mechanism": LEAKY_MECHANISMS[mechanism]}
    return Candidate(Model("Leaky", attrs), lambda x: step(np.zeros_like(x), x), step)


def candidates(constants: set[float], threshold: float, strict: bool) -> list[Candidate]:
    """The one-state models whose parameters can be read from `constants` and the fire."""
    models: list[Candidate] = []
    if strict:
        for beta in sorted(c for c in constants if 0.0 <= c <= 1.0):
            models += [_leaky(beta, threshold, m) for m in LEAKY_MECHANISMS]
        return models
    resets = sorted({0.0, *constants})
    for soft in (False, True):
        for vr in [0.0] if soft else resets:
            models.append(_if(threshold, vr, soft))
            for c in sorted(constants):
                for tau in sorted({c, float(np.float32(1.0 / c)) if c else 0.0}):
                    if tau > 0:
                        models.append(_lif(tau, threshold, vr, True, soft))
                        models.append(_lif(tau, threshold, vr, False, soft))
                if 0.0 < c < 1.0:
                    models.append(_plif(c, threshold, vr, True, soft))
                    models.append(_plif(c, threshold, vr, False, soft))
    return models


def identify(chain: list[Fire]) -> Model:
    """The model every step of `chain` computes bit for bit, or a NotRaised."""
    first = chain[0]
    if any(f.threshold != first.threshold or f.strict != first.strict for f in chain):
        raise NotRaised("the threshold or the comparison differs between steps")
    if any(fire.raw is None for fire in chain):
        raise NotRaised("a step's charge reads the membranes of more than one earlier step")
    if any(not fire.input for fire in chain):
        return _identify_two_state(chain)
    if _reads_earlier_inputs(chain):  # a one-state model would take the current as its input
        with contextlib.suppress(NotRaised):  # no two-state model: the one-state ones are tried
            return _identify_two_state(chain)
    constants: set[float] = set()
    for fire in chain:
        assert fire.charge is not None
        constants.update(fire.charge.constants())
    x, h = probes(seed=1), probes(seed=2)
    threshold = np.float32(first.threshold)
    fired = (h > threshold if first.strict else h >= threshold).astype(np.float32)
    for candidate in candidates(constants, first.threshold, first.strict):
        if _computes(chain, candidate, x, h, fired):
            return candidate.model
    two_state = ""
    if first.strict:  # a fire-less second state (Norse) hides inside a one-state-looking charge
        try:
            return _identify_two_state(chain)
        except NotRaised as e:
            two_state = f"; as a two-state neuron: {e}"
    compare = ">" if first.strict else ">="
    second = show(chain[1].charge if len(chain) > 1 else None)
    raise NotRaised(
        "the charge matches no neuron model (LIF with decay_input true or false, ParametricLIF, "
        f"IF, snnTorch Leaky) that fires at H {compare} {first.threshold:g} with a constant of "
        f"the graph as its parameter; step 1 computes H = {second}"
        f"{two_state}"
    )


def _reads_earlier_inputs(chain: list[Fire]) -> bool:
    """Whether a step's input reads the values an earlier step's input read (a synaptic current
    carried over), other than one value read at every step (a repeated input)."""
    seen: set[str] = set()
    for fire in chain:
        assert fire.raw is not None
        leaves = {n for n in fire.raw.leaves() if n not in (MEMBRANE, SPIKE)}
        if len(leaves) > 1 and leaves & seen:
            return True
        seen |= leaves
    return False


def _computes(
    chain: list[Fire], model: Candidate, x: np.ndarray, h: np.ndarray, fired: np.ndarray
) -> bool:
    for t, fire in enumerate(chain):
        assert fire.charge is not None
        env = {fire.input: x, MEMBRANE: h, SPIKE: fired}
        try:
            got = evaluate(fire.charge, env)
        except KeyError:
            return False
        expected = model.first(x) if t == 0 else model.step(h, x)
        if not same_bits(got, expected):
            return False
    return True


def _step_inputs(chain: list[Fire]) -> list[str]:
    """The input of each step of a neuron with a second, fire-less state (a synaptic current):
    step t's arithmetic reads the inputs of steps 0..t, the new one being step t's."""
    inputs: list[str] = []
    seen: set[str] = set()
    for t, fire in enumerate(chain):
        assert fire.raw is not None
        leaves = {n for n in fire.raw.leaves() if n not in (MEMBRANE, SPIKE)}
        new = leaves - seen
        if len(new) == 1:
            inputs.append(new.pop())
        elif not new and len(leaves) == 1 and t > 0:
            inputs.append(inputs[-1])  # the same input at every step
        else:
            raise NotRaised(
                f"the charge of step {t} reads {len(leaves)} values besides the state, not the "
                "inputs of the steps so far"
            )
        seen |= leaves
    return inputs


@dataclass(frozen=True)
class TwoStateCandidate:
    """A neuron model with a fire-less second state (a synaptic current) as one function: a
    step's membrane and the next current from the current, the step's input, and the previous
    membrane and spike (None at the first step, where the model starts from rest)."""

    model: Model
    step: Callable[
        [np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None],
        tuple[np.ndarray, np.ndarray],
    ]


TWO_STATE_KINDS = ("CubaLIF", "Synaptic")


def _cuba(a: float, b: float, vl: float, vth: float, vr: float) -> TwoStateCandidate:
    """Norse's current-based LIF: the input jumps into the current, which drives the membrane
    and then decays."""
    fa, fb, fvl, fvr = (np.float32(p) for p in (a, b, vl, vr))

    def step(
        current: np.ndarray, x: np.ndarray, before: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        jump = current + x
        if before is None:
            v = np.full_like(x, fvl)
        else:
            v = np.where(before[1] > 0, fvr, before[0]).astype(np.float32)
        return v + fa * ((fvl - v) + jump), jump + (-fb) * jump

    attrs = {"dt_tau_mem_inv": a, "dt_tau_syn_inv": b, "v_leak": vl, "v_threshold": vth}
    return TwoStateCandidate(Model("CubaLIF", {**attrs, "v_reset": vr}), step)


def _synaptic(alpha: float, beta: float, threshold: float, mechanism: str) -> TwoStateCandidate:
    """snnTorch's Synaptic: the current decays by alpha and takes the input, the membrane decays
    by beta and takes the current; the reset (by the previous step's spike) is subtracted or
    absent. (A reset to zero is not raised: its membrane reads the spikes of every earlier
    step, which no chain of the unrolled graph links.)"""
    a, b, thr = np.float32(alpha), np.float32(beta), np.float32(threshold)

    def step(
        current: np.ndarray, x: np.ndarray, before: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        i = a * current + x
        v, fired = before if before is not None else (np.zeros_like(x), np.zeros_like(x))
        h = b * v + i
        return (h - fired * thr if mechanism == "subtract" else h), i

    attrs = {"alpha": alpha, "beta": beta, "threshold": threshold}
    return TwoStateCandidate(
        Model("Synaptic", {**attrs, "reset_mechanism": LEAKY_MECHANISMS[mechanism]}), step
    )


def two_state_candidates(constants: set[float], threshold: float) -> list[TwoStateCandidate]:
    """The two-state models whose parameters can be read from `constants` and the fire."""
    models: list[TwoStateCandidate] = []
    potentials = sorted({0.0, *constants})
    for a in sorted(c for c in constants if c > 0):
        for b in sorted({abs(c) for c in constants}):
            for vl in potentials:
                models += [_cuba(a, b, vl, threshold, vr) for vr in potentials]
    factors = sorted(c for c in constants if 0.0 <= c <= 1.0)
    for alpha in factors:
        for beta in factors:
            models += [_synaptic(alpha, beta, threshold, m) for m in ("subtract", "none")]
    return models


def _identify_two_state(chain: list[Fire]) -> Model:
    """A neuron with a synaptic current the input charges (Norse's current-based LIF, snnTorch's
    Synaptic), the current unrolled from step 0 in every step's arithmetic."""
    first = chain[0]
    if not first.strict:
        raise NotRaised(
            "its charge reads the inputs of earlier steps (a second state), but it fires at "
            "H >= threshold, where the two-state neurons (Norse's current-based LIF, snnTorch's "
            "Synaptic) fire at H > threshold"
        )
    inputs = _step_inputs(chain)
    constants: set[float] = set()
    for fire in chain:
        assert fire.raw is not None
        constants.update(fire.raw.constants())
    probe = {name: probes(seed=10 + i) * 4 for i, name in enumerate(dict.fromkeys(inputs))}
    h = probes(seed=2)
    fired = (h > np.float32(first.threshold)).astype(np.float32)
    for candidate in two_state_candidates(constants, first.threshold):
        if _two_state_computes(chain, inputs, probe, (h, fired), candidate):
            return candidate.model
    raise NotRaised(
        "its charge reads the inputs of earlier steps (a second state) but matches no two-state "
        "neuron with constants of the graph as its parameters (Norse's current-based LIF: "
        "dt/tau_mem, dt/tau_syn, v_leak, v_reset; snnTorch's Synaptic: alpha, beta, reset by "
        "subtraction or none)"
    )


def _two_state_computes(
    chain: list[Fire],
    inputs: list[str],
    probe: dict[str, np.ndarray],
    state: tuple[np.ndarray, np.ndarray],
    candidate: TwoStateCandidate,
) -> bool:
    current = np.zeros_like(state[0])
    env = {MEMBRANE: state[0], SPIKE: state[1], **probe}
    for t, fire in enumerate(chain):
        assert fire.raw is not None
        before = None if t == 0 else state
        expected, current = candidate.step(current, probe[inputs[t]], before)
        try:
            got = evaluate(fire.raw, env)
        except KeyError:
            return False
        if not same_bits(got, np.asarray(expected, dtype=np.float32)):
            return False
    return True


def show(expr: Expr | None) -> str:
    """The arithmetic as text, with V (previous membrane), S (previous spike) and X."""
    if expr is None:
        return "?"
    if expr.op == "const":
        return f"{expr.value:g}"
    if expr.op == "leaf":
        return {MEMBRANE: "V", SPIKE: "S"}.get(expr.name, "X")
    if expr.op == "Neg":
        return f"-{show(expr.args[0])}"
    if expr.op == "Where":
        return "where({}, {}, {})".format(*(show(a) for a in expr.args))
    symbol = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}[expr.op]
    return f"({show(expr.args[0])} {symbol} {show(expr.args[1])})"


@dataclass
class Neuron:
    """A chain of fires identified as one neuron over T steps."""

    chain: list[Fire]
    model: Model
    nodes: set[int]
    """ids of the nodes of its steps (charges, comparisons, casts, resets)."""

    @property
    def inputs(self) -> list[str]:
        return [f.input for f in self.chain]

    @property
    def spikes(self) -> list[str]:
        return [f.spike for f in self.chain]

    @property
    def anchor(self) -> onnx.NodeProto:
        assert self.chain[0].anchor is not None
        return self.chain[0].anchor


def neuron(graph: Graph, chain: list[Fire]) -> Neuron:
    """The chain as a neuron, checked to be self-contained: its membrane is used only by itself."""
    model = identify(chain)
    if model.kind in TWO_STATE_KINDS:  # the inputs are the leaves; all else is the neuron's
        for fire, name in zip(chain, _step_inputs(chain), strict=True):
            fire.input = name
            fire.nodes = set(fire.walked)
    own: set[int] = set()
    for fire in chain:
        own |= fire.nodes
    spikes = {s for f in chain for s in f.spikes}
    for node in graph.nodes:
        if id(node) not in own:
            continue
        for out in node.output:
            escaping = [u for u in graph.uses(out) if id(u) not in own]
            for user in list(escaping):  # e.g. a reset after the last step, which feeds nothing
                dead = graph.dead_from(user)
                if dead is not None:
                    own |= dead
                    graph.absorb(dead)
                    escaping.remove(user)
            if out in spikes:
                continue
            if escaping or graph.is_output(out):
                where = label(escaping[0]) if escaping else "a graph output"
                raise NotRaised(f"its membrane '{out}' is also used by {where}")
    return Neuron(chain, model, own)


def find_neurons(graph: Graph) -> tuple[list[Neuron], list[tuple[onnx.NodeProto, str]]]:
    """The graph's neurons, and the comparisons left as they are with the reason."""
    fires, rejected = find_fires(graph)
    link(graph, fires)
    found, bad = chains(fires)
    left = list(rejected)
    for fire, reason in bad:
        assert fire.anchor is not None
        left.append((fire.anchor, reason))
    neurons: list[Neuron] = []
    for chain in found:
        try:
            neurons.append(neuron(graph, chain))
        except NotRaised as e:
            assert chain[0].anchor is not None
            reason = f"not raised: {e}"
            region = _keep_generic(graph, chain, reason)
            if region is not None:
                reason += f" (kept as generic region {region})"
            left.append((chain[0].anchor, reason))
    return neurons, left


def _keep_generic(graph: Graph, chain: list[Fire], reason: str) -> str | None:
    """Wrap an unraised chain in SpikingJelly form into a generic region (see `generic`)."""
    from compiler.frontend.raising.generic import wrap_unraised  # generic imports this module

    return wrap_unraised(graph, chain, reason)
