"""What a target package provides to the driver.

A target is a design: its default hardware description (TOML in the package), its variants
(e.g. the paper's baseline), the pass pipeline that prepares `spike` IR for it (its capabilities
as pass options), the lowering from that IR to its instruction stream, and its instruction set
(semantics and cost of every opcode) for the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.ir.weights import WeightStore
from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.interpreter import RunRecord
from runtime.isa import InstructionSet, Value
from runtime.memory import Activations, Footprint
from runtime.program import BufferType, Program
from runtime.report import Report
from targets.workload import stored_bits

Lower = Callable[[ModuleOp, WeightStore, str, Hardware], "Lowered"]


@dataclass
class Lowered:
    program: Program
    constants: dict[str, np.ndarray]
    inputs: list[dict[str, Any]]
    """Per model input: name, buffer, shape (None for the batch), dtype."""
    outputs: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts of the mapping for the manifest and the report (e.g. crossbar use)."""
    weight_plan: dict[str, Any] = field(default_factory=dict)
    """Where the weights live (`targets.memory.WeightPlan.summary`), for the manifest."""


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    variants: dict[str, str]
    """variant -> what it models; the first is the default."""
    hardware_file: Path
    instruction_set: InstructionSet
    clock_entry: str
    leakage_entries: tuple[str, ...]
    pipeline: Callable[[str, Hardware], str]
    """(variant, hardware) -> the pass pipeline."""
    lower: Lower
    numerics: dict[str, str] = field(default_factory=lambda: {"exact": "the reference semantics"})
    """Numerics modes `spikec run --numerics` accepts -> what each models; `exact` first."""
    leakage_by_variant: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Leakage entries of variants whose chip differs (default: `leakage_entries`)."""
    clock_by_variant: dict[str, str] = field(default_factory=dict)
    """Clock entries of variants with a clock of their own (default: `clock_entry`)."""
    report: Callable[[Report, RunRecord, Hardware], dict[str, Any]] | None = None
    """Sections the target adds to a run's report (e.g. per-tier energy)."""
    activation_levels: dict[str, str] = field(default_factory=dict)
    """The on-chip level holding an activation of each buffer kind (`f32`, `spk`, `addr`);
    empty: activations take no modelled space."""
    activation_bits: str = "precision.activation_bits"
    """The entry giving a real activation's width."""
    footprint: Callable[[Hardware, str, int], Footprint] | None = None
    """(hardware, variant, timesteps) -> the bits a value holds, where `stored_bits` at
    `activation_bits` is not what the design stores."""
    compile_time: tuple[str, ...] = ()
    """Parameters (or tables, `units.`) that shape the compiled program: `spikec run --set`
    cannot change them."""

    def check_run_settings(self, settings: tuple[str, ...]) -> None:
        for setting in settings:
            key = setting.split("=", 1)[0].strip()
            if any(key == p or (p.endswith(".") and key.startswith(p)) for p in self.compile_time):
                raise ProgramError(
                    f"--set {setting}: {key} shapes the compiled program (its mapping or "
                    "pipeline); give it to `spikec compile --set` instead"
                )

    def activations(
        self, hardware: Hardware, variant: str, timesteps: int, weight_plan: dict[str, Any] | None
    ) -> Activations | None:
        """What the interpreter needs to place activations in the design's levels: their home
        levels, their footprint (the target's own, or `stored_bits` at `activation_bits`), and
        what the weight plan keeps of a level they share."""
        if not self.activation_levels:
            return None
        if self.footprint is not None:
            footprint = self.footprint(hardware, variant, timesteps)
        else:
            width = hardware.integer(self.activation_bits)

            def footprint(value: Value, declared: BufferType) -> float:
                return stored_bits(value, declared.kind, width)

        reserved: dict[str, float] = {}
        if weight_plan and weight_plan.get("level") in self.activation_levels.values():
            held = float(weight_plan["resident_bytes"]) + float(weight_plan["staging_bytes"])
            reserved[str(weight_plan["level"])] = 8 * held
        return Activations(self.activation_levels, footprint, reserved)

    def leakage_for(self, variant: str) -> tuple[str, ...]:
        return self.leakage_by_variant.get(variant, self.leakage_entries)

    def clock_for(self, variant: str) -> str:
        return self.clock_by_variant.get(variant, self.clock_entry)

    numerics_variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Numerics modes that only some variants have (default: every variant)."""

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

    def hardware(self, config: Path | None = None, settings: tuple[str, ...] = ()) -> Hardware:
        """The default description with the user's overrides applied."""
        hardware = Hardware.load(self.hardware_file)
        if config is not None:
            hardware = hardware.with_file(config)
        return hardware.with_settings(settings)
