"""Running spikec on a mutant and holding it to its contract: exit 2 with one `spikec: error:`
message and no output file, or exit 0 with outputs equal to onnxruntime's where onnxruntime
runs the mutant; never a traceback, never a hang."""

from __future__ import annotations

import contextlib
import io
import signal
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.cli import main

TIME_LIMIT = 20
"""Seconds a mutant may take before it counts as a hang."""


class Hang(Exception):
    """A mutant ran past TIME_LIMIT."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def alarm(*_: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    code: int | str
    """Exit status, or 'traceback' / 'hang'."""
    stderr: str
    detail: str = ""


def run_spikec(args: Sequence[str | Path]) -> Outcome:
    err = io.StringIO()
    try:
        with (
            time_limit(TIME_LIMIT),
            contextlib.redirect_stderr(err),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            main([str(a) for a in args])
        return Outcome(0, err.getvalue())
    except SystemExit as e:
        return Outcome(int(e.code or 0), err.getvalue())
    except Hang:
        return Outcome("hang", err.getvalue())
    except BaseException as e:
        frames = traceback.extract_tb(e.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        return Outcome("traceback", err.getvalue(), f"{type(e).__name__} at {where}: {e}")


def onnxruntime_outputs(model: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    """What onnxruntime gives for the model, None when it refuses it (load or run)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        return [np.asarray(v) for v in session.run(None, feeds)]
    except Exception:
        return None


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def check(self, case: str, outcome: Outcome, output: Path) -> bool:
        """Count the outcome; a broken contract is a failure. True when spikec accepted."""
        if outcome.code in ("traceback", "hang"):
            self.failures.append(f"{case}: {outcome.code} {outcome.detail}")
        elif outcome.code == 2:
            lines = [line for line in outcome.stderr.splitlines() if line.startswith("spikec:")]
            if output.exists():
                self.failures.append(f"{case}: exit 2 but {output.name} was written")
            elif not lines or not lines[0].startswith("spikec: error:"):
                self.failures.append(f"{case}: exit 2 without an error message")
            self.counts["refused"] += 1
        elif outcome.code != 0:
            self.failures.append(f"{case}: exit {outcome.code}: {outcome.stderr[-300:]}")
        return outcome.code == 0

    def compare(
        self,
        case: str,
        ours: list[np.ndarray],
        theirs: list[np.ndarray] | None,
        nudged: Callable[[], list[list[np.ndarray] | None]] | None = None,
    ) -> None:
        """`nudged`: onnxruntime's outputs on the inputs moved by one ulp either way. Where
        they move as far from onnxruntime's own outputs as ours are, the mutant's outputs are
        not determined to within float rounding (a membrane on its threshold): that is
        counted apart, not as a failure."""
        if theirs is None:
            self.counts["accepted, onnxruntime refuses"] += 1
            return
        same = len(ours) == len(theirs) and all(
            a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
            for a, b in zip(ours, theirs, strict=False)
        )
        if same:
            self.counts["accepted and correct"] += 1
        elif nudged is not None and _ill_conditioned(ours, theirs, nudged()):
            self.counts["accepted, ill-conditioned (onnxruntime moves as far at 1 ulp)"] += 1
        else:
            self.failures.append(f"{case}: accepted, outputs differ from onnxruntime's")


def _gap(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b, strict=True)):
        return float("inf")
    gaps = [float(np.nanmax(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b, strict=True)]
    return max(gaps, default=0.0)


def _ill_conditioned(
    ours: list[np.ndarray], theirs: list[np.ndarray], nudged: list[list[np.ndarray] | None]
) -> bool:
    ours_gap = _gap(ours, theirs)
    return ours_gap < float("inf") and any(
        n is not None and _gap(n, theirs) >= ours_gap for n in nudged
    )


def nudged_feeds(feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The feeds moved by one ulp up, and down."""
    return [
        {k: np.nextafter(v, np.float32(d)).astype(v.dtype) for k, v in feeds.items()}
        for d in (np.inf, -np.inf)
    ]


def read_outputs(path: Path) -> list[np.ndarray]:
    """The outputs `spikec eval -o` wrote, in the model's output order."""
    loaded = np.load(path)
    if isinstance(loaded, np.ndarray):
        return [loaded]
    return [loaded[name] for name in loaded.files]
