"""Run a `spike` module on numpy inputs: the reference semantics (DESIGN.md's oracle).

`evaluate` checks the inputs against the signature of `@main`, runs the module with xDSL's
interpreter and the numpy implementations of `interpreters.spike`, and returns the outputs by
name. An `ActivityRecorder` collects the firing rate of every op that produces spikes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation

from compiler.dialects.spike import SDSAOp, StochasticAttentionOp, TokenAttentionOp
from compiler.dialects.spike.neurons import NeuronOp
from compiler.dialects.spike.types import DYNAMIC, format_shape, is_spike, shape_of
from compiler.errors import SpikecError
from compiler.interpreters.spike import SpikeFunctions
from compiler.ir.weights import WeightStore
from compiler.progress import Bar, bar, logger
from runtime.encoded import EncodedSpikes
from runtime.finite import check_finite


def main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise SpikecError("the module has no function @main")


def _names(attrs: ArrayAttr[DictionaryAttr] | None, count: int, prefix: str) -> list[str]:
    names = [f"{prefix}{i}" for i in range(count)]
    if attrs is not None:
        for i, entry in enumerate(attrs.data):
            name = entry.data.get("spike.name")
            if isinstance(name, StringAttr):
                names[i] = name.data
    return names


def input_names(module: ModuleOp) -> list[str]:
    fn = main_function(module)
    return _names(fn.arg_attrs, len(fn.function_type.inputs), "arg")


def output_names(module: ModuleOp) -> list[str]:
    fn = main_function(module)
    return _names(fn.res_attrs, len(fn.function_type.outputs), "out")


def repeated_inputs(module: ModuleOp) -> set[str]:
    """Inputs the model repeats over time (`spike.repeated`): they may be given as [B, ...]."""
    fn = main_function(module)
    names = input_names(module)
    found: set[str] = set()
    if fn.arg_attrs is not None:
        for name, entry in zip(names, fn.arg_attrs.data, strict=False):
            if "spike.repeated" in entry.data:
                found.add(name)
    return found


class InputError(SpikecError):
    """An input array that does not fit the model; `name` is the input (None: the set of names)."""

    def __init__(self, message: str, name: str | None = None) -> None:
        self.name = name
        super().__init__(message)


def check_inputs(module: ModuleOp, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The inputs in argument order, each checked against the argument's type."""
    fn = main_function(module)
    names = input_names(module)
    missing = [n for n in names if n not in inputs]
    extra = [n for n in inputs if n not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unknown {extra}")
        raise InputError(f"inputs do not match the model ({'; '.join(parts)}); it takes {names}")
    ordered: list[np.ndarray] = []
    repeated = repeated_inputs(module)
    for name, arg_type in zip(names, fn.function_type.inputs.data, strict=True):
        array = inputs[name]
        expected = shape_of(arg_type)
        if name in repeated and array.ndim == len(expected) - 1:
            array = np.ascontiguousarray(np.broadcast_to(array, (expected[0], *array.shape)))
        shape_ok = array.ndim == len(expected) and all(
            e in (DYNAMIC, a) for e, a in zip(expected, array.shape, strict=True)
        )
        if array.dtype != np.float32 or not shape_ok:
            raise InputError(
                f"input '{name}': expected float32 [{format_shape(expected).replace('x', ', ')}]"
                f", got {array.dtype} {list(array.shape)}"
                + (" (convert with x.astype(np.float32))" if shape_ok else ""),
                name,
            )
        if array.ndim >= 2 and array.shape[1] == 0:
            raise InputError(f"input '{name}': the batch is empty", name)
        check_finite("input", name, array)
        if is_spike(arg_type) and not np.isin(array, (0.0, 1.0)).all():
            raise InputError(
                f"input '{name}' is a spike train: its values must be 0 or 1, it holds others "
                f"(e.g. {array[~np.isin(array, (0.0, 1.0))].flat[0]!r})",
                name,
            )
        ordered.append(array)
    return ordered


@dataclass
class Activity:
    """Spikes fired by one op over a run."""

    label: str
    op: str
    spikes: int
    neurons: int
    """Elements of the spike tensor (neurons x timesteps x batch)."""

    @property
    def rate(self) -> float:
        return self.spikes / self.neurons if self.neurons else 0.0


FIRING_OPS = (NeuronOp, SDSAOp, TokenAttentionOp, StochasticAttentionOp)
"""Ops that fire spikes: neurons and spiking attention. The rest only move, pool or mask spikes,
and a top-k router's gates (k of E per token) are a routing decision, not firing."""


@dataclass
class ActivityRecorder(Interpreter.Listener):
    """Records the firing rate of every op that fires spikes (neurons, spiking attention)."""

    records: list[Activity] = field(default_factory=list)

    def did_interpret_op(self, op: Operation, results: PythonValues) -> None:
        if not isinstance(op, FIRING_OPS):
            return
        for value, array in zip(op.results, results, strict=False):
            label = value.name_hint or f"{op.name}#{len(self.records)}"
            if isinstance(array, EncodedSpikes):
                neurons = int(np.prod(array.shape, dtype=np.int64))
                self.records.append(Activity(label, op.name, array.spikes, neurons))
            elif is_spike(value) and isinstance(array, np.ndarray):
                self.records.append(
                    Activity(label, op.name, int(np.count_nonzero(array)), int(array.size))
                )


@dataclass
class _Steps(Interpreter.Listener):
    """Advances a bar by one for each op of @main (not of the functions it calls)."""

    main: func.FuncOp
    progress: Bar

    def did_interpret_op(self, op: Operation, results: PythonValues) -> None:
        if op.parent_op() is self.main:
            self.progress.advance()
            self.progress.describe(op.name)


def evaluate(
    module: ModuleOp,
    weights: WeightStore,
    inputs: Mapping[str, np.ndarray],
    listeners: tuple[Interpreter.Listener, ...] = (),
) -> dict[str, np.ndarray]:
    """Outputs of `@main` by name, computed by the reference interpreter (its wall time logged
    with -v, its ops a progress bar)."""
    # xdsl.interpreters loads every dialect's interpreter (riscv, affine, pdl, ...): 0.3-0.7 s
    # that the commands which never evaluate (compile, run, targets) should not pay
    from xdsl.interpreters.func import FuncFunctions

    args = check_inputs(module, inputs)
    main = main_function(module)
    start = time.perf_counter()
    with bar(len(main.body.ops), "reference interpreter", "op") as progress:
        steps = (_Steps(main, progress),) if progress.shown else ()
        interpreter = Interpreter(module, listeners=(*listeners, *steps))
        interpreter.register_implementations(FuncFunctions())
        interpreter.register_implementations(SpikeFunctions(weights))
        results = interpreter.call_op("main", tuple(args))
    logger.info("reference interpreter: %.3f s", time.perf_counter() - start)
    return {
        name: r.to_dense() if isinstance(r, EncodedSpikes) else np.asarray(r, dtype=np.float32)
        for name, r in zip(output_names(module), results, strict=True)
    }
