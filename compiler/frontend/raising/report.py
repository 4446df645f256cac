"""What the raising passes did: the patterns raised into `spike` ops, and the candidates left
as they were, each with the reason (`spikec import --explain` prints both)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Raised:
    kind: str
    """The spike function it became (LIF, IF, SSA, ...)."""
    name: str
    """The ONNX value it now computes."""
    details: str
    """Its parameters, as read from the graph."""
    nodes: int
    """How many ONNX nodes it replaces."""


@dataclass
class Left:
    node: str
    """The node the pattern was recognised at (name and type)."""
    reason: str


@dataclass
class RaiseReport:
    raised: list[Raised] = field(default_factory=list)
    left: list[Left] = field(default_factory=list)
    loops: int = 0
    """ONNX Loops over time unrolled into steps."""
    export_nodes: int = 0
    """Nodes of the export, time loops unrolled (what coverage figures count against)."""
    folded: int = 0
    """Nodes evaluated at import time (shape subgraphs, Identity, constant arithmetic)."""
    repeated_inputs: list[str] = field(default_factory=list)
    """Graph inputs that the model repeats over time (now taken time-major)."""
    untimed_inputs: list[str] = field(default_factory=list)
    """Inputs without a time axis, given one (`time_input.add_time_axes`); also repeated."""
    timesteps: int | None = None

    def count(self, kind: str) -> int:
        return sum(1 for r in self.raised if r.kind == kind)

    def lines(self) -> list[str]:
        """The explanation, one line a finding."""
        out = [f"folded {self.folded} constant nodes"]
        if self.loops:
            out.insert(0, f"unrolled {self.loops} time loops")
        for name in self.repeated_inputs:
            if name in self.untimed_inputs:
                out.append(
                    f"input '{name}' has no time axis: given one of T = {self.timesteps} "
                    "(the same values at every step), which the model reads at step 0"
                )
            else:
                out.append(f"input '{name}' is repeated over T = {self.timesteps} inside the model")
        kinds: dict[str, int] = {}
        for r in self.raised:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
        out.append(f"raised {summary}")
        for r in self.raised:
            out.append(f"  {r.kind:<8} {r.name}: {r.details} ({r.nodes} nodes)")
        out.append(f"left generic: {len(self.left)}")
        for item in self.left:
            out.append(f"  {item.node}: {item.reason}")
        return out
