"""What a target is: a small spec (`Target`: name, variants, hardware file) naming the modules of
its two sides, which are imported only when needed.

    compile side (`Backend`, the module `Target.backend_module`): the pass pipeline that prepares
        `spike` IR for the design, the lowering to its instruction stream and the table of the
        opcodes it emits; it imports xDSL and the compiler.
    run side (`Machine`, the module `Target.machine_module`): the instruction set (semantics and
        cost of every opcode), clocks, leakage, numerics modes, energy components and report
        sections; it imports the runtime only, so that `spikec run` loads no compiler.

A target package's `__init__.py` declares `TARGET = Target(...)`; `targets.load_target` finds it
by name in the registry (`targets/__init__.py`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import ProgramError
from runtime.hardware import Hardware

if TYPE_CHECKING:
    from targets.backend import Backend
    from targets.machine import Machine


@dataclass
class Target:
    name: str
    description: str
    variants: dict[str, str]
    """variant -> what it models; the first is the default."""
    hardware_file: Path
    """The default hardware description (TOML)."""
    machine_module: str
    """The module whose `MACHINE` is the run side."""
    backend_module: str
    """The module whose `BACKEND` is the compile side."""
    numerics: dict[str, str] = field(default_factory=lambda: {"exact": "the reference semantics"})
    """Numerics modes `spikec run --numerics` accepts -> what each models; `exact` first."""
    numerics_variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Numerics modes that only some variants have (default: every variant)."""

    @cached_property
    def machine(self) -> Machine:
        from targets.machine import Machine

        machine = getattr(importlib.import_module(self.machine_module), "MACHINE", None)
        if not isinstance(machine, Machine):
            raise TypeError(f"target {self.name}: {self.machine_module}.MACHINE is not a Machine")
        machine.check(self)
        return machine

    @cached_property
    def backend(self) -> Backend:
        from targets.backend import Backend

        backend = getattr(importlib.import_module(self.backend_module), "BACKEND", None)
        if not isinstance(backend, Backend):
            raise TypeError(f"target {self.name}: {self.backend_module}.BACKEND is not a Backend")
        backend.opcodes.check(self.name, self.machine)
        return backend

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    def check_variant(self, variant: str | None) -> str:
        chosen = variant or self.default_variant
        if chosen not in self.variants:
            raise ProgramError(
                f"target {self.name} has no variant '{chosen}' (variants: "
                f"{', '.join(self.variants)})"
            )
        return chosen

    def check_numerics(self, numerics: str, variant: str) -> str:
        if numerics not in self.numerics:
            raise ProgramError(
                f"target {self.name} has no numerics mode '{numerics}' (modes: "
                f"{', '.join(self.numerics)})"
            )
        allowed = self.numerics_variants.get(numerics)
        if allowed is not None and variant not in allowed:
            raise ProgramError(
                f"numerics '{numerics}' models the {', '.join(allowed)} variant of target "
                f"{self.name}; this program is its {variant} variant"
            )
        return numerics

    def hardware(self, config: Path | None = None, settings: tuple[str, ...] = ()) -> Hardware:
        """The default description with the user's overrides applied."""
        hardware = Hardware.load(self.hardware_file)
        if config is not None:
            hardware = hardware.with_file(config)
        return hardware.with_settings(settings)
