"""The committed torch.onnx exports (samples/export, made by export.py behind the `[export]`
extra): each file runs in onnxruntime and reproduces torch's logits on the digits test split,
and the manifest lists exactly the files present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES

EXPORTS = SAMPLES / "export"
FILES = sorted(EXPORTS.glob("*.onnx"))


def test_manifest_lists_the_files() -> None:
    manifest = json.loads((EXPORTS / "manifest.json").read_text())
    expected = {
        f"{name}.{exporter}.onnx"
        for name, entry in manifest.items()
        for exporter, status in entry["exporters"].items()
        if status == "ok"
    }
    assert expected == {path.name for path in FILES}
    for name, entry in manifest.items():
        assert (EXPORTS / f"{name}_reference.npy").exists()
        assert entry["exporters"]["dynamo"] == "ok"
        assert 0.5 < entry["test_accuracy"] <= 1.0, name


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_onnxruntime_reproduces_torch(path: Path) -> None:
    import onnxruntime as ort

    x = np.load(EXPORTS / "digits_test_x.npy")
    labels = np.load(EXPORTS / "digits_test_y.npy")
    reference = np.load(EXPORTS / f"{path.name.split('.')[0]}_reference.npy")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"x": x})
    np.testing.assert_allclose(logits, reference, atol=1e-4)
    assert logits.shape == (len(labels), 10)
