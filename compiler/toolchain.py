"""Compiling a model for a target and running the compiled program: the only module that sees
the frontend, the passes, a target and the runtime together.

    compile_model:  model (ONNX or IR) -> target pipeline -> lowering -> program folder
    build_package:  the same in memory (the package the folder would hold), from a model
                    imported once per process (import_once): what compare and sweep run
    run_program:    program folder + inputs -> outputs and the run's account
    execute_package: an opened (or built) package + inputs -> the run, in exact or hardware
                    numerics
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp

from compiler import __version__
from compiler.errors import SpikecError
from compiler.frontend.load import load_model
from compiler.ir.weights import WeightStore
from compiler.progress import Bar, bar, logger
from compiler.transforms.pipeline import IRDumps, PassCallback, pipeline_length, run_pipeline
from runtime.deviation import SpikeLog, accuracy, deviation
from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.interpreter import Observer, RunRecord, execute
from runtime.isa import Value
from runtime.memory_report import add_weight_plan
from runtime.package import Package, full_manifest, load_package, write_package
from runtime.program import Instruction, Program
from runtime.report import Report, build_report
from targets import load_target, target_names
from targets.target import Target


def get_target(name: str) -> Target:
    try:
        return load_target(name)
    except KeyError:
        raise SpikecError(
            f"unknown target '{name}' (targets: {', '.join(target_names())})"
        ) from None


def module_timesteps(module: ModuleOp, where: str) -> int:
    attr = module.attributes.get("spike.timesteps")
    if not isinstance(attr, IntegerAttr):
        raise SpikecError(
            "the module has no spike.timesteps attribute (the number of timesteps T)", where=where
        )
    return int(attr.value.data)


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
    return target, chosen, hardware, target.pipeline(chosen, hardware)


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
        lowered = target.lower(module, weights, chosen, hardware)
        target.instruction_set.validate(lowered.program, f"<lowering of {model}>", hardware)
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


def check_program_inputs(
    package: Package, inputs: Mapping[str, np.ndarray], sources: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """The inputs by program buffer, checked against the manifest's specs."""
    specs = {spec["name"]: spec for spec in package.manifest["inputs"]}
    missing = [n for n in specs if n not in inputs]
    extra = [n for n in inputs if n not in specs]
    if missing or extra:
        raise SpikecError(
            f"inputs do not match the program (missing {missing}, unknown {extra}); it takes "
            f"{list(specs)}",
            where=str(package.path),
        )
    by_buffer: dict[str, np.ndarray] = {}
    batch: int | None = None
    for name, spec in specs.items():
        array = inputs[name]
        declared = spec["shape"]
        if spec.get("repeated") and array.ndim == len(declared) - 1:
            array = np.ascontiguousarray(np.broadcast_to(array, (declared[0], *array.shape)))
        shape_ok = array.ndim == len(declared) and all(
            d is None or d == a for d, a in zip(declared, array.shape, strict=True)
        )
        if array.dtype != np.float32 or not shape_ok:
            dims = ", ".join("?" if d is None else str(d) for d in declared)
            raise SpikecError(
                f"input '{name}': expected float32 [{dims}], got {array.dtype} {list(array.shape)}",
                where=sources.get(name, str(package.path)),
            )
        found = next((a for d, a in zip(declared, array.shape, strict=True) if d is None), 1)
        if found == 0:
            raise SpikecError(f"input '{name}': the batch is empty", where=sources.get(name))
        if batch is not None and found != batch:
            raise SpikecError(f"input '{name}': batch {found}, another input has batch {batch}")
        batch = found
        by_buffer[spec["buffer"]] = array
    return by_buffer


def open_program(path: Path) -> tuple[Package, Target]:
    """A program folder, checked against its target's instruction set."""
    try:
        package = load_package(path)
    except ProgramError as e:
        raise SpikecError(str(e)) from None
    target = get_target(str(package.manifest["target"]))
    try:
        target.check_variant(str(package.manifest["variant"]))
        target.instruction_set.validate(
            package.program, str(path / "program.sasm"), package.hardware
        )
    except ProgramError as e:
        raise SpikecError(str(e)) from None
    return package, target


@dataclass
class RunOptions:
    """How `spikec run` executes a program."""

    numerics: str = "exact"
    seed: int = 0
    settings: tuple[str, ...] = ()
    """Hardware overrides for this run (`--set`), on top of the program's description."""
    labels: np.ndarray | None = None


