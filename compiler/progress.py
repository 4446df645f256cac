"""What spikec shows while it works: progress bars on a terminal, and log lines on stderr.

The library only opens `bar`s and logs to the `spikec` logger; nothing shows until the command
line calls `configure` with its -q/-v count:

    -q   (-1)  errors only: no bar, no warning
    default    a bar for work that lasts over BAR_DELAY_S, when stderr is a terminal; warnings
               (a sweep point that failed)
    -v   (1)   also the wall time of each stage (import, each pass, lowering, the simulator, the
               reference interpreter; a sweep point's stages only with -vv) and each design or
               sweep point as it finishes
    -vv  (2)   also every instruction the simulator executed, with its unit and cycles

Bars never show when stderr is not a terminal (a pipe, a file, CI), and only the outermost
bar shows (a sweep's points, not each point's compile). Log lines are written above a bar
(tqdm.write) so they do not tear it. tqdm draws the bars: it measures rates and ETAs, adapts
to the terminal width and clears itself, which we would otherwise write and test ourselves.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm import tqdm

logger = logging.getLogger("spikec")
logger.addHandler(logging.NullHandler())  # a library user's program decides what shows

BAR_DELAY_S = 0.5
"""A bar appears only once its work has lasted this long (no flicker on small models)."""
BAR_REDRAW_S = 0.1
"""A bar is redrawn at most this often."""

QUIET, NORMAL, VERBOSE, DEBUG = -1, 0, 1, 2
"""The verbosity levels: -q, nothing, -v, -vv."""


@dataclass
class _State:
    bars: bool = False
    """Bars are drawn (set by `configure`: not quiet, stderr a terminal)."""
    open_bars: int = 0


_state = _State()


class Bar:
    """A progress bar, or nothing (the `bar` of a quiet run, off a terminal or inside another
    bar): the code that advances it does not need to know which."""

    def __init__(self, drawn: tqdm | None = None) -> None:
        self._drawn = drawn

    @property
    def shown(self) -> bool:
        return self._drawn is not None

    def advance(self, steps: int = 1) -> None:
        if self._drawn is not None:
            self._drawn.update(steps)

    def describe(self, text: str) -> None:
        """What is being done now, shown after the count."""
        if self._drawn is not None:
            self._drawn.set_postfix_str(text, refresh=False)


class _AboveBars(logging.Handler):
    """Writes each record to the current stderr, above any bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        kind = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"spikec: {kind}{record.getMessage()}"


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def configure(verbosity: int) -> None:
    """Set what shows from here on (see the module's docstring); replaces any earlier setting."""
    if verbosity <= QUIET:
        level = logging.ERROR
    elif verbosity == NORMAL:
        level = logging.WARNING
    elif verbosity == VERBOSE:
        level = logging.INFO
    else:
        level = logging.DEBUG
    handler = _AboveBars()
    handler.setFormatter(_Formatter())
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
    _state.bars = verbosity > QUIET and stderr_is_terminal()


@contextmanager
def bar(total: int, description: str, unit: str) -> Iterator[Bar]:
    """A bar of `total` `unit`s, drawn on stderr if bars are on and no other bar is open."""
    if not _state.bars or _state.open_bars:
        yield Bar()
        return
    _state.open_bars += 1
    try:
        with tqdm(
            total=total,
            desc=description,
            unit=unit,
            file=sys.stderr,
            delay=BAR_DELAY_S,
            mininterval=BAR_REDRAW_S,
            miniters=1,
            leave=False,
            dynamic_ncols=True,
        ) as drawn:
            yield Bar(drawn)
    finally:
        _state.open_bars -= 1


@contextmanager
def stages_at_debug() -> Iterator[None]:
    """Within: the stage lines that -v shows (import, passes, lowering, the simulator's run) show
    only with -vv. A sweep logs each point's result at -v, not the stages of hundreds of points."""
    verbose = logger.level == logging.INFO
    if verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        if verbose:
            logger.setLevel(logging.INFO)
