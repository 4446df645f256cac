"""How a NIR graph is turned into a time-stepped program: the options every command that reads
a model takes (`--dt`, `--timesteps`, `--batch`, `--nir-discretisation`).

Kept apart from `nir_import` so that the CLI can set them without importing the `nir` package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

DISCRETISATIONS = ("auto", "snntorch", "norse", "nir")
"""`snntorch`: as `snntorch.import_nir` builds its neurons; `norse`: as `norse.torch.from_nir`
does; `nir`: forward Euler of NIR's equations; `auto`: snntorch where every neuron carries the
parameters `snntorch.export_nir` writes, else nir."""


@dataclass
class NirOptions:
    """What a NIR file leaves open: its time step, how long to run and how to discretise."""

    dt: float | None = None
    """Seconds per step; None: the file's metadata `dt`."""

    timesteps: int | None = None
    """Steps to run; None: the file's metadata `timesteps`."""

    batch: int | None = None
    """The batch size the program is built for; None: any (a dynamic dimension)."""

    discretisation: str = "auto"
    """One of `DISCRETISATIONS`; "auto" defers to the file's metadata `discretisation` first."""


options = NirOptions()
"""The options of this invocation, set by the CLI."""


@contextmanager
def using(chosen: NirOptions) -> Iterator[NirOptions]:
    """`options` set to `chosen` for the block (what a command's flags would set), then back."""
    saved = replace(options)
    for f in fields(NirOptions):
        setattr(options, f.name, getattr(chosen, f.name))
    try:
        yield options
    finally:
        for f in fields(NirOptions):
            setattr(options, f.name, getattr(saved, f.name))
