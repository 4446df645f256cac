"""`spikec sweep`: one model compiled for one target at every point of a grid of hardware
settings (`--set key=value`), each run on the same inputs (exact numerics, or a hardware
numerics mode over one or more seeds), one row per point.

    check_grid:  the grid's keys (read by compiler.explore.grid) checked by the target's own `--set`
                 validation
    sweep:       run the points not yet in the CSV (in parallel worker processes, on a Dask
                 cluster, or in-process), appending each row to the CSV as it finishes; the rows
                 of all points
    pareto:      the points no other point beats on both energy and latency (or output error)
    render_table: what `spikec sweep` prints

The CSV is the sweep's state: its header is the grid's keys then the figures; a row is written
and flushed as soon as its point finishes, so a killed sweep keeps its finished rows and the same
command resumes it (points whose settings are in the CSV are not run again). Rows are plain dicts
keyed by column key; nothing here prints (progress is a bar and log lines, compiler.progress).

One sweep at a time writes a CSV: `output_lock` holds an advisory lock (flock) on `<csv>.lock`
for the whole run, and a second sweep of the same CSV is refused at once. The lock dies with its
process, so the lock file a killed sweep leaves behind blocks nothing. The pool's workers die
with the sweep that forked them (`_exit_with_parent`).
"""

from __future__ import annotations

import csv
import ctypes
import fcntl
import io
import itertools
import multiprocessing
import os
import signal
import statistics
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.errors import SpikecError
from compiler.explore.comparison import (
    Column,
    Comparison,
    cost_figures,
    deviation_figures,
    top1_agreement,
)
from compiler.explore.comparison import render_table as render_comparison
from compiler.progress import Bar, bar, logger, stages_at_debug
from runtime.errors import ProgramError
from runtime.hardware import recording_reads

if TYPE_CHECKING:
    from compiler.runner import Run

FIGURES = ("latency_us", "inferences_per_s", "energy_per_inference_uj", "edp_js")
QUALITY = ("accuracy_pct", "top1_agreement_pct")
STATUS = "status"
OK = "ok"
PARETO = "pareto"
EXACT = "exact"
NUMERICS = "numerics"
"""The column of a sweep in hardware numerics: the mode and seed its rows ran with."""
DEVIATION = ("spike_agreement_pct", "output_relative_error")
"""A hardware-numerics sweep's figures of deviation from the exact run of the same point: the
share of spikes equal to the exact run's (mean over the layers that fire), and
‖y - y_exact‖ / ‖y_exact‖ (the largest over the outputs)."""
STD = "_std"
"""Suffix of the columns of a sweep over several seeds that give the sample standard deviation
(over the seeds) of the quality and the deviation figures; the figures themselves are means."""
READ = "_read"
"""Not a column: the grid keys a point's compile and run read (a key no point reads changes
nothing, and the sweep says so)."""


def check_grid(
    target_name: str,
    grid: Mapping[str, Sequence[str]],
    variant: str | None,
    numerics: str = EXACT,
) -> str:
    """Refuse unknown keys (and an unknown target, variant or numerics mode of the variant)
    before any point runs, with the target's own `--set` validation; returns the variant. The
    values are checked per point (a point whose value the target refuses is a failed row)."""
    from compiler.runner import get_target

    target = get_target(target_name)
    try:
        chosen = target.check_variant(variant)
        target.check_numerics(numerics, chosen)
        defaults = target.hardware().entries
        # each key at its default value: checks the key, not the grid's values
        target.hardware(
            settings=tuple(
                f"{key}={defaults[key].value if key in defaults else values[0]}"
                for key, values in grid.items()
            )
        )
    except ProgramError as e:
        raise SpikecError(str(e)) from None
    return chosen


