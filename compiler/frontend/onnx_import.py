"""ONNX -> `spike` IR.

`import_onnx(path)` reads the model (weights stay on disk), checks what spikec needs (opset 17+, a
static leading time axis on every input, float32 data, external data inside the model's folder),
converts every node with the converters of `convert_standard` and `convert_spike`, and returns
the module with its weight store. Problems are collected over the whole graph and reported
together, one line per offending node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, helper
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from compiler.dialects import spike
from compiler.dialects.spike.types import DYNAMIC, format_shape, real_type
from compiler.errors import SpikecError, UnsupportedModelError
from compiler.formats.onnx_file import read_model
from compiler.frontend.convert_generic import convert_generic
from compiler.frontend.coverage import EXPORT_NODES_ATTR
from compiler.frontend.onnx_check import canonical_flags, check_model, inline_foreign_functions
from compiler.frontend.onnx_functions import DOMAIN as SPIKE_DOMAIN
from compiler.frontend.raising import RaiseReport, raise_model
from compiler.frontend.raising.generic import PREFIX as REGION_PREFIX
from compiler.frontend.raising.graph import attributes
from compiler.frontend.spike_functions import check_spike_functions
from compiler.frontend.values import Layout, NodeError, Value
from compiler.ir.locations import name_hint
from compiler.ir.weights import (
    WEIGHTS_ATTR,
    OnnxTensors,
    WeightStore,
    array_to_dense,
    dense_to_array,
    external_data_file,
)

REPEATED_ATTR = "spike.repeated"
"""Argument attribute: the model repeats this input over time; callers may give it as [B, ...]."""
INLINE_LIMIT = 1
"""Constants with at most this many elements are written into the IR as `spike.constant`."""

Converter = Callable[["Importer", onnx.NodeProto], None]


class AlreadyReported(Exception):
    """A node failed because of problems already recorded (inside an expert)."""


@dataclass
class ImportResult:
    module: ModuleOp
    weights: WeightStore
    model: onnx.ModelProto
    input_names: list[str]
    output_names: list[str]
    raising: RaiseReport


def node_label(node: onnx.NodeProto) -> str:
    kind = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    name = node.name or (node.output[0] if node.output else "?")
    return f"node '{name}' ({kind})"


def attr_int(node: onnx.NodeProto, name: str, default: int | None = None) -> int:
    value = attributes(node).get(name, default)
    if not isinstance(value, int):
        raise NodeError(
            f"attribute '{name}' must be an integer"
            if value is not None
            else f"attribute '{name}' is required"
        )
    return value


def attr_float(node: onnx.NodeProto, name: str, default: float) -> float:
    value = attributes(node).get(name, default)
    if not isinstance(value, int | float):
        raise NodeError(f"attribute '{name}' must be a number")
    return float(value)


K = TypeVar("K")


def _drop_new(table: dict[K, Any], kept: set[K]) -> None:
    for key in set(table) - kept:
        del table[key]


@dataclass(frozen=True)
class Checkpoint:
    last_op: Operation | None
    values: set[str]
    globals: set[str]
    materialised: set[tuple[int, str]]
    transposed: set[str]
    stochastic_streams: int


@dataclass
class Importer:
    """State of one import: the ONNX graph, the IR being built and the value table."""

    model: onnx.ModelProto
    path: Path
    inline_weights: bool
    tensors: OnnxTensors
    file_tensors: set[str] = field(default_factory=set)
    """Names of the tensors stored in the model file; others (computed while raising) are
    written into the IR."""
    timesteps: int = 0
    batch: int = DYNAMIC
    values: dict[str, Value] = field(default_factory=dict)
    globals: dict[str, spike.GlobalOp] = field(default_factory=dict)
    consumers: Counter[str] = field(default_factory=Counter)
    producers: dict[str, onnx.NodeProto] = field(default_factory=dict)
    builder: Builder | None = None
    stochastic_streams: int = 0
    transposed: dict[str, str] = field(default_factory=dict)
    """Constants that are a stored 2-D matrix transposed (value -> matrix): a MatMul by one
    reads the matrix with `transpose_weight` instead of a derived copy."""
    declared: dict[str, list[int | str]] = field(default_factory=dict)
    """Shapes ONNX shape inference gives the graph's values; checked against spikec's."""
    owned: set[int] = field(default_factory=set)
    """ids of nodes imported as part of another node (the experts of a MoE)."""
    moe_plans: dict[int, object] = field(default_factory=dict)
    """Combine node id -> its MoE plan (see convert_moe)."""
    problems: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    """ONNX values whose producer could not be imported."""
    elem_types: dict[str, int] = field(default_factory=dict)
    """ONNX element types of the graph's values, as shape inference gives them."""
    batch_symbol: str | None = None
    """The name ONNX gives a dynamic batch dimension (the inputs' dimension 1)."""
    generic: int = 0
    """Generic ops made so far (they are named `Generic0`, `Generic1`, ...)."""
    _materialised: dict[tuple[int, str], SSAValue] = field(default_factory=dict)

    # -- building ------------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """What `rollback` undoes to: a converter that fails may have built half its ops."""
        assert self.builder is not None
        block = self.builder.insertion_point.block
        return Checkpoint(
            block.last_op,
            set(self.values),
            set(self.globals),
            set(self._materialised),
            set(self.transposed),
            self.stochastic_streams,
        )

    def verify_since(self, mark: Checkpoint) -> None:
        """Verify the ops built since `mark`, so that a converter's op that does not verify
        (a LayerNormalization over the dynamic batch, ...) is rolled back, not imported."""
        assert self.builder is not None
        block = self.builder.insertion_point.block
        op = block.first_op if mark.last_op is None else mark.last_op.next_op
        while op is not None:
            op.verify()
            op = op.next_op

    def rollback(self, mark: Checkpoint) -> None:
        assert self.builder is not None
        block = self.builder.insertion_point.block
        while block.last_op is not None and block.last_op is not mark.last_op:
            op = block.last_op
            op.detach()
            op.erase(safe_erase=False)
        _drop_new(self.values, mark.values)
        _drop_new(self.globals, mark.globals)
        _drop_new(self._materialised, mark.materialised)
        _drop_new(self.transposed, mark.transposed)
        self.stochastic_streams = mark.stochastic_streams

    def insert(self, op: Operation) -> Operation:
        assert self.builder is not None
        self.builder.insert(op)
        return op

    def define(self, node: onnx.NodeProto, index: int, ssa: SSAValue, layout: Layout) -> None:
        """Bind output `index` of `node` to an IR value."""
        name = node.output[index]
        if ssa.name_hint is None:
            ssa.name_hint = name_hint(name)
        self.values[name] = Value(layout, ssa=ssa, name=name)

    def define_const(self, name: str, array: np.ndarray) -> None:
        self.values[name] = Value(Layout.CONST, array=array, name=name)

    def value(self, name: str) -> Value:
        if name in self.values:
            return self.values[name]
        if name in self.tensors:
            array = self.tensors.array(name)
            self.define_const(name, array)
            return self.values[name]
        raise NodeError(f"input '{name}' is not produced by any node")

    def input(self, node: onnx.NodeProto, index: int) -> Value:
        if index >= len(node.input) or not node.input[index]:
            raise NodeError(f"input {index} is missing")
        return self.value(node.input[index])

    def optional_input(self, node: onnx.NodeProto, index: int) -> Value | None:
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.value(node.input[index])

    def const_array(self, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
        v = self.input(node, index)
        if not v.is_const or v.array is None:
            raise NodeError(f"{what} (input {index}) must be a constant, not computed at run time")
        return np.asarray(v.array)

    def operand(self, v: Value) -> SSAValue:
        """The IR value of `v`, materialising a constant in the current block."""
        if v.ssa is not None:
            return v.ssa
        assert v.array is not None and self.builder is not None
        block = self.builder.insertion_point.block
        key = (id(block), v.name)
        if key in self._materialised:
            return self._materialised[key]
        array = np.asarray(v.array)
        if array.dtype != np.float32:
            raise NodeError(
                f"constant '{v.name}' has type {array.dtype}; spikec computes on float32 tensors"
            )
        op: Operation
        if array.size <= INLINE_LIMIT:
            op = spike.ConstantOp(array_to_dense(array))
        else:
            op = spike.WeightOp(v.name, self.global_for(v.name, array))
        self.insert(op)
        result = op.results[0]
        result.name_hint = name_hint(v.name)
        self._materialised[key] = result
        return result

    def global_for(self, name: str, array: np.ndarray) -> TensorType:
        if name not in self.globals:
            type_ = real_type(array.shape)
            inline = self.inline_weights or name not in self.file_tensors
            value = array_to_dense(np.asarray(array)) if inline else None
            self.globals[name] = spike.GlobalOp(name, type_, value)
        return self.globals[name].type

    def activation(self, node: onnx.NodeProto, index: int, what: str = "") -> Value:
        v = self.input(node, index)
        if v.is_const:
            raise NodeError(f"{what or f'input {index}'} must be an activation, not a constant")
        return v

    def time_major(self, node: onnx.NodeProto, index: int, what: str) -> Value:
        v = self.activation(node, index, what)
        if v.layout is Layout.FOLDED:
            raise NodeError(
                f"{what} is time-folded [T*B, ...]; reshape it to time-major [T, B, ...] first"
            )
        if v.layout is Layout.STATIC and self._has_time_axis(v):
            # e.g. computed by generic ops (a repeat written with computed shapes): a spike
            # function scans axis 0 whatever the layout, so reading it as time is exact
            return Value(Layout.TIME, ssa=v.ssa, name=v.name)
        if v.layout is not Layout.TIME:
            raise NodeError(f"{what} has no time axis; spiking ops need time-major [T, B, ...]")
        return v

    def _has_time_axis(self, v: Value) -> bool:
        """Whether a value without a known time axis is shaped [T, B, ...] all the same."""
        shape = v.ir_shape()
        return len(shape) >= 2 and shape[0] == self.timesteps and shape[1] == self.batch

    def next_stream(self) -> int:
        self.stochastic_streams += 1
        return self.stochastic_streams - 1


def load_model(path: Path) -> onnx.ModelProto:
    """Read an ONNX file without its external data, or fail with a clear message."""
    if not path.exists():
        raise SpikecError("no such file", where=str(path))
    if path.is_dir():
        raise SpikecError("is a directory, expected an .onnx file", where=str(path))
    try:
        model = read_model(path)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise SpikecError(
            f"not a readable ONNX model ({type(e).__name__}: {str(e) or 'parse error'}); "
            "the file may be truncated or of another format",
            where=str(path),
        ) from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.node:
        raise SpikecError(
            "not an ONNX model: no graph with nodes (the file may be truncated or of another "
            "format)",
            where=str(path),
        )
    return model


def _check_external_data(model: onnx.ModelProto, path: Path) -> None:
    for tensor in model.graph.initializer:
        if external_data_helper.uses_external_data(tensor):
            external_data_file(tensor, path.parent, str(path))


def _tensor_type(vi: onnx.ValueInfoProto) -> tuple[int, list[int | str]]:
    tt = vi.type.tensor_type
    dims: list[int | str] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
        else:
            dims.append(d.dim_param or "?")
    return tt.elem_type, dims


def _input_type(
    vi: onnx.ValueInfoProto, path: Path, metadata_t: int | None
) -> tuple[int, int, list[int]]:
    """(T, batch, IR shape) of a graph input, which must be time-major."""
    where = f"{path}: input '{vi.name}'"
    elem, dims = _tensor_type(vi)
    if elem != onnx.TensorProto.FLOAT:
        name = helper.tensor_dtype_to_np_dtype(elem) if elem else "unknown"
        raise SpikecError(f"has element type {name}; spikec inputs are float32", where=where)
    if not vi.type.tensor_type.HasField("shape") or len(dims) < 2:
        raise SpikecError(
            f"has shape {dims or 'unknown'} without a time axis; spikec needs inputs shaped "
            "[T, B, ...] with a static number of timesteps T (repeat a static input over T "
            "before export)",
            where=where,
        )
    t = dims[0]
    if not isinstance(t, int) or t <= 0:
        raise SpikecError(
            f"dimension 0 is '{t}'; spikec needs time as a static leading axis [T, B, ...] "
            "(export with a fixed T)",
            where=where,
        )
    if metadata_t is not None and t != metadata_t:
        raise SpikecError(
            f"dimension 0 is {t} but the model's metadata says spike.timesteps = {metadata_t}",
            where=where,
        )
    batch = dims[1] if isinstance(dims[1], int) else DYNAMIC
    rest: list[int] = []
    for i, d in enumerate(dims[2:], start=2):
        if not isinstance(d, int):
            raise SpikecError(
                f"dimension {i} is '{d}'; only the batch (dimension 1) may be dynamic",
                where=where,
            )
        rest.append(d)
    return t, batch, [t, batch, *rest]


def _metadata_timesteps(model: onnx.ModelProto, path: Path) -> int | None:
    for prop in model.metadata_props:
        if prop.key == "spike.timesteps":
            try:
                return int(prop.value)
            except ValueError:
                raise SpikecError(
                    f"metadata spike.timesteps = '{prop.value}' is not an integer", where=str(path)
                ) from None
    return None


def _converter(node: onnx.NodeProto) -> Converter | None:
    """The node's dedicated converter; None for a standard operator that has none."""
    from compiler.frontend.convert_spike import SPIKE_CONVERTERS
    from compiler.frontend.convert_standard import STANDARD_CONVERTERS

    if node.domain in ("", "ai.onnx"):
        table = STANDARD_CONVERTERS
        supported = "see README, 'ONNX operators'"
    elif node.domain == SPIKE_DOMAIN:
        table = SPIKE_CONVERTERS
        supported = ", ".join(sorted(SPIKE_CONVERTERS))
    else:
        raise NodeError(f"domain '{node.domain}' is not supported (only ONNX and 'spike')")
    if node.domain == SPIKE_DOMAIN and node.op_type.startswith(REGION_PREFIX):
        from compiler.frontend.convert_spike import onnx_region

        return onnx_region  # checks that the model defines the function
    if node.op_type not in table:
        if table is STANDARD_CONVERTERS:
            return None  # imported as a generic op
        raise NodeError(f"operator not supported by spikec ({supported})")
    return table[node.op_type]


def import_onnx(
    path: str | Path,
    *,
    inline_weights: bool = False,
    explain: Callable[[RaiseReport], None] | None = None,
    raising: Sequence[str] | None = None,
) -> ImportResult:
    """Import an ONNX model into a `spike` module; `explain` sees what the raising passes did
    before the nodes are converted (so also when the import then fails). `raising` names the
    raising passes to run (default: the whole pipeline; empty: none)."""
    path = Path(path)
    model = inline_foreign_functions(load_model(path), path)
    check_model(model, path)
    canonical_flags(model, path)
    model = check_spike_functions(model, path)
    _check_external_data(model, path)
    file_tensors = OnnxTensors(model, path)
    try:
        report = raise_model(model, file_tensors, _infer_shapes(model), raising)
    except ValueError as e:  # an unknown pass name
        raise SpikecError(str(e)) from None
    if explain is not None:
        explain(report)
    graph = model.graph
    importer = Importer(model, path, inline_weights, OnnxTensors(model, path))
    importer.file_tensors = set(file_tensors.tensors)

    initializer_names = {t.name for t in graph.initializer}
    graph_inputs = [vi for vi in graph.input if vi.name not in initializer_names]
    if not graph_inputs:
        raise SpikecError("the graph has no inputs", where=str(path))
    metadata_t = _metadata_timesteps(model, path)
    arg_types: list[Attribute] = []
    for vi in graph_inputs:
        t, batch, shape = _input_type(vi, path, metadata_t)
        if importer.timesteps and t != importer.timesteps:
            raise SpikecError(
                f"input '{vi.name}' has T = {t}, another input has T = {importer.timesteps}",
                where=str(path),
            )
        importer.timesteps, importer.batch = t, batch
        batch_dim = _tensor_type(vi)[1][1]
        if isinstance(batch_dim, str):
            importer.batch_symbol = batch_dim
        arg_types.append(real_type(shape))

    for node in graph.node:
        for name in node.input:
            importer.consumers[name] += 1
        for name in node.output:
            importer.producers[name] = node
    for out in graph.output:
        importer.consumers[out.name] += 1

    importer.declared, importer.elem_types = _infer_value_info(model)
    block = Block(arg_types=arg_types)
    for arg, vi in zip(block.args, graph_inputs, strict=True):
        arg.name_hint = name_hint(vi.name)
        importer.values[vi.name] = Value(Layout.TIME, ssa=arg, name=vi.name)
    importer.builder = Builder(InsertPoint.at_end(block))

    from compiler.frontend.convert_moe import claim_experts

    problems = importer.problems
    problems.extend(claim_experts(importer))
    convert_nodes(importer, list(graph.node), problems)

    results: list[SSAValue] = []
    output_names = [o.name for o in graph.output]
    for out in graph.output:
        if out.name in importer.failed:
            continue
        try:
            results.append(_graph_output(importer, out))
        except NodeError as e:
            problems.append(f"output '{out.name}': {e}")
    if problems:
        raise UnsupportedModelError(str(path), problems + _raising_notes(report))

    importer.insert(func.ReturnOp(*results))
    function = func.FuncOp(
        "main",
        (arg_types, [r.type for r in results]),
        Region(block),
        arg_attrs=_name_attrs([vi.name for vi in graph_inputs], report.repeated_inputs),
        res_attrs=_name_attrs(output_names),
    )

    module = ModuleOp([*importer.globals.values(), function])
    module.attributes["spike.timesteps"] = IntegerAttr(importer.timesteps, i64)
    module.attributes[EXPORT_NODES_ATTR] = IntegerAttr(report.export_nodes, i64)
    if not inline_weights:
        module.attributes[WEIGHTS_ATTR] = StringAttr(str(path.resolve()))
    from compiler.ir.locations import assign_locations
    from compiler.ir.verify import verify

    assign_locations(module)
    try:
        verify(module, str(path))
    except SpikecError as e:
        raise SpikecError(f"internal error: the imported IR does not verify: {e}") from e
    inline = {
        name: dense_to_array(op.value)
        for name, op in importer.globals.items()
        if op.value is not None
    }
    store = WeightStore(path, onnx_model=model, inline=inline)
    return ImportResult(
        module, store, model, [vi.name for vi in graph_inputs], output_names, report
    )


def _name_attrs(names: list[str], repeated: list[str] | None = None) -> ArrayAttr[DictionaryAttr]:
    """Each argument's ONNX name, and `spike.repeated` on an input the model repeats over time
    (the reference and the runtime accept it without its time axis)."""
    entries = []
    for n in names:
        entry: dict[str, Attribute] = {"spike.name": StringAttr(n)}
        if repeated and n in repeated:
            entry[REPEATED_ATTR] = UnitAttr()
        entries.append(DictionaryAttr(entry))
    return ArrayAttr(entries)


def _raising_notes(raising: RaiseReport) -> list[str]:
    """Patterns the raising passes recognised but left, which explain the nodes above."""
    return [f"(not raised) {item.node}: {item.reason}" for item in raising.left]


def convert_nodes(
    importer: Importer,
    nodes: list[onnx.NodeProto],
    problems: list[str],
    *,
    skip_owned: bool = True,
) -> None:
    """Convert `nodes` in order into the builder's block; record problems, skip nodes whose
    inputs failed so that one bad node gives one message."""
    failed = importer.failed
    for node in nodes:
        if skip_owned and id(node) in importer.owned:
            continue
        if any(name in failed for name in node.input):
            failed.update(node.output)
            continue
        try:
            _convert(importer, node)
        except AlreadyReported:
            failed.update(node.output)
        except (NodeError, VerifyException) as e:
            problems.append(f"{node_label(node)}: {e}")
            failed.update(node.output)


TYPE_AGNOSTIC = frozenset(
    {
        "Identity",
        "Cast",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "Concat",
        "Split",
    }
)
"""Operators whose dedicated ops are right whatever the element type they move (an int64 or
bool activation is carried as float32, exactly); others run on such inputs as generic ops, in
their own integer or boolean arithmetic."""


def _convert(importer: Importer, node: onnx.NodeProto) -> None:
    """Convert one node into its dedicated op, or, when it has none or that refuses this node,
    into a generic op that runs it as it is (standard operators only)."""

    def generic(reason: str) -> None:
        convert_generic(importer, node, f"{node_label(node)}: {reason}")

    converter = _converter(node)
    if converter is None:
        generic(f"no dedicated spike op for {node.op_type}")
        return
    if node.op_type not in TYPE_AGNOSTIC and node.domain in ("", "ai.onnx"):
        for name in node.input:
            elem = importer.elem_types.get(name, onnx.TensorProto.FLOAT)
            if name and elem != onnx.TensorProto.FLOAT and not importer.value(name).is_const:
                kind = helper.tensor_dtype_to_np_dtype(elem)
                generic(f"input '{name}' is {kind}, not float32")
                return
    mark = importer.checkpoint()
    try:
        converter(importer, node)
        _check_declared_shapes(importer, node)
        importer.verify_since(mark)
    except (NodeError, VerifyException) as e:
        if node.domain not in ("", "ai.onnx"):
            raise
        importer.rollback(mark)
        try:
            generic(str(e))
        except NodeError as failure:
            raise NodeError(f"{e}; as a generic op: {failure}") from None


def _infer_shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    """ONNX's own shape inference on the weight-less skeleton, as a cross-check of spikec's."""
    return _infer_value_info(model)[0]


PROBE_BATCHES = (1009, 1013)
"""Under a dynamic batch, ONNX shape inference runs once at each of these batch sizes: a dimension
that is 1009 in one and 1013 in the other is the batch, k * 1009 against k * 1013 is k batches
(a time-folded axis), equal ones are static. ONNX's symbolic inference loses the batch through
many ops (Tile, Expand, a Reshape to a computed shape); concrete sizes do not."""


def _infer_value_info(
    model: onnx.ModelProto,
) -> tuple[dict[str, list[int | str]], dict[str, int]]:
    """ONNX shape inference's shapes and element types of the graph's values. With a dynamic
    batch its dimensions are the batch symbol, `k*<symbol>` for k batches, static sizes, or
    other symbols (data-dependent)."""
    symbol = _batch_symbol(model)
    if symbol is None:
        return _infer_once(model)
    (first, elems), (second, _) = (_infer_once(_with_batch(model, b)) for b in PROBE_BATCHES)
    low, high = PROBE_BATCHES
    shapes: dict[str, list[int | str]] = {}
    for name, dims in first.items():
        other = second.get(name)
        if other is None or len(other) != len(dims):
            continue
        merged: list[int | str] = []
        for a, b in zip(dims, other, strict=True):
            if a == b:
                merged.append(f"{a}?" if a == symbol else a)  # an unknown named like the batch
            elif isinstance(a, int) and isinstance(b, int) and a % low == 0 and a * high == b * low:
                k = a // low
                merged.append(symbol if k == 1 else f"{k}*{symbol}")
            else:
                merged.append(f"{a}|{b}")  # depends on the data, or on the batch otherwise
        shapes[name] = merged
    return shapes, elems


def _batch_symbol(model: onnx.ModelProto) -> str | None:
    """The symbol of the graph inputs' batch axis (dimension 1), if it is dynamic."""
    initializers = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        _, dims = _tensor_type(vi)
        if len(dims) >= 2 and isinstance(dims[1], str):
            return dims[1]
    return None


def _with_batch(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """`model` with its inputs' dynamic batch axis set to `batch` (its outputs' shapes dropped,
    since they may name the batch)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    initializers = {t.name for t in probe.graph.initializer}
    for vi in probe.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in initializers and len(dims) >= 2 and not dims[1].HasField("dim_value"):
            dims[1].dim_value = batch
    del probe.graph.value_info[:]
    for vi in probe.graph.output:
        vi.type.tensor_type.ClearField("shape")
    return probe


def _infer_once(model: onnx.ModelProto) -> tuple[dict[str, list[int | str]], dict[str, int]]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # an inference failure is not the user's problem: spikec infers its own
        return {}, {}
    graph = inferred.graph
    shapes: dict[str, list[int | str]] = {}
    elems: dict[str, int] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        elem, dims = _tensor_type(vi)
        if elem:
            elems[vi.name] = elem
        if vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = dims
    for tensor in graph.initializer:
        elems[tensor.name] = tensor.data_type
    return shapes, elems


def _check_declared_shapes(importer: Importer, node: onnx.NodeProto) -> None:
    for name in node.output:
        declared = importer.declared.get(name)
        value = importer.values.get(name)
        if declared is None or value is None or value.is_const:
            continue
        actual = value.onnx_shape()
        if len(declared) != len(actual) or any(
            isinstance(d, int) and d > 0 and a > 0 and d != a
            for d, a in zip(declared, actual, strict=True)
        ):
            raise NodeError(
                f"ONNX shape inference gives output '{name}' the shape {declared}, spikec infers "
                f"{list(actual)}"
            )


def _graph_output(importer: Importer, out: onnx.ValueInfoProto) -> SSAValue:
    if out.name not in importer.values:
        raise NodeError("is not produced by any node")
    v = importer.values[out.name]
    if v.is_const:
        raise NodeError("is a constant; spikec outputs are computed values")
    assert v.ssa is not None
    if v.layout is Layout.FOLDED:  # returned as the model computes it, [T*B, ...]
        fold = spike.ReshapeOp(v.ssa, v.onnx_shape())
        importer.insert(fold)
        v = Value(Layout.STATIC, ssa=fold.results[0], name=v.name)
    elem, declared = _tensor_type(out)
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.UNDEFINED):
        name = helper.tensor_dtype_to_np_dtype(elem)
        raise NodeError(f"has element type {name}; spikec outputs are float32")
    actual = v.onnx_shape()
    if declared and (
        len(declared) != len(actual)
        or any(
            isinstance(d, int) and a != -1 and d != a for d, a in zip(declared, actual, strict=True)
        )
    ):
        raise NodeError(f"is declared {declared} but computes {format_shape(actual)}")
    assert v.ssa is not None
    return v.ssa
