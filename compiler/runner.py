"""Running a compiled program: open its folder, check its inputs, execute it on its target's
machine and build its report. This side of the toolchain imports no xDSL and no frontend, so that
`spikec run` starts quickly and runs where the compiler is not installed.

    open_program:    program folder -> the package, checked against its machine's instruction set
    run_program:     program folder + inputs -> outputs and the run record
    execute_package: an opened (or built) package + inputs -> the run, in exact or hardware
                     numerics
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import SpikecError
from compiler.progress import Bar, bar, logger
from runtime.deviation import SpikeLog, accuracy, deviation
from runtime.errors import ProgramError
from runtime.interpreter import Observer, RunRecord, execute
from runtime.isa import Value
from runtime.memory_report import add_weight_plan
from runtime.package import Package, load_package
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
        target.machine.instruction_set.validate(
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
    machine = target.machine
    by_buffer = check_program_inputs(package, inputs, sources or {})
    try:
        target.check_numerics(options.numerics, package.program.variant)
        target.machine.check_run_settings(options.settings)
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
                    machine.instruction_set,
                    hardware,
                    package.constants,
                    by_buffer,
                    timesteps=int(package.manifest["timesteps"]),
                    clock_entry=machine.clock_for(package.program.variant),
                    leakage_entries=machine.leakage_for(package.program.variant),
                    numerics=numerics,
                    seed=options.seed,
                    observe=_observer(log, progress),
                    activations=machine.activations(
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
    if machine.report is not None:
        report.extra.update(machine.report(report, record, hardware))
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
