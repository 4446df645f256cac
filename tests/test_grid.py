"""The grid of a sweep: `--grid` text and `--grid-file` TOML, with ranges (`a:b:step`,
`a:b:*f`) written where a value would be; bad ranges exit 2 naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.errors import SpikecError
from compiler.explore.grid import expand_range, load_grid_file, parse_grid
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MOE = ROOT / "samples" / "moe.onnx"
MOE_INPUT = ROOT / "samples" / "moe_input.npy"


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("8:64:*2", ["8", "16", "32", "64"]),
        ("100:400:100", ["100", "200", "300", "400"]),
        ("3:10:3", ["3", "6", "9"]),  # b included only when reached
        ("0.1:0.5:0.1", ["0.1", "0.2", "0.3", "0.4", "0.5"]),  # no 0.30000000000000004
        ("1:2:0.25", ["1", "1.25", "1.5", "1.75", "2"]),
        ("0.3:30:*3", ["0.3", "0.9", "2.7", "8.1", "24.3"]),
        ("1e-3:1e-1:*10", ["0.001", "0.01", "0.1"]),
        ("1e-3:4e-3:1e-3", ["0.001", "0.002", "0.003", "0.004"]),
        ("5:5:1", ["5"]),
    ],
)
def test_ranges(text: str, values: list[str]) -> None:
    assert expand_range(text, "k") == values


def test_not_a_range() -> None:
    for text in ("8", "memory-on-logic", "a:b:c", "1:2", "1:2:3:4", "http://x"):
        assert expand_range(text, "k") is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a=5:1:1", "a=5:1:1: a range a:b:step needs a <= b and a step > 0"),
        ("a=1:5:0", "needs a <= b and a step > 0"),
        ("a=0:8:*2", "a geometric range needs 0 < a <= b and a factor > 1"),
        ("a=1:8:*1", "a factor > 1"),
        ("a=1:100000:1", "gives 100000 values (at most 1000)"),
        ("a=8:64:*2,16", "a has a value given twice"),
    ],
)
def test_bad_ranges(text: str, fragment: str) -> None:
    with pytest.raises(SpikecError, match=re.escape(fragment)):
        parse_grid(text)


def test_ranges_and_values_mix_in_text_and_toml(tmp_path: Path) -> None:
    expected = {"vector.lanes": ["8", "16", "32", "64", "100"], "clock.frequency": ["100", "200"]}
    assert parse_grid("vector.lanes=8:64:*2,100;clock.frequency=100:200:100") == expected
    grid_file = tmp_path / "sweep.toml"
    grid_file.write_text(
        '[grid]\n"vector.lanes" = ["8:64:*2", 100]\n"clock.frequency" = "100:200:100"\n'
    )
    assert load_grid_file(str(grid_file)) == expected
    grid_file.write_text('[grid]\n"vector.lanes" = "64:8:*2"\n')
    with pytest.raises(SpikecError) as error:
        load_grid_file(str(grid_file))
    assert str(grid_file) in str(error.value) and "a geometric range" in str(error.value)
    assert "--grid: " not in str(error.value)


def test_a_range_in_the_cli_is_a_grid_of_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, table, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--jobs", "1",
         "--grid", "vector.lanes=8:32:*2", "-o", tmp_path / "s.csv"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert [line.split()[0] for line in table.splitlines()[1:4]] == ["8", "16", "32"]
    code, out, err = run_cli(
        ["sweep", MOE, "-i", MOE_INPUT, "-t", "sparse", "--grid", "vector.lanes=32:8:*2",
         "-o", tmp_path / "t.csv"],
        capsys,
    )  # fmt: skip
    assert code == 2 and out == "" and "vector.lanes=32:8:*2" in err
    assert not (tmp_path / "t.csv").exists()