@dataclass
class Run:
    outputs: dict[str, np.ndarray]
    """By model output name."""
    record: RunRecord
    report: Report
    """The account, with the sections this run adds (mapping, the numerics' deviation,
    accuracy, the target's own)."""

    @property
    def extra(self) -> dict[str, Any]:
        return self.report.extra


def run_program(
    path: Path, inputs: Mapping[str, np.ndarray], sources: Mapping[str, str] | None = None
) -> tuple[dict[str, np.ndarray], RunRecord]:
    """Execute a compiled program (exact numerics) on inputs by model input name; returns the
    outputs by model output name and the run record."""
    package, target = open_program(path)
    return run_package(package, target, inputs, sources)


def run_package(
    package: Package,
    target: Target,
    inputs: Mapping[str, np.ndarray],
    sources: Mapping[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], RunRecord]:
    """`run_program` on a program already opened (to run it on several inputs)."""
    run = execute_package(package, target, inputs, sources)
    return run.outputs, run.record


def execute_package(
    package: Package,
    target: Target,
    inputs: Mapping[str, np.ndarray],
    sources: Mapping[str, str] | None = None,
    options: RunOptions | None = None,
) -> Run:
    """Run an opened program; in hardware numerics, also in exact numerics, to report the
    deviation."""
    options = options or RunOptions()
    by_buffer = check_program_inputs(package, inputs, sources or {})
    try:
        target.check_numerics(options.numerics, package.program.variant)
        target.check_run_settings(options.settings)
        hardware = package.hardware.with_settings(options.settings)
    except ProgramError as e:
        raise SpikecError(str(e)) from None

    def once(numerics: str, log: SpikeLog | None) -> tuple[dict[str, np.ndarray], RunRecord]:
        program = package.program
        start = time.perf_counter()
        try:
            with bar(len(program.instructions), f"run ({numerics})", "instr") as progress:
                results, record = execute(
                    package.program,
                    target.instruction_set,
                    hardware,
                    package.constants,
                    by_buffer,
                    timesteps=int(package.manifest["timesteps"]),
                    clock_entry=target.clock_for(package.program.variant),
                    leakage_entries=target.leakage_for(package.program.variant),
                    numerics=numerics,
                    seed=options.seed,
                    observe=_observer(log, progress),
                    activations=target.activations(
                        hardware,
                        package.program.variant,
                        int(package.manifest["timesteps"]),
                        package.manifest.get("weight_plan"),
                    ),
                )
        except ProgramError as e:
            raise SpikecError(str(e), where=str(package.path)) from None
        logger.info(
            "run %s (%s numerics): %d instructions in %.3f s",
            package.path,
            numerics,
            len(program.instructions),
            time.perf_counter() - start,
        )
        _log_instructions(record, program)
        outputs = {name: results[buffer] for name, buffer in package.output_buffers().items()}
        return outputs, record

    extra: dict[str, Any] = {}
    if package.manifest.get("mapping"):
        extra["mapping"] = package.manifest["mapping"]
    if options.numerics == "exact":
        outputs, record = once("exact", None)
        if options.labels is not None:
            extra["accuracy"] = {"exact": accuracy(outputs, options.labels)}
    else:
        exact_log, observed_log = SpikeLog(package.program), SpikeLog(package.program)
        exact, _ = once("exact", exact_log)
        outputs, record = once(options.numerics, observed_log)
        extra["numerics"] = deviation(
            options.numerics, exact, outputs, exact_log, observed_log, options.labels
        )
    report = build_report(record)
    report.extra.update(extra)
    add_weight_plan(report.memory, package.manifest.get("weight_plan"), record.batch)
    if target.report is not None:
        report.extra.update(target.report(report, record, hardware))
    return Run(outputs, record, report)


def _observer(log: SpikeLog | None, progress: Bar) -> Observer | None:
    """What sees each executed instruction: the spike log (hardware numerics) and the bar;
    None when neither does (no call on the simulator's path)."""
    if not progress.shown:
        return log

    def observe(instruction: Instruction, results: list[Value]) -> None:
        if log is not None:
            log(instruction, results)
        progress.advance()

    return observe


def _log_instructions(record: RunRecord, program: Program) -> None:
    """Every executed instruction, its unit, cycles and energy (-vv)."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    for entry in record.records:
        line = program.instructions[entry.index].line
        energy = sum(item.picojoules for item in entry.cost.items)
        logger.debug(
            "#%d line %d %s on %s (%s): cycles %.0f..%.0f, %.4g pJ",
            entry.index,
            line,
            entry.opcode,
            entry.unit,
            entry.layer,
            entry.start,
            entry.end,
            energy,
        )
