"""Reading, verifying, transforming and writing `spike` IR; shared by the CLI and the tests.

Everything here turns problems with the user's input into `SpikecError`s that name the file and
line, and writes output files atomically so that a failure never leaves half a file behind.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.arg_spec import parse_pipeline
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    ParseError,
    PassFailedException,
    VerifyException,
)
from xdsl.utils.lexer import Span

from compiler.dialects.spike import GlobalOp, Spike
from compiler.dialects.spike.structure import check_weight_references
from compiler.errors import SpikecError
from compiler.locations import (
    assign_locations,
    inherit_locations,
    locations_by_name,
    restore_names,
    says_more,
)
from compiler.progress import Bar, logger
from compiler.weights import (
    DERIVED_ATTR,
    WeightStore,
    dense_to_array,
    set_weight_paths,
    weight_paths,
)

if TYPE_CHECKING:  # the frontend imports onnx, which costs over a second
    from compiler.frontend.raising.report import RaiseReport


def make_context() -> Context:
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(func.Func)
    ctx.load_dialect(Spike)
    return ctx


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


def verify(
    module: ModuleOp, filename: str = "<module>", spans: dict[int, Span] | None = None
) -> None:
    """Verify, reporting the first failing operation with its source location when known."""
    try:
        module.verify()
    except VerifyException as whole:
        error: Exception = whole
    else:
        failure = check_weight_references(module)
        if failure is None:
            return
        reader, reason = failure
        raise SpikecError(_located(reader, str(reason), filename, spans)) from None
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException as e:
            message = str(e).removeprefix("Operation does not verify: ")
            raise SpikecError(_located(op, message, filename, spans)) from None
    raise SpikecError(f"the IR does not verify: {error}", where=filename)


def _located(op: Operation, message: str, filename: str, spans: dict[int, Span] | None) -> str:
    if not message.startswith(op.name):
        message = f"{op.name}: {message}"
    span = (spans or {}).get(id(op))
    if span is None:
        return f"{filename}: {message}"
    loc = span.get_location()
    return f"{filename}:{loc.line}:{loc.col}: {message}"


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


class _LocationPrinter(Printer):
    """Prints `loc(...)` after every op (the generic form: what MLIR tools read and renumber),
    or after the ops whose location says more than their SSA name (the custom form)."""

    every_location: bool = False

    def print_op(self, op: Operation) -> None:
        outer = self.print_debuginfo
        self.print_debuginfo = self.every_location or says_more(op)
        try:
            super().print_op(op)
        finally:
            self.print_debuginfo = outer


def print_ir(module: ModuleOp, *, generic: bool = False) -> str:
    stream = io.StringIO()
    printer = _LocationPrinter(stream=stream, print_generic_format=generic)
    printer.every_location = generic
    printer.print_op(module)
    stream.write("\n")
    return stream.getvalue()


def rebase_weights(module: ModuleOp, from_dir: Path, to_dir: Path) -> None:
    """Rewrite the module's weight paths, relative to `from_dir`, to be relative to `to_dir`."""
    rebased = []
    for text in weight_paths(module):
        target = Path(text)
        if not target.is_absolute():
            target = (from_dir / target).resolve()
        try:
            rebased.append(os.path.relpath(target, to_dir.resolve()))
        except ValueError:
            rebased.append(str(target))
    set_weight_paths(module, rebased)


def absolute_weights(module: ModuleOp, base: Path) -> None:
    """Make the weight paths absolute, so that passes can read the data wherever they run."""
    set_weight_paths(module, [str((base / p).resolve()) for p in weight_paths(module)])


def externalize_derived(module: ModuleOp, sidecar: Path) -> None:
    """Move the inline data of derived globals into `sidecar` (.npz) and list it among the
    module's weight files, so that the IR text stays small."""
    arrays = {}
    for op in module.ops:
        if isinstance(op, GlobalOp) and op.value is not None and DERIVED_ATTR in op.attributes:
            arrays[op.sym_name.data] = dense_to_array(op.value)
            op.properties.pop("value")
    if not arrays:
        return

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    write_atomically(sidecar, save)
    paths = [p for p in weight_paths(module) if Path(p).resolve() != sidecar.resolve()]
    set_weight_paths(module, [*paths, str(sidecar.resolve())])


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


def available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    from compiler.transforms import get_all_passes

    return get_all_passes()


PassCallback = Callable[[ModulePass | None, ModuleOp, ModulePass | None], None]


def pipeline_length(spec: str) -> int:
    """How many passes the pipeline `spec` runs (a SpikecError for a bad spec)."""
    return len(_parse_pipeline(spec, available_passes(), lambda *_: None).passes)


def _parse_pipeline(
    spec: str, passes: dict[str, Callable[[], type[ModulePass]]], callback: PassCallback
) -> PassPipeline:
    try:
        return PassPipeline.parse_spec(passes, spec, callback)
    except (Exception, ArgSpecParseError) as e:  # ValueError, and xDSL's own (a BaseException)
        names = ", ".join(sorted(passes))
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        where = next((line for line in lines if line.startswith("pass-pipeline:")), "")
        column = f" (column {where.rsplit(':', 1)[-1]})" if where else ""
        reason = lines[-1] if lines else type(e).__name__
        raise SpikecError(
            f"bad pass pipeline '{spec}': {reason}{column}. Available passes: {names}"
        ) from None


