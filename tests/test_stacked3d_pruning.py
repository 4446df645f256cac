"""Dynamic head pruning on `stacked3d` skips the pruned heads' share of the K and V projections:
in `pruned` numerics their linear layers and neurons compute, read and write only the kept
heads' channels, ranked by the run's own Q spikes (the heads the attention keeps); with
`pruning.keep` = 1 and in exact numerics nothing changes.

The small models here have Q = LIF(0 @ x + b_q): a channel with bias 4 fires at every step and
token (v = 4 / tau = 2 >= 1), one with bias -1 never does, so the Q spikes of head h are
`firing[h] x T x N` and the ranking is known by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend.load import load_model
from compiler.interpreters.reference import evaluate
from compiler.runner import check_program_inputs, open_program
from compiler.toolchain import compile_model
from runtime.interpreter import InstructionRecord, RunRecord, execute
from runtime.isa import Value
from runtime.program import Instruction
from tests.conftest import SAMPLES, dyadic, model_from, run_sample_program

T, N, D_IN, D = 2, 8, 32, 64
"""Timesteps, tokens, input width and model width (two 32-column weight tiles)."""
LANES = ("neuron.lanes=8",)
"""Few enough neuron lanes that the neurons' updates, not their transfers, set their cycles."""


def attention_model(firing: Sequence[int], k_first: bool = False) -> onnx.ModelProto:
    """x [T, B, N, 32] -> Q, K, V (linear + LIF, width 64) -> SSA with len(firing) heads -> LIF
    -> mean over tokens and time. `firing[h]` channels of head h's Q fire at every step and
    token, the others never; `k_first` computes K before Q."""
    heads = len(firing)
    width = D // heads
    rng = np.random.default_rng(0)
    bq = np.full(D, -1.0, np.float32)
    for h, count in enumerate(firing):
        bq[h * width : h * width + count] = 4.0
    inits = {"q.w": np.zeros((D_IN, D), np.float32), "q.b": bq}
    for name in ("k", "v"):
        inits[f"{name}.w"] = dyadic(rng.normal(size=(D_IN, D)) / np.sqrt(D_IN))
        inits[f"{name}.b"] = dyadic(rng.normal(size=D) * 0.1 + 0.5)

    def projection(name: str) -> list[onnx.NodeProto]:
        return [
            helper.make_node("MatMul", ["x", f"{name}.w"], [f"{name}.mm"], name=f"{name}.mm"),
            helper.make_node("Add", [f"{name}.mm", f"{name}.b"], [name], name=name),
            helper.make_node("LIF", [name], [f"{name}_lif"], name=f"{name}_lif", domain="spike"),
        ]

    nodes = [n for p in (("k", "q", "v") if k_first else ("q", "k", "v")) for n in projection(p)]
    nodes += [
        helper.make_node(
            "SSA",
            ["q_lif", "k_lif", "v_lif"],
            ["attn"],
            name="attn",
            domain="spike",
            heads=heads,
            scale=0.125,
        ),
        helper.make_node(
            "LIF", ["attn"], ["attn_lif"], name="attn_lif", domain="spike", v_threshold=0.5
        ),
        helper.make_node("ReduceMean", ["attn_lif"], ["tok"], name="tok", axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["tok"], ["y"], name="y", axes=[0], keepdims=0),
    ]
    return model_from(
        nodes,
        [("x", [T, "B", N, D_IN])],
        [("y", ["B", D])],
        inits,
        **{"spike.timesteps": str(T)},
    )


def model_input() -> np.ndarray:
    """Every entry non-zero (so all T x N = 16 rows of x are active)."""
    return dyadic(np.random.default_rng(1).uniform(0.25, 1.0, size=(T, 1, N, D_IN)))


def compiled(tmp_path: Path, firing: Sequence[int], k_first: bool = False) -> Path:
    onnx_path = tmp_path / "attention.onnx"
    onnx.save(attention_model(firing, k_first), onnx_path)
    out = tmp_path / "attention.stacked3d"
    compile_model(str(onnx_path), "stacked3d", out)
    return out


def run_with_values(
    path: Path, x: np.ndarray, numerics: str, settings: tuple[str, ...] = ()
) -> tuple[dict[str, Value], RunRecord]:
    """Execute the program and keep every buffer it computed."""
    package, target = open_program(path)
    hardware = package.hardware.with_settings(settings)
    seen: dict[str, Value] = {}

    def observe(ins: Instruction, results: list[Value]) -> None:
        seen.update(zip(ins.outputs, results, strict=True))

    timesteps = int(package.manifest["timesteps"])
    _, record = execute(
        package.program,
        target.machine.instruction_set,
        hardware,
        package.constants,
        check_program_inputs(package, {"x": x}, {}),
        timesteps=timesteps,
        clock_entry=target.machine.clock_for(package.program.variant),
        leakage_entries=target.machine.leakage_for(package.program.variant),
        numerics=numerics,
        observe=observe,
        activations=target.machine.activations(
            hardware, package.program.variant, timesteps, package.manifest.get("weight_plan")
        ),
    )
    return seen, record


