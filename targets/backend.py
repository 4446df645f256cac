"""A target's compile side: the pass pipeline that prepares `spike` IR for the design (its
capabilities as pass options) and the lowering from that IR to its instruction stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.hardware import Hardware
from runtime.program import Program

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

    from compiler.ir.weights import WeightStore


@dataclass
class Lowered:
    program: Program
    constants: dict[str, np.ndarray]
    inputs: list[dict[str, Any]]
    """Per model input: name, buffer, shape (None for the batch), dtype."""
    outputs: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts of the mapping for the manifest and the report (e.g. crossbar use)."""
    weight_plan: dict[str, Any] = field(default_factory=dict)
    """Where the weights live (`targets.memory.WeightPlan.summary`), for the manifest."""


Lower = Callable[["ModuleOp", "WeightStore", str, Hardware], Lowered]


@dataclass(frozen=True)
class Backend:
    pipeline: Callable[[str, Hardware], str]
    """(variant, hardware) -> the pass pipeline."""
    lower: Lower
