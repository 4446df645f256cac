"""What the raising passes did: the patterns raised into `spike` ops, and the candidates left
as they were, each with the reason (`spikec import --explain` prints both)."""

from __future__ import annotations

from dataclasses import dataclass, field


class NotRaised(Exception):
    """A pattern was recognised but is not raised; the message says why (it becomes the
    `Left` entry's reason)."""


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
class PassRecord:
    """What one raising pass did."""

    name: str
    raised: list[Raised] = field(default_factory=list)
    left: list[Left] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Its other findings (nodes folded, inputs taken time-major, ...)."""

    def lines(self) -> list[str]:
        kinds: dict[str, int] = {}
        for r in self.raised:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        found = [f"raised {', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}"] * bool(kinds)
        head = "; ".join([*self.notes, *found]) or "nothing found"
        out = [f"[{self.name}] {head}"]
        out += [f"  {r.kind:<8} {r.name}: {r.details} ({r.nodes} nodes)" for r in self.raised]
        out += [f"  left {item.node}: {item.reason}" for item in self.left]
        return out


@dataclass
class RaiseReport:
    raised: list[Raised] = field(default_factory=list)
    left: list[Left] = field(default_factory=list)
    passes: list[PassRecord] = field(default_factory=list)
    """The passes run, in order, each with what it raised and left."""
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

    def withdraw(self, node: str) -> None:
        """Drop what was left at `node`: a later pass raised it, or says why better."""
        self.left = [item for item in self.left if item.node != node]
        for record in self.passes:
            record.left = [item for item in record.left if item.node != node]

    def lines(self) -> list[str]:
        """The explanation: per pass what it found, raised and left; then the totals."""
        out = [f"raising passes: {', '.join(p.name for p in self.passes)}"]
        for record in self.passes:
            out += record.lines()
        kinds: dict[str, int] = {}
        for r in self.raised:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
        out.append(f"raised {summary}; left generic: {len(self.left)}")
        return out
