"""Bad input of every kind ends in one clear message, exit status 2, and no output file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.conftest import model_from, run_cli, tiny_input, tiny_spiking_model


def _fails_cleanly(args: list[object], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    code, out, err = run_cli([str(a) for a in args], capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.startswith("spikec: error: "), err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def test_not_an_onnx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "notes.onnx"
    model.write_text("these are my notes, not a model\n" * 20)
    out = tmp_path / "out.mlir"
    _fails_cleanly(["import", model, "-o", out], capsys, str(model), "not")
    assert not out.exists()


def test_truncated_file(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tiny_model_path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mlir"
    _fails_cleanly(["import", cut, "-o", out], capsys, str(cut), "truncated")
    assert not out.exists()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(["import", tmp_path / "absent.onnx"], capsys, "absent.onnx", "no such file")


def test_unsupported_ops_are_all_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Standard operators all import (as generic ops); custom domains are refused, all listed."""
    nodes = [
        helper.make_node("FancyAct", ["x"], ["r"], name="act1", domain="com.example"),
        helper.make_node("LIF", ["r"], ["s"], name="lif", domain="spike"),
        helper.make_node("Softmax", ["s"], ["y"], name="probs", axis=-1),
        helper.make_node("OtherAct", ["x"], ["z"], name="act2", domain="com.example"),
    ]
    model = model_from(nodes, [("x", [4, "B", 8])], [("y", [4, "B", 8]), ("z", [4, "B", 8])])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    out = tmp_path / "out.mlir"
    err = _fails_cleanly(
        ["import", path, "-o", out],
        capsys,
        str(path),
        "2 node(s) neither a standard ONNX operator nor a function the model defines: "
        "'act1' (com.example.FancyAct), 'act2' (com.example.OtherAct)",
    )
    # the Softmax depends on the failed node: it is skipped, not reported twice
    assert "probs" not in err
    assert not out.exists()


def test_unknown_spike_function(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [helper.make_node("Izhikevich", ["x"], ["y"], name="izh", domain="spike")]
    path = tmp_path / "bad.onnx"
    onnx.save(model_from(nodes, [("x", [4, "B", 8])], [("y", [4, "B", 8])]), path)
    _fails_cleanly(["import", path], capsys, "'izh' (spike.Izhikevich)", "LIF")


def test_spike_op_on_untimed_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An input [B, ...] imports (given a time axis of one step, read at step 0), but a spike
    op on it has no time axis to run over: the error names the node."""
    nodes = [helper.make_node("LIF", ["x"], ["y"], name="lif", domain="spike")]
    path = tmp_path / "notime.onnx"
    onnx.save(model_from(nodes, [("x", ["B", 3, 8, 8])], [("y", None)]), path)
    out = tmp_path / "out.mlir"
    _fails_cleanly(
        ["import", path, "-o", out], capsys, str(path), "node 'lif' (spike.LIF)", "no time axis"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ([8], "without a time axis"),
        ([4, "B", "H", 8], "dimension 2 is 'H'; only the batch"),
    ],
)
def test_graph_without_time_axis(
    shape: list[int | str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [helper.make_node("LIF", ["x"], ["y"], name="lif", domain="spike")]
    path = tmp_path / "notime.onnx"
    onnx.save(model_from(nodes, [("x", shape)], [("y", None)]), path)
    out = tmp_path / "out.mlir"
    _fails_cleanly(["import", path, "-o", out], capsys, str(path), "input 'x'", fragment)
    assert not out.exists()


def test_neuron_on_time_folded_tensor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [
        helper.make_node("Reshape", ["x", "fold"], ["xf"], name="fold"),
        helper.make_node("LIF", ["xf"], ["y"], name="lif", domain="spike"),
    ]
    model = model_from(
        nodes, [("x", [4, "B", 8])], [("y", None)], {"fold": np.array([-1, 8], np.int64)}
    )
    path = tmp_path / "folded.onnx"
    onnx.save(model, path)
    _fails_cleanly(["import", path], capsys, "node 'lif' (spike.LIF)", "time-folded")


def test_old_opset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_spiking_model()
    model.opset_import[0].version = 13
    path = tmp_path / "old.onnx"
    onnx.save(model, path)
    _fails_cleanly(["import", path], capsys, "opset 13 is not supported", "17")


def test_eval_wrong_input_shape(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 2, 2, 5, 5), np.float32))
    out = tmp_path / "y.npy"
    _fails_cleanly(
        ["eval", tiny_model_path, "--input", x, "-o", out],
        capsys,
        f"{x}: input 'x': expected float32 [3, ?, 2, 4, 4], got float32 [3, 2, 2, 5, 5]",
    )
    assert not out.exists()


def test_eval_wrong_input_dtype(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = tmp_path / "x.npy"
    np.save(x, tiny_input().astype(np.float64))
    out = tmp_path / "y.npy"
    _fails_cleanly(
        ["eval", tiny_model_path, "--input", x, "-o", out], capsys, str(x), "got float64", "astype"
    )
    assert not out.exists()


def test_eval_unreadable_input(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = tmp_path / "x.npy"
    x.write_text("not numpy")
    _fails_cleanly(["eval", tiny_model_path, "--input", x], capsys, str(x), "not a readable")


def test_eval_unknown_input_name(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = tmp_path / "x.npy"
    np.save(x, tiny_input())
    _fails_cleanly(
        ["eval", tiny_model_path, "--input", f"image={x}"], capsys, "missing ['x']", "['image']"
    )


def _save_external(model: onnx.ModelProto, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(
        model,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return path


def test_external_data_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    embedded = tmp_path / "embedded.onnx"
    onnx.save(tiny_spiking_model(), embedded)
    external = _save_external(tiny_spiking_model(), tmp_path / "ext")
    x = tmp_path / "x.npy"
    np.save(x, tiny_input())
    for path, result in ((embedded, tmp_path / "a.npy"), (external, tmp_path / "b.npy")):
        code, _, err = run_cli(["eval", path, "--input", x, "-o", result], capsys)
        assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_external_data_escaping_the_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save_external(tiny_spiking_model(), tmp_path / "ext")
    (tmp_path / "stolen.bin").write_bytes((tmp_path / "ext" / "weights.bin").read_bytes())
    model = onnx.load(path, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../stolen.bin"
    onnx.save(model, path)
    out = tmp_path / "out.mlir"
    _fails_cleanly(
        ["import", path, "-o", out], capsys, str(path), "outside the model's folder", "../stolen"
    )
    assert not out.exists()


def test_malformed_ir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir = tmp_path / "bad.mlir"
    ir.write_text("builtin.module {\n  func.func @main( {\n}\n")
    out = tmp_path / "out.mlir"
    _fails_cleanly(["opt", ir, "-o", out], capsys, f"{ir}:2:")
    assert not out.exists()


def test_bad_pipeline(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir = tmp_path / "m.mlir"
    assert run_cli(["import", tiny_model_path, "-o", ir], capsys)[0] == 0
    _fails_cleanly(["opt", ir, "-p", "no-such-pass"], capsys, "bad pass pipeline", "dce")


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["eval"], capsys)
    assert code == 2
    assert "Missing argument" in err
