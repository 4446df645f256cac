"""Compiling a model for a target: the only module that sees the frontend, the passes and a
target's compile side together (running the program is `compiler.runner`'s).

    compile_model:  model (ONNX, NIR or IR) -> target pipeline -> lowering -> program folder
    build_package:  the same in memory (the package the folder would hold), from a model
                    imported once per process (import_once): what compare and sweep run
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler import __version__
from compiler.dialects.spike.neurons import module_timesteps as dialect_timesteps
from compiler.errors import SpikecError
from compiler.frontend.load import load_model
from compiler.ir.weights import WeightStore
from compiler.progress import Bar, bar, logger
from compiler.runner import get_target
from compiler.transforms.pipeline import IRDumps, PassCallback, pipeline_length, run_pipeline
from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.package import Package, full_manifest, write_package
from runtime.program import Program
from targets.target import Target


def module_timesteps(module: ModuleOp, where: str) -> int:
    timesteps = dialect_timesteps(module)
    if timesteps is None:
        raise SpikecError(
            "the module has no spike.timesteps attribute (the number of timesteps T)", where=where
        )
    return timesteps


@dataclass
class Compiled:
    path: Path
    target: str
    variant: str
    pipeline: str
    instructions: int
    constants_bytes: int
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each stage (import, passes, lowering, writing)."""


Imported = tuple[ModuleOp, Path]
"""A model as `load_model` imports it: the module and the folder its weight paths are relative
to (for compiling one model many times without importing it again)."""


_imports: dict[tuple[str, int, int, str], Imported] = {}
"""The model this process imported last, by path, modification time, size and (for NIR) the
options that discretised it."""


def _import_key(model: str) -> tuple[str, int, int, str]:
    from compiler.frontend.nir_options import options

    stat = os.stat(model)
    discretised = repr(options) if model.endswith(".nir") else ""
    return (os.path.abspath(model), stat.st_mtime_ns, stat.st_size, discretised)


def import_once(model: str) -> Imported:
    """`model` imported once per process (again if the file changed): sweep points and compared
    designs, in-process or in worker processes, compile copies of it."""
    key = _import_key(model)
    if key not in _imports:
        module, _, base = load_model(model)
        remember_import(model, (module, base))
    return _imports[key]


def remember_import(model: str, imported: Imported) -> None:
    """Seed `import_once` with a model the caller imported already (forked workers inherit it)."""
    _imports.clear()
    _imports[_import_key(model)] = imported


def compile_model(
    model: str,
    target_name: str,
    output: Path,
    *,
    variant: str | None = None,
    config: Path | None = None,
    settings: tuple[str, ...] = (),
    callback: PassCallback | None = None,
) -> Compiled:
    """Compile `model` for a target into the program folder `output` (written atomically)."""
    target, chosen, hardware, spec = _resolve(target_name, variant, config, settings)
    with bar(pipeline_length(spec) + 3, f"compile {Path(model).name}", "step") as progress:
        built = _build(model, None, target, chosen, hardware, spec, callback, progress)
        progress.describe("write")
        start = time.perf_counter()
        try:
            write_package(output, built.program, built.constants, hardware, built.manifest)
        except ProgramError as e:
            raise SpikecError(str(e)) from None
        built.seconds["write"] = time.perf_counter() - start
        logger.info("write %s: %.3f s", output, built.seconds["write"])
        progress.advance()
    return Compiled(
        output,
        target.name,
        chosen,
        spec,
        len(built.program.instructions),
        sum(a.nbytes for a in built.constants.values()),
        built.seconds,
    )


def build_package(
    model: str,
    target_name: str,
    *,
    variant: str | None = None,
    settings: tuple[str, ...] = (),
    imported: Imported | None = None,
) -> tuple[Package, Target]:
    """Compile `model` in memory: the package `compile_model` would write and `open_program`
    read back, without the folder. `imported`: the model imported already (a copy of it is
    compiled), as a sweep compiles one model at many settings."""
    target, chosen, hardware, spec = _resolve(target_name, variant, None, settings)
    built = _build(model, imported, target, chosen, hardware, spec, None, Bar())
    manifest = full_manifest(built.program, hardware, built.manifest)
    where = Path(f"<{Path(model).name} for {target.name} ({chosen})>")
    return Package(built.program, built.constants, hardware, manifest, where), target


def _resolve(
    target_name: str, variant: str | None, config: Path | None, settings: tuple[str, ...]
) -> tuple[Target, str, Hardware, str]:
    """The target, the variant chosen, its hardware description and its pass pipeline."""
    target = get_target(target_name)
    try:
        chosen = target.check_variant(variant)
        hardware = target.hardware(config, settings)
    except ProgramError as e:
        raise SpikecError(str(e)) from None
    return target, chosen, hardware, target.backend.pipeline(chosen, hardware)


@dataclass
class _Built:
    program: Program
    constants: Mapping[str, np.ndarray]
    manifest: dict[str, Any]
    seconds: dict[str, float]


def _build(
    model: str,
    imported: Imported | None,
    target: Target,
    chosen: str,
    hardware: Hardware,
    spec: str,
    callback: PassCallback | None,
    progress: Bar,
) -> _Built:
    """Import (or copy `imported`), run the passes and lower: each stage timed, logged (-v) and
    a step of the bar."""
    seconds: dict[str, float] = {}
    progress.describe("import")
    start = time.perf_counter()
    if imported is None:
        module, _, base = load_model(model)
    else:
        module, base = imported[0].clone(), imported[1]
    timesteps = module_timesteps(module, model)
    seconds["import"] = time.perf_counter() - start
    progress.advance()
    start = time.perf_counter()
    if isinstance(callback, IRDumps):
        callback.check(spec)  # the passes it names exist, its dump folder is made
    run_pipeline(module, spec, callback, progress)
    seconds["passes"] = time.perf_counter() - start
    progress.describe("lowering")
    start = time.perf_counter()
    weights = WeightStore.for_module(module, base)  # with the weights the passes derived
    try:
        lowered = target.backend.lower(module, weights, chosen, hardware)
        target.machine.instruction_set.validate(lowered.program, f"<lowering of {model}>", hardware)
    except ProgramError as e:
        raise SpikecError(str(e), where=model) from None
    seconds["lowering"] = time.perf_counter() - start
    logger.info(
        "lowering for %s (%s): %.3f s, %d instructions",
        target.name,
        chosen,
        seconds["lowering"],
        len(lowered.program.instructions),
    )
    progress.advance()
    manifest: dict[str, Any] = {
        "spikec": __version__,
        "source": str(model),
        "pipeline": spec,
        "timesteps": timesteps,
        "inputs": lowered.inputs,
        "outputs": lowered.outputs,
        **({"mapping": lowered.extra} if lowered.extra else {}),
        **({"weight_plan": lowered.weight_plan} if lowered.weight_plan else {}),
    }
    return _Built(lowered.program, lowered.constants, manifest, seconds)
