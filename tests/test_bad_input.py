"""Regression tests for the bad inputs issue 16 found (fuzzed and by hand): each is refused at the
boundary where it enters, with one message naming the file and the culprit, exit status 2, no
traceback and no output file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from runtime.errors import ProgramError
from tests.conftest import SAMPLES, model_from, run_cli

EXPORTS = SAMPLES / "export"
IMAGES = EXPORTS / "digits_test_x.npy"


def _small() -> onnx.ModelProto:
    """y = relu(x @ w + b): small enough to mutate by hand."""
    rng = np.random.default_rng(0)
    inits = {
        "w": rng.normal(size=(4, 3)).astype(np.float32),
        "b": rng.normal(size=3).astype(np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "b"], ["a"], name="bias"),
        helper.make_node("Relu", ["a"], ["y"], name="act"),
    ]
    return model_from(nodes, [("x", [2, 5, 4])], [("y", None)], inits)


def _refused(
    model: onnx.ModelProto | bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    message: str,
    names_model: bool = True,
) -> str:
    path = tmp_path / "bad.onnx"
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 5, 4), np.float32))
    out = tmp_path / "y.npy"
    code, _, err = run_cli(["eval", path, "-i", x, "-o", out], capsys)
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err and not out.exists()
    assert err.startswith("spikec: error: ") and (str(path) in err or not names_model)
    return err


def test_names_that_are_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _small().SerializeToString().replace(b"bias", b"\xff\xfe\xc0\x80")
    _refused(data, tmp_path, capsys, "not UTF-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.dims.__setitem__(0, 5), "declares 15 elements [5, 3] but holds 12"),
        (lambda t: t.dims.__setitem__(0, -4), "has a negative dimension"),
        (lambda t: setattr(t, "data_type", 99), "unknown data type 99"),
        (lambda t: (t.ClearField("raw_data"), t.dims.append(1 << 40)), "elements"),
    ],
    ids=["dims_do_not_fit", "negative_dim", "unknown_type", "huge_without_data"],
)
def test_initializers_that_contradict_their_data(
    change: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _small()
    weight = next(t for t in model.graph.initializer if t.name == "w")
    if not weight.HasField("raw_data"):
        weight.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weight), "w"))
    change(weight)  # type: ignore[operator]
    _refused(model, tmp_path, capsys, message)


def test_an_input_of_two_to_the_forty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1 << 40
    err = _refused(model, tmp_path, capsys, "expected float32 [1099511627776, 5, 4]", False)
    assert "MemoryError" not in err


def test_an_unknown_element_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    model.graph.output[0].type.tensor_type.elem_type = 99
    _refused(model, tmp_path, capsys, "value 'y' has an unknown element type 99")


def test_an_attribute_of_the_wrong_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    model.graph.node[2].attribute.append(helper.make_attribute("alpha", 1))
    _refused(model, tmp_path, capsys, "node 'act' (Relu) is not valid ONNX")


def test_a_wrong_input_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    del model.graph.node[0].input[1]
    _refused(model, tmp_path, capsys, "node 'mm' (MatMul) is not valid ONNX")


def test_an_add_of_mismatched_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    model.graph.initializer[1].CopyFrom(onnx.numpy_helper.from_array(np.ones(7, np.float32), "b"))
    _refused(model, tmp_path, capsys, "not a valid ONNX model: [ShapeInferenceError]")


def test_opset_99(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    model.opset_import[0].version = 99
    _refused(model, tmp_path, capsys, "opset 99 is newer than any this onnx")


@pytest.mark.parametrize("domain", ["com.example", "spike"])
def test_a_standard_name_in_another_domain(
    domain: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _small()
    model.graph.node[2].domain = domain
    model.opset_import.append(helper.make_opsetid(domain, 1))
    _refused(
        model,
        tmp_path,
        capsys,
        f"neither a standard ONNX operator nor a function the model defines: 'act' ({domain}.Relu)",
    )


def test_a_function_of_another_domain_is_inlined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model-local function outside `spike` runs as its body, as onnxruntime runs it."""
    import onnxruntime as ort

    model = _small()
    body = [helper.make_node("Relu", ["i"], ["r"]), helper.make_node("Neg", ["r"], ["o"])]
    function = helper.make_function(
        "my.ops", "NegRelu", ["i"], ["o"], body, [helper.make_opsetid("", 17)]
    )
    model.functions.append(function)
    model.opset_import.append(helper.make_opsetid("my.ops", 1))
    model.graph.node[2].op_type, model.graph.node[2].domain = "NegRelu", "my.ops"
    path = tmp_path / "f.onnx"
    onnx.save(model, path)
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_cli(
        ["eval", path, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"], capsys
    )
    assert code == 0, err
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), theirs, rtol=1e-5, atol=1e-6)


