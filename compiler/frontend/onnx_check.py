"""The ONNX boundary: what a model file must be before spikec reads anything in it.

A model enters spikec here, so here it is checked as a whole, with one clear error naming the
file and the node, tensor or value: its opset within what spikec and onnx know; ONNX's own
checker on every node (operator schemas, attribute names and types, input counts);
and every tensor's declared type
and shape against the data it holds (a weight whose dims do not fit its bytes, an unknown data
type, a negative or absurd dimension). Shape inference is not made strict: exporters write stale
`value_info` that onnxruntime merges leniently, and such models must import.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper, helper

from compiler.errors import SpikecError
from compiler.frontend.onnx_functions import DOMAIN as SPIKE_DOMAIN
from compiler.frontend.onnx_functions import FUNCTION_NAMES

MIN_OPSET = 17
MAX_ELEMENTS = 1 << 34
"""The most elements spikec accepts in one tensor (64 GiB of float32): a larger declared size is
a corrupt file, not a model."""

_KNOWN_TYPES = set(helper.get_all_tensor_dtypes()) - {onnx.TensorProto.UNDEFINED}


def inline_foreign_functions(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """The model with the calls of its local functions in domains other than `spike` replaced by
    their bodies (as onnxruntime runs them), so that only standard and `spike` nodes remain."""
    foreign = [(f.domain, f.name) for f in model.functions if f.domain != SPIKE_DOMAIN]
    if not foreign:
        return model
    return inline_functions(model, foreign, path)


def inline_functions(
    model: onnx.ModelProto, selected: list[tuple[str, str]], path: Path
) -> onnx.ModelProto:
    """The model with the calls of the `selected` (domain, name) local functions replaced by
    their bodies. A call that leaves an attribute to its default is given the default first:
    onnx's inliner drops a reference to an attribute the call does not set."""
    from onnx import inliner

    functions = {(f.domain, f.name): f for f in model.functions if (f.domain, f.name) in selected}
    model = _copy(model)
    for node in all_nodes(model.graph):
        function = functions.get((node.domain, node.op_type))
        if function is not None:
            set_defaults(node, function)
    try:
        return inliner.inline_selected_functions(model, selected, exclude=False)
    except Exception as e:  # onnx raises RuntimeError on functions it cannot inline
        raise SpikecError(
            f"the model's functions cannot be inlined: {e}", where=str(path)
        ) from None


def set_defaults(node: onnx.NodeProto, function: onnx.FunctionProto) -> None:
    """Give the call `node` every attribute of `function` it leaves to its default."""
    given = {a.name for a in node.attribute}
    node.attribute.extend(a for a in function.attribute_proto if a.name not in given)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs of the node's attributes (If branches, Loop and Scan bodies)."""
    return [g for a in node.attribute for g in ([a.g] if a.HasField("g") else [*a.graphs])]


def all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes and those of its subgraphs, at any depth."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for sub in subgraphs(node):
            nodes.extend(all_nodes(sub))
    return nodes


REDUCE_OPS = (
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
)
_REDUCTIONS = (*REDUCE_OPS, "ArgMax", "ArgMin")
TRUE_ONLY_WHEN_ONE = {
    *((op, "keepdims") for op in _REDUCTIONS),
    ("TopK", "largest"),
    ("TopK", "sorted"),
    ("MaxPool", "ceil_mode"),
    ("AveragePool", "ceil_mode"),
    ("LpPool", "ceil_mode"),
}
"""Flags onnxruntime reads as true only when they are 1 (measured with onnxruntime 1.2x: a
keepdims of 2 drops the axes), where onnx.reference, which runs generic ops, reads any nonzero
value as true."""
TRUE_WHEN_NONZERO = {
    ("Gemm", "transA"),
    ("Gemm", "transB"),
    ("AveragePool", "count_include_pad"),
    ("ArgMax", "select_last_index"),
    ("ArgMin", "select_last_index"),
    ("Trilu", "upper"),
    ("IsInf", "detect_negative"),
    ("IsInf", "detect_positive"),
}
"""Flags onnxruntime reads as true when nonzero."""
ZERO_OR_ONE = {("CumSum", "exclusive"), ("CumSum", "reverse")}
"""Flags onnxruntime refuses unless 0 or 1."""


