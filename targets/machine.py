"""A target's run side: what the runtime needs to execute and account a program of the design.

The runtime knows no design by name: a machine brings its instruction set (with the energy
components its costs use beside the common ones), its clock and leakage entries, where its
activations live, the report sections it adds and how to draw them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.interpreter import RunRecord
from runtime.isa import InstructionSet, Value
from runtime.memory import Activations, Footprint
from runtime.ops import SEMANTICS
from runtime.program import BufferType
from runtime.report import Report
from targets.workload import stored_bits

if TYPE_CHECKING:
    from targets.target import Target

Section = Callable[[Any], str]
"""Draws one section of a run's report as text (`runtime.report.render_table`)."""


@dataclass(frozen=True)
class Machine:
    instruction_set: InstructionSet
    clock_entry: str
    leakage_entries: tuple[str, ...]
    leakage_by_variant: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Leakage entries of variants whose chip differs (default: `leakage_entries`)."""
    clock_by_variant: dict[str, str] = field(default_factory=dict)
    """Clock entries of variants with a clock of their own (default: `clock_entry`)."""
    report: Callable[[Report, RunRecord, Hardware], dict[str, Any]] | None = None
    """Sections the design adds to a run's report (e.g. per-tier energy)."""
    sections: Mapping[str, Section] = field(default_factory=dict)
    """How the table report draws the design's sections, by name (others print plainly)."""
    area: Callable[[Report], float | None] | None = None
    """The design's area in mm² from its report, where the report gives one."""
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
    refuses: Mapping[str, str] = field(default_factory=dict)
    """Ops of the runtime's semantics (`runtime.ops.SEMANTICS`) the design has no instruction
    for -> why (what the compiler does instead, or what the user sees)."""

    def check(self, target: Target) -> None:
        """What a machine must hold, checked when it is loaded: its instruction set is its
        target's, and every op of the runtime's semantics has an opcode or a stated refusal."""
        if self.instruction_set.target != target.name:
            raise TypeError(
                f"target {target.name}: its instruction set is target "
                f"'{self.instruction_set.target}'s"
            )
        covered = {o.op for o in self.instruction_set.opcodes.values() if o.op is not None}
        missing = [op for op in SEMANTICS if op not in covered and op not in self.refuses]
        if missing:
            raise TypeError(
                f"target {target.name}: no opcode computes {', '.join(missing)}, and the "
                "machine does not say why (Machine.refuses)"
            )

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
        levels, their footprint (the design's own, or `stored_bits` at `activation_bits`), and
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
