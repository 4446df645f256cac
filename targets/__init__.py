"""One package per accelerator design: its hardware description (TOML data), its lowering from
`spike` IR to its instruction stream, and the semantics and cost of each instruction.

A target package exposes `TARGET` (a `targets.target.Target`); adding a design means adding a
package and naming it here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from targets.target import Target

PACKAGES = {
    "stacked3d": "targets.stacked3d",
    "xpikeformer": "targets.xpikeformer",
    "sparse": "targets.sparse",
}
"""Target name -> its package."""


def target_names() -> list[str]:
    return list(PACKAGES)


def load_target(name: str) -> Target:
    """The target named `name`; raises KeyError for an unknown name (the CLI lists the known)."""
    module = importlib.import_module(PACKAGES[name])
    target: Target = module.TARGET
    return target
