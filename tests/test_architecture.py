"""The rules of the house (CONTRIBUTING.md), checked: no import cycles and layers that import
only downwards, `spikec run` loading no compiler, every op of the dialect with semantics on every
target, and a design added as one package plus one registry line (`tests/duo`)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import targets
from compiler.dialects.spike import Spike
from compiler.dialects.spike.computes import Computes, semantics_of
from compiler.frontend.load import load_model
from compiler.frontend.nir_options import NirOptions, using
from compiler.interpreters.reference import evaluate, input_names
from compiler.interpreters.spike import SpikeFunctions
from compiler.runner import RunOptions, execute_package
from compiler.toolchain import build_package
from runtime.ops import SEMANTICS
from targets.backend import OpcodeTable
from tests.conftest import REPO, bundled_models

PACKAGES = ("compiler", "runtime", "targets")

CODE = ("*.py", "*.toml", "*.cfg", "*.lark", "Makefile", ".ci/*")
"""What a design could have to touch besides its package: code, build and CI files."""

STRUCTURAL = {
    "spike.constant": "a value, held by the lowering as a constant buffer",
    "spike.weight": "a weight, held by the lowering as a constant buffer",
    "spike.global": "a weight's declaration at module level",
    "spike.moe": "split by partition-experts or decompose{ops=moe} before lowering",
    "spike.yield": "the terminator of spike.moe's expert bodies",
}
"""Dialect ops that are not computations of the runtime, and what becomes of them."""


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path, name: str, deferred: bool) -> Iterator[str]:
    """The project modules `path` imports: at import time, or (`deferred`) anywhere; never
    those under `if TYPE_CHECKING:`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                for alias in node.names:
                    yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if deferred:
                    yield from visit(node.body)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
                for field in ("body", "orelse", "finalbody"):
                    yield from visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    yield from visit(handler.body)

    for imported in visit(ast.parse(path.read_text()).body):
        while imported and imported not in MODULES and "." in imported:
            imported = imported.rpartition(".")[0]
        if imported in MODULES and imported != name:
            yield imported


def _graph(deferred: bool, depth: int | None) -> dict[str, set[str]]:
    def node(name: str) -> str:
        return name if depth is None else ".".join(name.split(".")[:depth])

    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for imported in _imports(path, name, deferred):
            if node(imported) != node(name):
                graph.setdefault(node(name), set()).add(node(imported))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for following in sorted(graph.get(node, ())):
            if state.get(following) == 1:
                return [*path[path.index(following) :], following]
            if following not in state and (found := visit(following)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    """Modules as Python imports them, and the subpackages (compiler.ir, targets.sparse, ...)
    with deferred imports too: a package may reach into itself lazily (the dialect's
    canonicalisation trait), never into one that reaches back."""
    assert _cycle(_graph(deferred=False, depth=None)) is None
    assert _cycle(_graph(deferred=True, depth=2)) is None


def test_the_graph_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("runtime", ("compiler", "targets", "xdsl")),
        ("compiler.dialects", ("compiler.", "targets")),
        ("compiler.formats", ("compiler.", "targets", "xdsl")),
        ("compiler.ir", ("compiler.frontend", "compiler.transforms", "compiler.explore")),
        ("compiler.transforms", ("compiler.frontend", "compiler.explore", "targets")),
        ("compiler.interpreters", ("compiler.frontend", "compiler.explore", "targets")),
    ],
)
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]) -> None:
    allowed = ("compiler.errors", "compiler.progress", "compiler.dialects", "compiler.formats")
    wrong = []
    members = [n for n in MODULES if n == layer or n.startswith(layer + ".")]
    assert members, layer
    for name in members:
        path = MODULES[name]
        tree = ast.parse(path.read_text())
        names = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        for imported in names:
            inside = imported == layer or imported.startswith(layer + ".")
            ok = inside or (layer.startswith("compiler.") and imported.startswith(allowed))
            if not ok and imported.startswith(forbidden):
                wrong.append(f"{name} imports {imported}")
    assert not wrong


