"""`spikec sweep` on bad ground: a CSV another sweep is writing is refused at once (and left as
it is), a lock left behind by a killed sweep does not block the next one, a killed sweep's pool
workers die with it, and outputs that cannot be written are refused before any point runs."""

from __future__ import annotations

import os
import pickle
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from compiler.explore.sweep import lock_path, output_lock
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MOE = ROOT / "samples" / "moe.onnx"
MOE_INPUT = ROOT / "samples" / "moe_input.npy"
SMALL_GRID = "vector.lanes=8,16"
LONG_GRID = "vector.lanes=8,16,32;clock.frequency=100,200,400"
SWEEP: list[str | Path] = ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse"]
HEADER = (
    "vector.lanes,latency_us,inferences_per_s,energy_per_inference_uj,edp_js,"
    "top1_agreement_pct,status\n"
)
WAIT_S = 120
"""Generous: how long a test waits for a subprocess to reach the state it needs."""


def _spikec(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "compiler.cli", *map(str, args)]


def _rows_written(path: Path) -> int:
    """Whole rows in the CSV so far (lines after the header)."""
    if not path.exists():
        return 0
    return max(path.read_text().count("\n") - 1, 0)


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rpartition(")")[2].split()


def _children(parent: int) -> set[int]:
    """The processes whose parent is `parent` now."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has died already)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def test_a_locked_csv_is_refused_at_once_and_left_untouched(tmp_path: Path) -> None:
    csv_file = tmp_path / "sweep.csv"
    # a last line cut short: a sweep that got to read this CSV would drop that line from it
    csv_file.write_text(HEADER + "8,1.0,2.0,3.0,4.0,100.0,ok\n16,1.")
    before = csv_file.read_bytes()
    with output_lock(csv_file):
        refused = subprocess.run(
            _spikec(*SWEEP, "--grid", SMALL_GRID, "--jobs", "1", "-o", csv_file),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert lock_path(csv_file).read_text().strip() == str(os.getpid())
    assert refused.returncode == 2, refused.stderr
    assert refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        f"spikec: error: {csv_file}: another sweep is writing this file (pid {os.getpid()}); "
        "wait for it or choose another --output"
    ]
    assert csv_file.read_bytes() == before
    assert not lock_path(csv_file).exists()  # released and removed by its holder


def test_a_stale_lock_file_does_not_block(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "sweep.csv"
    lock_path(csv_file).write_text("4194304\n")  # left by a killed sweep: nobody holds it
    code, out, err = run_cli([*SWEEP, "--grid", SMALL_GRID, "--jobs", "1", "-o", csv_file], capsys)
    assert code == 0, err
    assert _rows_written(csv_file) == 2 and "2 points (2 ok, 0 failed)" in out
    assert not lock_path(csv_file).exists()


def test_a_killed_sweeps_workers_exit_and_its_lock_does_not_block(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "killed.csv"
    stderr = tmp_path / "stderr.txt"  # a file: a pipe would stay open as long as any worker
    with open(stderr, "wb") as errors:
        sweep = subprocess.Popen(
            _spikec(*SWEEP, "--grid", LONG_GRID, "--jobs", "2", "-q", "-o", csv_file),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + WAIT_S
        # workers running points: the pool is up and the first row is on disk
        while time.monotonic() < deadline and sweep.poll() is None:
            workers = _children(sweep.pid)
            if len(workers) >= 2 and _rows_written(csv_file) >= 1:
                break
            time.sleep(0.01)
        if sweep.poll() is not None:
            pytest.fail(f"the sweep ended before it was killed: {stderr.read_text()!r}")
        assert len(workers) >= 2, "no pool workers seen"
        sweep.send_signal(signal.SIGKILL)
        assert sweep.wait(timeout=WAIT_S) == -signal.SIGKILL, stderr.read_text()

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived the sweep"
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # orphans of the old behaviour: not left running
    # the lock file stays after SIGKILL, but nobody holds it: the same command resumes
    assert lock_path(csv_file).exists()
    code, out, err = run_cli([*SWEEP, "--grid", LONG_GRID, "--jobs", "1", "-o", csv_file], capsys)
    assert code == 0, err
    assert "from the CSV" in out and _rows_written(csv_file) == 9


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the unprivileged user of `_unprivileged` may enter and write in (pytest's own
    temporary folders are private to the user who runs the tests)."""
    folder = tmp_path_factory.mktemp("shared")
    for parent in [folder, *folder.parents]:
        if parent == Path(tempfile.gettempdir()):
            break
        parent.chmod(parent.stat().st_mode | 0o711)
    folder.chmod(0o777)
    return folder