def canonical_flags(model: onnx.ModelProto, path: Path) -> None:
    """Rewrite the flag attributes of standard nodes (top level and subgraphs) to 0 or 1 as
    onnxruntime reads them, so that spikec's converters and its generic ops, run by
    onnx.reference, compute what onnxruntime does."""
    for node in all_nodes(model.graph):
        if node.domain not in ("", "ai.onnx"):
            continue
        for attribute in node.attribute:
            key = (node.op_type, attribute.name)
            if attribute.type != onnx.AttributeProto.INT or attribute.i in (0, 1):
                continue
            if key in ZERO_OR_ONE:
                label = node.name or (node.output[0] if node.output else "?")
                raise SpikecError(
                    f"node '{label}' ({node.op_type}): {attribute.name} is {attribute.i}; it "
                    "must be 0 or 1",
                    where=str(path),
                )
            if key in TRUE_ONLY_WHEN_ONE:
                attribute.i = 0
            elif key in TRUE_WHEN_NONZERO:
                attribute.i = 1


def _check_domains(model: onnx.ModelProto, path: Path) -> None:
    """A node outside the standard domain must call a function: a `spike` one of spikec's
    convention or the model's own (a standard op's name in another domain is no standard op)."""
    functions = {(f.domain, f.name) for f in model.functions}
    strangers = []
    for node in model.graph.node:
        if node.domain in ("", "ai.onnx") or (node.domain, node.op_type) in functions:
            continue
        if node.domain == SPIKE_DOMAIN and node.op_type in FUNCTION_NAMES:
            continue
        name = node.name or (node.output[0] if node.output else "?")
        strangers.append(f"'{name}' ({node.domain}.{node.op_type})")
    if strangers:
        raise SpikecError(
            f"{len(strangers)} node(s) neither a standard ONNX operator nor a function the model "
            f"defines: {', '.join(strangers)} (spikec's spike functions: "
            f"{', '.join(FUNCTION_NAMES)})",
            where=str(path),
        )


def check_model(model: onnx.ModelProto, path: Path) -> None:
    """Raise a SpikecError naming `path` and the culprit when `model` is not a well-formed ONNX
    model spikec can read."""
    _check_opset(model, path)
    _check_names(model, path)
    _check_domains(model, path)
    for tensor in _tensors(model.graph):
        check_tensor(tensor, str(path))
    for vi in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        elem = vi.type.tensor_type.elem_type
        if vi.type.HasField("tensor_type") and elem not in _KNOWN_TYPES:
            raise SpikecError(
                f"value '{vi.name}' has an unknown element type {elem}", where=str(path)
            )
    _check_nodes(model, path)
    _check_vector_inputs(model, path)
    _check_inference(model, path)


VECTOR_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Slice": (1, 2, 3, 4),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Pad": (1, 3),
    "Split": (1,),
    "TopK": (1,),
    "ConstantOfShape": (0,),
    "Resize": (1, 2, 3),
    **dict.fromkeys(REDUCE_OPS, (1,)),
}
"""Operators whose shape-like inputs (by index) the ONNX specification makes 1-D tensors:
onnxruntime refuses a scalar there, so spikec does too."""