def points(grid: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """The Cartesian product of the grid's values (the first key varies slowest)."""
    return list(itertools.product(*grid.values()))


def settings_of(keys: Sequence[str], point: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in zip(keys, point, strict=True))


@dataclass(frozen=True)
class Job:
    """What a worker needs to compile and run one point (picklable)."""

    model: str
    target: str
    variant: str
    keys: tuple[str, ...]
    inputs: dict[str, np.ndarray]
    sources: dict[str, str]
    labels: np.ndarray | None
    reference: dict[str, np.ndarray] | None
    """The reference interpreter's outputs (top-1 agreement, without labels)."""
    numerics: str = EXACT
    seed: int = 0
    seeds: int = 1
    """How many seeds (seed, seed + 1, ...) each point runs with, in hardware numerics."""


def run_point(job: Job, point: tuple[str, ...]) -> dict[str, Any]:
    """Compile the model with the point's settings (in memory, from the model imported once per
    process) and run it; the row. A SpikecError (or ProgramError) makes a failed row."""
    from compiler.runner import RunOptions, execute_package
    from compiler.toolchain import build_package, import_once

    row: dict[str, Any] = dict(zip(job.keys, point, strict=True))
    quality = quality_key(job.labels is not None)
    deviation = job.numerics != EXACT
    if deviation:
        row[NUMERICS] = numerics_label(job.numerics, job.seed, job.seeds)
    try:
        with stages_at_debug(), recording_reads() as reads:
            package, target = build_package(
                job.model,
                job.target,
                variant=job.variant,
                settings=settings_of(job.keys, point),
                imported=import_once(job.model),
            )
            runs = [
                execute_package(
                    package,
                    target,
                    job.inputs,
                    job.sources,
                    RunOptions(job.numerics, seed, labels=job.labels),
                )
                for seed in range(job.seed, job.seed + job.seeds)
            ]
    except (SpikecError, ProgramError) as e:
        spread = _spread_keys(quality, deviation, job.seeds)
        row.update({k: None for k in (*FIGURES, quality, *spread)})
        row[STATUS] = f"failed: {e}"
        return row
    row[READ] = [key for key in job.keys if key in reads]
    measured = [_figures(run, job, quality) for run in runs]
    for key in measured[0]:
        values = [v for m in measured if (v := m[key]) is not None]
        complete = len(values) == len(measured)  # a quality is None when it is undefined
        row[key] = statistics.fmean(values) if complete else None
        if job.seeds > 1 and (key == quality or key in DEVIATION):
            row[key + STD] = statistics.stdev(values) if complete else None
    row[STATUS] = OK
    return row


def _figures(run: Run, job: Job, quality: str) -> dict[str, float | None]:
    """One run's figures: its cost, its quality and, in hardware numerics, its deviation."""
    from runtime.deviation import accuracy

    figures: dict[str, float | None] = dict(cost_figures(run.report))
    if job.labels is not None:
        fraction: float | None = accuracy(run.outputs, job.labels)
    else:
        assert job.reference is not None
        fraction = top1_agreement(run.outputs, job.reference)
    figures[quality] = None if fraction is None else 100 * fraction
    if job.numerics != EXACT:
        figures.update(deviation_figures(run.report))
    return figures


def _spread_keys(quality: str, deviation: bool, seeds: int) -> list[str]:
    """The deviation figures and, over several seeds, the standard-deviation columns."""
    if not deviation:
        return []
    spread = [quality + STD, *(k + STD for k in DEVIATION)] if seeds > 1 else []
    return [*DEVIATION, *spread]


def quality_key(labels: bool) -> str:
    return QUALITY[0] if labels else QUALITY[1]


def numerics_label(numerics: str, seed: int, seeds: int = 1) -> str:
    if seeds == 1:
        return f"{numerics} (seed {seed})"
    return f"{numerics} (seeds {seed}-{seed + seeds - 1})"


def csv_keys(keys: Sequence[str], labels: bool, numerics: str = EXACT, seeds: int = 1) -> list[str]:
    """The CSV's header: the grid's keys, the figures, the quality (under the numerics), in
    hardware numerics the mode and the deviation figures (over several seeds, means, then the
    standard deviations), the status."""
    quality = quality_key(labels)
    deviation = numerics != EXACT
    spread = _spread_keys(quality, deviation, seeds)
    return [*keys, *FIGURES, quality, *([NUMERICS] if deviation else []), *spread, STATUS]


def _read_rows(path: Path, header: list[str]) -> list[dict[str, Any]]:
    """The rows of an existing CSV (figures as numbers); refuses a header other than `header`.
    A last line cut short (the sweep killed while writing it) is dropped from the file."""
    text = path.read_text(encoding="utf-8")
    if not text:
        return []
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        path.write_text(text, encoding="utf-8")
        if not text:
            return []
    reader = csv.reader(io.StringIO(text))
    found = next(reader, [])
    if found != header:
        raise SpikecError(
            f"its header ({','.join(found)}) does not match the grid and the figures "
            f"({','.join(header)}); give another -o, or remove it to start over",
            where=str(path),
        )
    numeric = {*FIGURES, *QUALITY, *DEVIATION}
    numeric |= {k + STD for k in (*QUALITY, *DEVIATION)}
    rows: list[dict[str, Any]] = []
    for cells in reader:
        if len(cells) != len(header):
            raise SpikecError(f"a row has {len(cells)} cells, not {len(header)}", where=str(path))
        row: dict[str, Any] = {}
        for key, cell in zip(header, cells, strict=True):
            if key in numeric:
                try:
                    row[key] = None if cell == "" else float(cell)
                except ValueError:
                    raise SpikecError(f"{key}: not a number: {cell!r}", where=str(path)) from None
            else:
                row[key] = cell
        rows.append(row)
    return rows


@dataclass
class Sweep:
    keys: list[str]
    """The grid's keys (the first columns)."""
    columns: list[str]
    """The CSV's header."""
    rows: list[dict[str, Any]]
    """One per point, in the grid's order."""
    resumed: int = 0
    """Rows found in the CSV (not run again)."""
    pareto: list[int] = field(default_factory=list)
    """Indices (into rows) of the Pareto-optimal points."""
    trade_off: str = "latency_us"
    """What the Pareto front weighs against energy per inference: latency, or in hardware
    numerics the output error."""
    unread: list[str] = field(default_factory=list)
    """Grid keys that no point run here read: their values cannot change a figure."""


def pareto(rows: Sequence[Mapping[str, Any]], trade_off: str = "latency_us") -> list[int]:
    """The ok rows that no other ok row dominates on energy per inference and `trade_off`
    (lower or equal in both, strictly lower in one)."""
    ok = [
        (i, r["energy_per_inference_uj"], r[trade_off])
        for i, r in enumerate(rows)
        if r[STATUS] == OK and r["energy_per_inference_uj"] is not None and r[trade_off] is not None
    ]
    return [
        i
        for i, e, t in ok
        if not any(e2 <= e and t2 <= t and (e2 < e or t2 < t) for _, e2, t2 in ok)
    ]


LOCAL = "local"
"""`scheduler=LOCAL`: an embedded Dask LocalCluster for the run."""
CONNECT_TIMEOUT_S = 5


@contextmanager
def dask_client(scheduler: str, workers: int) -> Iterator[Any]:
    """A `dask.distributed.Client` of the scheduler at `scheduler`, or (`LOCAL`) of an embedded
    LocalCluster of `workers` single-threaded worker processes, closed (with the cluster) on exit.
    Dask missing or the scheduler unreachable: a SpikecError."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SpikecError(
            "--scheduler needs Dask: install spikec[distributed] "
            "(pip install 'spikec[distributed]')"
        ) from None
    with ExitStack() as stack:
        if scheduler == LOCAL:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            stack.callback(cluster.close)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            except ValueError as e:
                raise SpikecError(
                    f"--scheduler: {scheduler} is not a Dask scheduler address (e.g. "
                    f"tcp://host:8786, or 'local'): {e}"
                ) from None
            except (OSError, TimeoutError) as e:
                detail = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise SpikecError(
                    f"--scheduler: cannot reach the Dask scheduler at {scheduler} within "
                    f"{CONNECT_TIMEOUT_S} s ({detail})"
                ) from None
        stack.callback(client.close)
        yield client


LOCK_SUFFIX = ".lock"
_held_locks: set[Path] = set()
"""The lock files this process holds (resolved)."""


def lock_path(output: Path) -> Path:
    """The lock file of the CSV `output`: beside it, its name + `.lock`."""
    return output.with_name(output.name + LOCK_SUFFIX)


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive flock on `output`'s lock file (created, this process's pid written in
    it) until the block ends, then remove the file; another process holding it: a SpikecError at
    once, naming its pid. The kernel drops a flock when its holder dies however it dies, so a
    lock file left by a killed sweep is taken over. A process already holding it (the CLI takes
    it before loading the model, `sweep` again) just goes on. Forked pool workers inherit the
    lock; they die with the sweep (`_exit_with_parent`), so it goes with the sweep."""
    path = lock_path(output).resolve()
    if path in _held_locks:
        yield
        return
    descriptor = _acquire(path, output)
    _held_locks.add(path)
    try:
        yield
    finally:
        _held_locks.discard(path)
        # removed while still held: a sweep that opened the old file meanwhile sees it unlinked
        # once it gets the lock, and takes the new one (_acquire)
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _acquire(path: Path, output: Path) -> int:
    """The locked descriptor of the lock file at `path` (created if missing, its pid written)."""
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise SpikecError(
                f"cannot create its lock file {path.name} beside it ({e.strerror}); "
                "choose another --output",
                where=str(output),
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(descriptor)
            if not isinstance(e, BlockingIOError):
                raise SpikecError(
                    f"cannot lock {path.name} ({e.strerror})", where=str(output)
                ) from None
            holder = _lock_holder(path)
            raise SpikecError(
                "another sweep is writing this file"
                + (f" (pid {holder})" if holder else "")
                + "; wait for it or choose another --output",
                where=str(output),
            ) from None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        locked = os.fstat(descriptor)
        if current is not None and (current.st_dev, current.st_ino) == (
            locked.st_dev,
            locked.st_ino,
        ):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
            return descriptor
        os.close(descriptor)  # its holder removed it on release: lock the file now at `path`


def _lock_holder(path: Path) -> str:
    """The pid written in a held lock file ('' if unreadable or not written yet)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


LINUX = sys.platform.startswith("linux")
PR_SET_PDEATHSIG = 1
"""prctl(2) option (<linux/prctl.h>): the signal a process gets when its parent dies."""


def _exit_with_parent(parent: int) -> None:
    """Initializer of the sweep's pool workers: a worker gets SIGTERM when the sweep that forked
    it dies, however it dies. Without it a SIGKILLed sweep leaves its workers running: they
    finish the points queued to them, then wait on the pool's queue forever (each holds the
    queue's write end too, so no end of file comes), holding the CSV's lock they inherited.
    Linux only (prctl); elsewhere nothing is done. The signal comes when the thread that forked
    the worker exits: ProcessPoolExecutor forks its fork-context workers in the thread of the
    first submit, the sweep's main thread."""
    if not LINUX:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    # the sweep may have died between the fork and the prctl: then no signal will come (the
    # worker has been handed to init already), so act as it would have
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _run_on_dask(
    client: Any, job: Job, todo: Sequence[tuple[str, ...]], record: Callable[[dict[str, Any]], None]
) -> None:
    """Each point a task on the cluster (the job sent once); rows recorded as they finish."""
    from dask.distributed import as_completed as dask_as_completed

    shared = client.scatter(job, hash=False)
    futures = [client.submit(run_point, shared, point, pure=False) for point in todo]
    for future in dask_as_completed(futures):
        record(future.result())


def sweep(
    model: str,
    target: str,
    inputs: Mapping[str, np.ndarray],
    grid: Mapping[str, Sequence[str]],
    output: Path,
    *,
    variant: str | None = None,
    labels: np.ndarray | None = None,
    sources: Mapping[str, str] | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    numerics: str = EXACT,
    seed: int = 0,
    seeds: int = 1,
) -> Sweep:
    """Run every point of `grid` not yet in the CSV `output` (created with its header if
    missing), appending each row as it finishes; `jobs` worker processes (default: the CPU
    count; 1: in-process). `scheduler`: the points run on the Dask cluster at that address, or
    (`"local"`) on an embedded LocalCluster of `jobs` worker processes; nothing is written if it
    cannot be reached. `reference`: the reference interpreter's outputs (needed without
    `labels`). `numerics`: each point runs in that hardware numerics mode, drawn from `seed`
    (its accuracy or agreement is under that mode, and its deviation from the exact run is
    measured); with `seeds` > 1, each point runs with seeds seed .. seed + seeds - 1 and its
    figures are the means, with the standard deviations of the quality and the deviation. A CSV
    whose rows ran with another mode or seeds is refused. The CSV is locked for the run
    (`output_lock`): a CSV another sweep is writing is refused before it is read."""
    if not grid:
        raise SpikecError("--grid: the grid is empty")
    chosen = check_grid(target, grid, variant, numerics)
    if seeds < 1:
        raise SpikecError(f"--seeds: {seeds} is not a number of seeds (1 or more)")
    if seeds > 1 and numerics == EXACT:
        raise SpikecError(
            "--seeds needs --numerics MODE: exact numerics draw no noise (e.g. --numerics analog)"
        )
    keys = list(grid)
    header = csv_keys(keys, labels is not None, numerics, seeds)
    if labels is None and reference is None:
        raise SpikecError("a sweep without labels needs the reference outputs")
    with output_lock(output):  # before the CSV is read: it may drop a cut-short line
        existing = _read_rows(output, header) if output.exists() else []
        label = numerics_label(numerics, seed, seeds)
        for row in existing:
            if numerics != EXACT and row[NUMERICS] != label:
                raise SpikecError(
                    f"its rows ran with {row[NUMERICS]}, not {label}: give the same --numerics, "
                    "--seed and --seeds to resume it, or another -o",
                    where=str(output),
                )
        done = {tuple(str(r[k]) for k in keys): r for r in existing}
        wanted = points(grid)
        todo = [p for p in wanted if p not in done]
        job = Job(
            model,
            target,
            chosen,
            tuple(keys),
            dict(inputs),
            dict(sources or {}),
            labels,
            None if reference is None else dict(reference),
            numerics,
            seed,
            seeds,
        )
        if done:
            logger.info("%s: %d point(s) done already, %d to run", output, len(done), len(todo))

        workers = jobs if jobs is not None else (os.cpu_count() or 1)
        with ExitStack() as stack:
            # connected before the CSV is opened: an unreachable scheduler writes nothing
            client = (
                stack.enter_context(dask_client(scheduler, workers))
                if scheduler is not None and todo
                else None
            )
            with bar(len(wanted), "sweep", "point") as progress:
                progress.advance(len(wanted) - len(todo))
                _run_points(
                    job, todo, keys, header, output, existing, done, workers, client, progress
                )

        rows = [done[p] for p in wanted]
        trade_off = "latency_us" if numerics == EXACT else "output_relative_error"
        unread = _unread(keys, rows, f"{target} ({chosen})")
        for row in rows:
            row.pop(READ, None)
        return Sweep(
            keys, header, rows, len(wanted) - len(todo), pareto(rows, trade_off), trade_off, unread
        )


def _unread(keys: Sequence[str], rows: Sequence[Mapping[str, Any]], target: str) -> list[str]:
    """The grid keys that none of the points run now (ok ones) read, each warned about."""
    ran = [row[READ] for row in rows if row[STATUS] == OK and READ in row]
    if not ran:
        return []
    unread = [key for key in keys if not any(key in read for read in ran)]
    for key in unread:
        logger.warning(
            "%s: no point's compile or run read it, so its values change no figure (no cost "
            "of %s uses it for this model)",
            key,
            target,
        )
    return unread


def _run_points(
    job: Job,
    todo: Sequence[tuple[str, ...]],
    keys: Sequence[str],
    header: Sequence[str],
    output: Path,
    existing: Sequence[Mapping[str, Any]],
    done: dict[tuple[str, ...], dict[str, Any]],
    workers: int,
    client: Any,
    progress: Bar,
) -> None:
    """Run `todo` (on `client`'s cluster, in `workers` processes or in-process), appending each
    row to the CSV (its header first if new) and to `done`."""
    fresh = not existing and (not output.exists() or output.stat().st_size == 0)
    with open(output, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if fresh:
            writer.writerow(header)
            f.flush()

        def record(row: dict[str, Any]) -> None:
            writer.writerow(["" if row.get(k) is None else row[k] for k in header])
            f.flush()
            done[tuple(str(row[k]) for k in keys)] = row
            shown = ", ".join(f"{k}={row[k]}" for k in keys)
            if row[STATUS] == OK:
                logger.info(
                    "%s: %.2f us, %.4g uJ/inference",
                    shown,
                    row["latency_us"],
                    row["energy_per_inference_uj"],
                )
            else:
                logger.warning("%s: %s", shown, row[STATUS])
            progress.describe(shown)
            progress.advance()

        if client is not None:
            _run_on_dask(client, job, todo, record)
        elif workers <= 1 or len(todo) <= 1:
            for point in todo:
                record(run_point(job, point))
        else:
            # fork, pinned (the default on Linux before Python 3.14): the workers inherit the
            # imported model (import_once) and are the sweep's own children, which
            # _exit_with_parent checks
            with ProcessPoolExecutor(
                max_workers=min(workers, len(todo)),
                mp_context=multiprocessing.get_context("fork") if LINUX else None,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            ) as pool:
                futures = [pool.submit(run_point, job, point) for point in todo]
                for future in as_completed(futures):
                    record(future.result())


def render_table(result: Sweep) -> str:
    """The rows as a text table, the Pareto-optimal points marked, a note under it."""
    quality = next(c for c in result.columns if c in QUALITY)
    deviation = NUMERICS in result.columns
    spread = quality + STD in result.columns
    columns = [
        *(Column(k, k, "s") for k in result.keys),
        Column("latency_us", "latency (µs)", ".2f"),
        Column("inferences_per_s", "inferences/s", ".1f"),
        Column("energy_per_inference_uj", "energy/inf (µJ)", "#.4g"),
        Column("edp_js", "EDP (J·s)", ".3e"),
        Column(quality, "accuracy %" if quality == "accuracy_pct" else "top-1 agr. %", ".1f"),
        *((Column(quality + STD, "±", ".1f"),) if spread else ()),
        *(
            (
                Column("spike_agreement_pct", "spike agr. %", ".2f"),
                *((Column("spike_agreement_pct" + STD, "±", ".2f"),) if spread else ()),
                Column("output_relative_error", "output rel. err", ".4f"),
                *((Column("output_relative_error" + STD, "±", ".4f"),) if spread else ()),
            )
            if deviation
            else ()
        ),
        Column(PARETO, "pareto", "s"),
        Column(STATUS, "status", "s"),
    ]
    marked = set(result.pareto)
    rows = [{**row, PARETO: "*" if i in marked else ""} for i, row in enumerate(result.rows)]
    failed = sum(r[STATUS] != OK for r in rows)
    notes = [
        f"{len(rows)} points ({len(rows) - failed} ok, {failed} failed"
        + (f", {result.resumed} from the CSV" if result.resumed else "")
        + "); pareto *: no other point has both lower or equal energy per inference and "
        + ("latency" if result.trade_off == "latency_us" else "output relative error")
        + ", one of them strictly lower",
    ]
    if result.unread:
        notes.append(
            f"{', '.join(result.unread)}: read by no point's compile or run; its values change "
            "no figure"
        )
    if deviation and rows:
        notes.append(
            f"numerics {rows[0][NUMERICS]}: accuracy/agreement under these numerics"
            + (
                "; each figure the mean over the seeds, ± their standard deviation"
                if spread
                else ""
            )
            + "; spike agr.: "
            "share of spikes equal to the exact run's; output rel. err: "
            "‖y - y_exact‖ / ‖y_exact‖"
        )
    return render_comparison(Comparison(columns, rows, "", notes))