def test_run_loads_no_compiler(tmp_path: Path) -> None:
    """`spikec run` imports no xDSL, no dialect, no frontend and no ONNX: the run side of a
    target and the runtime only."""
    program = tmp_path / "sdt.sparse"
    compile_args = ["-q", "compile", "samples/sdt.onnx", "-t", "sparse", "-o", str(program)]
    code = subprocess.run(
        [sys.executable, "-m", "compiler.cli", *compile_args], cwd=REPO, capture_output=True
    ).returncode
    assert code == 0
    script = (
        "import sys\n"
        "from compiler.cli import main\n"
        f"sys.argv = ['spikec', '-q', 'run', {str(program)!r}, '-i', 'samples/sdt_input.npy']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = done.stdout.splitlines()[-1].split()
    assert "runtime.interpreter" in loaded and "targets.sparse.machine" in loaded
    heavy = ("xdsl", "onnx", "compiler.dialects", "compiler.frontend", "compiler.ir.weights")
    assert [m for m in loaded if m.startswith(heavy)] == []
    assert "targets.sparse.backend" not in loaded and "compiler.toolchain" not in loaded


def test_every_op_has_semantics_and_an_instruction_on_every_target() -> None:
    """One source of truth per op: each computing op of the dialect names its entry of the
    runtime's semantics (trait `Computes`), the reference interpreter runs that entry, and on
    every target its lowering's table gives opcodes computing it, or the machine states a
    refusal."""
    names = {op.name for op in Spike.operations}
    assert set(STRUCTURAL) <= names
    computing = [op for op in Spike.operations if op.name not in STRUCTURAL]
    assert all(semantics_of(op) == op.name.removeprefix("spike.") for op in computing)
    assert all(semantics_of(op) is None for op in Spike.operations if op.name in STRUCTURAL)
    computed = {op.name.removeprefix("spike.") for op in computing}
    assert computed <= set(SEMANTICS), computed - set(SEMANTICS)
    interpreted = {op.name for op, _ in SpikeFunctions._impls()}
    assert names - {"spike.global"} <= interpreted
    for name in targets.target_names():
        target = targets.load_target(name)
        machine, table = target.machine, target.backend.opcodes
        covered = {o.op for o in machine.instruction_set.opcodes.values()}
        assert computed <= covered | set(machine.refuses), name
        assert computed <= set(table.ops) | set(machine.refuses), name
        for op, opcodes in table.ops.items():
            assert all(machine.instruction_set.opcodes[o].op == op for o in opcodes), name


def test_an_op_must_name_semantics_the_runtime_has() -> None:
    with pytest.raises(ValueError, match=r"Computes\('lfi'\): runtime.ops has no such"):
        Computes("lfi")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ops": {"add": ("VEC.ADD", "RES.NOPE")}}, r"RES.NOPE \(for add\) is not an opcode"),
        ({"ops": {"add": ("VEC.SUB",)}}, r"VEC.SUB computes sub, not add"),
        ({"ops": {"lif": ()}, "drop": "add"}, r"no opcode lowers add, and the machine does not"),
        ({"transfers": ("VEC.ADD",)}, r"transfer VEC.ADD computes add"),
    ],
)
def test_a_lowering_table_the_machine_cannot_run_is_refused_at_load(
    change: dict[str, Any], message: str
) -> None:
    """A lowering's opcode table is checked against its machine when the compile side loads,
    not when a program first runs."""
    target = targets.load_target("sparse")
    table = target.backend.opcodes
    ops = {k: v for k, v in table.ops.items() if k != change.get("drop")} | change.get("ops", {})
    wrong = OpcodeTable(ops, change.get("transfers", table.transfers))
    with pytest.raises(TypeError, match=message):
        wrong.check("sparse", target.machine)
    table.check("sparse", target.machine)


def test_a_lowering_emits_only_what_its_table_gives() -> None:
    """An opcode a lowering emits for an op its table does not give it is an internal error,
    raised while compiling."""
    from runtime.errors import ProgramError
    from targets.sparse.lowering import OPCODES, SparseLowering

    bundled = bundled_models()["sdt"]
    module, weights, _ = load_model(str(bundled.path))
    narrowed = OpcodeTable({**OPCODES.ops, "lif": ("VEC.LIF",)}, OPCODES.transfers)
    lowering = type("Narrowed", (SparseLowering,), {"opcodes": narrowed})
    with pytest.raises(ProgramError, match=r"emits ENC.LIF for lif, which its opcode table"):
        lowering(module, weights, "sparse", "dense").run()


@pytest.fixture(scope="module")
def duo() -> Iterator[str]:
    assert "duo" not in targets.target_names()
    targets.register("duo", "tests.duo")
    yield "duo"
    targets.unregister("duo")


@pytest.mark.parametrize("model", sorted(bundled_models()))
def test_a_registered_test_target_runs_every_bundled_model(duo: str, model: str) -> None:
    """A fourth design is a package (tests/duo) and one line (`targets.register`): it compiles
    and runs every bundled model, and its outputs are the reference interpreter's."""
    bundled = bundled_models()[model]
    with using(bundled.nir or NirOptions()):
        module, weights, base = load_model(str(bundled.path))
        (name,) = input_names(module)
        x = bundled.input.astype(np.float32)
        expected = evaluate(module, weights, {name: x})
        package, target = build_package(str(bundled.path), duo, imported=(module, base))
        run = execute_package(package, target, {name: x}, None, RunOptions())
    assert target.name == "duo" and run.report.target == "duo"
    assert {u["unit"] for u in run.report.per_unit} <= {"mac", "vec"}
    assert run.report.totals["energy_pj"] > 0
    for key, value in expected.items():
        np.testing.assert_array_equal(run.outputs[key], value)


def test_the_test_target_is_named_nowhere_else() -> None:
    """Adding duo changed no code outside its package and this test (the docs cite it as the
    example of a design)."""
    listed = subprocess.run(
        ["git", "grep", "-l", "-e", "tests.duo", "-e", "tests/duo", "--", *CODE],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    outside = [f for f in listed if not f.startswith("tests/duo/")]
    assert outside in ([], ["tests/test_architecture.py"])


def test_a_cost_on_a_component_the_design_does_not_declare_is_refused(duo: str) -> None:
    """The runtime knows no design's components: one a design's costs use without declaring it
    (here stacked3d's `noc` on duo) is an error of the design, not a silent new column."""
    from runtime.errors import ProgramError
    from runtime.report import build_report

    bundled = bundled_models()["sdt"]
    package, target = build_package(str(bundled.path), duo)
    run = execute_package(package, target, {"x": bundled.input}, None, RunOptions())
    assert run.record.components == ("compute", "sram", "dram", "leakage")
    spender = next(r for r in run.record.records if r.cost.items)
    spender.cost.items[0].component = "noc"
    with pytest.raises(ProgramError, match=r"spend energy on noc, which target duo does not"):
        build_report(run.record)