def test_a_generic_op_failing_on_its_inputs_names_the_node() -> None:
    from runtime.onnx_region import encode_body, run_region

    body = helper.make_function(
        "spike",
        "Generic0",
        ["a", "b"],
        ["c"],
        [helper.make_node("MatMul", ["a", "b"], ["c"], name="mm")],
        [helper.make_opsetid("", 18)],
    )
    with pytest.raises(ProgramError, match=r"generic op Generic0 \(node 'mm' \(MatMul\)\) fails"):
        run_region(encode_body(body), [np.ones((2, 3)), np.ones((4, 5))])


def test_a_malformed_pass_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir = tmp_path / "m.mlir"
    code, _, err = run_cli(["import", SAMPLES / "sdt.onnx", "-o", ir], capsys)
    assert code == 0, err
    code, _, err = run_cli(["opt", ir, "-p", "cse,,{", "-o", tmp_path / "o.mlir"], capsys)
    assert code == 2 and "bad pass pipeline 'cse,,{': Expected pass name here (column 5)" in err
    assert "Traceback" not in err and not (tmp_path / "o.mlir").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("spike.lif %", 'spike.lif "%', 1), "a string literal is not closed"),
        (lambda t: t.replace("e-01", "e+58", 1), "a literal does not fit its type"),
        (lambda t: t.replace("array<i64:", "array<i69:", 1), "a type spikec cannot hold values of"),
    ],
    ids=["unclosed_string", "float_overflow", "odd_integer_width"],
)
def test_ir_literals(
    edit: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unclosed quote used to make xDSL's lexer backtrack for minutes; a float beyond f32 to
    raise OverflowError."""
    ir = tmp_path / "m.mlir"
    code, _, err = run_cli(
        ["import", EXPORTS / "sj_neurons.dynamo.onnx", "--inline-weights", "-o", ir], capsys
    )
    assert code == 0, err
    ir.write_text(edit(ir.read_text()))  # type: ignore[operator]
    code, _, err = run_cli(["eval", ir, "-i", IMAGES, "-o", tmp_path / "y.npy"], capsys)
    assert code == 2 and message in err, err
    assert "Traceback" not in err and not (tmp_path / "y.npy").exists()


def test_a_type_mismatch_refused_by_onnx_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _small()
    model.graph.node[1].input[1] = "x"  # Add of [2, 5, 3] and [2, 5, 4]
    _refused(model, tmp_path, capsys, "Incompatible dimensions")


@pytest.fixture(scope="module")
def sparse_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from compiler.toolchain import compile_model

    folder = tmp_path_factory.mktemp("program") / "sdt.sparse"
    compile_model(str(SAMPLES / "sdt.onnx"), "sparse", folder)
    return folder


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("tau=2.0", "tau=-1.0", "attribute tau=-1.0 is out of range"),
        ('reset="hard"', 'reset="bogus"', "attribute reset='bogus' is none of hard, soft"),
    ],
    ids=["negative_tau", "unknown_reset"],
)
def test_program_attributes_out_of_range(
    old: str,
    new: str,
    message: str,
    sparse_program: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _edited_program(sparse_program, tmp_path, old, new)
    _run_refused(folder, tmp_path, capsys, message, "program.sasm:")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("enc:  ENC.LIF %sps.conv0 ", "npu:  ENC.LIF %sps.conv0 ", "placed on unit 'npu'"),
        (
            "enc:  ENC.LIF %sps.conv0 ",
            "vec:  ENC.LIF %sps.conv0 ",
            "ENC.LIF runs on enc, not on vec",
        ),
        (
            ".buffer %b0.attn.q : f32[4,?,64,64]",
            ".buffer %b0.attn.q : addr[4,?,64 : 64]",
            "SLU.ACC writes reals (f32) here, but %b0.attn.q is declared addr[4,?,64 : 64]",
        ),
        (
            ".buffer %b0.attn.q_lif : addr[4,?,64 : 64]",
            ".buffer %b0.attn.q_lif : f32[4,?,64,64]",
            "ENC.LIF writes spikes (spk or addr) here, but %b0.attn.q_lif is declared f32",
        ),
        (
            "SLU.ACC %b0.attn.in_lif, %b0.attn.q.weight",
            "SLU.ACC %tokens, %b0.attn.q.weight",
            "SLU.ACC reads spikes, but %tokens is declared f32[4,?,64,64]",
        ),
        (
            "shape=[4, -1, 64, 64]",
            "shape=[4, -1, 60, 64]",
            "VEC.RESHAPE cannot compute its results from these operands and attributes",
        ),
        (
            ".const @b0.attn.q.bias : f32[64]",
            ".const @b0.attn.q.bias : spk[64]",
            "DMA.LOAD_WEIGHTS writes spikes (spk or addr) here, but %b0.attn.q.bias is declared",
        ),
    ],
    ids=[
        "unknown_unit",
        "wrong_unit",
        "reals_as_addr",
        "spikes_as_f32",
        "reals_read",
        "bad_reshape",
        "spk_const",
    ],
)
def test_a_program_contradicting_its_design_is_refused_before_it_runs(
    old: str,
    new: str,
    message: str,
    sparse_program: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Units that do not exist or do not run the opcode, and buffer kinds that contradict the
    instruction (priced as what they are not, or reals losing their values as addresses); and,
    when it runs, an instruction whose operands its semantics cannot compute (a reshape)."""
    folder = _edited_program(sparse_program, tmp_path, old, new)
    _run_refused(folder, tmp_path, capsys, message)


def _edited_program(program: Path, tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the program folder whose assembly has its first `old` replaced by `new`."""
    folder = _copy_program(program, tmp_path)
    sasm = folder / "program.sasm"
    text = sasm.read_text()
    assert old in text
    sasm.write_text(text.replace(old, new, 1))
    return folder


def _copy_program(program: Path, tmp_path: Path) -> Path:
    import shutil

    folder = tmp_path / "p"
    shutil.copytree(program, folder)
    return folder


def _run_refused(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *fragments: str
) -> None:
    """`spikec run` on the folder exits 2 with the fragments in one message, writing nothing."""
    out = tmp_path / "y.npy"
    code, _, err = run_cli(["run", folder, "-i", SAMPLES / "sdt_input.npy", "-o", out], capsys)
    assert code == 2 and all(f in err for f in fragments), err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize(
    ("edit", "file", "message"),
    [
        (lambda m: m.update(timesteps=[4]), "manifest.json", "edited after compilation"),
        (lambda m: m["inputs"][0].update(buffer=7), "manifest.json", "edited after compilation"),
        (None, "constants.npz", "does not match the hash in the manifest"),
    ],
    ids=["manifest_timesteps_list", "manifest_buffer_int", "constants_corrupt"],
)
def test_program_folder_files_changed_after_compilation(
    edit: object,
    file: str,
    message: str,
    sparse_program: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    folder = _copy_program(sparse_program, tmp_path)
    if file == "manifest.json":
        manifest = json.loads((folder / file).read_text())
        edit(manifest)  # type: ignore[operator]
        (folder / file).write_text(json.dumps(manifest))
    else:
        data = bytearray((folder / file).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / file).write_bytes(bytes(data))
    _run_refused(folder, tmp_path, capsys, message, file)


def test_run_checks_every_output_path_before_it_runs(
    sparse_program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "y.npy"
    code, _, err = run_cli(
        [
            "run",
            sparse_program,
            "-i",
            SAMPLES / "sdt_input.npy",
            "-o",
            out,
            "--report-file",
            tmp_path / "missing" / "r.json",
        ],
        capsys,
    )
    assert code == 2 and "the output folder does not exist" in err
    assert not out.exists()


def test_compile_makes_its_ir_dump_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dumps = tmp_path / "not" / "yet" / "dumps"
    code, _, err = run_cli(
        [
            "compile",
            SAMPLES / "sdt.onnx",
            "-t",
            "sparse",
            "-o",
            tmp_path / "p",
            "--ir-dump-dir",
            dumps,
        ],
        capsys,
    )
    assert code == 0, err
    assert (dumps / "00-input.mlir").is_file()


def test_an_unwritable_output_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Writing where the OS refuses (here a path under a regular file, which fails for root too)
    is one message, not an OSError traceback."""
    from compiler.errors import SpikecError
    from compiler.ir.files import write_text

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpikecError, match="the output folder does not exist"):
        write_text(blocker / "r.json", "{}")
    code, _, err = run_cli(["import", SAMPLES / "sdt.onnx", "-o", blocker / "x.mlir"], capsys)
    assert code == 2 and "Traceback" not in err


SPIKE_IR = """builtin.module {
  func.func @main(%x: !spike.train<4x?x6x8>) -> (!spike.train<4x?x8x6>) {
    %t = spike.transpose %x {perm = array<i64: 0, 1, 3, 2>} : (!spike.train<4x?x6x8>) -> !spike.train<4x?x8x6>
    func.return %t : !spike.train<4x?x8x6>
  }
}
"""


def test_a_spike_train_input_must_hold_spikes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir = tmp_path / "s.mlir"
    ir.write_text(SPIKE_IR)
    spikes = (np.random.default_rng(0).random((4, 2, 6, 8)) < 0.3).astype(np.float32)
    np.save(tmp_path / "ok.npy", spikes)
    code, _, err = run_cli(["eval", ir, "-i", tmp_path / "ok.npy"], capsys)
    assert code == 0, err
    spikes[0, 0, 0, 0] = 0.5
    np.save(tmp_path / "bad.npy", spikes)
    code, _, err = run_cli(
        ["eval", ir, "-i", tmp_path / "bad.npy", "-o", tmp_path / "y.npy"], capsys
    )
    assert code == 2 and "is a spike train: its values must be 0 or 1" in err, err
    assert not (tmp_path / "y.npy").exists()


def test_labels_outside_the_classes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    labels = tmp_path / "labels.npy"
    np.save(labels, np.full(64, 12, np.int64))
    code, _, err = run_cli(
        ["eval", EXPORTS / "sj_sdt.dynamo.onnx", "-i", IMAGES, "--labels", labels], capsys
    )
    assert code == 2 and "labels must be classes 0 to 9" in err, err


def test_non_finite_weights_warn_once_and_strict_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _small()
    w = onnx.numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 0], w[1, 1] = np.inf, np.nan
    model.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(w, "w"))
    path = tmp_path / "inf.onnx"
    onnx.save(model, path)
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 5, 4), np.float32))
    code, _, err = run_cli(["eval", path, "-i", x], capsys)
    assert code == 0
    assert err.count("weight 'w' holds 2 non-finite value(s)") == 1, err
    assert "RuntimeWarning" not in err
    code, _, err = run_cli(["eval", path, "-i", x, "--strict", "-o", tmp_path / "y.npy"], capsys)
    assert code == 2 and "--strict refuses them" in err and not (tmp_path / "y.npy").exists()
    np.save(x, np.full((2, 5, 4), np.nan, np.float32))
    code, _, err = run_cli(["eval", _save_small(tmp_path), "-i", x], capsys)
    assert code == 0 and "input 'x' holds 40 non-finite value(s)" in err, err


