"""spikec's passes, by name; xDSL's generic clean-ups are registered beside them.

Each entry is a function returning the pass class, so that the CLI imports only the passes a
pipeline names (xDSL's `get_all_passes` idiom).
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _dce() -> type[ModulePass]:
    from xdsl.transforms.dead_code_elimination import DeadCodeElimination

    return DeadCodeElimination


def _cse() -> type[ModulePass]:
    from xdsl.transforms.common_subexpression_elimination import (
        CommonSubexpressionElimination,
    )

    return CommonSubexpressionElimination


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {
        "dce": _dce,
        "cse": _cse,
    }