def _check_vector_inputs(model: onnx.ModelProto, path: Path) -> None:
    ranks = {t.name: len(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                ranks[node.output[0]] = len(value.dims)
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        for index in VECTOR_INPUTS.get(node.op_type, ()):
            name = node.input[index] if index < len(node.input) else ""
            rank = ranks.get(name)
            if name and rank is not None and rank != 1:
                label = node.name or (node.output[0] if node.output else "?")
                raise SpikecError(
                    f"node '{label}' ({node.op_type}): input {index} ('{name}') must be a 1-D "
                    f"tensor, got rank {rank}",
                    where=str(path),
                )


def _check_nodes(model: onnx.ModelProto, path: Path) -> None:
    """Every standard node against its operator's schema (attribute names and types, input and
    output counts) with ONNX's checker, node by node: the graph-level rules it adds (shapes on
    every output, topological order) are stricter than onnxruntime, which runs such graphs."""
    context = onnx.checker.C.CheckerContext()
    context.ir_version = model.ir_version
    context.opset_imports = {o.domain: o.version for o in model.opset_import}
    lexical = onnx.checker.C.LexicalScopeContext()
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue  # spike functions are read by the importer; other domains it refuses
        if any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for a in node.attribute
        ):
            continue  # a body reads outer values, which a node-by-node check cannot see
        try:
            onnx.checker.check_node(node, context, lexical)
        except UnicodeDecodeError:
            raise SpikecError("a node holds text that is not UTF-8", where=str(path)) from None
        except onnx.checker.ValidationError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            label = f"'{node.name or (node.output[0] if node.output else '?')}' ({node.op_type})"
            raise SpikecError(f"node {label} is not valid ONNX: {first}", where=str(path)) from None


def _check_inference(model: onnx.ModelProto, path: Path) -> None:
    """ONNX shape inference, strict, on a copy without the exporter's value_info and output
    shapes: it fails where the operators themselves do not fit their inputs (incompatible
    broadcasts, wrong ranks), as onnxruntime's load does, but not on stale annotations, which
    onnxruntime merges leniently."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for tensor in list(copy.graph.initializer):  # declared by type and shape: not read here
        if external_data_helper.uses_external_data(tensor):
            copy.graph.initializer.remove(tensor)
            copy.graph.input.append(
                helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
            )
    del copy.graph.value_info[:]
    for out in copy.graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as e:
        found = re.search(r"node name: ([^)]*)\)", str(e))
        spike_nodes = {n.name for n in model.graph.node if n.domain == SPIKE_DOMAIN}
        if found and found.group(1) in spike_nodes:
            return  # a spike function's attributes: its converter says what is wrong, better
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise SpikecError(
            f"not a valid ONNX model: {lines[0] if lines else 'shape inference fails'}",
            where=str(path),
        ) from None
    _check_types(inferred, path)
    _check_declared_types(model, inferred, path)
    _check_scatter_shapes(inferred, path)


def _check_declared_types(model: onnx.ModelProto, inferred: onnx.ModelProto, path: Path) -> None:
    """A value's declared element type (value_info, graph outputs) against the type its node
    computes: onnxruntime merges stale shapes, but refuses a model whose types disagree."""
    computed = {
        vi.name: vi.type.tensor_type.elem_type
        for vi in [*inferred.graph.value_info, *inferred.graph.output]
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type
    }
    for vi in [*model.graph.value_info, *model.graph.output]:
        declared = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
        found = computed.get(vi.name, 0)
        if declared and found and declared != found:
            name = onnx.TensorProto.DataType.Name
            raise SpikecError(
                f"value '{vi.name}' is declared {name(declared).lower()} but its node computes "
                f"{name(found).lower()}",
                where=str(path),
            )


def _check_scatter_shapes(inferred: onnx.ModelProto, path: Path) -> None:
    """ScatterElements' indices and updates of one shape, as onnxruntime requires when it runs
    (onnx.reference, which runs generic ops, does not)."""
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info]:
        dims = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = [d.dim_value for d in dims]
    shapes.update({t.name: list(t.dims) for t in inferred.graph.initializer})
    for node in inferred.graph.node:
        if node.op_type != "ScatterElements" or len(node.input) < 3:
            continue
        indices, updates = shapes.get(node.input[1]), shapes.get(node.input[2])
        if indices is not None and updates is not None and indices != updates:
            label = node.name or node.output[0]
            raise SpikecError(
                f"node '{label}' (ScatterElements): indices {indices} and updates {updates} "
                "must have one shape",
                where=str(path),
            )


def _check_types(model: onnx.ModelProto, path: Path) -> None:
    """Each standard node's input element types against its operator's type constraints, and
    the inputs one type variable binds agreeing (a Clip of a bool, an Add of float and int64):
    onnxruntime refuses such a model at load; ONNX's shape inference lets it pass."""
    graph = model.graph
    types = {t.name: t.data_type for t in graph.initializer}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types.setdefault(vi.name, vi.type.tensor_type.elem_type)
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                types.setdefault(node.output[0], value.data_type)
    versions = {o.domain: o.version for o in model.opset_import}
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = onnx.defs.get_schema(
                node.op_type, versions.get("", versions.get("ai.onnx", 0)), ""
            )
        except onnx.defs.SchemaError:
            continue  # the checker has named it already
        allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
        bound: dict[str, tuple[str, str]] = {}
        for index, name in enumerate(node.input):
            if not name or name not in types or not schema.inputs:
                continue
            formal = schema.inputs[min(index, len(schema.inputs) - 1)]
            given = f"tensor({onnx.TensorProto.DataType.Name(types[name]).lower()})"
            accepted = allowed.get(formal.type_str, {formal.type_str})
            label = node.name or (node.output[0] if node.output else "?")
            if given not in accepted:
                raise SpikecError(
                    f"node '{label}' ({node.op_type}): input '{name}' is {given}, which "
                    f"{node.op_type}'s {formal.name} does not accept",
                    where=str(path),
                )
            if formal.type_str in allowed and formal.is_homogeneous:
                first = bound.setdefault(formal.type_str, (name, given))
                if first[1] != given:
                    raise SpikecError(
                        f"node '{label}' ({node.op_type}): input '{name}' is {given} but "
                        f"'{first[0]}' is {first[1]} (both must be {formal.type_str})",
                        where=str(path),
                    )


def _check_opset(model: onnx.ModelProto, path: Path) -> None:
    versions = {o.domain: o.version for o in model.opset_import}
    default = versions.get("", versions.get("ai.onnx", 0))
    newest = onnx.defs.onnx_opset_version()
    if default < MIN_OPSET:
        raise SpikecError(
            f"opset {default} is not supported; spikec reads ONNX opset {MIN_OPSET} or newer "
            f"(re-export with opset_version={MIN_OPSET}, or convert the model with "
            "onnx.version_converter)",
            where=str(path),
        )
    if default > newest:
        raise SpikecError(
            f"opset {default} is newer than any this onnx ({onnx.__version__}) knows "
            f"(up to {newest}); re-export with an opset from {MIN_OPSET} to {newest}",
            where=str(path),
        )


def _check_names(model: onnx.ModelProto, path: Path) -> None:
    """Names must be text: bytes that are not UTF-8 (a corrupt file) make protobuf hand back
    bytes where every reader expects a string."""
    graph = model.graph
    for node in graph.node:
        for name in (node.name, node.op_type, node.domain, *node.input, *node.output):
            if not isinstance(name, str):
                raise SpikecError("a node's name or value name is not UTF-8 text", where=str(path))
    for vi in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        if not isinstance(vi.name, str):
            raise SpikecError("a value's name is not UTF-8 text", where=str(path))
    seen: set[str] = set()
    for node in graph.node:
        if node.name and node.name in seen:  # onnxruntime refuses the model at load
            raise SpikecError(f"two nodes are named '{node.name}'", where=str(path))
        seen.add(node.name)


def _tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    """The initializers and the tensors of Constant nodes (not of subgraphs: their own checks
    run when the importer reads them)."""
    found = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                found.append(attr.t)
    return found


def check_tensor(tensor: onnx.TensorProto, where: str) -> None:
    """A tensor's data type and dims against the data it holds (inline or external)."""
    name = f"tensor '{tensor.name}'" if tensor.name else "a constant tensor"
    if tensor.data_type not in _KNOWN_TYPES:
        raise SpikecError(f"{name} has an unknown data type {tensor.data_type}", where=where)
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise SpikecError(f"{name} has a negative dimension: {dims}", where=where)
    count = int(np.prod(dims, dtype=np.float64)) if dims else 1
    if count > MAX_ELEMENTS:
        raise SpikecError(f"{name} declares {count} elements {dims}: not a model", where=where)
    if tensor.data_type in (onnx.TensorProto.STRING,):
        return
    itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    if external_data_helper.uses_external_data(tensor):
        info = {e.key: e.value for e in tensor.external_data}
        length = info.get("length")
        if length is not None and length.isdigit() and int(length) != count * itemsize:
            raise SpikecError(
                f"{name} is {dims} of {itemsize}-byte elements ({count * itemsize} bytes) but "
                f"its external data holds {length} bytes",
                where=where,
            )
        return
    held = _held(tensor, itemsize)
    if held is not None and held != count:
        raise SpikecError(f"{name} declares {count} elements {dims} but holds {held}", where=where)


def _held(tensor: onnx.TensorProto, itemsize: int) -> int | None:
    """How many elements the tensor's inline data holds (None: a kind not counted here)."""
    if tensor.HasField("raw_data"):
        size = len(tensor.raw_data)
        if tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
            return None
        return size // itemsize if size % itemsize == 0 else -1
    fields = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")
    for field_name in fields:
        values = getattr(tensor, field_name)
        if len(values):
            return len(values) // (2 if tensor.data_type in _COMPLEX else 1)
    return 0  # no data field at all


_COMPLEX = {onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}
