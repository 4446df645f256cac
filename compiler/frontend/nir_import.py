"""NIR graphs (the Neuromorphic Intermediate Representation, `.nir` HDF5 files) as `spike` IR.

NIR states each neuron as a continuous-time ODE with per-neuron parameter arrays; a `spike`
module runs `T` discrete steps on time-major tensors `[T, B, ...]`. The import discretises each
neuron with the step `dt` in the arithmetic of the library the file came from (see
`nir_options.DISCRETISATIONS` and `neuron_ops`), so that the imported program fires exactly
where that library's own simulation of the graph fires. Nested graphs (snnTorch's `RLeaky`
subgraphs) are inlined under dotted names; a node with several incoming edges takes their sum,
as NIR defines.

Weights stay in the `.nir` file: `spike.global @fc1.weight` reads the `weight` of node `fc1`
(`nir_tensors`), so importing touches no weight data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.types import DYNAMIC, real_type
from compiler.errors import SpikecError, UnsupportedModelError
from compiler.formats.nir_file import FlatGraph, flatten, read_graph
from compiler.frontend.nir_options import NirOptions
from compiler.ir.locations import name_hint
from compiler.ir.weights import WEIGHTS_ATTR, WeightStore, array_to_dense

DISCRETISATION_ATTR = "spike.nir_discretisation"
"""Module attribute: which library's discretisation the import followed."""

DT_ATTR = "spike.dt"
"""Module attribute: the step, in seconds, the NIR graph was discretised with."""

NEURONS = ("LIF", "IF", "LI", "I", "CubaLIF", "CubaLI")

# ---------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------


@dataclass
class NirImport:
    module: ModuleOp
    weights: WeightStore
    discretisation: str


def _metadata(graph: Any) -> dict[str, Any]:
    raw = getattr(graph, "metadata", None)
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif (isinstance(value, np.ndarray) and value.shape == ()) or isinstance(value, np.generic):
            value = value.item()
        out[str(key)] = value
    return out


def _resolve_options(graph: Any, options: NirOptions, where: str) -> tuple[float | None, int]:
    meta = _metadata(graph)
    dt = options.dt
    if dt is None and "dt" in meta:
        try:
            dt = float(meta["dt"])
        except (TypeError, ValueError):
            raise SpikecError(
                f"metadata dt = {meta['dt']!r} is not a number", where=where
            ) from None
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise SpikecError(f"dt must be a positive number of seconds, got {dt}", where=where)
    steps = options.timesteps
    if steps is None and "timesteps" in meta:
        try:
            steps = int(meta["timesteps"])
        except (TypeError, ValueError):
            raise SpikecError(
                f"metadata timesteps = {meta['timesteps']!r} is not an integer", where=where
            ) from None
    if steps is None:
        raise SpikecError(
            "a NIR graph has no time axis: give --timesteps T (the file's metadata has no "
            "'timesteps')",
            where=where,
        )
    if steps < 1:
        raise SpikecError(f"timesteps must be >= 1, got {steps}", where=where)
    return dt, steps


def import_nir(path: str | Path, options: NirOptions) -> NirImport:
    """The `spike` module of a NIR file, discretised as `options` say."""
    where = str(path)
    graph = read_graph(path)
    flat = flatten(graph, where)
    dt, steps = _resolve_options(graph, options, where)
    discretisation = options.discretisation
    if discretisation == "auto":
        meta = _metadata(graph).get("discretisation")
        discretisation = str(meta) if meta is not None else _guess_discretisation(flat, dt)
    if discretisation not in ("snntorch", "norse", "nir"):
        raise SpikecError(
            f"unknown discretisation '{discretisation}' (metadata or option); accepted: "
            "snntorch, norse, nir",
            where=where,
        )
    builder = GraphBuilder(flat, where, dt, steps, options.batch, discretisation)
    function = builder.build()
    module = ModuleOp([*builder.globals.values(), function])
    module.attributes["spike.timesteps"] = IntegerAttr(steps, i64)
    module.attributes[DISCRETISATION_ATTR] = StringAttr(discretisation)
    if dt is not None:
        module.attributes[DT_ATTR] = FloatAttr(dt, f64)
    module.attributes[WEIGHTS_ATTR] = StringAttr(str(Path(path).resolve()))
    from compiler.ir.locations import assign_locations
    from compiler.ir.verify import verify

    assign_locations(module)
    try:
        verify(module, where)
    except SpikecError as e:
        raise SpikecError(f"internal error: the imported IR does not verify: {e}") from e
    declared = {name: tuple(op.type.get_shape()) for name, op in builder.globals.items()}
    return NirImport(module, WeightStore(Path(path), declared=declared), discretisation)


