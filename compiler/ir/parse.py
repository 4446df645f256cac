"""Reading `spike` IR text: parse, verify and name problems by file, line and column."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.utils.exceptions import (
    ParseError,
    VerifyException,
)
from xdsl.utils.lexer import Span

from compiler.errors import SpikecError
from compiler.ir.context import make_context
from compiler.ir.locations import (
    assign_locations,
    restore_names,
)
from compiler.ir.verify import verify
from compiler.ir.weight_paths import absolute_weights


class _LocatingParser(Parser):
    """A parser that remembers where each operation starts, for verifier messages."""

    def __init__(self, ctx: Context, text: str, name: str) -> None:
        super().__init__(ctx, text, name)
        self.spans: dict[int, Span] = {}
        self.failed_at: Span | None = None
        """Start of the innermost operation whose parsing raised a VerifyException."""

    def parse_operation(self) -> Operation:
        start = self._current_token.span
        try:
            op = super().parse_operation()
        except VerifyException as e:
            self.failed_at = self.failed_at or start
            raise e
        self.spans[id(op)] = start
        return op


def parse_ir(text: str, filename: str) -> ModuleOp:
    """Parse and verify IR text; errors name `filename`, the line and the column."""
    if not text.strip():
        raise SpikecError(
            "empty input: expected MLIR text holding a builtin.module", where=filename
        )
    _check_string_literals(text, filename)
    parser = _LocatingParser(make_context(), text, filename)
    try:
        module = parser.parse_module()
    except ParseError as e:
        raise SpikecError(_format_parse_error(str(e))) from None
    except (OverflowError, ValueError) as e:  # a literal that fits no value of its type
        loc = parser._current_token.span.get_location()
        raise SpikecError(
            f"{filename}:{loc.line}:{loc.col}: a literal does not fit its type ({e})"
        ) from None
    except NotImplementedError as e:  # xDSL has no storage for the type, e.g. array<i69: 0>
        loc = parser._current_token.span.get_location()
        raise SpikecError(
            f"{filename}:{loc.line}:{loc.col}: a type spikec cannot hold values of ({e}; "
            "integers are i1, i8, i16, i32 or i64, floats f16, f32 or f64)"
        ) from None
    except VerifyException as e:
        # a type or attribute constraint checked while parsing an op's custom format
        span = parser.failed_at or parser._current_token.span
        loc = span.get_location()
        line = text.splitlines()[loc.line - 1] if loc.line <= len(text.splitlines()) else ""
        found = re.search(
            r'^\s*(?:%[\w.$-]+(?:\s*,\s*%[\w.$-]+)*\s*=\s*)?"?([a-z_]+\.[a-z_0-9.]+)', line
        )
        what = f"{found.group(1)}: " if found else ""
        raise SpikecError(f"{filename}:{loc.line}:{loc.col}: {what}{e}") from None
    verify(module, filename, parser.spans)
    restore_names(module)
    assign_locations(module)
    return module


def _check_string_literals(text: str, filename: str) -> None:
    """Every string literal closed on its own line (MLIR strings cannot span lines). xDSL's
    lexer matches strings with a nested-quantifier regex whose backtracking on a long line with
    an unclosed quote takes minutes; an unclosed quote is found here in one pass instead."""
    for number, line in enumerate(text.splitlines(), start=1):
        opened, escaped = -1, False
        for col, char in enumerate(line):
            if opened < 0:
                if char == '"':
                    opened = col
                elif line.startswith("//", col):
                    break
            elif escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                opened = -1
        if opened >= 0:
            raise SpikecError(
                f"{filename}:{number}:{opened + 1}: a string literal is not closed on its line"
            )


def _format_parse_error(text: str) -> str:
    """xDSL prints `file:line:col`, the source line, carets, then the message; put the message
    first so that the error reads as one line with its context below."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 3:
        return " ".join(line.strip() for line in lines)
    location, context, message = lines[0], lines[1:-1], lines[-1].strip()
    return "\n".join([f"{location}: {message}", *context])


def read_text(path: str) -> tuple[str, str, Path]:
    """(text, name for messages, folder relative to which a weight path is named) of an IR file
    or of stdin (`-`)."""
    if path == "-":
        return sys.stdin.read(), "<stdin>", Path.cwd()
    file = Path(path)
    if not file.is_file():
        raise SpikecError("no such file", where=path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpikecError("not a text file (expected MLIR text)", where=path) from None
    return text, path, file.resolve().parent


def read_ir(path: str) -> tuple[ModuleOp, Path]:
    """Parse an IR file (or `-` for stdin); returns the module and the folder relative to which
    its weight file is named."""
    text, name, base = read_text(path)
    module = parse_ir(text, name)
    absolute_weights(module, base)
    return module, base


SPLIT_MARKER = "// -----"


def split_input(text: str) -> list[str]:
    """Chunks of a file cut at `// -----` lines, each padded with newlines so that line numbers
    in messages stay those of the whole file (mlir-opt's --split-input-file)."""
    chunks: list[str] = []
    current: list[str] = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        if line.strip() == SPLIT_MARKER:
            chunks.append("\n" * offset + "".join(current))
            current, offset = [], number + 1
        else:
            current.append(line)
    chunks.append("\n" * offset + "".join(current))
    return chunks
