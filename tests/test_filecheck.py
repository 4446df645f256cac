"""Runs the lit/FileCheck suite in tests/filecheck, so that its result counts in pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).parent / "filecheck"


def test_filecheck_suite(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        SPIKEC_LIT_OUTPUT=str(tmp_path),
    )
    lit = shutil.which("lit", path=env["PATH"])
    assert lit is not None, "lit is not installed (pip install -e '.[dev]')"
    result = subprocess.run(
        [lit, "-q", "-j", "2", str(SUITE)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
