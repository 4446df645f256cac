"""Shared helpers: tiny ONNX models written with spikec's ONNX convention, and running the CLI
in-process."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.cli import main
from compiler.frontend.nir_options import NirOptions
from compiler.frontend.onnx_functions import make_model
from compiler.frontend.raising.report import RaiseReport

if TYPE_CHECKING:
    from compiler.runner import Run
    from runtime.interpreter import InstructionRecord

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def dyadic(array: np.ndarray, bits: int = 6) -> np.ndarray:
    """Round to multiples of 2**-bits so that sums are exact in float32 in any order."""
    return (np.round(np.asarray(array) * 2**bits) / 2**bits).astype(np.float32)


def model_from(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[tuple[str, Sequence[int | str]]],
    outputs: Sequence[tuple[str, Sequence[int | str] | None]],
    initializers: dict[str, np.ndarray] | None = None,
    **metadata: str,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, None if s is None else list(s))
            for n, s in outputs
        ],
        initializer=[numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()],
    )
    return make_model(graph, **metadata)


def tiny_spiking_model(seed: int = 0) -> onnx.ModelProto:
    """Conv stem on time folded into the batch, LIF, linear, LIF, mean over tokens and time."""
    rng = np.random.default_rng(seed)
    d = 8
    inits = {
        "fold": np.array([-1, 2, 4, 4], np.int64),
        "conv.w": dyadic(rng.normal(size=(d, 2, 3, 3))),
        "conv.b": dyadic(rng.normal(size=d) * 0.2),
        "unfold": np.array([3, -1, d, 16], np.int64),
        "fc.w": dyadic(rng.normal(size=(16, 6))),
        "fc.b": dyadic(rng.normal(size=6) * 0.2),
    }
    nodes = [
        helper.make_node("Reshape", ["x", "fold"], ["xf"], name="fold"),
        helper.make_node("Conv", ["xf", "conv.w", "conv.b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["c", "unfold"], ["u"], name="unfold"),
        helper.make_node("LIF", ["u"], ["s"], name="lif0", domain="spike"),
        helper.make_node("MatMul", ["s", "fc.w"], ["m"], name="fc"),
        helper.make_node("Add", ["m", "fc.b"], ["h"], name="fc_bias"),
        helper.make_node("LIF", ["h"], ["s2"], name="lif1", domain="spike", tau=1.5),
        helper.make_node("ReduceMean", ["s2"], ["tok"], name="mean_tokens", axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["tok"], ["y"], name="mean_time", axes=[0], keepdims=0),
    ]
    return model_from(nodes, [("x", [3, "B", 2, 4, 4])], [("y", ["B", 6])], inits)


def tiny_input(batch: int = 2, seed: int = 1) -> np.ndarray:
    return dyadic(np.random.default_rng(seed).random((3, batch, 2, 4, 4)) * 2, bits=8)


@pytest.fixture
def tiny_model_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_spiking_model(), path)
    return path


def run_cli(args: Sequence[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `spikec args` in-process; (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


SAMPLE_NAMES = ("spikformer", "sdt", "xpikeformer", "moe")


def compile_samples(
    folder: Path, target: str, variants: Sequence[str]
) -> dict[tuple[str, str], Path]:
    """Every bundled sample compiled for `target` in each variant: (sample, variant) -> folder."""
    from compiler.toolchain import compile_model

    paths = {}
    for name in SAMPLE_NAMES:
        for variant in variants:
            path = folder / f"{name}.{variant}"
            compile_model(str(SAMPLES / f"{name}.onnx"), target, path, variant=variant)
            paths[name, variant] = path
    return paths


def run_sample_program(path: Path, x: np.ndarray, **options: Any) -> Run:
    """Execute a compiled program on input `x` with `RunOptions(**options)`."""
    from compiler.runner import RunOptions, execute_package, open_program

    package, target = open_program(path)
    return execute_package(package, target, {"x": x}, None, RunOptions(**options))


def raised_copy(model: onnx.ModelProto, path: Path) -> tuple[onnx.ModelProto, RaiseReport]:
    """A raised copy of `model` (stored at `path`) and the report, raised as `import_onnx` does."""
    from compiler.frontend.onnx_import import _infer_shapes
    from compiler.frontend.raising import raise_model
    from compiler.ir.weights import OnnxTensors

    raised = onnx.ModelProto()
    raised.CopyFrom(model)
    return raised, raise_model(raised, OnnxTensors(raised, path), _infer_shapes(raised))


def checked_reference(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference interpreter's outputs of the ONNX model at `path`, checked against
    onnxruntime's (reals within 1e-5): the oracle a target's run is then held to exactly."""
    import onnxruntime as ort

    from compiler.frontend.load import load_model
    from compiler.interpreters.reference import evaluate

    module, weights, _ = load_model(str(path))
    ours = evaluate(module, weights, feeds)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for name, theirs in zip(names, session.run(names, feeds), strict=True):
        np.testing.assert_allclose(ours[name], theirs, rtol=1e-5, atol=1e-6, err_msg=name)
    return ours


def entry_energy(record: InstructionRecord, entry: str) -> float:
    """The picojoules an executed instruction spent on one hardware entry."""
    return sum(item.picojoules for item in record.cost.items if item.entry == entry)


def run_onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The first output of a one-input model (input `x`) run by onnxruntime; the model's IR
    version set to 10, which onnxruntime reads."""
    import onnxruntime as ort

    model.ir_version = 10
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


@dataclass(frozen=True)
class Bundled:
    path: Path
    input: np.ndarray
    nir: NirOptions | None = None


@functools.cache
def bundled_models() -> dict[str, Bundled]:
    """One file per distinct model; batch 1 where the batch is dynamic (the ONNX exports fix
    it at the digits test split's 64)."""
    models = {
        name: Bundled(SAMPLES / f"{name}.onnx", np.load(SAMPLES / f"{name}_input.npy")[:, :1])
        for name in SAMPLE_NAMES
    }
    digits = np.load(SAMPLES / "export" / "digits_test_x.npy")
    for name in sorted(json.loads((SAMPLES / "export" / "manifest.json").read_text())):
        models[name] = Bundled(SAMPLES / "export" / f"{name}.dynamo.onnx", digits)
    events = np.load(SAMPLES / "export" / "nir_test_x.npy")[:, :1]
    for name, entry in sorted(
        json.loads((SAMPLES / "export" / "nir_manifest.json").read_text()).items()
    ):
        options = NirOptions(dt=entry["dt"], timesteps=entry["timesteps"])
        models[name] = Bundled(SAMPLES / "export" / f"{name}.nir", events, options)
    return models
