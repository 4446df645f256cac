"""User-facing errors.

Every problem with what a user hands spikec (a model, IR text, an input array, an option) is raised
as a `SpikecError`. The CLI prints its message as one paragraph and exits with status 2; anything
else that escapes is a bug in spikec and keeps its traceback.
"""

from __future__ import annotations


class SpikecError(Exception):
    """A problem with the user's input, reported without a traceback.

    The message names where the problem is (file, ONNX node, IR line), what is wrong and what
    would be accepted instead.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UnsupportedModelError(SpikecError):
    """An ONNX model holds content the frontend cannot represent; lists every offending node."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        noun = "node" if len(problems) == 1 else "nodes"
        super().__init__(f"cannot import {len(problems)} {noun}:\n{listing}", where=path)
