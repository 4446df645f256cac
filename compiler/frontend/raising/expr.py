"""Elementwise arithmetic of an unrolled graph as expression trees.

A neuron's step is a few Add/Sub/Mul/Div/Neg nodes between its state, its input and constants,
and perhaps a `Where(S, v_reset, H)` reset selecting on the spikes (its condition read through a
`Cast` to bool).
The raising passes read that arithmetic as a tree whose leaves are named values and scalar
constants, substitute the state and the input, and then evaluate the tree in float32 on probe
values: two trees that give the same bits on every probe compute the same function in the same
arithmetic order, whichever way the exporter wrote it (operands swapped, `x * 0.5` for `x / 2`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from compiler.frontend.raising.graph import Graph, attributes, is_standard

ARITHMETIC = ("Add", "Sub", "Mul", "Div", "Neg", "Where")


@dataclass(frozen=True)
class Expr:
    """`op` is an ONNX arithmetic op, 'const' (`value`) or 'leaf'; `name` is the ONNX value the
    tree computes (a leaf's value; empty for constants). A `Where`'s first argument is its
    condition, true where it is not zero."""

    op: str
    args: tuple[Expr, ...] = ()
    value: float = 0.0
    name: str = ""

    def leaves(self) -> Iterator[str]:
        if self.op == "leaf":
            yield self.name
        for arg in self.args:
            yield from arg.leaves()

    def constants(self) -> Iterator[float]:
        if self.op == "const":
            yield self.value
        for arg in self.args:
            yield from arg.constants()

    def substitute(self, match: Callable[[Expr], Expr | None]) -> Expr:
        """The tree with each subtree for which `match` gives a replacement replaced."""
        replacement = match(self)
        if replacement is not None:
            return replacement
        if not self.args:
            return self
        return Expr(self.op, tuple(a.substitute(match) for a in self.args), self.value, self.name)

    def subtrees(self) -> Iterator[Expr]:
        yield self
        for arg in self.args:
            yield from arg.subtrees()

    def size(self) -> int:
        return 1 + sum(a.size() for a in self.args)


def leaf(name: str) -> Expr:
    return Expr("leaf", name=name)


def const(value: float) -> Expr:
    return Expr("const", value=float(np.float32(value)))


MAX_DEPTH = 48
"""Deep enough for a second state unrolled over T = 12 steps (3 levels a step)."""


def extract(graph: Graph, name: str, stop: set[str], nodes: set[int] | None = None) -> Expr:
    """The arithmetic computing `name`, down to values in `stop`, non-arithmetic producers and
    scalar constants. The ids of the nodes walked are added to `nodes`."""

    def walk(value: str, depth: int) -> Expr:
        scalar = graph.scalar(value)
        if scalar is not None:
            if nodes is not None:  # a full_like of a value of the step: the step's own nodes
                nodes.update(id(n) for n in graph.full_like_nodes(value))
            return const(scalar)
        if value in stop or depth > MAX_DEPTH:
            return leaf(value)
        node = graph.producer.get(value)
        if node is None or not is_standard(node) or node.op_type not in ARITHMETIC:
            return leaf(value)
        if nodes is not None:
            nodes.add(id(node))
        if node.op_type == "Where":
            condition = node.input[0]
            cast = graph.producer.get(condition)
            to_bool = cast is not None and cast.op_type == "Cast" and is_standard(cast)
            if cast is not None and to_bool and attributes(cast).get("to") == TensorProto.BOOL:
                if nodes is not None:  # S != 0 as the condition
                    nodes.add(id(cast))
                condition = cast.input[0]
            args = (walk(condition, depth + 1), *(walk(i, depth + 1) for i in node.input[1:]))
            return Expr("Where", args, name=value)
        args = tuple(walk(i, depth + 1) for i in node.input)
        return Expr(node.op_type, args, name=value)

    return walk(name, 0)


_NUMPY = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.divide,
}


def evaluate(expr: Expr, env: dict[str, np.ndarray]) -> np.ndarray:
    """The tree in float32, leaves from `env`."""
    if expr.op == "const":
        return np.float32(expr.value)  # type: ignore[return-value]
    if expr.op == "leaf":
        return env[expr.name]
    if expr.op == "Neg":
        return np.negative(evaluate(expr.args[0], env))
    if expr.op == "Where":
        condition, a, b = (evaluate(arg, env) for arg in expr.args)
        return np.asarray(np.where(condition != 0, a, b), dtype=np.float32)
    a, b = (evaluate(arg, env) for arg in expr.args)
    with np.errstate(all="ignore"):
        return np.asarray(_NUMPY[expr.op](a, b), dtype=np.float32)


def probes(count: int = 4096, seed: int = 0) -> np.ndarray:
    """float32 values of every sign and many magnitudes, with the small integers and halves
    that thresholds and resets sit on."""
    rng = np.random.default_rng(seed)
    mantissa = rng.uniform(-1.0, 1.0, count)
    exponent = rng.integers(-12, 6, count).astype(np.float64)
    values = mantissa * np.exp2(exponent)
    specials = np.array([0.0, -0.0, 0.5, 1.0, -1.0, 2.0, 1.5, 0.25, -0.5, 3.0, np.inf, -np.inf])
    values[: specials.size] = specials
    return values.astype(np.float32)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal as float32 bit patterns, except that +0 and -0 count as equal (a sign of zero never
    changes a threshold comparison) and so do all NaNs (their payload and sign depend on the
    instruction that made them)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    a, b = np.broadcast_arrays(a, b)
    same = (a.view(np.uint32) == b.view(np.uint32)) | ((a == 0) & (b == 0))
    return bool(np.all(same | (np.isnan(a) & np.isnan(b))))
