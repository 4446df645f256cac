"""Layer names as MLIR locations: every op carries `loc("layer name")`.

SSA names are a printer's choice: MLIR tools renumber them (`%0`, `%1`, ...), so a layer name
kept only in `%b0.attn.q` is lost in a round trip through `mlir-opt`. A name location survives
it (and `mlir-opt --mlir-use-nameloc-as-prefix` names the values after it again). The importers
give each op the name of the layer it comes from; IR without locations (hand-written, or from an
older spikec) gets them from its SSA names when it is read, and ops a pass creates inherit
theirs the same way. Reports take layer names from locations first (`layer_name`).
"""

from __future__ import annotations

import re

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, NameLoc, NoneAttr, StringAttr
from xdsl.ir import Block, Operation, SSAValue


def layer_name(op: Operation) -> str | None:
    """The layer an op belongs to: its name location, else its first result's SSA name."""
    location = op.location
    if isinstance(location, NameLoc):
        return location.desc.data
    return next((r.name_hint for r in op.results if r.name_hint), None)


def value_layer(value: SSAValue) -> str | None:
    """The layer that produced a value (a block argument: its name location or name)."""
    if isinstance(value.owner, Operation):
        return layer_name(value.owner)
    location = getattr(value, "location", None)
    if isinstance(location, NameLoc):
        return location.desc.data
    return value.name_hint


def says_more(op: Operation) -> bool:
    """Whether an op's location tells what its SSA name and symbol do not (the custom form
    prints only those; the generic form, what MLIR tools read, prints every location)."""
    location = op.location
    return isinstance(location, NameLoc) and location.desc.data != _default_name(op)


def name_location(name: str) -> NameLoc:
    return NameLoc(StringAttr(name), NoneAttr())


def _default_name(op: Operation) -> str:
    hint = next((r.name_hint for r in op.results if r.name_hint), None)
    if hint:
        return hint
    symbol = op.properties.get("sym_name") or op.attributes.get("sym_name")
    if isinstance(symbol, StringAttr):
        return symbol.data
    if isinstance(op, func.ReturnOp):
        return "return"
    return op.name


def assign_locations(module: ModuleOp) -> None:
    """Give every op and block argument without a name location one (`_default_name`)."""
    for op in module.walk():
        if not isinstance(op.location, NameLoc) and not isinstance(op, ModuleOp):
            op.location = name_location(_default_name(op))
        for region in op.regions:
            for block in region.blocks:
                _name_arguments(block)


def locations_by_name(module: ModuleOp) -> dict[str, NameLoc]:
    """Each named value's op location, by the value's SSA name: what a pass's new ops inherit."""
    found: dict[str, NameLoc] = {}
    for op in module.walk():
        if isinstance(op.location, NameLoc):
            for result in op.results:
                if result.name_hint:
                    found.setdefault(result.name_hint, op.location)
    return found


def inherit_locations(module: ModuleOp, before: dict[str, NameLoc]) -> None:
    """Locate the ops a pass created after the value they come from: the one whose SSA name
    theirs is or extends, the longest such, with the same extension (a head `attn.h0` of
    `attn` located at "attn" is located at "attn.h0"; a neuron's `v1.lif_addr` of NIR layer
    "1.lif" at "1.lif_addr"); the rest after their own name (`assign_locations`)."""
    for op in module.walk():
        if isinstance(op.location, NameLoc) or isinstance(op, ModuleOp):
            continue
        hint = next((r.name_hint for r in op.results if r.name_hint), None)
        prefix = hint
        while prefix:
            if prefix in before:
                assert hint is not None
                op.location = name_location(before[prefix].desc.data + hint[len(prefix) :])
                break
            prefix = prefix[:-1]
    assign_locations(module)


def restore_names(module: ModuleOp) -> None:
    """Name the values an MLIR tool renumbered (`%0`) after their op's location, as
    `mlir-opt --mlir-use-nameloc-as-prefix` does: passes name the ops they create after the
    values they replace, and those names become the new ops' layers."""
    for op in module.walk():
        location = op.location
        if not isinstance(location, NameLoc):
            continue
        unnamed = [r for r in op.results if r.name_hint is None]
        for k, result in enumerate(unnamed):
            base = location.desc.data if len(op.results) == 1 else f"{location.desc.data}.{k}"
            result.name_hint = name_hint(base)
        for region in op.regions:
            for block in region.blocks:
                for arg in block.args:
                    if arg.name_hint is None and isinstance(arg.location, NameLoc):
                        arg.name_hint = name_hint(arg.location.desc.data)


def _name_arguments(block: Block) -> None:
    for arg in block.args:
        if not isinstance(arg.location, NameLoc):
            arg.location = name_location(arg.name_hint or f"arg{arg.index}")


def name_hint(name: str) -> str | None:
    """An SSA name hint from an ONNX value or NIR node name (keeps dots: `blocks.0.q`)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.$-]", "_", name).strip("_")
    cleaned = re.sub(r"_+", "_", cleaned)
    if not cleaned:
        return None
    if cleaned[0].isdigit():
        cleaned = "v" + cleaned
    return cleaned
