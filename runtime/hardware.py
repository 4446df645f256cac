"""Hardware descriptions: the numbers a target's costs come from, each with its source.

A description is a TOML file whose every leaf is a table with a value and where it comes from:

    [energy.spike_linear]
    accumulate = { value = 0.05, unit = "pJ", source = "Horowitz, ISSCC 2014: int16 add, 45 nm" }

Entries are named by their dotted path (`energy.spike_linear.accumulate`), which is how costs
cite them in the energy ledger and how users override them: with a file of the same shape whose
leaves are plain values (or tables with a value and a source), or with `--set key=value`. An
override must name an existing entry and keep its type; energies, powers, counts and sizes are
never negative.
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
from dataclasses import dataclass, replace
from pathlib import Path

from runtime.errors import ProgramError

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
}
POSITIVE_UNITS = {"MHz", "GHz"}


@dataclass(frozen=True)
class Entry:
    key: str
    value: Value
    unit: str
    source: str
    minimum: float | None = None
    """Least value accepted (e.g. 1 for a number of lanes); overrides are checked against it."""
    maximum: float | None = None


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
        if isinstance(item, Mapping) and "value" not in item:
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


@dataclass(frozen=True)
class Hardware:
    name: str
    entries: dict[str, Entry]

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
            unknown = sorted(set(item) - {"value", "unit", "source", "note", "min", "max"})
            if unknown:
                raise ProgramError(f"{path}: {key}: unknown fields {unknown}")
            source = item.get("source")
            if not isinstance(source, str) or not source.strip():
                raise ProgramError(
                    f"{path}: {key}: missing source (a paper, a datasheet, or 'assumption: why')"
                )
            unit = str(item.get("unit", ""))
            value = _check_value(key, item.get("value"), unit, str(path))
            entry = Entry(
                key,
                value,
                unit,
                source,
                _bound(key, item, "min", str(path)),
                _bound(key, item, "max", str(path)),
            )
            _check_bounds(entry, value, str(path))
            entries[key] = entry
        return cls(str(name), entries)

    def __getitem__(self, key: str) -> Value:
        _note_read(key)
        return self.entries[key].value

    def number(self, key: str) -> float:
        _note_read(key)
        value = self.entries[key].value
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        return float(value)

    def integer(self, key: str) -> int:
        _note_read(key)
        value = self.entries[key].value
        assert isinstance(value, int) and not isinstance(value, bool), key
        return value

    def _override(self, key: str, value: Value, source: str, where: str) -> Hardware:
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
        entries[key] = replace(old, value=checked, source=source)
        return Hardware(self.name, entries)

    def with_file(self, path: Path) -> Hardware:
        """Apply an override file: leaves are values, or tables with a value (and a source)."""
        result = self
        for key, item in _leaves(_read_toml(path)):
            if key.startswith("meta."):
                continue
            value, source = item, f"override: {path}"
            if isinstance(item, Mapping):
                unknown = sorted(set(item) - {"value", "source", "note"})
                if unknown:
                    raise ProgramError(
                        f"{path}: {key}: unknown fields {unknown} (an override gives value and "
                        "source)"
                    )
                value = item.get("value")
                source = str(item.get("source", source))
            if not isinstance(value, int | float | bool | str):
                raise ProgramError(f"{path}: {key}: value must be a number, boolean or string")
            result = result._override(key, value, source, str(path))
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
            {k: [e.value, e.unit, e.source] for k, e in sorted(self.entries.items())},
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
            source = json.dumps(entry.source)
            lines.append(
                f"{_quoted_key(key)} = {{ value = {value}{unit}{bounds}, source = {source} }}"
            )
        return "\n".join(lines) + "\n"


def _quoted_key(key: str) -> str:
    return ".".join(
        part if part.replace("_", "").replace("-", "").isalnum() else json.dumps(part)
        for part in key.split(".")
    )