def by_layer(record: RunRecord) -> dict[str, InstructionRecord]:
    """The computing instruction of each layer (weight loads share the layer's name)."""
    return {r.layer: r for r in record.records if not r.opcode.startswith("IO.")}


def energy(r: InstructionRecord, component: str | None = None) -> float:
    return sum(i.picojoules for i in r.cost.items if component in (None, i.component))


def bits(r: InstructionRecord, level: str) -> float:
    return sum(i.bits for i in r.cost.items if i.level == level)


def channels_of(heads: set[int], count: int) -> np.ndarray:
    """The mask over the D channels of the given heads (of `count`)."""
    return np.repeat([h in heads for h in range(count)], D // count)


# -- lowering ---------------------------------------------------------------------------------


def test_k_and_v_projections_are_given_the_whole_q(tmp_path: Path) -> None:
    package, _ = open_program(compiled(tmp_path, [3, 9, 1, 6]))
    instructions = {i.layer: i for i in package.program.instructions if i.unit != "io"}
    order = [i.layer for i in package.program.instructions if i.unit != "io"]
    for layer in ("k", "k_lif", "v", "v_lif"):
        ins = instructions[layer]
        assert ins.inputs[-1] == "%q_lif", layer
        assert ins.attrs["prune_by"] == len(ins.inputs) - 1
        assert ins.attrs["head_count"] == 4
        assert order.index("q_lif") < order.index(layer)  # Q first, in program order
    for layer in ("q", "q_lif", "attn_lif"):
        assert "prune_by" not in instructions[layer].attrs, layer


def test_a_projection_computed_before_q_is_not_ranked(tmp_path: Path) -> None:
    """K comes before Q in the model: it cannot wait for Q's spikes, so it is computed in full
    (V, after Q, is still narrowed), and the run stays right."""
    path = compiled(tmp_path, [3, 9, 1, 6], k_first=True)
    package, _ = open_program(path)
    instructions = {i.layer: i for i in package.program.instructions if i.unit != "io"}
    assert "prune_by" not in instructions["k"].attrs
    assert "prune_by" not in instructions["k_lif"].attrs
    assert instructions["v"].attrs["prune_by"] == 3
    x = model_input()
    exact = by_layer(run_sample_program(path, x).record)
    pruned = by_layer(
        run_sample_program(path, x, numerics="pruned", settings=("pruning.keep=0.5",)).record
    )
    assert energy(pruned["k"]) == energy(exact["k"])
    assert energy(pruned["v"], "compute") == pytest.approx(energy(exact["v"], "compute") / 2)


def test_the_moe_sample_prunes_its_k_and_v_projections(tmp_path: Path) -> None:
    """8 heads of 8 channels, keep 0.5: each K and V linear computes 32 of its 64 columns
    (block 0 on the exact run's input; block 1's input already differs, its pruned heads'
    attention being zero)."""
    path = tmp_path / "moe"
    compile_model(str(SAMPLES / "moe.onnx"), "stacked3d", path)
    x = np.load(SAMPLES / "moe_input.npy")
    exact = by_layer(run_sample_program(path, x).record)
    pruned = by_layer(
        run_sample_program(path, x, numerics="pruned", settings=("pruning.keep=0.5",)).record
    )
    for block in ("b0", "b1"):
        for name in ("k", "v"):
            layer = f"{block}.attn.{name}"
            assert pruned[layer].cost.metrics.counters["pruned_channels"] == 32
            if block == "b0":
                assert energy(pruned[layer], "compute") == pytest.approx(
                    energy(exact[layer], "compute") / 2
                )
            assert bits(pruned[layer], "weight_buffer") == 64 * 32 * 8
            assert bits(exact[layer], "weight_buffer") == 64 * 64 * 8
    assert pruned["b0.attn.q"].cost.cycles == exact["b0.attn.q"].cost.cycles
    assert energy(pruned["b0.attn.q"]) == energy(exact["b0.attn.q"])


# -- which heads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("firing", "kept"),
    [
        ([3, 9, 1, 6], {1, 3}),
        ([8, 2, 5, 1], {0, 2}),
        ([6, 6, 6, 6], {0, 1}),  # a tie keeps the lower heads
        ([5, 20], {1}),
        ([20, 5], {0}),
    ],
)
def test_the_kept_heads_are_those_with_the_most_q_spikes(
    tmp_path: Path, firing: list[int], kept: set[int]
) -> None:
    heads = len(firing)
    path = compiled(tmp_path, firing)
    x = model_input()
    exact, _ = run_with_values(path, x, "exact")
    pruned, record = run_with_values(path, x, "pruned", ("pruning.keep=0.5",))
    q = np.asarray(exact["%q_lif"]).reshape(T, 1, N, heads, -1)
    np.testing.assert_array_equal(q.sum(axis=(0, 1, 2, 4)), np.asarray(firing) * T * N)
    mask = channels_of(kept, heads)
    for buffer in ("%k", "%k_lif", "%v", "%v_lif"):
        full, narrowed = np.asarray(exact[buffer]), np.asarray(pruned[buffer])
        np.testing.assert_array_equal(narrowed[..., mask], full[..., mask], err_msg=buffer)
        assert not narrowed[..., ~mask].any(), buffer  # the pruned heads' channels: not computed
    assert np.asarray(exact["%k_lif"])[..., ~mask].any()  # (they would have spiked)
    skipped = {
        int(r.layer.removeprefix("attn.h"))
        for r in record.records
        if r.opcode == "ATT.SSA" and r.cost.metrics.counters.get("pruned")
    }
    assert skipped == set(range(heads)) - kept  # the same heads as the attention's


