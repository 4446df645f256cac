"""Verifying a module, reporting the first failing op where its source is known; and the check
that no float attribute or constant is NaN or Inf."""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.utils.exceptions import (
    VerifyException,
)
from xdsl.utils.lexer import Span

from compiler.dialects.spike.structure import check_weight_references
from compiler.errors import SpikecError
from compiler.ir.weights import (
    dense_to_array,
)


def verify(
    module: ModuleOp, filename: str = "<module>", spans: dict[int, Span] | None = None
) -> None:
    """Verify, reporting the first failing operation with its source location when known."""
    try:
        module.verify()
    except VerifyException as whole:
        error: Exception = whole
    else:
        failure = check_weight_references(module)
        if failure is None:
            return
        reader, reason = failure
        raise SpikecError(_located(reader, str(reason), filename, spans)) from None
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException as e:
            message = str(e).removeprefix("Operation does not verify: ")
            raise SpikecError(_located(op, message, filename, spans)) from None
    raise SpikecError(f"the IR does not verify: {error}", where=filename)


def _located(op: Operation, message: str, filename: str, spans: dict[int, Span] | None) -> str:
    if not message.startswith(op.name):
        message = f"{op.name}: {message}"
    span = (spans or {}).get(id(op))
    if span is None:
        return f"{filename}: {message}"
    loc = span.get_location()
    return f"{filename}:{loc.line}:{loc.col}: {message}"


def check_finite_attributes(module: ModuleOp) -> None:
    """Warn once per attribute (or, with --strict, refuse) where an op's float attribute or a
    constant's value is NaN or Inf: a threshold of NaN never fires, silently otherwise."""
    from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, FloatAttr

    from compiler.dialects.spike import ConstantOp
    from runtime.errors import ProgramError
    from runtime.finite import check_finite

    for op in module.walk():
        label = next((r.name_hint for r in op.results if r.name_hint), op.name)
        try:
            for key, attr in {**op.properties, **op.attributes}.items():
                if isinstance(attr, FloatAttr):
                    value = np.asarray([attr.value.data], np.float32)
                    check_finite(f"{op.name} '{label}': attribute", key, value)
            if isinstance(op, ConstantOp) and isinstance(op.value, DenseIntOrFPElementsAttr):
                check_finite("constant", label, dense_to_array(op.value))
        except ProgramError as e:
            raise SpikecError(str(e)) from None