def _save_small(tmp_path: Path) -> Path:
    path = tmp_path / "small.onnx"
    onnx.save(_small(), path)
    return path


@pytest.mark.parametrize("neuron", ["LIF", "IF"])
def test_an_infinite_membrane_resets_to_nan_as_onnxruntime(neuron: str, tmp_path: Path) -> None:
    """H * (1 - S) + vr * S is NaN where H = +Inf fired (inf * 0): the neuron stays silent
    after it, in the reference as in onnxruntime's run of the spike function."""
    import onnxruntime as ort

    from compiler.frontend.onnx_import import import_onnx
    from compiler.interpreters.reference import evaluate

    node = helper.make_node(neuron, ["x"], ["s"], domain="spike")
    path = tmp_path / "n.onnx"
    onnx.save(model_from([node], [("x", [4, "B", 3])], [("s", None)]), path)
    x = np.full((4, 2, 3), 0.75, np.float32)
    x[0, 0, 0] = np.inf
    x[1, 1, 1] = -np.inf
    result = import_onnx(path)
    ours = evaluate(result.module, result.weights, {"x": x})["s"]
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    np.testing.assert_array_equal(ours, theirs)
    assert ours[0, 0, 0] == 1 and ours[1:, 0, 0].sum() == 0  # fired once, then NaN: silent


