"""Hardware descriptions: the numbers a target's costs come from, each with its source.

A description is a TOML file whose every leaf is a table with a value and where it comes from:

    [energy.spike_linear]
    accumulate = { value = 0.05, unit = "pJ", node = 45, vdd = 0.9, source = "Horowitz, ISSCC
                   2014: int16 add" }

Entries are named by their dotted path (`energy.spike_linear.accumulate`), which is how costs
cite them in the energy ledger and how users override them: with a file of the same shape whose
leaves are plain values (or tables with a value and a source), or with `--set key=value`. An
override must name an existing entry and keep its type; energies, powers, counts and sizes are
never negative.

An energy or power given at another process node says so with `node` (nm) and `vdd` (V): it is
priced at the design's `technology.node_nm` and `technology.vdd` by the C·V² rule
(`runtime.technology`). An entry may give a `rule` instead of a value: the value then follows
from other entries (an SRAM level's access energy and leakage from its capacity, `sram`), so that
resizing the level in a sweep changes its cost. An override gives the value as it is to be
used: it replaces the rule or the node of the entry it overrides.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path

from runtime.errors import ProgramError
from runtime.technology import node_factor, sram_read_64b

Value = int | float | bool | str

NON_NEGATIVE_UNITS = {
    "pJ",
    "pJ/bit",
    "pJ/op",
    "mW",
    "uW",
    "MHz",
    "GHz",
    "bytes",
    "bits",
    "kB",
    "cycles",
    "count",
    "mm2",
    "um",
    "ns",
    "nm",
    "V",
    "uW/kB",
}
POSITIVE_UNITS = {"MHz", "GHz", "nm", "V"}
RULES = ("sram",)
"""Rules an entry's value may follow from (`runtime.hardware.Hardware._rule`)."""
TECHNOLOGY_NODE = "technology.node_nm"
TECHNOLOGY_VDD = "technology.vdd"


@dataclass(frozen=True)
class Entry:
    key: str
    value: Value
    unit: str
    source: str
    minimum: float | None = None
    """Least value accepted (e.g. 1 for a number of lanes); overrides are checked against it."""
    maximum: float | None = None
    node: float | None = None
    """The process node (nm) the value is given at; None: the design's own, or no node."""
    vdd: float | None = None
    """The supply (V) the value is given at (with `node`)."""
    rule: str | None = None
    """The rule the value follows from (`RULES`); None: the value is given."""


