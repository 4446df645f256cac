"""Where the data of `spike.global` tensors comes from.

A module names its weight file in the attribute `spike.weights`: the ONNX model it was imported
from (initializers are read by name, external data is memory-mapped), the NIR graph (`node.weight`)
or an `.npz` archive. A
global with an inline value needs no file. Tensors are read lazily and cached, so evaluating a
model touches each weight once and importing one touches none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
    f64,
    i32,
    i64,
)

from compiler.dialects.spike import GlobalOp
from compiler.errors import SpikecError
from runtime.errors import ProgramError
from runtime.finite import check_finite

if TYPE_CHECKING:  # onnx is imported where an ONNX file is read: importing it costs over a second
    import onnx

WEIGHTS_ATTR = "spike.weights"
"""Module attribute: the weight file (or a list of them), relative to the IR file's folder."""

DERIVED_ATTR = "spike.derived"
"""Marks a global whose data a pass computed (e.g. a weight with a batch norm folded in); the
CLI writes such data beside the IR file rather than into it."""


def external_data_file(tensor: onnx.TensorProto, model_dir: Path, model_path: str) -> Path:
    """The file holding an external-data initializer, refused if it lies outside the model's
    folder (a model must not make spikec read arbitrary files)."""
    from onnx import external_data_helper

    info = external_data_helper.ExternalDataInfo(tensor)
    location = info.location
    root = model_dir.resolve()
    target = (root / location).resolve()
    if os.path.isabs(location) or not target.is_relative_to(root):
        raise SpikecError(
            f"initializer '{tensor.name}' stores its data at '{location}', outside the model's "
            f"folder {root}; external data must be a relative path inside that folder",
            where=model_path,
        )
    if not target.is_file():
        raise SpikecError(
            f"initializer '{tensor.name}': external data file '{location}' not found next to "
            "the model",
            where=model_path,
        )
    return target


def _memmap_external(tensor: onnx.TensorProto, model_dir: Path, model_path: str) -> np.ndarray:
    from onnx import external_data_helper, helper

    path = external_data_file(tensor, model_dir, model_path)
    info = external_data_helper.ExternalDataInfo(tensor)
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")
    shape = tuple(tensor.dims)
    count = int(np.prod(shape, dtype=np.int64))
    offset = int(info.offset or 0)
    if offset + count * dtype.itemsize > path.stat().st_size:
        raise SpikecError(
            f"initializer '{tensor.name}': external data file '{info.location}' is too short "
            f"for {shape} {dtype}",
            where=model_path,
        )
    if count == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


_NUMERIC_CONSTANTS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}


def constant_tensor(node: onnx.NodeProto) -> onnx.TensorProto | None:
    """The value of a Constant node, whichever numeric attribute holds it (None: a string or
    sparse constant)."""
    from onnx import helper, numpy_helper

    for attr in node.attribute:
        if attr.name == "value" and attr.HasField("t"):
            return attr.t
        if attr.name in _NUMERIC_CONSTANTS:
            dtype = _NUMERIC_CONSTANTS[attr.name]
            value = np.asarray(helper.get_attribute_value(attr), dtype=dtype)
            return numpy_helper.from_array(value, node.output[0])
    return None