def run_pipeline(
    module: ModuleOp,
    spec: str,
    callback: PassCallback | None = None,
    progress: Bar | None = None,
) -> None:
    """Apply a pass pipeline given in xDSL's syntax (`a,b{opt=1}`); '' applies nothing. Each
    pass's wall time is logged (-v); `progress` advances by one a pass."""
    passes = available_passes()
    started = time.perf_counter()
    named = locations_by_name(module)

    def verify_between(
        previous: ModulePass | None, mod: ModuleOp, following: ModulePass | None
    ) -> None:
        nonlocal started, named
        if previous is not None:
            logger.info("pass %s: %.1f ms", previous.name, 1e3 * (time.perf_counter() - started))
            inherit_locations(mod, named)  # the ops the pass created
            named = locations_by_name(mod)
            if progress is not None:
                progress.advance()
            try:
                verify(mod, f"the IR after {previous.name}")
            except SpikecError as e:
                raise SpikecError(
                    f"internal error: pass {previous.name} produced IR that does not verify: {e}"
                ) from e
        if callback is not None:
            callback(previous, mod, following)
        if following is not None and progress is not None:
            progress.describe(following.name)
        started = time.perf_counter()

    pipeline = _parse_pipeline(spec, passes, verify_between)
    try:
        pipeline.apply(make_context(), module)
    except PassFailedException as e:
        raise SpikecError(str(e).splitlines()[0] if str(e) else "a pass failed") from None
    except VerifyException as e:
        raise SpikecError(f"a pass produced IR that does not verify: {e}") from e


@dataclass
class IRDumps:
    """mlir-opt's IR printing options, as a pass-pipeline callback: dumps go to stderr, and
    `dump_dir` receives one numbered file per step (00-input.mlir, 01-<pass>.mlir, ...)."""

    after_all: bool = False
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    dump_dir: Path | None = None
    generic: bool = False
    step: int = 0

    def check(self, spec: str) -> None:
        """Every pass named in `after`/`before` must be in the pipeline."""
        try:
            names = {s.name for s in parse_pipeline(spec)} if spec.strip() else set()
        except (Exception, ArgSpecParseError) as e:  # the pipeline is checked again later
            if self.after or self.before:
                raise SpikecError(f"bad pass pipeline '{spec}': {e}") from None
            names = set()
        for option, wanted in (
            ("--print-ir-after", self.after),
            ("--print-ir-before", self.before),
        ):
            missing = sorted(set(wanted) - names)
            if missing:
                raise SpikecError(f"{option}: {', '.join(missing)} is not in the pipeline '{spec}'")
        if self.dump_dir is not None:
            if self.dump_dir.exists() and not self.dump_dir.is_dir():
                raise SpikecError("--ir-dump-dir is a file, not a folder", where=str(self.dump_dir))
            self.dump_dir.mkdir(parents=True, exist_ok=True)

    def __call__(
        self, previous: ModulePass | None, module: ModuleOp, following: ModulePass | None
    ) -> None:
        if previous is not None and (self.after_all or previous.name in self.after):
            self._stderr(f"// -----// IR Dump After {previous.name} //----- //", module)
        if following is not None and following.name in self.before:
            self._stderr(f"// -----// IR Dump Before {following.name} //----- //", module)
        if self.dump_dir is not None:
            label = "input" if previous is None else previous.name
            path = self.dump_dir / f"{self.step:02d}-{label}.mlir"
            path.write_text(print_ir(module, generic=self.generic), encoding="utf-8")
            self.step += 1

    def _stderr(self, header: str, module: ModuleOp) -> None:
        sys.stderr.write(f"{header}\n{print_ir(module, generic=self.generic)}")


def load_model(
    model: str,
    inline_weights: bool = False,
    explain: Callable[[RaiseReport], None] | None = None,
    raising: Sequence[str] | None = None,
) -> tuple[ModuleOp, WeightStore, Path]:
    """A module from IR (`.mlir`, or '-' for stdin), a NIR graph (`.nir`, discretised as
    `nir_options.options` say) or an ONNX model (any other file), with
    its weights and the folder its weight paths are relative to; `raising` names the raising
    passes an ONNX model goes through (default: all)."""
    start = time.perf_counter()
    if model == "-" or model.endswith(".mlir"):
        module, base = read_ir(model)
        weights = WeightStore.for_module(module, base)
    elif model.endswith(".nir"):
        from compiler.frontend.nir_import import import_nir
        from compiler.frontend.nir_options import options

        imported = import_nir(model, options)
        module, weights, base = imported.module, imported.weights, Path.cwd()
    else:
        from compiler.frontend.onnx_import import import_onnx

        result = import_onnx(model, inline_weights=inline_weights, explain=explain, raising=raising)
        module, weights, base = result.module, result.weights, Path.cwd()
    check_finite_attributes(module)
    logger.info("import %s: %.3f s", model, time.perf_counter() - start)
    return module, weights, base


def check_finite_attributes(module: ModuleOp) -> None:
    """Warn once per attribute (or, with --strict, refuse) where an op's float attribute or a
    constant's value is NaN or Inf: a threshold of NaN never fires, silently otherwise."""
    from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, FloatAttr

    from compiler.dialects.spike import ConstantOp
    from runtime.errors import ProgramError
    from runtime.finite import check_finite

    for op in module.walk():
        label = next((r.name_hint for r in op.results if r.name_hint), op.name)
        try:
            for key, attr in {**op.properties, **op.attributes}.items():
                if isinstance(attr, FloatAttr):
                    value = np.asarray([attr.value.data], np.float32)
                    check_finite(f"{op.name} '{label}': attribute", key, value)
            if isinstance(op, ConstantOp) and isinstance(op.value, DenseIntOrFPElementsAttr):
                check_finite("constant", label, dense_to_array(op.value))
        except ProgramError as e:
            raise SpikecError(str(e)) from None
