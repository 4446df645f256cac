"""spikec's passes, by name; xDSL's generic clean-ups are registered beside them.

Each entry is a function returning the pass class, so that the CLI imports only the passes a
pipeline names (xDSL's `get_all_passes` idiom).
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _cse() -> type[ModulePass]:
    from xdsl.transforms.common_subexpression_elimination import (
        CommonSubexpressionElimination,
    )

    return CommonSubexpressionElimination


def _canonicalize() -> type[ModulePass]:
    from xdsl.transforms.canonicalize import CanonicalizePass

    return CanonicalizePass


def _dce() -> type[ModulePass]:
    from compiler.transforms.dead_code import DeadCodePass

    return DeadCodePass


def _sparsity_encoding() -> type[ModulePass]:
    from compiler.transforms.sparsity_encoding import SparsityEncodingPass

    return SparsityEncodingPass


def _partition_heads() -> type[ModulePass]:
    from compiler.transforms.partition_heads import PartitionHeadsPass

    return PartitionHeadsPass


def _partition_experts() -> type[ModulePass]:
    from compiler.transforms.partition_experts import PartitionExpertsPass

    return PartitionExpertsPass


def _tier_map() -> type[ModulePass]:
    from compiler.transforms.tier_map import TierMapPass

    return TierMapPass


def _fold_batchnorm() -> type[ModulePass]:
    from compiler.transforms.fold_batchnorm import FoldBatchNormPass

    return FoldBatchNormPass


def _decompose() -> type[ModulePass]:
    from compiler.transforms.decompose import DecomposePass

    return DecomposePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {
        "canonicalize": _canonicalize,
        "dce": _dce,
        "cse": _cse,
        "sparsity-encoding": _sparsity_encoding,
        "partition-heads": _partition_heads,
        "partition-experts": _partition_experts,
        "tier-map": _tier_map,
        "fold-batchnorm": _fold_batchnorm,
        "decompose": _decompose,
    }