class OnnxTensors:
    """The named tensors of an ONNX model: initializers and the values of Constant nodes."""

    def __init__(self, model: onnx.ModelProto, model_path: Path) -> None:
        self.path = model_path
        self.dir = model_path.parent
        self.tensors: dict[str, onnx.TensorProto] = {t.name: t for t in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                tensor = constant_tensor(node)
                if tensor is not None:
                    self.tensors[node.output[0]] = tensor

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def array(self, name: str) -> np.ndarray:
        from onnx import external_data_helper, numpy_helper

        tensor = self.tensors[name]
        if external_data_helper.uses_external_data(tensor):
            return _memmap_external(tensor, self.dir, str(self.path))
        return numpy_helper.to_array(tensor)


def weight_paths(module: ModuleOp) -> list[str]:
    """The module's weight files (`spike.weights`: one path or a list), in lookup order."""
    attr = module.attributes.get(WEIGHTS_ATTR)
    if isinstance(attr, StringAttr):
        return [attr.data]
    if isinstance(attr, ArrayAttr):
        return [a.data for a in attr.data if isinstance(a, StringAttr)]
    return []


def set_weight_paths(module: ModuleOp, paths: list[str]) -> None:
    if not paths:
        module.attributes.pop(WEIGHTS_ATTR, None)
    elif len(paths) == 1:
        module.attributes[WEIGHTS_ATTR] = StringAttr(paths[0])
    else:
        module.attributes[WEIGHTS_ATTR] = ArrayAttr([StringAttr(p) for p in paths])


class _File:
    """One weight file, opened on first use."""

    def __init__(self, path: Path, onnx_model: onnx.ModelProto | None = None) -> None:
        self.path = path
        self._onnx = None if onnx_model is None else OnnxTensors(onnx_model, path)
        self._npz: np.lib.npyio.NpzFile | None = None
        self._nir: dict[str, np.ndarray] | None = None

    def _open(self) -> None:
        if self._onnx is not None or self._npz is not None or self._nir is not None:
            return
        if not self.path.is_file():
            raise SpikecError(f"weight file '{self.path}' not found ({WEIGHTS_ATTR})")
        if self.path.suffix == ".npz":
            self._npz = np.load(self.path, allow_pickle=False)
            return
        if self.path.suffix == ".nir":
            from compiler.formats.nir_file import nir_tensors

            self._nir = nir_tensors(self.path)
            return
        from compiler.formats.onnx_file import read_model

        try:
            model = read_model(self.path)
        except Exception as e:
            raise SpikecError(f"cannot read weight file '{self.path}': {e}") from None
        self._onnx = OnnxTensors(model, self.path)

    def get(self, name: str) -> np.ndarray | None:
        self._open()
        if self._onnx is not None and name in self._onnx:
            return self._onnx.array(name)
        if self._npz is not None and name in self._npz.files:
            return self._npz[name]
        if self._nir is not None:
            return self._nir.get(name)
        return None


class WeightStore:
    """Arrays of the globals of one module, by symbol name: inline values first, then the weight
    files in order."""

    def __init__(
        self,
        source: Path | list[Path] | None = None,
        *,
        onnx_model: onnx.ModelProto | None = None,
        inline: dict[str, np.ndarray] | None = None,
        declared: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        paths = [] if source is None else [source] if isinstance(source, Path) else list(source)
        self.files = [_File(p, onnx_model if i == 0 else None) for i, p in enumerate(paths)]
        self._inline = dict(inline or {})
        self._cache: dict[str, np.ndarray] = {}
        self.declared = dict(declared or {})
        """The shape each global declares: a tensor read from a file must have it."""

    @classmethod
    def for_module(cls, module: ModuleOp, base_dir: Path | None = None) -> WeightStore:
        """The store of a parsed or imported module; `base_dir` resolves relative paths."""
        inline: dict[str, np.ndarray] = {}
        declared: dict[str, tuple[int, ...]] = {}
        for op in module.ops:
            if isinstance(op, GlobalOp):
                declared[op.sym_name.data] = tuple(op.type.get_shape())
                if op.value is not None:
                    inline[op.sym_name.data] = dense_to_array(op.value)
        paths = []
        for text in weight_paths(module):
            path = Path(text)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            paths.append(path)
        return cls(paths, inline=inline, declared=declared)

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._cache:
            return self._cache[name]
        array = self._inline.get(name)
        source = "its inline value"
        for file in self.files:
            if array is not None:
                break
            array, source = file.get(name), f"'{file.path}'"
        if array is None:
            where = ", ".join(f"'{f.path}'" for f in self.files) or "no weight file"
            raise SpikecError(
                f"weight '{name}' has no inline value and is not in {where} ({WEIGHTS_ATTR})"
            )
        shape = self.declared.get(name)
        if shape is not None and tuple(array.shape) != shape:
            raise SpikecError(
                f"weight '{name}' is declared {list(shape)} by its spike.global, but {source} "
                f"holds {list(array.shape)}"
            )
        if array.ctypes.data % 64:
            # A tensor mapped from inside a protobuf file starts where the file puts it; BLAS
            # rounds products of misaligned operands in another order than of the aligned copies
            # a compiled program holds, so the reference computes on an aligned copy too.
            array = np.array(array, order="C")
        try:
            check_finite("weight", name, array)
        except ProgramError as e:
            raise SpikecError(str(e)) from None
        self._cache[name] = array
        return array


_NUMPY_OF_ELEMENT = {"f32": "<f4", "f64": "<f8", "i64": "<i8", "i32": "<i4"}


def _element_dtype(attr: DenseIntOrFPElementsAttr) -> np.dtype:
    element = attr.get_element_type()
    name = ""
    if isinstance(element, Float32Type):
        name = "f32"
    elif isinstance(element, Float64Type):
        name = "f64"
    elif isinstance(element, IntegerType):
        name = f"i{element.width.data}"
    if name not in _NUMPY_OF_ELEMENT:
        raise SpikecError(f"inline tensors of element type {element} are not supported")
    return np.dtype(_NUMPY_OF_ELEMENT[name])


def dense_to_array(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The numpy array of an inline dense attribute, in its declared shape (splats expanded)."""
    flat = np.frombuffer(attr.data.data, dtype=_element_dtype(attr))
    shape = attr.get_shape()
    if flat.size == 1 and int(np.prod(shape)) != 1:
        return np.full(shape, flat[0], dtype=flat.dtype.newbyteorder("="))
    return flat.reshape(shape).astype(flat.dtype.newbyteorder("="))


def array_to_dense(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """An inline dense attribute holding `array` (float32, float64, int32 or int64)."""
    kinds: dict[np.dtype, tuple[Float32Type | Float64Type | IntegerType, str]] = {
        np.dtype(np.float32): (f32, "<f4"),
        np.dtype(np.float64): (f64, "<f8"),
        np.dtype(np.int64): (i64, "<i8"),
        np.dtype(np.int32): (i32, "<i4"),
    }
    if array.dtype not in kinds:
        raise SpikecError(f"cannot write a {array.dtype} tensor inline")
    element, code = kinds[array.dtype]
    data = BytesAttr(np.ascontiguousarray(array, dtype=code).tobytes())
    return DenseIntOrFPElementsAttr(TensorType(element, array.shape), data)
