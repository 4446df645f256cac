"""What generic ops cost in speed: a model whose activations have no dedicated `spike` op.

A 4-layer MLP-like block on time-major `[T = 4, B, N = 64, D = 256]` (`--batch`, default 2):
MatMul (dedicated `spike.linear`) then, per layer, one activation with no dedicated op (Gelu,
Erf, Sigmoid, Softplus) and a Softmax, so half the ops are generic (`onnx.reference`). Prints the
import time, the reference interpreter's run and one target's run (`--target`, default
`stacked3d`) against onnxruntime's `session.run` on the same model (medians of five), and the
model's coverage.

Run from the repository root: `.venv/bin/python benchmarks/generic_ops_bench.py`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.frontend.coverage import coverage  # noqa: E402
from compiler.frontend.onnx_import import import_onnx  # noqa: E402
from compiler.interpreters.reference import evaluate  # noqa: E402
from compiler.runner import RunOptions, execute_package, open_program  # noqa: E402
from compiler.toolchain import compile_model  # noqa: E402

T, N, D = 4, 64, 256
ACTIVATIONS = ("Gelu", "Erf", "Sigmoid", "Softplus")


def build(batch: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    current = "x"
    for i, act in enumerate(ACTIVATIONS):
        w = (rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node(act, [f"m{i}"], [f"a{i}"]))
        nodes.append(helper.make_node("Softmax", [f"a{i}"], [f"s{i}"], axis=-1))
        current = f"s{i}"
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    shape = [T, batch, N, D]
    graph = helper.make_graph(
        nodes,
        "generic_bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    return model


def median_time(run: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--target", default="stacked3d")
    args = parser.parse_args()
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generic.onnx"
        onnx.save(build(args.batch), path)
        x = np.random.default_rng(1).standard_normal((T, args.batch, N, D)).astype(np.float32)
        start = time.perf_counter()
        result = import_onnx(path)
        imported = time.perf_counter() - start
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        theirs = median_time(lambda: session.run(None, {"x": x}))
        ours = median_time(lambda: evaluate(result.module, result.weights, {"x": x}))
        program = Path(tmp) / "program"
        compile_model(str(path), args.target, program)
        package, target = open_program(program)
        ran = median_time(
            lambda: execute_package(package, target, {"x": x}, None, RunOptions()), repeats=3
        )
        share = coverage(result.module)
    print(f"model: 4 x (MatMul, activation, Softmax) on [{T}, {args.batch}, {N}, {D}]")
    print(f"  {share.lines()[0]}")
    print(f"  import {imported:.3f} s")
    print(f"  onnxruntime session.run {theirs * 1e3:.2f} ms")
    print(f"  reference interpreter {ours * 1e3:.2f} ms: {ours / theirs:.1f}x onnxruntime")
    print(f"  {args.target} run (full account) {ran * 1e3:.2f} ms: {ran / theirs:.1f}x onnxruntime")


if __name__ == "__main__":
    main()