def _guess_discretisation(flat: FlatGraph, dt: float | None) -> str:
    """snntorch where every LIF and CubaLIF carries what `snntorch.export_nir` writes (no leak,
    `r = tau / dt`, `w_in = tau_syn / dt`); else NIR's forward Euler."""
    import nir

    neurons = [n for n in flat.nodes.values() if isinstance(n, nir.LIF | nir.CubaLIF)]
    if dt is None or not neurons:
        return "nir"
    for n in neurons:
        tau = n.tau if isinstance(n, nir.LIF) else n.tau_mem
        if not np.allclose(n.v_leak, 0.0) or not np.allclose(n.r, np.asarray(tau) / dt):
            return "nir"
        if isinstance(n, nir.CubaLIF) and not np.allclose(n.w_in, np.asarray(n.tau_syn) / dt):
            return "nir"
    return "snntorch"


class GraphBuilder:
    """Emits the ops of a flat NIR graph in dataflow order into one `func.func @main`."""

    def __init__(
        self,
        flat: FlatGraph,
        where: str,
        dt: float | None,
        steps: int,
        batch: int | None,
        discretisation: str,
    ) -> None:
        self.flat, self.where, self.dt, self.steps = flat, where, dt, steps
        self.batch = DYNAMIC if batch is None else batch
        self.discretisation = discretisation
        self.globals: dict[str, spike.GlobalOp] = {}
        self.values: dict[str, SSAValue] = {}
        self.samples: dict[str, list[int]] = {}
        """Each converted node's per-sample output shape (without T and B)."""
        self.problems: list[str] = []
        self.current: str | None = None
        """The NIR node being converted: the layer (location) of the ops it becomes."""
        self.recurrent: dict[str, str] = {}
        """Neuron -> its recurrent weight node (`find_recurrences`)."""
        self.block = Block()
        self.builder = Builder(InsertPoint.at_end(self.block))

    # -- helpers ---------------------------------------------------------------------------

    def insert(self, op: Operation, name: str | None = None) -> SSAValue:
        """Insert `op`, its result named `name`, its location the NIR node being converted."""
        from compiler.ir.locations import name_location

        layer = self.current or name
        if layer is not None:
            op.location = name_location(layer)
        self.builder.insert(op)
        result = op.results[0]
        if name is not None:
            result.name_hint = name_hint(name)
        return result

    def weight(self, node_name: str, key: str, array: np.ndarray) -> SSAValue:
        symbol = f"{node_name}.{key}"
        shape = list(np.shape(array))
        if symbol not in self.globals:
            self.globals[symbol] = spike.GlobalOp(symbol, TensorType(f32, shape))
        return self.insert(spike.WeightOp(symbol, TensorType(f32, shape)), symbol)

    def constant(self, value: np.ndarray | float) -> SSAValue:
        return self.insert(spike.ConstantOp(array_to_dense(np.asarray(value, np.float32))))

    def full_shape(self, sample: Sequence[int]) -> list[int]:
        return [self.steps, self.batch, *sample]

    def need_dt(self, name: str, kind: str) -> float:
        if self.dt is None:
            raise NodeProblem(
                f"{kind} needs the time step: give --dt SECONDS (the file's metadata has no 'dt')"
            )
        return self.dt

    # -- the graph -------------------------------------------------------------------------

    def find_recurrences(self) -> dict[str, str]:
        """Neuron -> the Affine or Linear node that feeds its spikes back to it and to nothing
        else (snnTorch's `RLeaky` and `RSynaptic`); those back edges leave the dataflow."""
        import nir

        found: dict[str, str] = {}
        edges = self.flat.edges
        for source, target in edges:
            neuron, weight = self.flat.nodes[source], self.flat.nodes[target]
            if not isinstance(neuron, nir.LIF | nir.CubaLIF):
                continue
            if not isinstance(weight, nir.Affine | nir.Linear):
                continue
            ins = [s for s, t in edges if t == target]
            outs = [t for s, t in edges if s == target]
            if ins == [source] and outs == [source]:
                found[source] = target
        return found

    def order(self) -> list[str]:
        """Nodes in dataflow order (Kahn); a cycle is reported by its nodes."""
        self.recurrent = self.find_recurrences()
        back = {(w, n) for n, w in self.recurrent.items()}
        preds = {
            name: [s for s, t in self.flat.edges if t == name and (s, t) not in back]
            for name in self.flat.nodes
        }
        done: list[str] = []
        placed: set[str] = set()
        pending = list(self.flat.nodes)
        while pending:
            ready = [n for n in pending if all(p in placed for p in preds[n])]
            if not ready:
                cycle = ", ".join(sorted(pending))
                raise SpikecError(
                    f"the graph has recurrent edges among {cycle}; spikec imports a recurrence "
                    "only as a LIF or CubaLIF neuron whose spikes one Affine or Linear node feeds "
                    "back to it alone (snnTorch's RLeaky, RSynaptic)",
                    where=self.where,
                )
            for n in ready:
                done.append(n)
                placed.add(n)
            pending = [n for n in pending if n not in placed]
        self.preds = preds
        absorbed = set(self.recurrent.values())
        return [n for n in done if n not in absorbed]

    def build(self) -> func.FuncOp:
        import nir

        if not self.flat.inputs:
            raise SpikecError("the graph has no Input node", where=self.where)
        if not self.flat.outputs:
            raise SpikecError("the graph has no Output node", where=self.where)
        arg_types: list[Attribute] = []
        for name in self.flat.inputs:
            node = self.flat.nodes[name]
            sample = _io_shape(node.input_type, name, self.where)
            self.samples[name] = sample
            arg_types.append(real_type(self.full_shape(sample)))
        self.block = Block(arg_types=arg_types)
        self.builder = Builder(InsertPoint.at_end(self.block))
        from compiler.ir.locations import name_location

        for arg, name in zip(self.block.args, self.flat.inputs, strict=True):
            arg.name_hint = name_hint(name)
            arg.location = name_location(name)
            self.values[name] = arg
        for name in self.order():
            node = self.flat.nodes[name]
            if name in self.values:
                continue
            sources = [s for s in self.preds[name] if s in self.values]
            if len(sources) != len(self.preds[name]):
                continue  # an input failed: reported there
            if not sources:
                if not isinstance(node, nir.Input):
                    self.problems.append(f"node '{name}' ({type(node).__name__}): no input edge")
                continue
            try:
                self.values[name] = self.convert(name, node, sources)
            except NodeProblem as e:
                self.problems.append(f"node '{name}' ({type(node).__name__}): {e}")
        results = []
        for name in self.flat.outputs:
            if name in self.values:
                results.append(self.values[name])
            elif not self.problems:
                self.problems.append(f"output '{name}' is not reached from any input")
        if self.problems:
            raise UnsupportedModelError(self.where, self.problems)
        self.builder.insert(func.ReturnOp(*results))
        return func.FuncOp(
            "main",
            (arg_types, [r.type for r in results]),
            Region(self.block),
            arg_attrs=_names(self.flat.inputs),
            res_attrs=_names(self.flat.outputs),
        )

    def summed_input(self, name: str, sources: list[str]) -> tuple[SSAValue, list[int]]:
        """The sum of the node's incoming edges, left to right in edge order."""
        value = self.values[sources[0]]
        sample = self.samples[sources[0]]
        for other in sources[1:]:
            if self.samples[other] != sample:
                raise NodeProblem(
                    f"its inputs have different shapes: {sample} from '{sources[0]}', "
                    f"{self.samples[other]} from '{other}'"
                )
            value = self.insert(spike.AddOp(value, self.values[other]), f"{name}.sum")
        return value, sample

    def convert(self, name: str, node: Any, sources: list[str]) -> SSAValue:
        from compiler.frontend import nir_ops

        self.current = name
        x, sample = self.summed_input(name, sources)
        converter = nir_ops.CONVERTERS.get(type(node).__name__)
        if converter is None:
            accepted = ", ".join(sorted(nir_ops.CONVERTERS))
            raise NodeProblem(f"spikec does not import this node type (it imports {accepted})")
        value, out_sample = converter(self, name, node, x, sample)
        self.samples[name] = out_sample
        if value.name_hint is None:
            value.name_hint = name_hint(name)
        return value


class NodeProblem(Exception):
    """Why one node cannot be imported; collected so that one message lists every node."""


def _io_shape(io_type: Any, name: str, where: str) -> list[int]:
    """The per-sample shape an Input or Output node declares."""
    if isinstance(io_type, dict):
        if len(io_type) != 1:
            raise SpikecError(f"node '{name}' declares {len(io_type)} ports; spikec takes one")
        io_type = next(iter(io_type.values()))
    try:
        shape = [int(d) for d in np.asarray(io_type).reshape(-1)]
    except (TypeError, ValueError):
        raise SpikecError(f"node '{name}': its shape {io_type!r} is not a list of sizes") from None
    if not shape or any(d < 1 for d in shape):
        raise SpikecError(
            f"node '{name}' declares the shape {shape}; spikec needs known sizes >= 1 (the "
            "sample's shape, without batch or time)",
            where=where,
        )
    return shape


def _names(names: list[str]) -> ArrayAttr[DictionaryAttr]:
    return ArrayAttr([DictionaryAttr({"spike.name": StringAttr(n)}) for n in names])
