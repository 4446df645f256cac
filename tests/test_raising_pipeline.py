"""The raising pipeline: passes declared as data, each runnable alone (`--raise=...`) or none at
all (`--no-raise`), every selection importing the export corpus exactly (onnxruntime's outputs),
and `--explain` reporting per pass what it raised and left."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from compiler.cli.ir import RAISING_PASSES
from compiler.frontend.coverage import coverage
from compiler.frontend.onnx_import import import_onnx
from compiler.frontend.raising import PASS_NAMES, PIPELINE, select
from compiler.interpreters.reference import evaluate
from tests.conftest import SAMPLES, run_cli

EXPORTS = SAMPLES / "export"
FILES = sorted(EXPORTS.glob("*.onnx"))
IMAGES = np.load(EXPORTS / "digits_test_x.npy")


def _equal_to_onnxruntime(path: Path, passes: Sequence[str] | None) -> dict[str, int]:
    """Import with the named passes, check the reference against onnxruntime (reals within
    1e-5); returns the kinds raised."""
    result = import_onnx(path, raising=passes)
    ours = evaluate(result.module, result.weights, {"x": IMAGES})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for name, theirs in zip(names, session.run(names, {"x": IMAGES}), strict=True):
        np.testing.assert_allclose(ours[name], theirs, rtol=1e-5, atol=1e-6, err_msg=name)
    kinds: dict[str, int] = {}
    for raised in result.raising.raised:
        kinds[raised.kind] = kinds.get(raised.kind, 0) + 1
    return kinds


def test_the_cli_names_the_pipeline_passes() -> None:
    assert RAISING_PASSES == PASS_NAMES
    assert [p.name for p in PIPELINE if p.required] == ["fold", "repeated-inputs", "time-axes"]
    assert len({p.name for p in PIPELINE}) == len(PIPELINE)


def test_selection_keeps_pipeline_order_and_the_required_passes() -> None:
    assert [p.name for p in select(["attention", "neurons"])] == [
        "fold",
        "repeated-inputs",
        "neurons",
        "attention",
        "time-axes",
    ]
    assert [p.name for p in select([])] == ["fold", "repeated-inputs", "time-axes"]
    with pytest.raises(ValueError, match=r"unknown raising pass.*neuron; the passes are loops"):
        select(["neuron"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.removesuffix(".onnx"))
def test_without_raising_every_export_imports_exactly(path: Path) -> None:
    """No pattern is needed to import: every node as it is, as a dedicated or generic op."""
    assert _equal_to_onnxruntime(path, []) == {}


SINGLE = ["sj_spikformer.dynamo", "sj_topk_moe.torchscript", "snntorch_neurons.torchscript"]


@pytest.mark.parametrize("name", PASS_NAMES)
@pytest.mark.parametrize("model", SINGLE)
def test_each_pass_alone_imports_exactly(model: str, name: str) -> None:
    kinds = _equal_to_onnxruntime(EXPORTS / f"{model}.onnx", [name])
    if name == "neurons":  # the neurons need nothing before them in these exports
        assert kinds and set(kinds) <= {"LIF", "Leaky", "Synaptic"}
    elif name in ("attention", "moe", "semm"):  # they raise between raised neurons only
        assert kinds == {}


def test_each_pass_reports_what_it_raised(tmp_path: Path) -> None:
    result = import_onnx(EXPORTS / "sj_spikformer.dynamo.onnx")
    records = {r.name: r for r in result.raising.passes}
    assert list(records) == [p.name for p in PIPELINE]
    assert [r.kind for r in records["neurons"].raised] == ["LIF"] * 10
    assert [r.kind for r in records["attention"].raised] == ["SSA"]
    assert records["repeated-inputs"].notes == ["input 'x' is repeated over T = 4 inside the model"]
    lines = result.raising.lines()
    assert (
        "[attention] raised 1 SSA" in lines and lines[-1] == "raised 10 LIF, 1 SSA; left generic: 0"
    )


def test_a_pass_reports_what_it_left() -> None:
    result = import_onnx(EXPORTS / "sj_spikformer.dynamo.onnx", raising=["attention"])
    (record,) = [r for r in result.raising.passes if r.name == "attention"]
    (left,) = record.left
    assert "is not spikes" in left.reason
    assert f"  left {left.node}: {left.reason}" in result.raising.lines()


def test_cli_selects_the_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = EXPORTS / "sj_spikformer.dynamo.onnx"
    code, _, err = run_cli(
        ["import", model, "--raise=neurons, attention", "--explain", "-o", tmp_path / "a.mlir"],
        capsys,
    )
    assert (
        code == 0 and "raising passes: fold, repeated-inputs, neurons, attention, time-axes" in err
    )
    assert "[attention] raised 1 SSA" in err
    code, _, err = run_cli(["import", model, "--no-raise", "-o", tmp_path / "b.mlir"], capsys)
    assert code == 0
    ir = (tmp_path / "b.mlir").read_text()
    assert "spike.lif" not in ir and "spike.onnx_region" in ir


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--raise=neuron"],
            "unknown raising pass(es) neuron; the passes are loops, neurons",
        ),
        (["--raise=neurons", "--no-raise"], "give --raise or --no-raise, not both"),
    ],
)
def test_cli_refuses_bad_selections(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.mlir"
    code, _, err = run_cli(["import", EXPORTS / "sj_sdt.dynamo.onnx", *flags, "-o", out], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_no_raise_coverage_is_lower_but_every_synop_is_counted() -> None:
    path = EXPORTS / "sj_sdt.dynamo.onnx"
    raw, raised = import_onnx(path, raising=[]), import_onnx(path)
    low, high = coverage(raw.module), coverage(raised.module)
    assert low.node_share is not None and high.node_share == 1.0 and low.node_share < 0.9
    assert low.export_nodes == high.export_nodes
    assert low.synop_share == high.synop_share == 1.0  # the linear layers import as they are