def _lif_model(body: onnx.FunctionProto | None = None) -> onnx.ModelProto:
    """x [4, B, 3] -> spike.LIF -> s, carrying `body` as its LIF function."""
    node = helper.make_node("LIF", ["x"], ["s"], domain="spike", name="lif", tau=2.0)
    model = model_from([node], [("x", [4, "B", 3])], [("s", None)])
    if body is not None:
        for i, function in enumerate(model.functions):
            if function.name == "LIF":
                model.functions[i].CopyFrom(body)
    return model


def _eval_against_onnxruntime(
    model: onnx.ModelProto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """`spikec eval` and `spikec import` of the model; the outputs must be onnxruntime's."""
    import onnxruntime as ort

    path, x, out, ir = (tmp_path / n for n in ("m.onnx", "x.npy", "y.npz", "m.mlir"))
    onnx.save(model, path)
    data = np.random.default_rng(3).normal(0.8, 1.5, size=(4, 2, 3)).astype(np.float32)
    np.save(x, data)
    code, _, err = run_cli(["eval", path, "-i", x, "-o", out], capsys)
    assert code == 0, err
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": data}
    )
    np.testing.assert_array_equal(np.load(out)["s"], theirs)
    assert run_cli(["import", path, "-o", ir], capsys)[0] == 0
    return err, ir.read_text()


