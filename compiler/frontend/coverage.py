"""How much of a model spikec understood: the share of the export's nodes, and of its synaptic
operations, that ended in dedicated `spike` ops rather than generic ops (ONNX nodes run as they
are by `onnx.reference`, `spike.onnx_region`).

Raising is an optimisation, so this is a figure to read, not a gate: generic ops compute exactly,
but the passes cannot transform them and the targets price them on their fallback units by
element counts. `spikec import --explain` prints it and `spikec compare`'s JSON carries it.

Nodes: the importer stores in the module how many nodes the export had (`spike.export_nodes`,
after unrolling time loops); generic nodes are counted from the IR (a `Generic<k>` op is one
node, an `Unraised<k>` region its body's nodes), the rest went into dedicated ops (converted,
raised or folded at import). Synaptic operations are dense multiply-accumulates of one run at
the model's declared batch (a dynamic batch counts 1): products (linear, matmul, convolution,
attention's two products), and in generic ops the products their nodes compute (MatMul, Gemm,
Conv, Einsum)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.types import DYNAMIC, shape_of

STEP_NODE_SUFFIX = "__step0_of_time"
"""The name ending of the node that reads an untimed input at step 0 (`raising.time_input`),
which the export did not have."""

PRODUCT_OPS = frozenset({"MatMul", "MatMulInteger", "Gemm", "Conv", "ConvTranspose", "Einsum"})
"""ONNX operators whose multiply-accumulates are synaptic operations."""

EXPORT_NODES_ATTR = "spike.export_nodes"
"""Module attribute: the number of nodes of the ONNX export (after unrolling time loops)."""


@dataclass(frozen=True)
class Coverage:
    export_nodes: int | None
    """Nodes of the export; None for IR that was not imported from ONNX."""
    generic_nodes: int
    dedicated_synops: float
    generic_synops: float

    @property
    def dedicated_nodes(self) -> int | None:
        if self.export_nodes is None:
            return None
        return max(self.export_nodes - self.generic_nodes, 0)

    @property
    def node_share(self) -> float | None:
        """The share of the export's nodes in dedicated ops."""
        if not self.export_nodes or self.dedicated_nodes is None:
            return None
        return self.dedicated_nodes / self.export_nodes

    @property
    def synop_share(self) -> float | None:
        """The share of the synaptic operations in dedicated ops."""
        total = self.dedicated_synops + self.generic_synops
        return self.dedicated_synops / total if total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_nodes": self.export_nodes,
            "dedicated_nodes": self.dedicated_nodes,
            "generic_nodes": self.generic_nodes,
            "dedicated_node_share": self.node_share,
            "dedicated_synops": self.dedicated_synops,
            "generic_synops": self.generic_synops,
            "dedicated_synop_share": self.synop_share,
        }

    def lines(self) -> list[str]:
        """What `spikec import --explain` says."""
        if self.export_nodes is None:
            nodes = f"{self.generic_nodes} nodes in generic ops"
        else:
            nodes = (
                f"{self.dedicated_nodes} of {self.export_nodes} nodes "
                f"({_percent(self.node_share)}) in dedicated spike ops, "
                f"{self.generic_nodes} in generic ops"
            )
        total = self.dedicated_synops + self.generic_synops
        synops = (
            f"{self.dedicated_synops:.4g} of {total:.4g} synaptic operations per run "
            f"({_percent(self.synop_share)}) in dedicated ops"
        )
        return [f"coverage: {nodes}; {synops}"]


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"


def _size(value: SSAValue) -> int:
    return math.prod(1 if d == DYNAMIC else int(d) for d in shape_of(value))


def _last(value: SSAValue) -> int:
    shape = shape_of(value)
    return int(shape[-1]) if shape and shape[-1] != DYNAMIC else 1


def dedicated_synops(op: Operation) -> float:
    """Dense multiply-accumulates of one dedicated op (0 for ops that compute no products)."""
    if isinstance(op, spike.LinearOp):
        weight = shape_of(op.weight)
        fan_in = int(weight[-1] if op.transpose_weight is not None else weight[0])
        return float(_size(op.output) * fan_in)
    if isinstance(op, spike.MatMulOp):
        return float(_size(op.output) * _last(op.lhs))
    if isinstance(op, spike.Conv2dOp):
        weight = shape_of(op.weight)
        per_output = math.prod(int(d) for d in weight) // max(int(weight[0]), 1)
        return float(_size(op.output) * per_output)
    if isinstance(op, spike.SSAOp | spike.StochasticAttentionOp):
        t, b, n, d = (1 if x == DYNAMIC else int(x) for x in shape_of(op.query))
        return float(2 * t * b * n * n * d)  # Q K^T and A V
    if isinstance(op, spike.SDSAOp | spike.TokenAttentionOp):
        return float(2 * _size(op.query))  # a product and a sum per element
    return 0.0


def _region_nodes(op: spike.OnnxRegionOp) -> tuple[int, float]:
    """(nodes, MACs of one run) of a generic op's body, adapters left out."""
    from runtime.onnx_region import ADAPTER, decode_body, node_work

    body = op.body.data
    nodes = sum(
        1
        for n in decode_body(body).node
        if n.name != ADAPTER and not n.name.endswith(STEP_NODE_SUFFIX)
    )
    shapes = tuple(tuple(1 if d == DYNAMIC else int(d) for d in shape_of(v)) for v in op.inputs)
    try:
        macs: int | None = sum(w.macs for w in node_work(body, shapes))
    except Exception:  # its work depends on its input values (a shape tensor): infer it
        macs = _inferred_macs(body, shapes)
    return nodes, float(macs or 0)


def _inferred_macs(body: str, shapes: tuple[tuple[int, ...], ...]) -> int | None:
    """The products' MACs from ONNX shape inference on the body (None where it cannot say)."""
    import numpy as np
    import onnx

    from runtime.onnx_region import body_model, decode_body, product_macs

    function = decode_body(body)
    try:
        model = body_model(function, shapes)
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    except Exception:
        return None
    known: dict[str, list[int]] = {}
    for vi in [*inferred.input, *inferred.value_info, *inferred.output]:
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            known[vi.name] = [d.dim_value for d in dims]
    total = 0
    for node in function.node:
        if node.op_type not in PRODUCT_OPS:
            continue
        if not all(n in known for n in [*node.input, *node.output] if n):
            return None
        zero = np.float32(0)
        ins = [np.broadcast_to(zero, known[n]) for n in node.input if n]
        outs = [np.broadcast_to(zero, known[n]) for n in node.output if n]
        total += product_macs(node, ins, outs)
    return total


def coverage(module: ModuleOp) -> Coverage:
    """The module's coverage (see the module docstring)."""
    attr = module.attributes.get(EXPORT_NODES_ATTR)
    export_nodes = attr.value.data if isinstance(attr, IntegerAttr) else None
    generic_nodes = 0
    dedicated = generic = 0.0
    for op in module.walk():
        if isinstance(op, spike.OnnxRegionOp):
            nodes, macs = _region_nodes(op)
            generic_nodes += nodes
            generic += macs
        else:
            dedicated += dedicated_synops(op)
    return Coverage(export_nodes, generic_nodes, dedicated, generic)
