"""The registry of targets: one package per accelerator design, found by name.

A target package's `__init__.py` declares `TARGET` (a `targets.target.Target`: name, variants,
hardware file and the modules of its compile and run sides, imported only when used). A design
is added by a package and one line: in `BUILTIN` for spikec's own, as an entry point of the
group `spikec.targets` for one in another distribution (`name = "package"` under
`[project.entry-points."spikec.targets"]` of its pyproject.toml), or by `register` at run time.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from targets.target import Target

BUILTIN = {
    "stacked3d": "targets.stacked3d",
    "xpikeformer": "targets.xpikeformer",
    "sparse": "targets.sparse",
}
"""spikec's own targets: name -> package."""

ENTRY_POINT_GROUP = "spikec.targets"

_registered: dict[str, str] = {}
_plugins: dict[str, str] | None = None


def register(name: str, package: str) -> None:
    """Make the target declared in `package` known as `name` (a plug-in, or a test's design)."""
    _registered[name] = package


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _packages() -> dict[str, str]:
    """Every known target (scanning the installed distributions' entry points, once)."""
    global _plugins
    if _plugins is None:
        _plugins = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**BUILTIN, **_plugins, **_registered}


def target_names() -> list[str]:
    return list(_packages())


def load_target(name: str) -> Target:
    """The target named `name`; raises KeyError for an unknown name (the CLI lists the known)."""
    from targets.target import Target

    package = _registered.get(name) or BUILTIN.get(name) or _packages()[name]
    target = getattr(importlib.import_module(package), "TARGET", None)
    if not isinstance(target, Target) or target.name != name:
        raise TypeError(f"{package}.TARGET is not a Target named '{name}'")
    return target