def test_a_spike_function_whose_body_is_not_its_name_is_imported_from_the_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A LIF body that fires below the threshold: evaluated as onnxruntime runs it, not as
    spike.lif, with a warning naming the function."""
    from compiler.frontend.onnx_check import all_nodes, subgraphs
    from compiler.frontend.onnx_functions import lif_function

    body = lif_function()  # the fire is inside the Scan's body
    nodes = [m for n in body.node for g in subgraphs(n) for m in all_nodes(g)]
    (fire,) = [n for n in nodes if n.op_type == "GreaterOrEqual"]
    fire.op_type = "LessOrEqual"
    err, ir = _eval_against_onnxruntime(_lif_model(body), tmp_path, capsys)
    assert "spike.LIF computes something else than spike.LIF at node 'lif'" in err, err
    assert "spike.lif" not in ir


def test_a_spike_function_written_otherwise_but_equal_is_imported_as_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same LIF with an Identity at its end (another exporter's bytes): the probe agrees,
    the call is spike.lif, nothing is warned."""
    from compiler.frontend.onnx_functions import lif_function

    body = lif_function()
    body.node.append(helper.make_node("Identity", [body.output[0]], ["S_out"]))
    body.output[0] = "S_out"
    err, ir = _eval_against_onnxruntime(_lif_model(body), tmp_path, capsys)
    assert "warning" not in err and "spike.lif" in ir, err


def test_a_spike_function_of_another_name_is_inlined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = helper.make_node("Heaviside", ["x"], ["s"], domain="spike", name="step")
    model = model_from([node], [("x", [4, "B", 3])], [("s", None)])
    zero = helper.make_node("Constant", [], ["zero"], value_float=0.0)
    fire = helper.make_node("Greater", ["X", "zero"], ["b"])
    cast = helper.make_node("Cast", ["b"], ["S"], to=onnx.TensorProto.FLOAT)
    opset = [helper.make_opsetid("", 17)]
    model.functions.append(
        helper.make_function("spike", "Heaviside", ["X"], ["S"], [zero, fire, cast], opset)
    )
    err, _ = _eval_against_onnxruntime(model, tmp_path, capsys)
    assert "spike.Heaviside is no function of spikec's convention" in err, err


