"""The runtime: `.sasm` parsing and printing, hardware descriptions, the interpreter's timeline
and the cost invariants of an instruction (on the sparse target's spike linear unit)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from runtime.asm import parse_program, print_program
from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.interpreter import RunRecord, execute
from runtime.report import build_report
from targets import load_target

SPARSE = load_target("sparse")

LINEAR_PROGRAM = """.target sparse {variant}
.input %s : spk[4,?,8,16]
.const @w : f32[16,32]
.const @b : f32[32]
.output %y.out : f32[4,?,8,32]
.buffer %a : addr[4,?,8 : 16]
.buffer %y : f32[4,?,8,32]
{pack}slu: SLU.ACC {source}, @w, @b -> %y layer="fc"
dma: DMA.STORE_OUTPUT %y -> %y.out layer="out"
"""


def linear_program(variant: str) -> str:
    """A spike linear layer: input spikes packed into addresses (sparse) or read as a bitmap."""
    if variant == "sparse":
        return LINEAR_PROGRAM.format(
            variant="sparse", pack='enc: ENC.PACK %s -> %a layer="pack"\n', source="%a"
        )
    return LINEAR_PROGRAM.format(variant="dense", pack="", source="%s").replace(
        ".buffer %a : addr[4,?,8 : 16]\n", ""
    )


def run_linear(spikes: np.ndarray, variant: str = "sparse") -> tuple[np.ndarray, RunRecord]:
    program = parse_program(linear_program(variant), "linear.sasm")
    SPARSE.machine.instruction_set.validate(program, "linear.sasm", SPARSE.hardware())
    rng = np.random.default_rng(0)
    constants = {
        "@w": np.round(rng.normal(size=(16, 32)) * 64).astype(np.float32) / 64,
        "@b": np.round(rng.normal(size=32) * 64).astype(np.float32) / 64,
    }
    outputs, record = execute(
        program,
        SPARSE.machine.instruction_set,
        SPARSE.hardware(),
        constants,
        {"%s": spikes.astype(np.float32)},
        timesteps=4,
        clock_entry=SPARSE.machine.clock_entry,
        leakage_entries=SPARSE.machine.leakage_entries,
    )
    expected = spikes.astype(np.float32) @ constants["@w"] + constants["@b"]
    np.testing.assert_array_equal(outputs["%y.out"], expected)
    return outputs["%y.out"], record


def spikes_at(rate: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((4, 2, 8, 16)) < rate).astype(np.float32)


def slu(record: RunRecord) -> tuple[float, float, dict[str, float]]:
    """Cycles, energy and energy by hardware entry of the SLU.ACC instruction."""
    (ins,) = [r for r in record.records if r.opcode == "SLU.ACC"]
    entries: dict[str, float] = {}
    for item in ins.cost.items:
        entries[item.entry] = entries.get(item.entry, 0.0) + item.picojoules
    return ins.cost.cycles, sum(entries.values()), entries


# -- .sasm -----------------------------------------------------------------------------------------


def test_printer_round_trips() -> None:
    program = parse_program(linear_program("sparse"), "linear.sasm")
    text = print_program(program)
    again = parse_program(text, "printed.sasm")
    assert print_program(again) == text
    assert again.buffers == program.buffers
    assert [(i.unit, i.opcode, i.inputs, i.outputs, i.attrs) for i in again.instructions] == [
        (i.unit, i.opcode, i.inputs, i.outputs, i.attrs) for i in program.instructions
    ]


def test_attribute_values_round_trip() -> None:
    text = (
        ".target sparse sparse\n.input %x : f32[4,?,8]\n.output %y : f32[4,?,8]\n"
        'vec: VEC.SCALE %x -> %y factor=-0.25 layer="a \\"quoted\\" name"\n'
    )
    program = parse_program(text)
    assert program.instructions[0].attrs == {"factor": -0.25, "layer": 'a "quoted" name'}
    assert (
        parse_program(print_program(program)).instructions[0].attrs == program.instructions[0].attrs
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("enc: ENC.FROB %s -> %a", "unknown opcode ENC.FROB for target sparse"),
        ("enc: ENC.PACK %s, %s -> %a", "ENC.PACK takes 1 inputs, got 2"),
        ("enc: ENC.PACK %nowhere -> %a", "uses buffer %nowhere, which is not declared"),
        ("enc: ENC.PACK %s -> %a layer=1.2.3", "unexpected"),
        ("enc: ENC.PACK %s -> %a\n\nenc: ENC.PACK %s -> %a", "%a is written again"),
        ("enc: ENC.PACK %s -> %a bogus=1", "ENC.PACK has no attribute 'bogus'"),
    ],
)
def test_malformed_sasm_names_the_line(body: str, message: str) -> None:
    text = ".target sparse sparse\n.input %s : spk[4,?,8,16]\n.buffer %a : addr[4,?,8 : 16]\n"
    with pytest.raises(ProgramError) as error:
        program = parse_program(text + body + "\n", "bad.sasm")
        SPARSE.machine.instruction_set.validate(program, "bad.sasm", SPARSE.hardware())
    assert message in str(error.value)
    line = 4 + body.count("\n")
    assert str(error.value).startswith(f"bad.sasm:{line}")


def test_bad_number_in_a_type_gives_line_column_and_expectation() -> None:
    text = ".target sparse sparse\n.input %s : spk[4,x,8]\n"
    with pytest.raises(ProgramError) as error:
        parse_program(text, "bad.sasm")
    assert str(error.value).startswith("bad.sasm:2:19: unexpected 'x'; expected '?', an integer")
    assert "expected" in str(error.value)


# -- hardware descriptions --------------------------------------------------------------------------


def test_resolved_description_round_trips_with_its_digest(tmp_path: Path) -> None:
    hardware = SPARSE.hardware(settings=("slu.lanes=32", "clock.frequency=400"))
    path = tmp_path / "hw.toml"
    path.write_text(hardware.to_toml())
    again = Hardware.load(path)
    assert again.entries == hardware.entries
    assert again.digest() == hardware.digest() != SPARSE.hardware().digest()
    assert again.entries["slu.lanes"].source == "override: --set slu.lanes=32"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("slu.lane=8", "unknown hardware parameter 'slu.lane'; did you mean slu.lanes"),
        ("slu.lanes=fast", "slu.lanes is a int (64 count), got 'fast'"),
        ("energy.compute.add16=-0.1", "cannot be negative"),
        ("slu.lanes=0", "slu.lanes must be at least 1"),
        ("precision.weight_bits=64", "must be at most 32"),
        ("clock.frequency=0", "must be positive"),
        ("slu.lanes", "expected key=value"),
    ],
)
def test_bad_override_is_refused(setting: str, message: str) -> None:
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SPARSE.hardware(settings=(setting,))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[slu\nlanes = 3", "not valid TOML"),
        ("slu.lanes = { value = 8, source = 'mine', colour = 'red' }", "unknown fields"),
        ("[energy.compute]\nadd16 = -1.0", "cannot be negative"),
        ("tile.rows = 'many'", "tile.rows is a int"),
    ],
)
def test_bad_config_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ProgramError, match=message) as error:
        SPARSE.hardware(config=path)
    assert str(path) in str(error.value)


def test_description_without_sources_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hw.toml"
    path.write_text("[clock]\nfrequency = { value = 100.0, unit = 'MHz' }\n")
    with pytest.raises(ProgramError, match=r"clock\.frequency: missing source"):
        Hardware.load(path)


def test_every_shipped_entry_cites_a_source() -> None:
    for entry in SPARSE.hardware().entries.values():
        assert entry.source.startswith("assumption: ") or any(
            ref in entry.source for ref in ("ISSCC", "arXiv", "HARDWARE.md")
        ), entry.key


# -- the interpreter: values, timeline, accounting --------------------------------------------------


def test_linear_layer_cost_grows_with_input_spikes() -> None:
    rates = [0.0, 0.05, 0.2, 0.5, 1.0]
    figures = [slu(run_linear(spikes_at(rate))[1]) for rate in rates]
    counts = [int(spikes_at(rate).sum()) for rate in rates]
    cycles = [f[0] for f in figures]
    energy = [f[1] for f in figures]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert all(a < b for a, b in itertools.pairwise(cycles))
    assert all(a < b for a, b in itertools.pairwise(energy))
    # Affine in the spikes: a fixed part plus a constant price per spike.
    slope_c = (cycles[-1] - cycles[0]) / counts[-1]
    slope_e = (energy[-1] - energy[0]) / counts[-1]
    for n, c, e in zip(counts, cycles, energy, strict=True):
        assert c == pytest.approx(cycles[0] + slope_c * n)
        assert e == pytest.approx(energy[0] + slope_e * n)


def test_all_zero_input_costs_only_fixed_terms() -> None:
    _, record = run_linear(np.zeros((4, 2, 8, 16), np.float32))
    cycles, energy, entries = slu(record)
    hw = SPARSE.hardware()
    rows, d_out, lanes = 4 * 2 * 8, 32, hw.integer("slu.lanes")
    assert cycles == rows * -(-d_out // lanes)  # one pass per row: bias in, sums out
    # No weight is read and no synaptic add is done: only the bias adds, the sums written out
    # and the (empty) address lists' row pointers.
    assert "memory.weight_sram.read_energy" not in entries
    assert entries["energy.compute.add16"] == pytest.approx(
        rows * d_out * hw.number("energy.compute.add16")
    )
    assert entries["memory.activation_buffer.write_energy"] == pytest.approx(
        rows
        * d_out
        * hw.integer("precision.activation_bits")
        * hw.number("memory.activation_buffer.write_energy")
        / hw.integer("memory.activation_buffer.word_bits")
    )
    assert set(entries) == {
        "energy.compute.add16",
        "memory.activation_buffer.write_energy",
        "memory.spike_sram.read_energy",
    }
    report = build_report(record)
    leakage = report.totals["leakage_pj"]
    assert leakage == pytest.approx(
        sum(hw.number(entry) for entry in SPARSE.machine.leakage_entries)
        * 1e-3
        * record.latency_seconds
        * 1e12
    )
    assert energy > 0


def test_sparse_beats_dense_at_high_sparsity_and_a_crossover_exists() -> None:
    def figures(rate: float, variant: str) -> tuple[float, float]:
        report = build_report(run_linear(spikes_at(rate), variant)[1])
        return report.totals["cycles"], report.totals["energy_pj"]

    low_sparse, low_dense = figures(0.05, "sparse"), figures(0.05, "dense")
    assert low_sparse[0] < low_dense[0] and low_sparse[1] < low_dense[1]
    high_sparse, high_dense = figures(1.0, "sparse"), figures(1.0, "dense")
    assert high_sparse[0] > high_dense[0] and high_sparse[1] > high_dense[1]
    assert figures(0.5, "sparse")[1] < figures(0.5, "dense")[1]
    rates = np.linspace(0.0, 1.0, 21)
    for metric in (0, 1):
        losing = [r for r in rates if figures(r, "sparse")[metric] > figures(r, "dense")[metric]]
        assert 0.5 < losing[0] <= 1.0


def test_breakdowns_sum_to_totals() -> None:
    report = build_report(run_linear(spikes_at(0.2))[1])
    total = report.totals["energy_pj"]
    assert total == pytest.approx(report.totals["dynamic_pj"] + report.totals["leakage_pj"])
    assert sum(report.per_component.values()) == pytest.approx(total)
    assert sum(report.per_entry.values()) == pytest.approx(total)
    assert sum(report.per_timestep) == pytest.approx(total)
    assert sum(row.picojoules for row in report.ledger) == pytest.approx(total)
    dynamic = sum(u["energy_pj"] for u in report.per_unit)
    assert dynamic == pytest.approx(report.totals["dynamic_pj"])
    assert sum(r["energy_pj"] for r in report.per_layer) == pytest.approx(dynamic)


def test_timeline_waits_for_operands_and_for_the_unit() -> None:
    _, record = run_linear(spikes_at(0.3))
    pack, acc, store = record.records
    assert pack.start == 0 and acc.start == pack.end and store.start == acc.end
    assert record.latency_cycles == store.end


def test_missing_or_misshapen_constant_is_reported() -> None:
    program = parse_program(linear_program("sparse"), "linear.sasm")
    spikes = {"%s": spikes_at(0.1)}
    w = np.zeros((16, 32), np.float32)

    def run(constants: dict[str, np.ndarray]) -> None:
        execute(
            program,
            SPARSE.machine.instruction_set,
            SPARSE.hardware(),
            constants,
            spikes,
            timesteps=4,
            clock_entry=SPARSE.machine.clock_entry,
        )

    with pytest.raises(ProgramError, match="constant @b is missing"):
        run({"@w": w})
    with pytest.raises(ProgramError, match=r"constant @b: declared f32\[32\]"):
        run({"@w": w, "@b": np.zeros(31, np.float32)})


def test_constants_archive_is_aligned_read_only_and_standard(tmp_path: Path) -> None:
    """Each array starts on a 64-byte boundary (a misaligned one is copied by numpy at every
    product), is mapped read-only, reads back equal with `np.load`, and the same constants
    give the same bytes; an `np.savez` archive (misaligned) still reads, equal."""
    from runtime.npz import read_npz, write_npz

    arrays = {
        "@w.0": np.arange(7, dtype=np.float32),
        "@conv": np.ones((3, 5, 2), np.float32),
        "@empty": np.zeros((0, 4), np.float32),
        "@fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
    }
    write_npz(tmp_path / "a.npz", arrays)
    write_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as standard:
        assert sorted(standard.files) == sorted(arrays)
        for name, array in arrays.items():
            np.testing.assert_array_equal(standard[name], array)
    for name, array in read_npz(tmp_path / "a.npz").items():
        np.testing.assert_array_equal(array, arrays[name])
        assert array.dtype == arrays[name].dtype and not array.flags.writeable
        if array.size:
            assert array.ctypes.data % 64 == 0, name
    np.savez(tmp_path / "c.npz", **arrays)  # type: ignore[arg-type]
    for name, array in read_npz(tmp_path / "c.npz").items():
        np.testing.assert_array_equal(array, arrays[name])
        assert array.flags.aligned and not array.flags.writeable


def test_a_result_of_either_kind_declared_spikes_must_hold_spikes() -> None:
    """Top-k gates are spikes without softmax weights and reals with them: the kind is checked
    on the values as they are written."""
    text = (
        ".target sparse sparse\n.input %x : f32[4,?,8,4]\n.buffer %g : spk[4,?,8,4]\n"
        ".output %y : spk[4,?,8,4]\n"
        "vec: VEC.ROUTE_TOPK %x -> %g k=2 softmax={softmax}\nvec: VEC.COPY %g -> %y\n"
    )
    x = {"%x": np.random.default_rng(0).normal(size=(4, 1, 8, 4)).astype(np.float32)}
    hardware = SPARSE.hardware()

    def run(softmax: str) -> dict[str, np.ndarray]:
        program = parse_program(text.format(softmax=softmax), "gates.sasm")
        SPARSE.machine.instruction_set.validate(program, "gates.sasm", hardware)
        outputs, _ = execute(
            program,
            SPARSE.machine.instruction_set,
            hardware,
            {},
            x,
            timesteps=4,
            clock_entry=SPARSE.machine.clock_entry,
        )
        return outputs

    assert set(np.unique(run("false")["%y"])) <= {0.0, 1.0}
    with pytest.raises(ProgramError, match=r"line 5: %g is declared spk.* other than 0 and 1"):
        run("true")


def test_a_constant_declared_spikes_must_hold_spikes() -> None:
    text = ".target sparse sparse\n.const @c : spk[4,1,4]\n.output %y : spk[4,1,4]\n"
    program = parse_program(text + "vec: VEC.COPY @c -> %y\n", "c.sasm")
    SPARSE.machine.instruction_set.validate(program, "c.sasm", SPARSE.hardware())
    constants = {"@c": np.full((4, 1, 4), 0.5, np.float32)}
    with pytest.raises(ProgramError, match=r"constant @c is declared spk\[4,1,4\] on line 2"):
        execute(
            program,
            SPARSE.machine.instruction_set,
            SPARSE.hardware(),
            constants,
            {},
            timesteps=4,
            clock_entry=SPARSE.machine.clock_entry,
        )


@pytest.mark.parametrize("name", ["sparse", "stacked3d", "xpikeformer"])
def test_every_opcode_runs_on_some_unit_and_has_a_result_kind(name: str) -> None:
    from runtime.ops import RESULT_KINDS, SEMANTICS

    target = load_target(name)
    units = [target.machine.instruction_set.units(target.hardware(), v) for v in target.variants]
    owned = set().union(*(ops for found in units for ops in found.values()))
    assert owned == set(target.machine.instruction_set.opcodes)
    assert set(RESULT_KINDS) == set(SEMANTICS)
