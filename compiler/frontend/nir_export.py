"""`spike` IR as a NIR graph: the part of a model NIR can express, and the ops it cannot.

Each op that has a NIR node of the same meaning becomes that node, its parameters written back in
the form the importer reads (`nir_ops`): snnTorch's leaky neurons as snnTorch writes them (τ =
dt / (1 - β), r = τ / dt), Norse's as Norse writes them (τ = dt / (dt/τ), r = 1). The graph is
cut where an op has no NIR counterpart: the values it reads become Outputs, and everything that
depends on it is left out and named. A SpikingJelly neuron fires at `H >= V_th`, NIR's at
`v > V_th`: those are written as NIR's LIF and IF and reported as approximate (they differ only
where a membrane sits exactly on its threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.layers import ints
from compiler.dialects.spike.types import LeakyResetMode, ResetMode, shape_of
from compiler.errors import SpikecError
from compiler.interpreters.reference import input_names, main_function, output_names
from compiler.ir.weights import WeightStore, dense_to_array

F32 = np.float32


@dataclass
class Export:
    graph: Any
    left_out: list[str] = field(default_factory=list)
    """`op 'name': why` for each op NIR cannot express, and the ops that depend on them."""
    approximate: list[str] = field(default_factory=list)
    """Ops written as a NIR node that differs from them in a corner (the firing comparison)."""


class Unexpressible(Exception):
    """Why an op has no NIR node."""


def _label(op: Operation) -> str:
    hint = next((r.name_hint for r in op.results if r.name_hint), None)
    return f"{op.name} '{hint}'" if hint else op.name


def _f(attr: Any) -> float:
    return float(attr.value.data)


def _full(value: float, n: int) -> np.ndarray:
    return np.full(n, value, dtype=F32)


class Exporter:
    def __init__(self, module: ModuleOp, weights: WeightStore, dt: float) -> None:
        import nir

        self.nir = nir
        self.module, self.weights, self.dt = module, weights, dt
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.names: dict[SSAValue, list[str]] = {}
        """The NIR nodes whose outputs sum to each SSA value (NIR sums a node's inputs)."""
        self.arrays: dict[SSAValue, np.ndarray] = {}
        """Weights and constants, by the value that reads them."""
        self.result = Export(None)
        self.libraries: set[str] = set()

    def unique(self, base: str) -> str:
        name, k = base or "node", 1
        while name in self.nodes:
            name, k = f"{base}_{k}", k + 1
        return name

    def add(self, value: SSAValue, node: Any, sources: list[SSAValue]) -> None:
        name = self.unique(value.name_hint or "node")
        self.nodes[name] = node
        for source in sources:
            self.edges.extend((producer, name) for producer in self.names[source])
        self.names[value] = [name]

    def neurons(self, value: SSAValue) -> int:
        return int(np.prod(shape_of(value)[2:]))

    def run(self) -> Export:
        nir = self.nir
        main = main_function(self.module)
        for arg, name in zip(main.body.block.args, input_names(self.module), strict=True):
            shape = list(shape_of(arg))[2:]
            node_name = self.unique(name)
            self.nodes[node_name] = nir.Input(input_type=np.array(shape))
            self.names[arg] = [node_name]
        blocked: set[SSAValue] = set()
        for op in main.body.block.ops:
            if isinstance(op, func.ReturnOp):
                break
            if isinstance(op, spike.WeightOp):
                self.arrays[op.results[0]] = np.asarray(self.weights[op.symbol], F32)
                continue
            if isinstance(op, spike.ConstantOp):
                self.arrays[op.results[0]] = dense_to_array(op.value).astype(F32)
                continue
            if any(o in blocked for o in op.operands):
                self.result.left_out.append(f"{_label(op)}: reads an op left out")
                blocked.update(op.results)
                continue
            try:
                self.convert(op)
            except Unexpressible as e:
                self.result.left_out.append(f"{_label(op)}: {e}")
                blocked.update(op.results)
        outputs = output_names(self.module)
        returned = list(main.body.block.last_op.operands)  # type: ignore[union-attr]
        frontier = [v for v in returned if v in self.names]
        reads = {o for v in blocked for o in _producer_operands(v) if o in self.names}
        for k, value in enumerate(frontier):
            name = outputs[returned.index(value)] if value in returned else f"output{k}"
            self._output(name, value)
        for value in sorted(reads - set(frontier), key=lambda v: self.names[v]):
            self._output(f"{'+'.join(self.names[value])}.out", value)
        if not frontier and not reads:
            raise SpikecError("no op of the model has a NIR counterpart")
        metadata: dict[str, Any] = {"dt": self.dt, "timesteps": _timesteps(self.module)}
        if len(self.libraries) == 1:
            metadata["discretisation"] = next(iter(self.libraries))
        self.result.graph = nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata)
        return self.result

    def _output(self, name: str, value: SSAValue) -> None:
        node_name = self.unique(name)
        shape = list(shape_of(value))[2:]
        self.nodes[node_name] = self.nir.Output(output_type=np.array(shape))
        self.edges.extend((producer, node_name) for producer in self.names[value])

    def activation(self, value: SSAValue) -> SSAValue:
        if value not in self.names:
            raise Unexpressible("an operand is not a time-major activation")
        return value

    def convert(self, op: Operation) -> None:
        nir, dt = self.nir, self.dt
        if isinstance(op, spike.LinearOp):
            weight = self.arrays.get(op.weight)
            if weight is None:
                raise Unexpressible("its weight is not a weight or constant")
            weight = weight if op.transpose_weight is not None else weight.T
            x = self.activation(op.input)
            if op.bias is not None:
                node = nir.Affine(weight=weight, bias=self.arrays[op.bias])
            else:
                node = nir.Linear(weight=weight)
            self.add(op.output, node, [x])
        elif isinstance(op, spike.Conv2dOp):
            self._conv(op)
        elif isinstance(op, spike.AvgPoolOp):
            pads = [int(p) for p in ints(op.pads)]
            if pads[0] != pads[2] or pads[1] != pads[3] or op.count_include_pad is None:
                raise Unexpressible("NIR's AvgPool2d pads symmetrically and counts the padding")
            node = nir.AvgPool2d(
                kernel_size=np.array(ints(op.kernel)),
                stride=np.array(ints(op.strides)),
                padding=np.array(pads[:2]),
            )
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.ReshapeOp):
            before, after = list(shape_of(op.input))[2:], list(shape_of(op.output))[2:]
            if before == after:
                self.names[op.output] = self.names[self.activation(op.input)]
                return
            pairs = enumerate(zip(before, after, strict=False))
            start = next((i for i, (a, b) in pairs if a != b), min(len(before), len(after)))
            if start >= len(after) or after != [*before[:start], int(np.prod(before[start:]))]:
                raise Unexpressible(
                    "NIR's Flatten merges trailing dimensions; this reshape is another"
                )
            node = nir.Flatten(
                input_type={"input": np.array(before)}, start_dim=start, end_dim=len(before) - 1
            )
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.MulOp):
            acts = [v for v in (op.lhs, op.rhs) if v in self.names]
            consts = [v for v in (op.lhs, op.rhs) if v in self.arrays]
            if len(acts) != 1 or len(consts) != 1:
                raise Unexpressible("NIR's Scale multiplies an activation by fixed factors")
            sample = tuple(shape_of(acts[0])[2:])
            try:
                factor = np.broadcast_to(self.arrays[consts[0]], sample)
            except ValueError:
                raise Unexpressible("its factor does not broadcast to one sample") from None
            self.add(op.result, nir.Scale(scale=np.array(factor, F32)), [acts[0]])
        elif isinstance(op, spike.AddOp):
            if op.lhs not in self.names or op.rhs not in self.names:
                raise Unexpressible("NIR adds activations only (a node sums its inputs)")
            self.names[op.result] = self.names[op.lhs] + self.names[op.rhs]
        elif isinstance(op, spike.LeakyOp):
            self._leaky(op)
        elif isinstance(op, spike.LIFBoxOp):
            n = self.neurons(op.input)
            node = nir.LIF(
                tau=_full(dt / _f(op.dt_tau_mem_inv), n),
                r=_full(1.0, n),
                v_leak=_full(_f(op.v_leak), n),
                v_threshold=_full(_f(op.v_threshold), n),
                v_reset=_full(_f(op.v_reset), n),
            )
            self.libraries.add("norse")
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.CubaLIFOp):
            n = self.neurons(op.input)
            node = nir.CubaLIF(
                tau_syn=_full(dt / _f(op.dt_tau_syn_inv), n),
                tau_mem=_full(dt / _f(op.dt_tau_mem_inv), n),
                r=_full(1.0, n),
                v_leak=_full(_f(op.v_leak), n),
                v_threshold=_full(_f(op.v_threshold), n),
                v_reset=_full(_f(op.v_reset), n),
            )
            self.result.approximate.append(
                f"{_label(op)}: Norse's LIFCell jumps its current by the input; NIR's CubaLIF "
                "(and Norse's importer) filters it"
            )
            self.libraries.add("norse")
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.IFOp):
            if op.reset.data != ResetMode.HARD:
                raise Unexpressible("NIR's IF resets to v_reset; this one subtracts the threshold")
            n = self.neurons(op.input)
            if op.strict is None:
                self.result.approximate.append(
                    f"{_label(op)}: fires at H >= threshold; NIR's IF above it"
                )
            node = nir.IF(
                r=_full(1.0, n),
                v_threshold=_full(_f(op.v_threshold), n),
                v_reset=_full(_f(op.v_reset), n),
            )
            self.libraries.add("norse")
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.LIOp):
            n = self.neurons(op.input)
            gain = _f(op.dt_tau_mem_inv)
            if op.v_leak is None:
                node = nir.I(r=_full(gain / dt, n))
            else:
                node = nir.LI(
                    tau=_full(dt / gain, n), r=_full(1.0, n), v_leak=_full(_f(op.v_leak), n)
                )
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.DelayOp):
            n = self.neurons(op.input)
            node = nir.Delay(delay=_full(int(op.steps.value.data) * dt, n))
            self.add(op.output, node, [self.activation(op.input)])
        elif isinstance(op, spike.ThresholdOp):
            n = self.neurons(op.input)
            self.add(op.output, nir.Threshold(threshold=_full(_f(op.threshold), n)), [op.input])
        elif isinstance(op, spike.LIFOp):
            self._spikingjelly_lif(op)
        else:
            raise Unexpressible("NIR has no node of its meaning")

    def _spikingjelly_lif(self, op: spike.LIFOp) -> None:
        """SpikingJelly's LIF (decay_input, hard reset) is Euler's step of NIR's LIF with
        τ_NIR = τ · dt, v_leak = v_reset, r = 1; it fires at H >= V_th where NIR fires above."""
        if op.decay_input.value.data != 1 or op.reset.data != ResetMode.HARD:
            raise Unexpressible("only a LIF with decay_input and a hard reset is NIR's LIF")
        if op.decay is not None:
            raise Unexpressible("a parametric LIF (decay k) has no NIR counterpart")
        n = self.neurons(op.input)
        vr = _f(op.v_reset)
        node = self.nir.LIF(
            tau=_full(_f(op.tau) * self.dt, n),
            r=_full(1.0, n),
            v_leak=_full(vr, n),
            v_threshold=_full(_f(op.v_threshold), n),
            v_reset=_full(vr, n),
        )
        self.result.approximate.append(
            f"{_label(op)}: fires at H >= threshold where NIR fires above it, and rounds "
            "SpikingJelly's charge in its own order"
        )
        self.libraries.add("nir")
        self.add(op.output, node, [self.activation(op.input)])

    def _conv(self, op: spike.Conv2dOp) -> None:
        weight = self.arrays.get(op.weight)
        if weight is None:
            raise Unexpressible("its weight is not a weight or constant")
        pads = [int(p) for p in ints(op.pads)]
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise Unexpressible("NIR's Conv2d pads symmetrically")
        bias = self.arrays[op.bias] if op.bias is not None else np.zeros(weight.shape[0], F32)
        node = self.nir.Conv2d(
            input_shape=tuple(shape_of(op.input)[3:]),
            weight=weight,
            stride=tuple(ints(op.strides)),
            padding=tuple(pads[:2]),
            dilation=tuple(ints(op.dilations)),
            groups=int(op.group.value.data),
            bias=bias,
        )
        self.add(op.output, node, [self.activation(op.input)])

    def _leaky(self, op: spike.LeakyOp) -> None:
        nir, dt = self.nir, self.dt
        if op.reset_mechanism.data != LeakyResetMode.ZERO or op.immediate_reset is None:
            raise Unexpressible(
                "NIR's neurons reset to v_reset in the step that fires (snnTorch's "
                "reset_mechanism='zero', reset_delay=False); this one does not"
            )
        if op.recurrent:
            raise Unexpressible("a recurrent neuron is written as a subgraph, not yet supported")
        n = self.neurons(op.input)
        beta = F32(op.beta.value.data)
        tau = np.full(n, dt / (F32(1) - beta), F32)
        thr = _full(_f(op.threshold), n)
        if op.alpha is None:
            node = nir.LIF(
                tau=tau,
                r=tau / dt,
                v_leak=np.zeros(n, F32),
                v_threshold=thr,
                v_reset=np.zeros(n, F32),
            )
        else:
            alpha = F32(op.alpha.value.data)
            tau_syn = np.full(n, dt / (F32(1) - alpha), F32)
            node = nir.CubaLIF(
                tau_syn=tau_syn,
                tau_mem=tau,
                r=tau / dt,
                v_leak=np.zeros(n, F32),
                v_threshold=thr,
                v_reset=np.zeros(n, F32),
                w_in=tau_syn / dt,
            )
        self.libraries.add("snntorch")
        self.add(op.output, node, [self.activation(op.input)])


def _producer_operands(value: SSAValue) -> list[SSAValue]:
    owner = value.owner
    return list(owner.operands) if isinstance(owner, Operation) else []


def _timesteps(module: ModuleOp) -> int:
    attr = module.attributes.get("spike.timesteps")
    return int(attr.value.data) if attr is not None else 0  # type: ignore[attr-defined]


def export_nir(module: ModuleOp, weights: WeightStore, dt: float, path: Path) -> Export:
    """Write the NIR-expressible part of `module` to `path`; what was left out is returned."""
    try:
        import nir
    except ImportError:
        raise SpikecError(
            "writing NIR needs the 'nir' package: pip install 'spikec[nir]'"
        ) from None
    result = Exporter(module, weights, dt).run()
    from compiler.ir.files import write_atomically

    def write(tmp: Path) -> None:
        nir.write(tmp, result.graph)

    write_atomically(path, write)
    return result
