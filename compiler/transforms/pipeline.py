"""Running a pass pipeline given in xDSL's syntax, verifying between passes, and mlir-opt's
IR dumps as a pipeline callback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.arg_spec import parse_pipeline
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    PassFailedException,
    VerifyException,
)

from compiler.errors import SpikecError
from compiler.ir.context import make_context
from compiler.ir.locations import (
    inherit_locations,
    locations_by_name,
)
from compiler.ir.printer import print_ir
from compiler.ir.verify import verify
from compiler.progress import Bar, logger


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