def test_an_output_over_a_file_the_command_reads_is_refused(
    sparse_program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import -o` onto the model (whose weights the IR refers to), `eval -o` onto its input,
    `run` with its report and its outputs in one file: refused before anything is written."""
    model, x = tmp_path / "m.onnx", tmp_path / "x.npy"
    onnx.save(_small(), model)
    np.save(x, np.ones((2, 5, 4), np.float32))
    before = model.read_bytes(), x.read_bytes()
    cases: list[list[str | Path]] = [
        ["import", model, "-o", model],
        ["eval", model, "-i", f"x={x}", "-o", x],
        [
            "run",
            sparse_program,
            "-i",
            SAMPLES / "sdt_input.npy",
            "-o",
            tmp_path / "y.npy",
            "--report-file",
            tmp_path / "y.npy",
        ],
    ]
    for args in cases:
        code, _, err = run_cli(args, capsys)
        assert code == 2 and "is also read or written by this command" in err, (args, err)
    assert (model.read_bytes(), x.read_bytes()) == before
    assert not (tmp_path / "y.npy").exists()


def test_a_scalar_where_onnx_wants_a_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Slice whose ends are a scalar: onnxruntime refuses it at run time, spikec at import."""
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"], name="cut")]
    inits = {
        "starts": np.array([0], np.int64),
        "ends": np.array(2, np.int64),
        "axes": np.array([2], np.int64),
    }
    model = model_from(nodes, [("x", [2, 5, 4])], [("y", None)], inits)
    _refused(model, tmp_path, capsys, "node 'cut' (Slice): input 2 ('ends') must be a 1-D tensor")


def test_weights_that_contradict_their_globals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """IR whose weight file holds a tensor of another shape than its spike.global declares
    (the file was re-exported after the import): refused when the weight is first read, in
    eval and in compile alike."""
    model, ir = tmp_path / "m.onnx", tmp_path / "m.mlir"
    onnx.save(_small(), model)
    assert run_cli(["import", model, "-o", ir], capsys)[0] == 0
    changed = _small()
    bias = next(t for t in changed.graph.initializer if t.name == "b")
    bias.CopyFrom(onnx.numpy_helper.from_array(np.ones(4, np.float32), "b"))
    onnx.save(changed, model)
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 5, 4), np.float32))
    message = "weight 'b' is declared [3] by its spike.global, but"
    code, _, err = run_cli(["eval", ir, "-i", x, "-o", tmp_path / "y.npy"], capsys)
    assert code == 2 and message in err and str(model) in err, err
    code, _, err = run_cli(["compile", ir, "-t", "sparse", "-o", tmp_path / "p"], capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "y.npy").exists() and not (tmp_path / "p").exists()


def test_a_non_finite_attribute_warns_and_survives_compilation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NaN threshold (never fires): warned by eval, compile and run, refused by --strict; the
    program prints it as `nan` and reads it back, and runs to the reference's outputs."""
    ir, bad = tmp_path / "m.mlir", tmp_path / "nan.mlir"
    code, _, err = run_cli(
        ["import", EXPORTS / "sj_neurons.dynamo.onnx", "--inline-weights", "-o", ir], capsys
    )
    assert code == 0, err
    text = ir.read_text()
    assert "v_threshold = 1.000000e+00 : f32" in text
    bad.write_text(
        text.replace("v_threshold = 1.000000e+00 : f32", "v_threshold = 0x7FC00000 : f32")
    )
    warned = "attribute 'v_threshold' holds 1 non-finite value(s)"
    code, _, err = run_cli(["eval", bad, "-i", IMAGES, "-o", tmp_path / "ref.npz"], capsys)
    assert code == 0 and warned in err, err
    code, _, err = run_cli(
        ["--strict", "eval", bad, "-i", IMAGES, "-o", tmp_path / "s.npz"], capsys
    )
    assert code == 2 and "--strict refuses them" in err and not (tmp_path / "s.npz").exists()
    program = tmp_path / "nan.sparse"
    assert run_cli(["compile", bad, "-t", "sparse", "-o", program], capsys)[0] == 0
    assert "v_threshold=nan" in (program / "program.sasm").read_text()
    code, _, err = run_cli(["run", program, "-i", IMAGES, "-o", tmp_path / "y.npy"], capsys)
    assert code == 0 and warned in err, err
    reference = np.load(tmp_path / "ref.npz")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference[reference.files[0]])


def test_an_input_type_the_operator_does_not_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Clip whose min is a bool (fuzzed): onnxruntime refuses it at load, ONNX's inference
    does not; it was imported and then failed inside the interpreter."""
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["b"], name="cmp"),
        helper.make_node("Clip", ["x", "b"], ["y"], name="clip"),
    ]
    model = model_from(nodes, [("x", [2, 5, 4])], [("y", None)], {"zero": np.zeros(1, np.float32)})
    _refused(model, tmp_path, capsys, "node 'clip' (Clip): input 'b' is tensor(bool)")
    nodes = [helper.make_node("Add", ["x", "i"], ["y"], name="add")]
    model = model_from(nodes, [("x", [2, 5, 4])], [("y", None)], {"i": np.ones(4, np.int64)})
    _refused(model, tmp_path, capsys, "input 'i' is tensor(int64) but 'x' is tensor(float)")


@pytest.mark.parametrize("keepdims", [0, 1, 2, 1 << 40])
def test_keepdims_other_than_one_drops_the_axes_as_onnxruntime(keepdims: int) -> None:
    import onnxruntime as ort

    from compiler.frontend.onnx_import import import_onnx
    from compiler.interpreters.reference import evaluate

    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=keepdims)
    model = model_from([node], [("x", [4, 2, 3])], [("y", None)])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.onnx"
        onnx.save(model, path)
        x = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32)
        result = import_onnx(path)
        ours = evaluate(result.module, result.weights, {"x": x})["y"]
        (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"x": x}
        )
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_an_empty_output_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`-o "$OUT"` with OUT unset: refused, not a traceback, not the default folder."""
    model = _save_small(tmp_path)
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 5, 4), np.float32))
    ir = tmp_path / "m.mlir"
    assert run_cli(["import", model, "-o", ir], capsys)[0] == 0
    cases: list[list[str | Path]] = [
        ["import", model, "-o", ""],
        ["opt", ir, "-p", "cse", "-o", ""],
        ["eval", model, "-i", x, "-o", ""],
        ["compile", model, "-t", "sparse", "-o", ""],
    ]
    for args in cases:
        code, _, err = run_cli(args, capsys)
        assert code == 2 and "is empty (an unset variable?)" in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlir", "small.onnx", "x.npy"]


@pytest.mark.parametrize(
    ("op", "attrs"),
    [("TopK", {"largest": 82, "axis": -1}), ("ArgMax", {"keepdims": 2, "axis": 2})],
)
def test_flags_other_than_0_or_1_read_as_onnxruntime_reads_them(
    op: str, attrs: dict[str, int]
) -> None:
    """onnxruntime takes largest = 82 as false (only 1 is true); onnx.reference, which runs
    generic ops, took it as true. The flags are made 0 or 1 as onnxruntime reads them."""
    import onnxruntime as ort

    from compiler.frontend.onnx_import import import_onnx
    from compiler.interpreters.reference import evaluate

    inputs = ["x", "k"] if op == "TopK" else ["x"]
    nodes = [helper.make_node(op, inputs, ["y"] + (["i"] if op == "TopK" else []), **attrs)]  # type: ignore[arg-type]
    inits = {"k": np.array([2], np.int64)} if op == "TopK" else {}
    model = model_from(nodes, [("x", [4, 2, 5])], [("y", None)], inits)
    if op == "ArgMax":
        cast = helper.make_node("Cast", ["y"], ["yf"], to=onnx.TensorProto.FLOAT)
        model = model_from([nodes[0], cast], [("x", [4, 2, 5])], [("yf", None)], inits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.onnx"
        onnx.save(model, path)
        x = np.random.default_rng(1).normal(size=(4, 2, 5)).astype(np.float32)
        result = import_onnx(path)
        (ours,) = evaluate(result.module, result.weights, {"x": x}).values()
        (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"x": x}
        )
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_a_declared_type_its_node_does_not_compute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _small()
    model.graph.value_info.append(helper.make_tensor_value_info("a", onnx.TensorProto.BOOL, None))
    _refused(model, tmp_path, capsys, "value 'a' is declared bool but its node computes float")


def test_scatter_elements_of_mismatched_indices_and_updates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], name="scatter", axis=2)]
    inits: dict[str, np.ndarray] = {
        "i": np.zeros((2, 5, 2), np.int64),
        "u": np.ones((2, 5, 4), np.float32),
    }
    model = model_from(nodes, [("x", [2, 5, 4])], [("y", None)], inits)
    _refused(model, tmp_path, capsys, "indices [2, 5, 2] and updates [2, 5, 4] must have one shape")


def test_two_nodes_of_one_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _small()
    model.graph.node[2].name = model.graph.node[1].name
    _refused(model, tmp_path, capsys, "two nodes are named 'bias'")
