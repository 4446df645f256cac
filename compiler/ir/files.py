"""Writing output files atomically, so that a failure never leaves half a file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from compiler.errors import SpikecError


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place."""
    if not str(path).strip():
        raise SpikecError("an output path is empty (an unset variable?): give a file name")
    target = Path(path)
    if target.is_dir():
        raise SpikecError("is a directory", where=str(path))
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise SpikecError("the output folder does not exist", where=str(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=directory)
    except OSError as e:  # e.g. a folder the user may not write
        raise SpikecError(f"cannot write here ({e.strerror})", where=str(path)) from None
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as `open` would create it (mkstemp makes it private)
        os.replace(tmp, target)
    except OSError as e:  # a full disk, a target that may not be replaced
        Path(tmp).unlink(missing_ok=True)
        raise SpikecError(f"cannot write here ({e.strerror or e})", where=str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomically(path, write)