def _check_bounds(entry: Entry, value: Value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if entry.minimum is not None and value < entry.minimum:
        raise ProgramError(f"{where}: {entry.key} must be at least {entry.minimum:g}, got {value}")
    if entry.maximum is not None and value > entry.maximum:
        raise ProgramError(f"{where}: {entry.key} must be at most {entry.maximum:g}, got {value}")


def _bound(key: str, item: Mapping[str, object], name: str, where: str) -> float | None:
    bound = item.get(name)
    if bound is None:
        return None
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        raise ProgramError(f"{where}: {key}: {name} must be a number, got {bound!r}")
    return float(bound)


def _check_value(key: str, value: object, unit: str, where: str) -> Value:
    if isinstance(value, bool | str):
        return value
    if not isinstance(value, int | float):
        raise ProgramError(
            f"{where}: {key}: value must be a number, a boolean or a string, got {value!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ProgramError(f"{where}: {key}: value must be finite, got {value}")
    if (unit in NON_NEGATIVE_UNITS or key.startswith("energy.")) and value < 0:
        raise ProgramError(f"{where}: {key}: {unit or 'energy'} cannot be negative, got {value}")
    if unit in POSITIVE_UNITS and value <= 0:
        raise ProgramError(f"{where}: {key}: must be positive, got {value}")
    return value


def _leaves(table: Mapping[str, object], prefix: str = "") -> Iterable[tuple[str, object]]:
    for name, item in table.items():
        key = f"{prefix}{name}"
        if isinstance(item, Mapping) and not {"value", "rule", "source"} & set(item):
            yield from _leaves(item, key + ".")
        else:
            yield key, item


def _read_toml(path: Path) -> dict[str, object]:
    if not path.is_file():
        raise ProgramError(f"{path}: no such hardware description")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ProgramError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ProgramError(f"{path}: not a text file") from None


def parse_value(text: str) -> Value:
    """A `--set` value: true/false, an integer, a number, or else a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if re.fullmatch(r"[+-]?\d+", text.strip()):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


_reads: ContextVar[set[str] | None] = ContextVar("hardware_reads", default=None)


@contextmanager
def recording_reads() -> Iterator[set[str]]:
    """The keys of the entries read (of any description) within: the parameters a compile and
    run depended on. A parameter nothing reads cannot change a figure: a sweep says so."""
    reads: set[str] = set()
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def _note_read(key: str) -> None:
    reads = _reads.get()
    if reads is not None:
        reads.add(key)


def _technology_field(key: str, item: Mapping[str, object], name: str, where: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProgramError(f"{where}: {key}: {name} must be a positive number, got {value!r}")
    return float(value)


def _entry(key: str, item: Mapping[str, object], where: str) -> Entry:
    """One entry of a description file, checked."""
    unknown = sorted(set(item) - {"value", "unit", "source", "note", "min", "max", *SCALING})
    if unknown:
        raise ProgramError(f"{where}: {key}: unknown fields {unknown}")
    source = item.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ProgramError(
            f"{where}: {key}: missing source (a paper, a datasheet, or 'assumption: why')"
        )
    unit = str(item.get("unit", ""))
    rule = item.get("rule")
    if rule is not None and rule not in RULES:
        raise ProgramError(f"{where}: {key}: unknown rule {rule!r} (rules: {', '.join(RULES)})")
    if rule is not None and "value" not in item:
        value: Value = 0.0  # follows from the rule
    else:
        value = _check_value(key, item.get("value"), unit, where)
    node = _technology_field(key, item, "node", where)
    vdd = _technology_field(key, item, "vdd", where)
    if (node is None) != (vdd is None):
        raise ProgramError(f"{where}: {key}: give both node and vdd, or neither")
    if node is not None and (isinstance(value, bool | str) or rule is not None):
        raise ProgramError(f"{where}: {key}: only a number given as a value has a node")
    entry = Entry(
        key,
        value,
        unit,
        source,
        _bound(key, item, "min", where),
        _bound(key, item, "max", where),
        node,
        vdd,
        str(rule) if rule is not None else None,
    )
    _check_bounds(entry, value, where)
    return entry


SCALING = ("node", "vdd", "rule")
"""Entry fields saying how its value is priced at the design's technology."""


@dataclass(frozen=True)
class Hardware:
    name: str
    entries: dict[str, Entry]
    _effective: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    """Values of numeric entries as priced at the design's technology (computed once)."""
    derived: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    """What modules compute once from the entries (e.g. the memory levels)."""

    @classmethod
    def load(cls, path: Path) -> Hardware:
        data = _read_toml(path)
        meta = data.get("meta", {})
        name = meta.get("name", path.stem) if isinstance(meta, Mapping) else path.stem
        entries: dict[str, Entry] = {}
        for key, item in _leaves({k: v for k, v in data.items() if k != "meta"}):
            if not isinstance(item, Mapping):
                raise ProgramError(
                    f'{path}: {key}: every entry is a table {{ value = ..., source = "..." }}'
                )
            entries[key] = _entry(key, item, str(path))
        hardware = cls(str(name), entries)
        hardware.check_technology(str(path))
        return hardware

    def check_technology(self, where: str) -> None:
        """Entries given at a node need the design's node; rules need their inputs."""
        scaled = [e.key for e in self.entries.values() if e.node is not None]
        missing = [k for k in (TECHNOLOGY_NODE, TECHNOLOGY_VDD) if k not in self.entries]
        if scaled and missing:
            raise ProgramError(
                f"{where}: {scaled[0]} is given at {self.entries[scaled[0]].node:g} nm but the "
                f"description has no {missing[0]} (the design's process)"
            )
        for entry in self.entries.values():
            if entry.rule is not None:
                try:
                    self.number(entry.key)
                except KeyError as e:
                    raise ProgramError(
                        f"{where}: {entry.key} follows rule {entry.rule!r}, which needs the "
                        f"entry {e.args[0]}"
                    ) from None

    def __getitem__(self, key: str) -> Value:
        _note_read(key)
        return self.entries[key].value

    def number(self, key: str) -> float:
        """The entry's value as priced at the design's technology (scaled from the node it is
        given at, or computed by its rule)."""
        _note_read(key)
        value = self._effective.get(key)
        if value is None:
            value = self._effective[key] = self._price(key)
        return value

    def _price(self, key: str) -> float:
        entry = self.entries[key]
        if entry.rule is not None:
            return self._rule(entry)
        value = entry.value
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        if entry.node is None or entry.vdd is None:
            return float(value)
        return float(value) * self.scale(entry)

    def scale(self, entry: Entry) -> float:
        """The C·V² factor from the entry's node to the design's (1 without a node)."""
        if entry.node is None or entry.vdd is None:
            return 1.0
        return node_factor(
            entry.node, entry.vdd, self.number(TECHNOLOGY_NODE), self.number(TECHNOLOGY_VDD)
        )

    def _rule(self, entry: Entry) -> float:
        """`sram`: a level's `read_energy`/`write_energy` (pJ per access of its `word_bits`) from
        Horowitz's SRAM points interpolated at its `capacity` (kB); its `leakage` (mW) as its
        capacity times `technology.sram_leakage` (uW/kB)."""
        level, _, field_name = entry.key.rpartition(".")
        capacity = self.number(f"{level}.capacity")
        if field_name == "leakage":
            return capacity * self.number("technology.sram_leakage") / 1000.0
        points = tuple(self.number(f"technology.sram_read_{p}") for p in ("8kb", "32kb", "1mb"))
        per_64 = sram_read_64b(capacity, points)  # type: ignore[arg-type]
        return per_64 * self.number(f"{level}.word_bits") / 64.0

    def integer(self, key: str) -> int:
        _note_read(key)
        value = self.entries[key].value
        assert isinstance(value, int) and not isinstance(value, bool), key
        return value

    def describe(self, key: str) -> str:
        """How the entry's value is priced: as given, scaled from a node, or by its rule."""
        entry = self.entries[key]
        unit = f" {entry.unit}" if entry.unit else ""
        if entry.rule is not None:
            return f"{self.number(key):.4g}{unit} by rule {entry.rule}"
        if entry.node is not None:
            return (
                f"{self.number(key):.4g}{unit} = {entry.value:g} at {entry.node:g} nm "
                f"{entry.vdd:g} V x {self.scale(entry):.3g} (C*V^2)"
            )
        return f"{entry.value}{unit}"

    def _override(
        self,
        key: str,
        value: Value,
        source: str,
        where: str,
        node: tuple[float, float] | None = None,
    ) -> Hardware:
        """The description with `key` set to `value`, used as given (or, with `node`, given at
        that node and supply)."""
        if key not in self.entries:
            close = difflib.get_close_matches(key, self.entries, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ProgramError(f"{where}: unknown hardware parameter '{key}'{hint}")
        old = self.entries[key]
        expected = type(old.value)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ProgramError(
                f"{where}: {key} is a {expected.__name__} ({old.value!r} {old.unit}), got {value!r}"
            )
        checked = _check_value(key, value, old.unit, where)
        _check_bounds(old, checked, where)
        entries = dict(self.entries)
        at = node or (None, None)
        entries[key] = replace(old, value=checked, source=source, node=at[0], vdd=at[1], rule=None)
        return Hardware(self.name, entries)

    def with_file(self, path: Path) -> Hardware:
        """Apply an override file: leaves are values, or tables with a value (and a source)."""
        result = self
        for key, item in _leaves(_read_toml(path)):
            if key.startswith("meta."):
                continue
            value, source = item, f"override: {path}"
            if isinstance(item, Mapping):
                unknown = sorted(set(item) - {"value", "source", "note", "node", "vdd"})
                if unknown:
                    raise ProgramError(
                        f"{path}: {key}: unknown fields {unknown} (an override gives value and "
                        "source, and node and vdd for a value given at another process node)"
                    )
                value = item.get("value")
                source = str(item.get("source", source))
                node_nm = _technology_field(key, item, "node", str(path))
                vdd = _technology_field(key, item, "vdd", str(path))
                if (node_nm is None) != (vdd is None):
                    raise ProgramError(f"{path}: {key}: give both node and vdd, or neither")
                at = (node_nm, vdd) if node_nm is not None and vdd is not None else None
            else:
                at = None
            if not isinstance(value, int | float | bool | str):
                raise ProgramError(f"{path}: {key}: value must be a number, boolean or string")
            result = result._override(key, value, source, str(path), at)
        return result

    def with_settings(self, settings: Iterable[str]) -> Hardware:
        """Apply `key=value` settings (the CLI's --set)."""
        result = self
        for setting in settings:
            if "=" not in setting:
                raise ProgramError(f"--set {setting}: expected key=value")
            key, text = setting.split("=", 1)
            result = result._override(
                key.strip(), parse_value(text), f"override: --set {setting}", f"--set {setting}"
            )
        return result

    def digest(self) -> str:
        canonical = json.dumps(
            {
                k: [e.value, e.unit, e.source, e.node, e.vdd, e.rule]
                for k, e in sorted(self.entries.items())
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_toml(self) -> str:
        """The resolved description, in the same format (written into compiled programs)."""
        lines = [f"meta.name = {json.dumps(self.name)}"]  # root-level keys: no table header
        for key, entry in self.entries.items():
            value = (
                ("true" if entry.value else "false")
                if isinstance(entry.value, bool)
                else json.dumps(entry.value)
            )
            unit = f", unit = {json.dumps(entry.unit)}" if entry.unit else ""
            bounds = "".join(
                f", {name} = {bound!r}"
                for name, bound in (("min", entry.minimum), ("max", entry.maximum))
                if bound is not None
            )
            scaling = "".join(
                f", {name} = {json.dumps(given)}"
                for name, given in (("node", entry.node), ("vdd", entry.vdd), ("rule", entry.rule))
                if given is not None
            )
            source = json.dumps(entry.source)
            lines.append(
                f"{_quoted_key(key)} = {{ value = {value}{unit}{bounds}{scaling}, "
                f"source = {source} }}"
            )
        return "\n".join(lines) + "\n"


def _quoted_key(key: str) -> str:
    return ".".join(
        part if part.replace("_", "").replace("-", "").isalnum() else json.dumps(part)
        for part in key.split(".")
    )
