"""Join the steps of an unrolled graph into time-major ops.

After `neurons.find_neurons`, each neuron is known as T steps: per-step inputs `X_t` and per-step
spikes `S_t`. The neuron becomes one `spike` call on a time-major `X[T, ...]` giving `S[T, ...]`,
which needs both sides in time-major form:

- SpikingJelly-style exports already compute layers time-major and only unroll the neuron: `X_t`
  are the time slices of one tensor (Slice+Squeeze, Gather or Split along axis 0) and the spikes
  are restacked by Unsqueeze + Concat. The neuron call takes the sliced tensor and replaces the
  Concat.
- snnTorch/Norse-style exports unroll whole layers, with the same weights at every step. Here
  the steps are rolled: T nodes that do the same thing to step t of the same sequences (and to
  the same constants or step-independent values) become one node on the stacked sequences, with
  its axes shifted past the new time axis; values that do not depend on the step (an encoder
  applied once, before the loop) are computed on the input repeated over T, as SpikingJelly
  does; a sum of a sequence over the steps becomes a ReduceSum over time.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from compiler.frontend.onnx_functions import DOMAIN
from compiler.frontend.raising.graph import Graph, attributes, is_standard, label
from compiler.frontend.raising.neurons import Neuron
from compiler.frontend.raising.report import Left, NotRaised, Raised, RaiseReport


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
        spec = graph.slice_of(inner)
        taken = spec.single() if spec is not None else None
        if taken is not None and taken[0] == 0 and taken[2] == taken[1] + 1:
            return inner.input[0], taken[1]
        return None
    if inner.op_type == "Split" and attributes(inner).get("axis", 0) == 0:
        sizes = graph.ints(inner.input[1]) if len(inner.input) > 1 and inner.input[1] else None
        if sizes is None or all(s == 1 for s in sizes):
            return inner.input[0], list(inner.output).index(node.input[0])
    return None


def sliced_source(graph: Graph, inputs: list[str]) -> str | None:
    """The time-major tensor whose slices 0..T-1 `inputs` are, if they are."""
    source = None
    for t, name in enumerate(inputs):
        sliced = time_slice(graph, name)
        if sliced is None or sliced[1] != t or (source is not None and sliced[0] != source):
            return None
        source = sliced[0]
    return source


def restacking(graph: Graph, neuron: Neuron) -> onnx.NodeProto | None:
    """The node whose output stacks the neuron's spikes along a new time axis in order (a
    Concat of Unsqueezes, or the last of a chain of ScatterND / ScatterElements writing step t
    into row t), if the spikes go nowhere else."""
    firsts = [
        u
        for spike in neuron.spikes
        for u in graph.uses(spike)
        if id(u) not in neuron.nodes and not graph.is_output(spike)
    ]
    if len(firsts) != len(neuron.spikes):
        return None
    if all(u.op_type == "Unsqueeze" and graph.ints(u.input[1]) == [0] for u in firsts):
        users = [graph.uses(u.output[0]) for u in firsts]
        if all(len(us) == 1 and us[0].op_type in ("ScatterND", "ScatterElements") for us in users):
            return _scatter_chain(graph, [u.output[0] for u in firsts], neuron.nodes)
        return _concat(graph, neuron, firsts)
    if all(u.op_type == "ScatterND" for u in firsts):
        return _scatter_chain(graph, neuron.spikes, neuron.nodes)
    return None


def _concat(
    graph: Graph, neuron: Neuron, unsqueezes: list[onnx.NodeProto]
) -> onnx.NodeProto | None:
    concat: onnx.NodeProto | None = None
    for t, unsqueeze in enumerate(unsqueezes):
        after = graph.uses(unsqueeze.output[0])
        if len(after) != 1 or after[0].op_type != "Concat" or attributes(after[0]).get("axis"):
            return None
        if concat is not None and after[0] is not concat:
            return None
        concat = after[0]
        if list(concat.input).index(unsqueeze.output[0]) != t:
            return None
    if concat is None or len(concat.input) != len(neuron.spikes):
        return None
    return concat


def _scatter_chain(graph: Graph, updates: list[str], own: set[int]) -> onnx.NodeProto | None:
    """The last node of `ScatterX(...ScatterX(C, idx_0, u_0)..., idx_T-1, u_T-1)` when each
    writes row t of a constant C [T, ...] (its values all overwritten) with update t."""
    current: str | None = None
    node: onnx.NodeProto | None = None
    for t, update in enumerate(updates):
        uses = [u for u in graph.uses(update) if id(u) not in own]
        if len(uses) != 1 or uses[0].input[2] != update or graph.is_output(update):
            return None
        node = uses[0]
        data, indices = node.input[0], graph.constant(node.input[1])
        if t == 0:
            if not graph.is_constant(data):
                return None
        elif data != current or len(graph.uses(data)) != 1 or graph.is_output(data):
            return None
        if indices is None or not _writes_row(node, indices, t):
            return None
        current = node.output[0]
    return node


def _writes_row(node: onnx.NodeProto, indices: np.ndarray, t: int) -> bool:
    """Whether a ScatterND / ScatterElements writes exactly row t along axis 0."""
    attrs = attributes(node)
    if attrs.get("reduction", b"none") not in (b"none", "none"):
        return False
    if node.op_type == "ScatterND":
        return indices.shape[-1:] == (1,) and bool(np.all(indices == t)) and indices.size == 1
    return attrs.get("axis", 0) == 0 and indices.shape[:1] == (1,) and bool(np.all(indices == t))


def neuron_node(neuron: Neuron, source: str, output: str, name: str) -> onnx.NodeProto:
    """The `spike` call computing the neuron on the time-major `source`."""
    node = helper.make_node(neuron.model.kind, [source], [output], name=name, domain=DOMAIN)
    node.attribute.extend(
        helper.make_attribute(k, v) for k, v in sorted(neuron.model.attributes.items())
    )
    return node


def describe(neuron: Neuron) -> str:
    attrs = ", ".join(f"{k}={v:g}" for k, v in sorted(neuron.model.attributes.items()))
    return f"T={len(neuron.chain)}, {attrs}"


def roll(
    graph: Graph,
    neurons: list[Neuron],
    timesteps: int | None,
    shapes: dict[str, list[int | str]],
    report: RaiseReport,
) -> None:
    """Replace each neuron's steps by one time-major call: in place where its input is sliced
    from a time-major tensor, else by rolling the steps of the whole graph."""
    unrolled: list[Neuron] = []
    for neuron in neurons:
        steps = len(neuron.chain)
        if timesteps is not None and steps != timesteps:
            report.left.append(
                Left(
                    label(neuron.anchor),
                    f"not raised: its state is threaded through {steps} of the model's "
                    f"T = {timesteps} steps (each step must charge from the membrane the step "
                    "before left)",
                )
            )
            continue
        if sliced_source(graph, neuron.inputs) is None and restacking(graph, neuron) is None:
            unrolled.append(neuron)
            continue
        try:
            _raise_sliced(graph, neuron, timesteps, report)
        except NotRaised as e:
            report.left.append(Left(label(neuron.anchor), f"not raised: {e}"))
    if not unrolled:
        return
    lengths = {len(n.chain) for n in unrolled}
    if len(lengths) != 1:
        for neuron in unrolled:
            report.left.append(
                Left(
                    label(neuron.anchor),
                    f"not raised: the model's neurons run {sorted(lengths)} steps; rolling "
                    "needs one T",
                )
            )
        return
    roller = Roller(graph, unrolled, lengths.pop(), shapes)
    try:
        roller.classify()
        roller.check()
        roller.rewrite(report)
    except NotRaised as e:
        for neuron in unrolled:
            report.left.append(
                Left(label(neuron.anchor), f"not raised: the steps cannot be rolled: {e}")
            )


def _raise_sliced(graph: Graph, neuron: Neuron, timesteps: int | None, report: RaiseReport) -> None:
    steps = len(neuron.chain)
    source = sliced_source(graph, neuron.inputs)
    if source is None:
        raise NotRaised(
            "its step inputs are not the time slices 0..T-1 of one time-major tensor (Slice + "
            "Squeeze, Gather or Split along axis 0)"
        )
    concat = restacking(graph, neuron)
    if concat is None:
        raise NotRaised(
            "its spikes are not restacked in time order (Unsqueeze on axis 0, one Concat) or are "
            "also used step by step"
        )
    kind = neuron.model.kind
    name = f"{concat.name or concat.output[0]}.{kind.lower()}"
    node = neuron_node(neuron, source, concat.output[0], name)
    graph.nodes[graph.nodes.index(concat)] = node
    graph.reindex()
    replaced = len(neuron.nodes) + steps + 1
    report.raised.append(Raised(kind, concat.output[0], describe(neuron), replaced))


# -- rolling whole layers ------------------------------------------------------------------

ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Cast", "Relu", "Sigmoid", "Tanh", "Exp", "Log",
    "Sqrt", "Pow", "Erf", "Clip", "Where", "Equal", "Greater", "GreaterOrEqual", "Less",
    "LessOrEqual", "Not", "And", "Or", "Max", "Min", "Mod", "Floor", "Ceil", "Round", "Sign",
    "Reciprocal", "MatMul", "Identity",
}  # fmt: skip
"""Ops that broadcast from the right, so a new leading time axis changes nothing."""
AXIS_ATTRIBUTE = {
    "Softmax",
    "LogSoftmax",
    "Concat",
    "Split",
    "Gather",
    "TopK",
    "LayerNormalization",
}
AXES_INPUT = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "Unsqueeze",
              "Squeeze"}  # fmt: skip


Class = tuple[str, ...]
"""How a value depends on the step: ('const',), ('static',) before the loop, ('seq', id, t) step
t of a sequence, ('reduced',) after a sum over the steps."""


class Roller:
    """The classification of every value and the rewrite it implies."""

    def __init__(
        self,
        graph: Graph,
        neurons: list[Neuron],
        steps: int,
        shapes: dict[str, list[int | str]],
    ) -> None:
        self.graph = graph
        self.shapes = shapes
        self.neurons = neurons
        self.steps = steps
        self.cls: dict[str, Class] = {}
        self.sequences: dict[str, list[str]] = {}
        """Sequence id -> its elements, step by step."""
        self.stacked: dict[str, str] = {}
        """Sequence id -> the name of its time-major tensor."""
        self.groups: dict[tuple[object, ...], dict[int, onnx.NodeProto]] = {}
        self.rolled: list[tuple[list[onnx.NodeProto], list[str]]] = []
        """Complete groups: the T nodes (by step) and the sequence id of each output."""
        self.lifted: list[onnx.NodeProto] = []
        self.sums: dict[str, tuple[str, frozenset[int], list[onnx.NodeProto]]] = {}
        """Value -> (sequence, steps summed so far, the Adds) of a running sum over the steps."""
        self.reductions: list[tuple[str, str, list[onnx.NodeProto]]] = []
        self._const_keys: dict[str, object] = {}
        self.owned = set().union(*(n.nodes for n in neurons)) if neurons else set()

    # -- classification ----------------------------------------------------------------------

    def new_sequence(self, elements: list[str]) -> str:
        sid = f"seq{len(self.sequences)}"
        self.sequences[sid] = elements
        for t, name in enumerate(elements):
            self.cls[name] = ("seq", sid, str(t))
        return sid

    def _class(self, name: str) -> Class | None:
        if not name:
            return ("const",)
        if name in self.cls:
            return self.cls[name]
        if self.graph.is_constant(name):
            return ("const",)
        return None

    def _const_key(self, name: str) -> object:
        if name not in self._const_keys:
            array = self.graph.constant(name)
            assert array is not None
            self._const_keys[name] = (array.dtype.str, array.shape, array.tobytes())
        return self._const_keys[name]

    def classify(self) -> None:
        graph = self.graph
        for vi in graph.graph.input:
            if not graph.is_constant(vi.name):
                self.cls[vi.name] = ("static",)
        for neuron in self.neurons:
            sid = self.new_sequence(neuron.spikes)
            for fire in neuron.chain:
                for alias in fire.spikes[1:]:
                    self.cls[alias] = self.cls[fire.spike]
            self.stacked[sid] = graph.fresh(neuron.spikes[0] + ".T")
        pending = [n for n in graph.nodes if id(n) not in self.owned]
        while pending:
            waiting = []
            for node in pending:
                classes = [self._class(i) for i in node.input]
                if any(c is None for c in classes):
                    waiting.append(node)
                    continue
                self._place(node, [c for c in classes if c is not None])
            if len(waiting) == len(pending):
                stuck = waiting[0]
                raise NotRaised(
                    f"node {label(stuck)} mixes values of different steps in a way that is not a "
                    "sum over the steps"
                )
            pending = waiting

    def _place(self, node: onnx.NodeProto, classes: list[Class]) -> None:
        kinds = {c[0] for c in classes}
        if kinds <= {"const"} and self.graph.is_constant(node.output[0]):
            return  # a Constant node
        if "seq" not in kinds and "partial" not in kinds:
            if "reduced" in kinds and "static" in kinds:
                raise NotRaised(f"node {label(node)} mixes values from before and after time")
            kind = "reduced" if "reduced" in kinds else "static"
            if kind == "static":
                self.lifted.append(node)
            for out in node.output:
                self.cls[out] = (kind,)
            return
        if "reduced" in kinds:
            raise NotRaised(f"node {label(node)} mixes a step with a value summed over time")
        if self._summing(node, classes):
            return
        steps = {c[2] for c in classes if c[0] == "seq"}
        if len(steps) != 1 or "partial" in kinds:
            raise NotRaised(
                f"node {label(node)} combines steps {sorted(int(s) for s in steps)} in a way "
                "that is not a sum over the steps"
            )
        (t,) = steps
        key: list[object] = [node.domain, node.op_type, node.attribute.__repr__()]
        for name, c in zip(node.input, [self._class(i) for i in node.input], strict=True):
            if c is None or c[0] == "const":
                key.append(("const", self._const_key(name)) if name else ("none",))
            elif c[0] == "seq":
                key.append(("seq", c[1]))
            else:
                key.append(("static", name))
        group = self.groups.setdefault(tuple(key), {})
        if int(t) in group:
            raise NotRaised(
                f"nodes {label(group[int(t)])} and {label(node)} do the same at one step"
            )
        group[int(t)] = node
        if len(group) == self.steps:
            members = [group[s] for s in range(self.steps)]
            sids = [
                self.new_sequence([m.output[j] for m in members]) for j in range(len(node.output))
            ]
            for sid in sids:
                self.stacked[sid] = self.graph.fresh(self.sequences[sid][0] + ".T")
            self.rolled.append((members, sids))

    def _summing(self, node: onnx.NodeProto, classes: list[Class]) -> bool:
        """A step of `((S_0 + S_1) + S_2) + ...`: True when `node` is one."""
        if node.op_type != "Add" or len(node.input) != 2 or not is_standard(node):
            return False
        a, b = classes
        if b[0] == "partial":
            a, b = b, a
            first = node.input[1]
        else:
            first = node.input[0]
        if a[0] == "partial" and b[0] == "seq":
            sid, done, adds = self.sums[first]
            step = int(b[2])
            if b[1] != sid or step in done:
                return False
            done, adds = done | {step}, [*adds, node]
        elif a[0] == "seq" and b[0] == "seq" and a[1] == b[1] and a[2] != b[2]:
            sid, done, adds = a[1], frozenset({int(a[2]), int(b[2])}), [node]
        else:
            return False
        out = node.output[0]
        if len(done) == self.steps:
            self.cls[out] = ("reduced",)
            self.reductions.append((out, sid, adds))
        else:
            self.cls[out] = ("partial", sid)
            self.sums[out] = (sid, done, adds)
        return True

    # -- checks --------------------------------------------------------------------------------

    def neuron_input(self, neuron: Neuron) -> str:
        """The time-major input of a neuron: the stack of its step inputs, or a value computed
        before the loop (then repeated over time with the model's input)."""
        classes = [self.cls.get(x) for x in neuron.inputs]
        if len(set(neuron.inputs)) == 1 and classes[0] == ("static",):
            return neuron.inputs[0]
        if all(c is not None and c[0] == "seq" for c in classes):
            sids = {c[1] for c in classes if c is not None}
            steps = [int(c[2]) for c in classes if c is not None]
            if len(sids) == 1 and steps == list(range(self.steps)):
                return self.stacked[sids.pop()]
        raise NotRaised(
            f"the inputs of neuron {label(neuron.anchor)} are neither one value computed before "
            "the steps nor one layer applied at every step"
        )

    def check(self) -> None:
        incomplete = [g for g in self.groups.values() if len(g) != self.steps]
        if incomplete:
            node = next(iter(incomplete[0].values()))
            raise NotRaised(
                f"node {label(node)} is repeated at {len(incomplete[0])} of {self.steps} steps"
            )
        for name, c in self.cls.items():
            if c[0] == "seq" and self.graph.is_output(name):
                raise NotRaised(f"graph output '{name}' is one step of a sequence")
        open_sums = {name for name in self.sums if self.cls.get(name, ("",))[0] == "partial"}
        for name in open_sums:
            for use in self.graph.uses(name):
                if not any(use in adds for _, _, adds in self.reductions):
                    raise NotRaised(f"'{name}' sums only some of the steps")

    # -- rewrite -------------------------------------------------------------------------------

    def rewrite(self, report: RaiseReport) -> None:
        graph = self.graph
        sources = [self.neuron_input(n) for n in self.neurons]
        new_nodes: list[onnx.NodeProto] = []
        removed: set[int] = set()
        for node in self.lifted:
            replacement = self.lift(node, node.input[0] if node.input else "")
            if replacement != [node]:
                removed.add(id(node))
                new_nodes += replacement
        for members, sids in self.rolled:
            rolled = onnx.NodeProto()
            rolled.CopyFrom(members[0])
            for i, name in enumerate(rolled.input):
                c = self.cls.get(name)
                if c is not None and c[0] == "seq":
                    rolled.input[i] = self.stacked[c[1]]
            for j, sid in enumerate(sids):
                rolled.output[j] = self.stacked[sid]
            rolled.name = f"{members[0].name or members[0].output[0]}.rolled"
            new_nodes += self.lift(rolled, members[0].input[0] if members[0].input else "")
            removed |= {id(m) for m in members}
        for neuron, source in zip(self.neurons, sources, strict=True):
            sid = self.cls[neuron.spikes[0]][1]
            name = f"{neuron.anchor.name or neuron.spikes[0]}.{neuron.model.kind.lower()}"
            new_nodes.append(neuron_node(neuron, source, self.stacked[sid], name))
            report.raised.append(
                Raised(neuron.model.kind, self.stacked[sid], describe(neuron), len(neuron.nodes))
            )
        for out, sid, adds in self.reductions:
            axes = graph.fresh("time_axis")
            graph.constants[axes] = np.asarray([0], dtype=np.int64)
            new_nodes.append(
                helper.make_node(
                    "ReduceSum",
                    [self.stacked[sid], axes],
                    [out],
                    name=f"{out}.sum_over_time",
                    keepdims=0,
                )
            )
            removed |= {id(a) for a in adds}
        graph.nodes = [n for n in graph.nodes if id(n) not in removed] + new_nodes
        graph.reindex()
        for vi in graph.graph.input:
            if self.cls.get(vi.name) == ("static",) and graph.uses(vi.name):
                dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
                vi.type.tensor_type.shape.ClearField("dim")
                for d in [self.steps, *dims]:
                    vi.type.tensor_type.shape.dim.add().dim_value = d
                report.repeated_inputs.append(vi.name)
        graph.sort()
        graph.remove_dead()

    def lift(self, node: onnx.NodeProto, first_input: str) -> list[onnx.NodeProto]:
        """`node` acting on time-major operands: its axes shifted past the time axis."""
        graph, op = self.graph, node.op_type
        if not is_standard(node):
            raise NotRaised(f"cannot roll {label(node)} (a {node.domain} op)")
        if op in ELEMENTWISE:
            return [node]
        attrs = attributes(node)
        if op == "Reshape":
            target = graph.ints(node.input[1])
            if target is None:
                raise NotRaised(f"{label(node)} reshapes to a shape computed at run time")
            if 0 in target and not attrs.get("allowzero", 0):
                shape = self.shapes.get(first_input)
                if shape is None or not all(isinstance(d, int) for d in shape):
                    raise NotRaised(f"{label(node)} copies sizes (0) of a shape not known")
                target = [int(shape[i]) if d == 0 else d for i, d in enumerate(target)]
            name = graph.fresh(node.input[1])
            graph.constants[name] = np.asarray([self.steps, *target], dtype=np.int64)
            node.input[1] = name
            return [node]
        if op == "Transpose":
            perm = attrs.get("perm")
            if not isinstance(perm, list):
                raise NotRaised(f"{label(node)} has no perm")
            _set(node, "perm", [0, *(int(p) + 1 for p in perm)])
            return [node]
        if op in AXIS_ATTRIBUTE:
            default = -1 if op in ("Softmax", "LogSoftmax", "TopK", "LayerNormalization") else 0
            axis = int(attrs.get("axis", default))  # type: ignore[call-overload]
            if axis >= 0:
                _set(node, "axis", axis + 1)
            return [node]
        if op in AXES_INPUT:
            if len(node.input) > 1 and node.input[1]:
                axes = graph.ints(node.input[1])
                if axes is None:
                    raise NotRaised(f"{label(node)} has axes computed at run time")
                name = graph.fresh(node.input[1])
                graph.constants[name] = np.asarray(
                    [a + 1 if a >= 0 else a for a in axes], dtype=np.int64
                )
                node.input[1] = name
                return [node]
            if "axes" in attrs:
                axes = [int(a) for a in attrs["axes"]]  # type: ignore[attr-defined]
                _set(node, "axes", [a + 1 if a >= 0 else a for a in axes])
                return [node]
            raise NotRaised(f"{label(node)} acts on every axis, time included")
        if op == "Gemm":
            return self._gemm(node, attrs)
        raise NotRaised(f"cannot roll {label(node)}: spikec does not know how it acts on a new "
                        "time axis")  # fmt: skip

    def _gemm(self, node: onnx.NodeProto, attrs: dict[str, object]) -> list[onnx.NodeProto]:
        """Gemm takes 2-D operands only: as MatMul (+ Add) it takes the time axis too."""
        graph = self.graph
        if (
            attrs.get("transA", 0)
            or attrs.get("alpha", 1.0) != 1.0
            or attrs.get("beta", 1.0) != 1.0
        ):
            raise NotRaised(
                f"cannot roll {label(node)}: only Gemm with transA = 0, alpha = beta = 1"
            )
        weight = graph.constant(node.input[1])
        if weight is None:
            raise NotRaised(f"cannot roll {label(node)}: its weight is computed at run time")
        name = node.input[1]
        prelude: list[onnx.NodeProto] = []
        if attrs.get("transB", 0):  # the importer reads W^T of a stored W as W, transposed
            name = graph.fresh(node.input[1] + ".T")
            prelude.append(helper.make_node("Transpose", [node.input[1]], [name], perm=[1, 0]))
        out = node.output[0]
        if len(node.input) < 3 or not node.input[2]:
            return [
                *prelude,
                helper.make_node("MatMul", [node.input[0], name], [out], name=node.name),
            ]
        product = graph.fresh(out + ".product")
        return [
            *prelude,
            helper.make_node("MatMul", [node.input[0], name], [product], name=node.name),
            helper.make_node("Add", [product, node.input[2]], [out], name=f"{node.name}.bias"),
        ]


def _set(node: onnx.NodeProto, name: str, value: object) -> None:
    for attr in list(node.attribute):
        if attr.name == name:
            node.attribute.remove(attr)
    node.attribute.append(helper.make_attribute(name, value))