def _unprivileged(
    args: list[str | Path], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`run_cli(args)`; run as root, in a forked child that has become `nobody` first, so that
    file modes bind as they do for any user (root writes into read-only folders)."""
    if os.geteuid() != 0:
        return run_cli(args, capsys)
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, send the outcome back
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp()
            outcome: object = run_cli(args, capsys)
        except BaseException as e:
            outcome = f"{type(e).__name__}: {e}"
        with os.fdopen(write, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        outcome = pickle.load(pipe)
    os.waitpid(pid, 0)
    assert isinstance(outcome, tuple), outcome
    return outcome


def _no_point_may_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_point(*_: Any) -> dict[str, Any]:
        raise AssertionError("a point ran")

    monkeypatch.setattr("compiler.explore.sweep.run_point", run_point)


def _read_only(folder: Path) -> Path:
    """`folder` made read-only (a root test runs the command unprivileged: `_unprivileged`)."""
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize(
    "place",
    ["missing folder", "a directory", "read-only folder", "read-only file", "/proc"],
)
def test_an_unwritable_csv_is_refused_before_any_point(
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    place: str,
) -> None:
    tmp_path = workdir
    _no_point_may_run(monkeypatch)
    content = None
    if place == "missing folder":
        csv_file = tmp_path / "missing" / "sweep.csv"
    elif place == "a directory":
        csv_file = tmp_path
    elif place == "read-only folder":
        (tmp_path / "out").mkdir()
        csv_file = _read_only(tmp_path / "out") / "sweep.csv"
    elif place == "read-only file":
        csv_file = tmp_path / "sweep.csv"
        content = HEADER
        csv_file.write_text(content)
        csv_file.chmod(0o444)
    else:
        csv_file = Path("/proc") / f"spikec-test-{os.getpid()}.csv"  # not even root writes here
    args = [*SWEEP, "--grid", SMALL_GRID, "--jobs", "1", "-o", csv_file]
    code, out, err = _unprivileged(args, capsys)
    assert code == 2 and out == ""
    assert str(csv_file) in err
    if place != "a directory":  # click's own usage error otherwise
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not lock_path(csv_file).exists()
    if content is None:
        assert not csv_file.is_file()
    else:
        assert csv_file.read_text() == content


@pytest.mark.parametrize(
    "place", ["a file", "inside a file", "read-only folder", "inside a read-only folder", "/proc"]
)
def test_an_unwritable_plot_folder_is_refused_before_any_point(
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    place: str,
) -> None:
    tmp_path = workdir
    pytest.importorskip("matplotlib")
    _no_point_may_run(monkeypatch)
    (tmp_path / "afile").write_text("")
    plots = {
        "a file": tmp_path / "afile",
        "inside a file": tmp_path / "afile" / "plots",
        "read-only folder": tmp_path / "ro",
        "inside a read-only folder": tmp_path / "ro" / "plots" / "pareto",
        "/proc": Path("/proc") / f"spikec-test-{os.getpid()}" / "plots",
    }[place]
    if "read-only" in place:
        (tmp_path / "ro").mkdir()
        _read_only(tmp_path / "ro")
    existed = plots.exists()
    csv_file = tmp_path / "sweep.csv"
    code, out, err = _unprivileged(
        [*SWEEP, "--grid", SMALL_GRID, "--jobs", "1", "-o", csv_file, "--plot", plots], capsys
    )
    assert code == 2 and out == ""
    assert str(plots) in err and "--plot" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not csv_file.exists() and not lock_path(csv_file).exists()
    assert plots.exists() == existed  # no folder made
    assert not plots.is_dir() or not any(plots.iterdir())  # nothing written into one
