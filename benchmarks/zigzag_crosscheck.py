"""Cross-check of spikec's dense ANN baseline against ZigZag's analytical cost model.

Two ANN layers — a linear layer (64 tokens x 512 -> 512) and a convolution (3x32x32 input, 64
output channels, 3x3, pad 1) — are run twice:

- spikec: target `xpikeformer`, variant `digital-ann` (an 8-bit MAC array `ann.rows x
  ann.columns`, weights in `memory.weight_sram`, activations in `memory.sram`, DRAM), compiled
  and run in-process on a time-major input [T = 4, B = 1, ...]; the variant counts one pass
  of the ANN instead of T timesteps;
- ZigZag (KU Leuven's DSE tool, `zigzag-dse` 3.9.1): the same layer as plain ONNX, on an
  accelerator description generated from spikec's Hardware object (array size, operand widths,
  the capacity, word, bandwidth and energy per access of each memory level, the MAC energy
  `energy.compute.mult8 + energy.compute.add32`), plus registers in the array, which spikec
  does not describe: `--rf-words` words (default 1) per operand and MAC, priced at
  `--rf-energy` (default 0 pJ, as spikec prices nothing between its SRAMs and the MACs).
  ZigZag searches its spatial and temporal mappings and keeps the one of least energy; it is
  run once more with `--large-rf-words` registers (default 64) to show where its on-chip
  traffic goes when the array can hold more.

It prints per layer and in total: the dynamic energy of each memory level and of the MACs in
both tools and their ratio (whole, the model's input and output transfers, the layer alone),
the KiB each level reads and writes per operand (I inputs, W weights, O outputs), the latency
in cycles, ZigZag's mapping, and a paragraph explaining the ratios from the measured figures.
spikec's figures are its run's ledger items (they sum to the report's dynamic energy, and
those of the layer to its row in `report.per_layer`); ZigZag's are its cost model evaluation's
access counts and energies per operand and memory (it counts whole port-wide accesses, so a
small tensor may show a few bytes less).

Run from the repository root, with ZigZag installed (`.venv/bin/pip install -e '.[zigzag]'`):

    .venv/bin/python benchmarks/zigzag_crosscheck.py [--rf-words N] [--large-rf-words N]
        [--rf-energy PJ] [--keep DIR]

Without ZigZag it prints one line naming that command and exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.frontend.onnx_functions import make_model  # noqa: E402
from compiler.runner import RunOptions, execute_package, open_program  # noqa: E402
from compiler.toolchain import compile_model  # noqa: E402
from runtime.hardware import Hardware  # noqa: E402
from runtime.memory import Level, levels  # noqa: E402
from targets import load_target  # noqa: E402

TARGET, VARIANT = "xpikeformer", "digital-ann"
TIMESTEPS = 4
ACCUMULATOR_BITS = 32
"""Partial sums: spikec prices each MAC's add at `energy.compute.add32`."""
OPERANDS = ("I", "W", "O")
ROLES = {"IO.LOAD_INPUT": "I", "IO.LOAD_WEIGHTS": "W", "IO.STORE_OUTPUT": "O"}
"""spikec's transfers by the operand they move; every other instruction is the layer's own."""
LEVEL_LABELS = {"dram": "dram", "sram": "sram (activations)", "weight_sram": "weight_sram"}