# -- what it costs ----------------------------------------------------------------------------


@pytest.mark.parametrize("firing", [[5, 20], [3, 9, 1, 6]])
def test_keep_half_halves_the_k_and_v_projections(tmp_path: Path, firing: list[int]) -> None:
    """Half the heads kept = 32 of the 64 channels: one of the two 32-column weight tiles.

    Linear: x [2, 1, 8, 32] real, all 16 rows active; per tile the rows stream through after a
    fill and drain of 32 + 32 cycles, so 2 x (16 + 64) = 160 cycles -> 80; the weight buffer
    reads 32 x 64 x 8 bits -> 32 x 32 x 8; the activation buffer moves x (512 x 16 bits) in
    full, the bias (64 x 16) and the result (1024 x 16) by half; products and accumulates
    halve. Neurons: 1024 membrane updates -> 512 at 8 lanes, 128 cycles -> 64; their currents
    (16 bits) and spikes (1 bit) move by half."""
    path = compiled(tmp_path, firing)
    x = model_input()
    exact = by_layer(run_sample_program(path, x, settings=LANES).record)
    pruned = by_layer(
        run_sample_program(path, x, numerics="pruned", settings=("pruning.keep=0.5", *LANES)).record
    )
    for name in ("k", "v"):
        full, half = exact[name], pruned[name]
        assert full.cost.cycles - half.cost.cycles == 80
        assert energy(half, "compute") == pytest.approx(energy(full, "compute") / 2)
        assert bits(full, "weight_buffer") == 32 * 64 * 8
        assert bits(half, "weight_buffer") == 32 * 32 * 8
        assert bits(full, "activation_buffer") == 512 * 16 + 64 * 16 + 1024 * 16
        assert bits(half, "activation_buffer") == 512 * 16 + 32 * 16 + 512 * 16
        assert bits(half, "local") == bits(full, "local") / 2
        assert half.cost.metrics.dense_synops == full.cost.metrics.dense_synops / 2 == 16 * 32 * 32
        assert half.cost.metrics.counters["pruned_channels"] == 32

        full, half = exact[f"{name}_lif"], pruned[f"{name}_lif"]
        assert full.cost.metrics.membrane_updates == 1024
        assert half.cost.metrics.membrane_updates == 512
        assert full.cost.cycles - half.cost.cycles == 128 - 64
        assert energy(half, "compute") == pytest.approx(energy(full, "compute") / 2)
        assert bits(full, "activation_buffer") == 1024 * 16 + 1024
        assert bits(half, "activation_buffer") == 512 * 16 + 512
        assert half.cost.metrics.counters["pruned_channels"] == 32
    for layer in ("q", "q_lif"):  # Q is what the heads are ranked by: always computed
        assert pruned[layer].cost.cycles == exact[layer].cost.cycles
        assert energy(pruned[layer]) == energy(exact[layer])


def test_keep_one_is_exact(tmp_path: Path) -> None:
    """p = 1 keeps every head: every instruction costs what it does in exact numerics, at the
    same times, and the outputs are the reference interpreter's, bit for bit."""
    onnx_path = tmp_path / "attention.onnx"
    onnx.save(attention_model([3, 9, 1, 6]), onnx_path)
    path = tmp_path / "attention.stacked3d"
    compile_model(str(onnx_path), "stacked3d", path)
    x = model_input()
    exact = run_sample_program(path, x)
    kept = run_sample_program(path, x, numerics="pruned", settings=("pruning.keep=1",))
    module, weights, _ = load_model(str(onnx_path))
    np.testing.assert_array_equal(exact.outputs["y"], evaluate(module, weights, {"x": x})["y"])
    np.testing.assert_array_equal(kept.outputs["y"], exact.outputs["y"])
    assert len(exact.record.records) == len(kept.record.records)
    for a, b in zip(exact.record.records, kept.record.records, strict=True):
        assert (a.layer, a.start, a.end, a.cost.cycles) == (b.layer, b.start, b.end, b.cost.cycles)
        assert [(i.entry, i.picojoules, i.bits) for i in a.cost.items] == [
            (i.entry, i.picojoules, i.bits) for i in b.cost.items
        ], a.layer
        assert "pruned_channels" not in b.cost.metrics.counters
    assert kept.report.totals["energy_pj"] == exact.report.totals["energy_pj"]
