"""Placing static weights on PCM crossbars, row-block-wise.

A weight matrix `[rows, columns]` (a linear layer's `[d_in, d_out]`, a convolution's
`[c_in/group * kh * kw, c_out/group]` per group) is cut into blocks of at most `crossbar.rows`
rows and `crossbar.columns / devices_per_weight` columns; each block occupies one crossbar of
its own. Blocks of the same rows share the input; the partial sums of different row blocks
are added digitally. Weights are stationary: every layer keeps its crossbars for the whole run,
so a model needing more crossbars than the description has is refused, never truncated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from runtime.errors import ProgramError
from runtime.hardware import Hardware


@dataclass(frozen=True)
class Block:
    crossbar: int
    rows: tuple[int, int]
    """Weight rows [start, end) on crossbar rows 0 .. end - start."""
    columns: tuple[int, int]
    """Weight columns [start, end), each on `devices_per_weight` adjacent crossbar columns."""
    group: int = 0


@dataclass(frozen=True)
class LayerPlan:
    layer: str
    shape: tuple[int, int]
    """Weight rows x columns of one group."""
    groups: int
    row_blocks: int
    column_blocks: int
    blocks: tuple[Block, ...]

    @property
    def crossbars(self) -> int:
        return len(self.blocks)

    def row_ranges(self) -> list[tuple[int, int]]:
        return sorted({b.rows for b in self.blocks})

    def attrs(self) -> dict[str, Any]:
        """The plan as instruction attributes."""
        return {
            "row_blocks": self.row_blocks,
            "column_blocks": self.column_blocks,
            "first_crossbar": self.blocks[0].crossbar,
            "rows_per_block": self.row_ranges()[0][1] - self.row_ranges()[0][0],
        }


class CrossbarMap:
    """Hands out crossbars in program order and keeps the plan of every layer."""

    def __init__(self, hardware: Hardware) -> None:
        self.rows = hardware.integer("crossbar.rows")
        self.columns = hardware.integer("crossbar.columns")
        self.devices = hardware.integer("pcm.devices_per_weight")
        self.available = hardware.integer("crossbar.count")
        if self.columns < self.devices:
            raise ProgramError(
                f"crossbar.columns ({self.columns}) cannot hold one weight of "
                f"pcm.devices_per_weight = {self.devices} devices"
            )
        self.plans: list[LayerPlan] = []
        self.used = 0
        self.overflow: str | None = None
        """The first layer that did not fit."""

    def place(self, layer: str, rows: int, columns: int, groups: int = 1) -> LayerPlan:
        per_row = self.rows
        per_column = self.columns // self.devices
        row_blocks = math.ceil(rows / per_row)
        column_blocks = math.ceil(columns / per_column)
        needed = groups * row_blocks * column_blocks
        if self.used + needed > self.available and self.overflow is None:
            self.overflow = layer
        blocks: list[Block] = []
        for g in range(groups):
            for r in range(row_blocks):
                for c in range(column_blocks):
                    blocks.append(
                        Block(
                            self.used + len(blocks),
                            (r * per_row, min(rows, (r + 1) * per_row)),
                            (c * per_column, min(columns, (c + 1) * per_column)),
                            g,
                        )
                    )
        plan = LayerPlan(layer, (rows, columns), groups, row_blocks, column_blocks, tuple(blocks))
        self.used += needed
        self.plans.append(plan)
        return plan

    def check(self) -> None:
        """Refuse a model that needs more crossbars than the description has."""
        if self.overflow is not None:
            raise ProgramError(
                f"the model needs {self.used} crossbars of {self.rows} x {self.columns} "
                f"({self.devices} devices per weight) but crossbar.count = {self.available}; "
                f"layer {self.overflow} is the first that does not fit. Weights are stationary: "
                f"raise it with --set crossbar.count={self.used}"
            )

    def summary(self) -> dict[str, Any]:
        """Crossbar count and utilisation, for the manifest and the report."""
        cells = self.rows * self.columns
        layers = []
        placed = 0
        for plan in self.plans:
            devices = plan.groups * plan.shape[0] * plan.shape[1] * self.devices
            placed += devices
            layers.append(
                {
                    "layer": plan.layer,
                    "shape": list(plan.shape),
                    "groups": plan.groups,
                    "crossbars": plan.crossbars,
                    "row_blocks": plan.row_blocks,
                    "column_blocks": plan.column_blocks,
                    "utilisation": devices / (plan.crossbars * cells),
                    "blocks": [
                        {
                            "crossbar": b.crossbar,
                            "group": b.group,
                            "rows": list(b.rows),
                            "columns": list(b.columns),
                        }
                        for b in plan.blocks
                    ],
                }
            )
        utilisation = placed / (self.used * cells) if self.used else 0.0
        return {
            "crossbars_used": self.used,
            "crossbars_available": self.available,
            "crossbar": [self.rows, self.columns],
            "devices_per_weight": self.devices,
            "utilisation": utilisation,
            "summary": (
                f"{self.used} of {self.available} crossbars ({self.rows} x {self.columns}, "
                f"{self.devices} devices per weight); array utilisation "
                f"{100 * utilisation:.1f} % of the crossbars used"
            ),
            "layers": layers,
        }