def require_zigzag() -> Any:
    """ZigZag's API entry point, or exit with status 2 naming how to install it."""
    try:
        import six  # noqa: F401  (ZigZag's mapping validator imports it)
        from zigzag.api import get_hardware_performance_zigzag
    except ImportError as e:
        print(
            f"zigzag_crosscheck: ZigZag is not installed ({e}); install it with "
            "`.venv/bin/pip install -e '.[zigzag]'` (zigzag-dse==3.9.1 and six)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return get_hardware_performance_zigzag


# -- the workload --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    spikec_model: onnx.ModelProto
    spikec_input: np.ndarray
    zigzag_model: onnx.ModelProto
    tensor_elements: dict[str, int]
    """Elements of I, W and O of one pass (one inference)."""


def _graph(
    nodes: list[onnx.NodeProto],
    x: tuple[str, list[int]],
    y: tuple[str, list[int]],
    weights: dict[str, np.ndarray],
) -> onnx.GraphProto:
    return helper.make_graph(
        nodes,
        "crosscheck",
        [helper.make_tensor_value_info(x[0], TensorProto.FLOAT, x[1])],
        [helper.make_tensor_value_info(y[0], TensorProto.FLOAT, y[1])],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )


def _zigzag_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    """A plain ONNX model, shape-inferred (ZigZag reads the shapes of every value)."""
    return onnx.shape_inference.infer_shapes(helper.make_model(graph))


def _precisions(hw: Hardware) -> dict[str, Any]:
    """ZigZag's per-node precision attributes: 8-bit weights and activations, 32-bit sums."""
    return {
        "weight_size": hw.integer("precision.weight_bits"),
        "act_size": hw.integer("ann.activation_bits"),
        "output_size": ACCUMULATOR_BITS,
    }


def linear_workload(hw: Hardware, tokens: int = 64, d_in: int = 512, d_out: int = 512) -> Workload:
    rng = np.random.default_rng(0)
    w = (rng.integers(-64, 64, size=(d_in, d_out)) / 64).astype(np.float32)
    sample = (rng.integers(0, 64, size=(1, tokens, d_in)) / 64).astype(np.float32)
    t = TIMESTEPS
    spikec = _graph(
        [helper.make_node("MatMul", ["x", "fc.w"], ["fc"], name="fc")],
        ("x", [t, 1, tokens, d_in]),
        ("fc", [t, 1, tokens, d_out]),
        {"fc.w": w},
    )
    zigzag = _graph(
        [helper.make_node("MatMul", ["x", "fc.w"], ["fc"], name="fc", **_precisions(hw))],
        ("x", [tokens, d_in]),
        ("fc", [tokens, d_out]),
        {"fc.w": w},
    )
    return Workload(
        "linear",
        f"linear {tokens} tokens x {d_in} -> {d_out}",
        make_model(spikec),
        np.ascontiguousarray(np.broadcast_to(sample, (t, *sample.shape))),
        _zigzag_model(zigzag),
        {"I": tokens * d_in, "W": d_in * d_out, "O": tokens * d_out},
    )


def conv_workload(
    hw: Hardware, c_in: int = 3, size: int = 32, c_out: int = 64, kernel: int = 3
) -> Workload:
    rng = np.random.default_rng(1)
    w = (rng.integers(-64, 64, size=(c_out, c_in, kernel, kernel)) / 64).astype(np.float32)
    sample = (rng.integers(0, 64, size=(1, c_in, size, size)) / 64).astype(np.float32)
    t, pad = TIMESTEPS, kernel // 2
    conv: dict[str, Any] = {"kernel_shape": [kernel, kernel], "pads": [pad] * 4}
    # spikec's convention: time folded into the batch around the convolution
    spikec = _graph(
        [
            helper.make_node("Reshape", ["x", "fold"], ["xf"], name="fold"),
            helper.make_node("Conv", ["xf", "conv.w"], ["conv"], name="conv", **conv),
            helper.make_node("Reshape", ["conv", "unfold"], ["y"], name="unfold"),
        ],
        ("x", [t, 1, c_in, size, size]),
        ("y", [t, 1, c_out, size, size]),
        {
            "conv.w": w,
            "fold": np.array([-1, c_in, size, size], np.int64),
            "unfold": np.array([t, -1, c_out, size, size], np.int64),
        },
    )
    zigzag = _graph(
        [helper.make_node("Conv", ["x", "conv.w"], ["y"], name="conv", **conv, **_precisions(hw))],
        ("x", [1, c_in, size, size]),
        ("y", [1, c_out, size, size]),
        {"conv.w": w},
    )
    return Workload(
        "conv",
        f"conv {c_in}x{size}x{size} -> {c_out} channels, {kernel}x{kernel}, pad {pad}",
        make_model(spikec),
        np.ascontiguousarray(np.broadcast_to(sample, (t, *sample.shape))),
        _zigzag_model(zigzag),
        {"I": c_in * size * size, "W": w.size, "O": c_out * size * size},
    )


# -- one tool's figures for one layer ------------------------------------------------------


@dataclass
class Figures:
    energy: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """pJ by memory level, `rf` (ZigZag's registers) and `mac`."""
    traffic: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    """Bits by (level, operand, `read` or `write`)."""
    transfers_pj: float = 0.0
    """The model input's load from DRAM and the output's store to DRAM, both ends of them."""
    transfers_onchip_pj: float = 0.0
    """Their on-chip end (the activation SRAM's writes of I and reads of O)."""
    weights_dram_pj: float = 0.0
    macs: float = 0.0
    cycles: float = 0.0
    cycle_parts: dict[str, float] = field(default_factory=dict)
    leakage_pj: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def dynamic_pj(self) -> float:
        return sum(self.energy.values())

    @property
    def layer_sram_pj(self) -> float:
        """The SRAMs' energy of the layer alone."""
        return (
            self.energy.get("sram", 0.0)
            + self.energy.get("weight_sram", 0.0)
            - self.transfers_onchip_pj
        )

    @property
    def layer_pj(self) -> float:
        """The layer alone: its weights' load, its on-chip traffic and its MACs."""
        return self.dynamic_pj - self.transfers_pj

    def add(self, other: Figures) -> None:
        for key, value in other.energy.items():
            self.energy[key] += value
        self.transfers_pj += other.transfers_pj
        self.transfers_onchip_pj += other.transfers_onchip_pj
        self.weights_dram_pj += other.weights_dram_pj
        self.leakage_pj += other.leakage_pj
        self.cycles += other.cycles


def run_spikec(workload: Workload, folder: Path) -> tuple[Figures, Hardware]:
    """Compile and run the layer; its figures from the run's ledger items, and the hardware as
    the compiled program prices it."""
    model = folder / f"{workload.name}.onnx"
    onnx.save(workload.spikec_model, model)
    out = folder / f"{workload.name}.{TARGET}-{VARIANT}"
    compile_model(str(model), TARGET, out, variant=VARIANT)
    package, target = open_program(out)
    run = execute_package(package, target, {"x": workload.spikec_input}, None, RunOptions())
    hw = package.hardware
    known = levels(hw)
    bits = hw.integer("ann.activation_bits")
    figures = Figures()
    for record in run.record.records:
        role = ROLES.get(record.opcode, "layer")
        parts = figures.cycle_parts
        parts[record.opcode] = parts.get(record.opcode, 0.0) + record.end - record.start
        if role == "layer":
            figures.macs += record.cost.metrics.dense_synops
        for item in record.cost.items:
            if role in ("I", "O"):
                figures.transfers_pj += item.picojoules
            if item.level is None:
                key = "mac" if item.component == "compute" else item.component
                figures.energy[key] += item.picojoules
                continue
            figures.energy[item.level] += item.picojoules
            kind = "write" if item.entry == known[item.level].write_entry else "read"
            if role in ("I", "O") and item.level != "dram":
                figures.transfers_onchip_pj += item.picojoules
            if role == "W" and item.level == "dram":
                figures.weights_dram_pj += item.picojoules
            if role != "layer":
                figures.traffic[(item.level, role, kind)] += item.bits
            elif item.level == "weight_sram":
                figures.traffic[(item.level, "W", kind)] += item.bits
            else:
                # the layer reads its input and writes its output (one-pass sizes, checked)
                operand = "I" if kind == "read" else "O"
                expected = workload.tensor_elements[operand] * bits
                assert math.isclose(item.bits, expected), (item.bits, operand, expected)
                figures.traffic[(item.level, operand, kind)] += item.bits
    figures.cycles = run.record.latency_cycles
    report = run.report
    figures.leakage_pj = report.totals["leakage_pj"]
    assert math.isclose(figures.dynamic_pj, report.totals["dynamic_pj"], rel_tol=1e-9)
    # the report's own row of the layer (its weight load included) is the layer alone
    rows = [row for row in report.per_layer if not row["layer"].startswith("(")]
    assert math.isclose(sum(r["energy_pj"] for r in rows), figures.layer_pj, rel_tol=1e-9)
    return figures, hw


# -- ZigZag --------------------------------------------------------------------------------


def _port(name: str, kind: str, low: int, high: int, allocation: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "bandwidth_min": low,
        "bandwidth_max": high,
        "allocation": allocation,
    }


def _rw_ports(operands: list[str], low: int, high: int, read_write: bool) -> list[dict[str, Any]]:
    """Read and write ports (or one read-write port) of `low` to `high` bits a cycle."""
    reads = [f"{op}, {d}" for op in operands for d in (("tl", "th") if op == "O" else ("tl",))]
    writes = [f"{op}, {d}" for op in operands for d in (("fh", "fl") if op == "O" else ("fh",))]
    if read_write:
        return [_port("rw_port_1", "read_write", low, high, writes + reads)]
    return [
        _port("r_port_1", "read", low, high, reads),
        _port("w_port_1", "write", low, high, writes),
    ]


def _level_memory(hw: Hardware, level: Level, operands: list[str]) -> dict[str, Any]:
    """A spikec level as a ZigZag memory: a ZigZag access is one port width (the level's
    bandwidth), priced at as many of spikec's word accesses as fit in it; ZigZag counts its
    accesses as ceil(bits / bandwidth_min) x bandwidth_min / bandwidth_max, so the energy is
    spikec's per word."""
    bandwidth = int(level.bits_per_cycle)
    words = bandwidth / level.word_bits
    return {
        "size": int(level.capacity_bits) if level.on_chip else 10**12,
        "r_cost": hw.number(level.read_entry) * words,
        "w_cost": hw.number(level.write_entry) * words,
        "area": 0.0,
        "latency": max(1, int(level.latency_cycles)),
        "operands": operands,
        "ports": _rw_ports(operands, level.word_bits, bandwidth, read_write=not level.on_chip),
        "served_dimensions": ["D1", "D2"],
    }


def accelerator(hw: Hardware, rf_words: int, rf_energy: float) -> dict[str, Any]:
    """The digital-ann design as a ZigZag accelerator: per MAC one register of `rf_words`
    words per operand (I1 inputs, I2 weights, O partial sums), the activation SRAM (inputs
    and outputs), the weight SRAM and DRAM."""
    known = levels(hw)
    a_bits, w_bits = hw.integer("ann.activation_bits"), hw.integer("precision.weight_bits")

    def register(operand: str, width: int) -> dict[str, Any]:
        return {
            "size": width * rf_words,
            "r_cost": rf_energy,
            "w_cost": rf_energy,
            "area": 0.0,
            "latency": 1,
            "operands": [operand],
            "ports": _rw_ports([operand], width, width, read_write=False),
            "served_dimensions": [],
        }

    return {
        "name": f"{TARGET}-{VARIANT}",
        "memories": {
            "rf_w": register("I2", w_bits),
            "rf_i": register("I1", a_bits),
            "rf_o": register("O", ACCUMULATOR_BITS),
            "weight_sram": _level_memory(hw, known["weight_sram"], ["I2"]),
            "sram": _level_memory(hw, known["sram"], ["I1", "O"]),
            "dram": _level_memory(hw, known["dram"], ["I1", "I2", "O"]),
        },
        "operational_array": {
            "unit_energy": hw.number("energy.compute.mult8") + hw.number("energy.compute.add32"),
            "unit_area": 1.0,
            "dimensions": ["D1", "D2"],
            "sizes": [hw.integer("ann.rows"), hw.integer("ann.columns")],
            "input_precision": [a_bits, w_bits],
        },
    }


MAPPING = [
    # no spatial mapping given: ZigZag generates its candidates for each layer
    {"name": name, "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}
    for name in ("default", "MatMul", "Conv")
]


def run_zigzag(
    evaluate: Any, workload: Workload, accelerator_yaml: Path, mapping_yaml: Path, folder: Path
) -> tuple[Figures, str]:
    from zigzag.hardware.architecture.memory_port import DataDirection

    reads = (DataDirection.RD_OUT_TO_HIGH, DataDirection.RD_OUT_TO_LOW)
    _, _, cmes = evaluate(
        workload.zigzag_model,
        str(accelerator_yaml),
        str(mapping_yaml),
        opt="energy",
        dump_folder=str(folder / f"zigzag-{workload.name}"),
        loma_show_progress_bar=False,
    )
    layers = cmes[0][1]
    assert len(layers) == 1, f"ZigZag evaluated {len(layers)} layers, expected one"
    cme: Any = layers[0][0]
    figures = Figures()
    hierarchy = cme.accelerator.memory_hierarchy
    for layer_op, accesses in cme.memory_word_access.items():
        operand = str(layer_op)
        mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
        memories = hierarchy.get_memory_levels(mem_op=mem_op)
        for count, memory, energy in zip(
            accesses, memories, cme.mem_energy_breakdown[layer_op], strict=False
        ):
            name = "rf" if memory.name.startswith("rf_") else memory.name
            figures.energy[name] += energy
            for direction in DataDirection:
                width = memory.get_max_bandwidth(mem_op, direction) or 0
                kind = "read" if direction in reads else "write"
                figures.traffic[(name, operand, kind)] += count.get(direction) * width
        if operand in ("I", "O"):
            # the transfer between DRAM and the level below it, both ends (as spikec's IO ops)
            top, below = len(accesses) - 1, len(accesses) - 2
            further = cme.mem_energy_breakdown_further[layer_op]
            figures.transfers_pj += sum(further[top].get(d) for d in DataDirection)
            side = DataDirection.WR_IN_BY_HIGH if operand == "I" else DataDirection.RD_OUT_TO_HIGH
            figures.transfers_pj += further[below].get(side)
            figures.transfers_onchip_pj += further[below].get(side)
        else:
            figures.weights_dram_pj += cme.mem_energy_breakdown[layer_op][-1]
    figures.energy["mac"] = cme.mac_energy
    assert math.isclose(figures.dynamic_pj, cme.energy_total, rel_tol=1e-9)
    figures.macs = float(cme.layer.total_mac_count)
    figures.cycles = float(cme.latency_total2)
    figures.cycle_parts = {
        "ideal (MACs / array)": float(cme.ideal_cycle),
        "temporal loops": float(cme.ideal_temporal_cycle),
        "stalls and slack": float(cme.stall_slack_comb),
        "on-loading": float(cme.data_onloading_cycle),
        "off-loading": float(cme.data_offloading_cycle),
    }
    mapping = (
        f"spatial {cme.layer.spatial_mapping}, MAC utilisation "
        f"{100 * cme.mac_spatial_utilization:.0f} %; temporal loops (innermost first) per "
        f"memory level: {cme.temporal_mapping}"
    )
    return figures, mapping


# -- printing ------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    if b == 0:
        return "—" if a == 0 else "inf"
    return f"{a / b:.2f}"


def _uj(pj: float) -> str:
    return f"{pj / 1e6:10.3f}"


def _kib(bits: float) -> float:
    return bits / 8 / 1024


def print_energy(
    s: Figures, z: Figures, rf_energy: float, large: Figures | None, large_words: int
) -> None:
    print(f"  {'energy (uJ)':34}{'spikec':>10}{'ZigZag':>10}{'spikec/ZigZag':>15}")
    rows = [(LEVEL_LABELS[k], k) for k in ("dram", "sram", "weight_sram")]
    rows += [(f"registers ({rf_energy:g} pJ an access)", "rf"), ("MAC array", "mac")]
    rows += [(k, k) for k in sorted(set(s.energy) - {"dram", "sram", "weight_sram", "mac"})]
    for label, key in rows:
        a, b = s.energy.get(key), z.energy.get(key)
        left = _uj(a) if a is not None else f"{'—':>10}"
        right = _uj(b) if b is not None else f"{'—':>10}"
        ratio = _ratio(a, b) if a is not None and b is not None else "—"
        print(f"  {label:34}{left}{right}{ratio:>15}")
    for label, a, b in (
        ("dynamic total", s.dynamic_pj, z.dynamic_pj),
        ("  model input and output transfers", s.transfers_pj, z.transfers_pj),
        ("  the layer alone", s.layer_pj, z.layer_pj),
    ):
        print(f"  {label:34}{_uj(a)}{_uj(b)}{_ratio(a, b):>15}")
    if large is not None:
        label = f"    ZigZag, {large_words}-word registers"
        print(f"  {label:34}{'':10}{_uj(large.layer_pj)}{_ratio(s.layer_pj, large.layer_pj):>15}")
    print(f"  {'(spikec leakage, not in ZigZag)':34}{_uj(s.leakage_pj)}")


def print_traffic(s: Figures, z: Figures) -> None:
    print(f"  {'traffic (KiB read / written)':34}{'spikec':>20}{'ZigZag':>22}{'ratio':>8}")
    for level in ("dram", "sram", "weight_sram", "rf"):
        for operand in OPERANDS:
            moved = []
            for figures in (s, z):
                r = _kib(figures.traffic.get((level, operand, "read"), 0.0))
                w = _kib(figures.traffic.get((level, operand, "write"), 0.0))
                moved.append((r, w))
            if not any(r or w for r, w in moved):
                continue
            label = f"{LEVEL_LABELS.get(level, 'registers')} {operand}"
            spikec = f"{moved[0][0]:9.1f} / {moved[0][1]:8.1f}" if level != "rf" else "—"
            ratio = _ratio(sum(moved[0]), sum(moved[1])) if level != "rf" else "—"
            print(f"  {label:34}{spikec:>20}{moved[1][0]:11.1f} / {moved[1][1]:8.1f}{ratio:>8}")


def print_latency(s: Figures, z: Figures) -> None:
    print(f"  latency (cycles): spikec {s.cycles:.0f}, ZigZag {z.cycles:.0f}, "
          f"ratio {_ratio(s.cycles, z.cycles)}")  # fmt: skip
    print("    spikec: " + ", ".join(f"{k} {v:.0f}" for k, v in s.cycle_parts.items()))
    print("    ZigZag: " + ", ".join(f"{k} {v:.0f}" for k, v in z.cycle_parts.items()))


def _times(figures: Figures, level: str, operand: str, kind: str, elements: int) -> float:
    """Bits of `operand` read (written) at `level` over its one-pass size at 8 bits."""
    return figures.traffic.get((level, operand, kind), 0.0) / (8 * elements)


@dataclass
class Result:
    workload: Workload
    hw: Hardware
    spikec: Figures
    zigzag: Figures
    mapping: str
    large: Figures | None
    """ZigZag again with `--large-rf-words` registers (None when 0)."""


def explain(r: Result, rf_words: int, large_words: int) -> str:
    """The ratios of one layer, from its measured figures."""
    w, s, z, hw = r.workload, r.spikec, r.zigzag, r.hw
    e, t = w.tensor_elements, TIMESTEPS
    mac_pj = hw.number("energy.compute.mult8") + hw.number("energy.compute.add32")
    i_s, i_z = (_times(f, "dram", "I", "read", e["I"]) for f in (s, z))
    o_s, o_z = (_times(f, "dram", "O", "write", e["O"]) for f in (s, z))
    w_s, w_z = (_times(f, "dram", "W", "read", e["W"]) for f in (s, z))
    dominated = abs(s.layer_pj / z.layer_pj - 1) < abs(s.dynamic_pj / z.dynamic_pj - 1)
    text = [
        f"{w.name}: both count {s.macs / 1e6:.3g} M MACs (ZigZag {z.macs / 1e6:.3g} M: spikec's "
        f"ANN op counts one pass of the T = {t} input) at {mac_pj:.4f} pJ, so the MAC energy "
        f"agrees (ratio {_ratio(s.energy['mac'], z.energy['mac'])}).",
        f"The whole ratio, {_ratio(s.dynamic_pj, z.dynamic_pj)}, is "
        f"{'set' if dominated else 'partly set'} by the model's input and output transfers "
        f"({_uj(s.transfers_pj).strip()} against {_uj(z.transfers_pj).strip()} uJ): spikec's "
        f"IO.LOAD_INPUT reads {i_s:.2f} times the one-pass 8-bit input from DRAM and "
        f"IO.STORE_OUTPUT writes {o_s:.2f} times the one-pass 8-bit output, ZigZag {i_z:.2f} "
        f"and {o_z:.2f} times",
    ]
    out_bits = hw.integer("precision.activation_bits")
    if math.isclose(i_s, t) and math.isclose(o_s, t * out_bits / 8):
        text[-1] += (
            f" — spikec moves all T = {t} timesteps of both, and stores the output at "
            f"precision.activation_bits = {out_bits} (the SNN's width), although the variant "
            "computes one pass at ann.activation_bits = "
            f"{hw.integer('ann.activation_bits')}; the on-chip ends of those transfers "
            "(activation SRAM writes of I, reads of O) are inflated the same way"
        )
    text[-1] += "."
    text.append(
        f"The layer alone (spikec's per-layer row, its weight load included; ZigZag's figures "
        f"without the transfers) is a ratio of {_ratio(s.layer_pj, z.layer_pj)}: "
        f"{_uj(s.layer_pj).strip()} against {_uj(z.layer_pj).strip()} uJ. Both read each "
        f"weight from DRAM {w_s:.2f} / {w_z:.2f} times (spikec's weight plan holds all "
        f"{e['W'] * hw.integer('precision.weight_bits') / 8 / 1024:.1f} KiB resident, loaded "
        "once per run; ZigZag's mapping keeps them in the weight SRAM): "
        f"{_uj(s.weights_dram_pj).strip()} / {_uj(z.weights_dram_pj).strip()} uJ, "
        f"{100 * s.weights_dram_pj / s.layer_pj:.0f} % of spikec's layer."
    )

    def reuse(f: Figures) -> str:
        parts = []
        for level, operand, label in (("sram", "I", "inputs"), ("weight_sram", "W", "weights")):
            parts.append(f"{label} {_times(f, level, operand, 'read', e[operand]):.2f} times")
        return " and ".join(parts)

    o_w = _times(z, "sram", "O", "write", e["O"])
    text.append(
        "What differs is on-chip reuse: spikec's ANN op charges each input, weight and output "
        f"crossing its SRAM port once ({reuse(s)} their size), as if the array reused every "
        f"operand perfectly; ZigZag, with {rf_words} register word(s) per operand and MAC, "
        f"reads {reuse(z)} under its least-energy mapping and writes the outputs {o_w:.2f} "
        f"times ({'no partial sum leaves the registers' if o_w <= 1.01 else 'partial sums spill'}"
        f"), so its SRAMs cost {_uj(z.layer_sram_pj).strip()} uJ against spikec's "
        f"{_uj(s.layer_sram_pj).strip()} (ratio {_ratio(s.layer_sram_pj, z.layer_sram_pj)}); "
        f"its registers moved "
        f"{sum(v for (lv, _, _), v in z.traffic.items() if lv == 'rf') / 8 / 2**20:.1f} MiB at "
        "the price given (spikec prices nothing between SRAM and MAC)."
    )
    if r.large is not None:
        big = r.large
        close = math.isclose(s.layer_pj, big.layer_pj, rel_tol=0.05)
        text.append(
            f"With {large_words}-word registers ZigZag reads {reuse(big)}, and the layer alone "
            f"costs {_uj(big.layer_pj).strip()} uJ, a ratio of {_ratio(s.layer_pj, big.layer_pj)}"
            + (
                ": spikec's layer figure is the perfect-reuse bound, which ZigZag comes within "
                f"{100 * abs(big.layer_pj - s.layer_pj) / s.layer_pj:.1f} % of once the "
                "registers hold enough."
                if close
                else "."
            )
        )
    serial = math.isclose(sum(s.cycle_parts.values()), s.cycles)
    array = sum(v for k, v in s.cycle_parts.items() if k.startswith("ANN."))
    ideal, temporal = z.cycle_parts["ideal (MACs / array)"], z.cycle_parts["temporal loops"]
    text.append(
        f"Latency: spikec's MAC op takes {array:.0f} cycles (MACs / array size; ZigZag's ideal "
        f"is {ideal:.0f} at {100 * ideal / temporal:.0f} % spatial utilisation), but spikec "
        + (
            "runs the input load, the weight load, the layer and the output store one after "
            + "another"
            if serial
            else "partly overlaps its transfers"
        )
        + f" ({s.cycles:.0f} cycles), while ZigZag overlaps the DRAM transfers with the "
        f"MACs and adds {z.cycles - temporal:.0f} cycles of stalls, on- and off-loading."
    )
    text.extend(f"(spikec: {note}.)" for note in dict.fromkeys(s.notes))
    return " ".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rf-words", type=int, default=1, help="ZigZag: words per register (default 1)"
    )
    parser.add_argument(
        "--large-rf-words",
        type=int,
        default=64,
        help="ZigZag is run again with registers this large (default 64; 0: not)",
    )
    parser.add_argument(
        "--rf-energy", type=float, default=0.0, help="ZigZag: pJ per register access (default 0)"
    )
    parser.add_argument("--keep", type=Path, help="keep the models, YAML and ZigZag's outputs here")
    args = parser.parse_args()
    evaluate = require_zigzag()
    import yaml

    logging.basicConfig(level=logging.WARNING)  # before ZigZag's own basicConfig(INFO)
    logging.getLogger("zigzag").setLevel(logging.ERROR)
    described = load_target(TARGET).hardware()  # the description the compile reads
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        mapping_yaml = folder / "mapping.yaml"
        mapping_yaml.write_text(yaml.safe_dump(MAPPING, sort_keys=False))

        def zigzag(workload: Workload, hw: Hardware, words: int) -> tuple[Figures, str]:
            accelerator_yaml = folder / f"accelerator-rf{words}.yaml"
            accelerator_yaml.write_text(
                yaml.safe_dump(accelerator(hw, words, args.rf_energy), sort_keys=False)
            )
            where = folder / f"rf{words}"
            return run_zigzag(evaluate, workload, accelerator_yaml, mapping_yaml, where)

        for build in (linear_workload, conv_workload):
            workload = build(described)
            s, hw = run_spikec(workload, folder)  # hw: as the compiled program prices it
            z, mapping = zigzag(workload, hw, args.rf_words)
            large = zigzag(workload, hw, args.large_rf_words)[0] if args.large_rf_words else None
            results.append(Result(workload, hw, s, z, mapping, large))
    report(results, args.rf_words, args.large_rf_words, args.rf_energy)


def report(results: list[Result], rf_words: int, large_words: int, rf_energy: float) -> None:
    hw = results[0].hw
    mac_pj = hw.number("energy.compute.mult8") + hw.number("energy.compute.add32")
    print(
        f"spikec {TARGET}:{VARIANT} (T = {TIMESTEPS}, batch 1) and ZigZag on the same design: "
        f"{hw.integer('ann.rows')} x {hw.integer('ann.columns')} MACs at {mac_pj:.4f} pJ"
    )
    for name, level in levels(hw).items():
        size = f"{level.capacity_bits / 8192:.0f} kB" if level.on_chip else "off chip"
        print(
            f"  {name:12} {size:9} {hw.number(level.read_entry):8.2f} / "
            f"{hw.number(level.write_entry):.2f} pJ a {level.word_bits}-bit read / write, "
            f"{level.bits_per_cycle:.0f} bits a cycle"
        )
    print(
        f"  ZigZag's registers: {rf_words} word(s) per operand (8-bit I and W, "
        f"{ACCUMULATOR_BITS}-bit O) and MAC, {rf_energy:g} pJ an access"
    )
    total_s, total_z, total_large = Figures(), Figures(), Figures()
    for r in results:
        print()
        print(f"== {r.workload.title}: {r.spikec.macs / 1e6:.3g} M MACs")
        print_energy(r.spikec, r.zigzag, rf_energy, r.large, large_words)
        if r.large is not None:
            total_large.add(r.large)
        print_traffic(r.spikec, r.zigzag)
        print_latency(r.spikec, r.zigzag)
        print(f"  ZigZag's mapping: {r.mapping}")
        total_s.add(r.spikec)
        total_z.add(r.zigzag)
    print()
    print("== both layers")
    print_energy(total_s, total_z, rf_energy, total_large if large_words else None, large_words)
    print(f"  latency (cycles): spikec {total_s.cycles:.0f}, ZigZag {total_z.cycles:.0f}, "
          f"ratio {_ratio(total_s.cycles, total_z.cycles)}")  # fmt: skip
    print()
    print("Why the ratios are what they are:")
    for r in results:
        print()
        print(textwrap.fill(explain(r, rf_words, large_words), width=100))


if __name__ == "__main__":
    main()
