"""The grid of a sweep: which values each hardware parameter takes.

    parse_grid:     'key=v1,v2;key2=a,b' -> the values of each key (`--grid`)
    load_grid_file: the same from a TOML file's [grid] table (`--grid-file`)
    expand_range:   'a:b:step' (a, a + step, ... up to b) and 'a:b:*f' (a, a f, a f², ... up to
                    b), written where a value would be, in either

Values stay text, as `--set key=value` takes them; the target checks them per point.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

from compiler.errors import SpikecError

MAX_RANGE = 1000
"""Values one range may give (a typo such as 1:1000000:1 should not start a million points)."""
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER}):({_NUMBER}):(\*?)({_NUMBER})$")


def expand_range(text: str, key: str) -> list[str] | None:
    """The values of a range `a:b:step` (linear, b included when reached) or `a:b:*f`
    (geometric, f > 1); None if `text` is not a range. Integers stay integers; other values are
    rounded to 12 significant digits (0.1 steps do not drift)."""
    match = _RANGE.match(text.strip())
    if match is None:
        return None
    first_text, last_text, geometric, step_text = match.groups()
    written = (first_text, last_text, step_text)
    integral = not any("." in t or "e" in t.lower() for t in written)
    first, last, step = float(first_text), float(last_text), float(step_text)
    example = f"(e.g. {key}=8:64:*2 or {key}=100:400:100)"
    if geometric:
        if not (first > 0 and step > 1 and last >= first):
            raise SpikecError(
                f"--grid: {key}={text}: a geometric range needs 0 < a <= b and a factor > 1 "
                f"{example}"
            )
        count = math.floor(math.log(last / first) / math.log(step) + 1e-9) + 1
        values = [first * step**i for i in range(count)] if count <= MAX_RANGE else []
    else:
        if step <= 0 or last < first:
            raise SpikecError(
                f"--grid: {key}={text}: a range a:b:step needs a <= b and a step > 0 {example}"
            )
        count = math.floor((last - first) / step + 1e-9) + 1
        values = [first + i * step for i in range(count)] if count <= MAX_RANGE else []
    if count > MAX_RANGE:
        raise SpikecError(f"--grid: {key}={text} gives {count} values (at most {MAX_RANGE})")
    if integral:
        return [str(round(v)) for v in values]
    return [_shortest(v) for v in values]


def _shortest(value: float) -> str:
    """`value` to 12 significant digits (0.1 + 0.2 gives 0.3, not 0.30000000000000004)."""
    text = repr(float(f"{value:.12g}"))
    return text[:-2] if text.endswith(".0") else text


def parse_grid(text: str) -> dict[str, list[str]]:
    """`key=v1,v2;key2=a,b` -> {key: [v1, v2], key2: [a, b]} (keys in order); a value may be a
    range (`expand_range`)."""
    grid: dict[str, list[str]] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, equals, values = part.partition("=")
        key = key.strip()
        written = [v.strip() for v in values.split(",")]
        if not equals or not key or not all(written):
            raise SpikecError(
                f"--grid: '{part}' is not key=value[,value...] (e.g. 'slu.lanes=32,64;"
                "clock.frequency=200,400')"
            )
        if key in grid:
            raise SpikecError(f"--grid: the key {key} is given twice")
        items = [v for item in written for v in (expand_range(item, key) or [item])]
        if len(set(items)) != len(items):
            raise SpikecError(f"--grid: {key} has a value given twice")
        grid[key] = items
    if not grid:
        raise SpikecError("--grid: the grid is empty (e.g. 'slu.lanes=32,64;clock.frequency=200')")
    return grid


def _toml_value(value: Any) -> str | None:
    """A grid value as `--grid` would spell it (None: not a scalar)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    return None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """`vector.lanes = [...]` (a dotted key, i.e. a sub-table) and `"vector.lanes" = [...]`
    both give the key vector.lanes."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def load_grid_file(path: str) -> dict[str, list[str]]:
    """A TOML file's `[grid]` table (each key a parameter, each value a non-empty list of
    values) -> {key: [values]}, as `parse_grid` gives for the same grid; a SpikecError naming
    the file for bad TOML, a missing or empty [grid], another top-level key or a bad value."""
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except OSError as e:
        raise SpikecError(f"--grid-file: cannot read it: {e.strerror}", where=path) from None
    except tomllib.TOMLDecodeError as e:
        raise SpikecError(f"--grid-file: not valid TOML: {e}", where=path) from None
    example = '(e.g. [grid] "vector.lanes" = [8, 16, 32])'
    others = [k for k in document if k != "grid"]
    if others:
        raise SpikecError(
            f"--grid-file: unknown top-level key(s) {', '.join(others)}: only a [grid] table "
            f"is read {example}",
            where=path,
        )
    table = document.get("grid")
    if not isinstance(table, dict):
        raise SpikecError(f"--grid-file: no [grid] table {example}", where=path)
    grid: dict[str, list[str]] = {}
    for key, values in _flatten(table):
        if key in grid:
            raise SpikecError(f"--grid-file: the key {key} is given twice", where=path)
        if isinstance(values, str) and _RANGE.match(values.strip()):
            values = [values]  # a range alone
        if not isinstance(values, list):
            raise SpikecError(
                f"--grid-file: {key} is {values!r}, not a list of values or a range (e.g. "
                f'{key} = [8, 16] or {key} = "8:64:*2")',
                where=path,
            )
        if not values:
            raise SpikecError(f"--grid-file: {key} has an empty list of values", where=path)
        written = [_toml_value(v) for v in values]
        if not all(written):
            raise SpikecError(
                f"--grid-file: {key}: each value must be a number, a string or a boolean",
                where=path,
            )
        try:
            items = [v for item in written if item for v in (expand_range(item, key) or [item])]
        except SpikecError as e:
            raise SpikecError(f"--grid-file: {e}".replace("--grid: ", ""), where=path) from None
        if len(set(items)) != len(items):
            raise SpikecError(f"--grid-file: {key} has a value given twice", where=path)
        grid[key] = items
    if not grid:
        raise SpikecError(f"--grid-file: the [grid] table is empty {example}", where=path)
    return grid
