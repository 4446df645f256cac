"""Property test: on random small spiking graphs and random pass pipelines, every pass leaves IR
that verifies and round-trips, and the reference interpreter gives identical outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import Block, Operation, Region, SSAValue

from compiler.dialects import spike
from compiler.dialects.spike.types import DYNAMIC, LeakyResetMode, ResetMode, real_type, shape_of
from compiler.interpreters.reference import evaluate
from compiler.ir.parse import parse_ir
from compiler.ir.printer import print_ir
from compiler.ir.weights import WeightStore, array_to_dense
from compiler.transforms.pipeline import run_pipeline


@dataclass
class RandomGraph:
    """Builds a module block by block from hypothesis draws; weights are inline and dyadic."""

    draw: st.DrawFn
    timesteps: int
    tokens: int
    dim: int
    globals: list[spike.GlobalOp] = field(default_factory=list)
    ops: list[Operation] = field(default_factory=list)
    stochastic_without_tables: bool = False

    def add(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0]

    def weight(self, shape: tuple[int, ...], low: float = -1.0, high: float = 1.0) -> SSAValue:
        seed = self.draw(st.integers(0, 2**31))
        array = np.random.default_rng(seed).uniform(low, high, size=shape)
        data = (np.round(array * 16) / 16).astype(np.float32)
        name = f"w{len(self.globals)}"
        declaration = spike.GlobalOp(name, real_type(shape), array_to_dense(data))
        self.globals.append(declaration)
        return self.add(spike.WeightOp(name, declaration.type))

    def neuron(self, x: SSAValue) -> SSAValue:
        kind = self.draw(st.sampled_from(["lif", "if", "leaky", "cuba_lif"]))
        if kind == "lif":
            op: Operation = spike.LIFOp(
                x,
                tau=self.draw(st.sampled_from([1.0, 2.0, 4.0])),
                v_threshold=self.draw(st.sampled_from([0.5, 1.0])),
                decay_input=self.draw(st.booleans()),
                reset=self.draw(st.sampled_from(list(ResetMode))),
            )
        elif kind == "if":
            op = spike.IFOp(x, v_threshold=1.0, reset=self.draw(st.sampled_from(list(ResetMode))))
        elif kind == "leaky":
            op = spike.LeakyOp(
                x,
                beta=0.5,
                reset_mechanism=self.draw(st.sampled_from(list(LeakyResetMode))),
            )
        else:
            op = spike.CubaLIFOp(
                x,
                dt_tau_mem_inv=self.draw(st.sampled_from([0.1, 0.5, 1.0])),
                dt_tau_syn_inv=self.draw(st.sampled_from([0.0, 0.2, 1.0])),
                v_threshold=self.draw(st.sampled_from([0.25, 1.0])),
            )
        return self.add(op)

    def spikes(self, x: SSAValue) -> SSAValue:
        return x if isinstance(x.type, spike.SpikeTrainType) else self.neuron(x)

    def linear(self, x: SSAValue) -> SSAValue:
        d = shape_of(x)[-1]
        bias = self.weight((self.dim,)) if self.draw(st.booleans()) else None
        return self.add(spike.LinearOp(x, self.weight((d, self.dim)), bias))

    def attention(self, x: SSAValue) -> SSAValue:
        s = self.spikes(x)
        heads = self.draw(st.sampled_from([h for h in (1, 2, 4) if self.dim % h == 0]))
        kind = self.draw(st.sampled_from(["ssa", "sdsa", "token", "stochastic"]))
        if kind == "ssa":
            return self.neuron(self.add(spike.SSAOp(s, s, s, heads=heads, scale=0.25)))
        if kind == "sdsa":
            return self.add(spike.SDSAOp(s, s, s, heads=heads))
        if kind == "token":
            key = self.add(spike.MulOp(s, s)) if self.draw(st.booleans()) else s
            return self.add(spike.TokenAttentionOp(s, key, heads=heads, v_threshold=1.0))
        t, n, dh = self.timesteps, self.tokens, self.dim // heads
        tables = None
        if self.draw(st.booleans()):
            tables = (
                self.weight((t, 1, heads, n, n), 0.0, 1.0),
                self.weight((t, 1, heads, n, dh), 0.0, 1.0),
            )
        else:
            self.stochastic_without_tables = True
        return self.add(
            spike.StochasticAttentionOp(
                s,
                s,
                s,
                heads=heads,
                c1=2.0,
                c2=2.0,
                mask_diagonal=self.draw(st.booleans()),
                seed=3,
                stream=len(self.ops),
                uniforms=tables,
            )
        )

    def moe(self, x: SSAValue) -> SSAValue:
        experts = self.draw(st.integers(1, 4))
        scores = self.add(spike.LinearOp(x, self.weight((shape_of(x)[-1], experts))))
        if self.draw(st.booleans()):
            gates = self.add(spike.RouteTopKOp(scores, k=self.draw(st.integers(1, experts))))
        else:
            gates = self.neuron(scores)
        regions = []
        for _ in range(experts):
            region = spike.MoEOp.expert_region(x.type)
            outer = self.ops
            self.ops = []
            self.neuron(self.linear(region.block.args[0]))
            body = self.ops
            self.ops = outer
            for op in body:
                region.block.add_op(op)
            region.block.add_op(spike.YieldOp(body[-1].results[0]))
            regions.append(region)
        return self.add(spike.MoEOp(x, gates, regions, spike_output=False))

    def conv(self, x: SSAValue) -> SSAValue:
        """Tokens as a 1 x N image: conv 1x3 + batch norm (foldable exactly) + neuron + pool."""
        t, _, n, d = shape_of(x)
        image = self.add(
            spike.ReshapeOp(self.add(spike.TransposeOp(x, [0, 1, 3, 2])), [t, -1, d, 1, n])
        )
        conv = self.add(
            spike.Conv2dOp(image, self.weight((d, d, 1, 3)), strides=[1, 1], pads=[0, 1, 0, 1])
        )
        gamma = self.add(spike.ConstantOp(array_to_dense(np.full(d, 2.0, np.float32))))
        shift = self.weight((d,))
        var = self.add(spike.ConstantOp(array_to_dense(np.full(d, 0.75, np.float32))))
        norm = self.add(spike.BatchNormOp(conv, gamma, shift, shift, var, axis=2, epsilon=0.25))
        fired = self.neuron(norm)
        pooled = self.add(spike.MaxPoolOp(fired, kernel=[1, 2], strides=[1, 1], pads=[0, 0, 0, 1]))
        flat = self.add(spike.ReshapeOp(pooled, [t, -1, d, n]))
        return self.add(spike.TransposeOp(flat, [0, 1, 3, 2]))

    def residual(self, x: SSAValue, skip: SSAValue) -> SSAValue:
        return self.add(spike.AddOp(x, skip))


@st.composite
def graphs(draw: st.DrawFn) -> tuple[ModuleOp, RandomGraph]:
    t, n, d = draw(st.integers(1, 3)), draw(st.integers(2, 5)), draw(st.sampled_from([4, 8]))
    g = RandomGraph(draw, t, n, d)
    block = Block(arg_types=[real_type((t, DYNAMIC, n, d))])
    x: SSAValue = block.args[0]
    x = g.linear(x)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["linear", "attention", "moe", "conv", "residual"]))
        before = x
        if kind == "linear":
            x = g.neuron(g.linear(x))
        elif kind == "attention":
            x = g.attention(x)
        elif kind == "moe":
            x = g.moe(x)
        elif kind == "conv":
            x = g.conv(x)
        else:
            x = g.residual(g.linear(x), g.linear(before))
    for op in g.ops:
        block.add_op(op)
    block.add_op(func.ReturnOp(x))
    function = func.FuncOp("main", ([block.args[0].type], [x.type]), Region(block))
    module = ModuleOp([*g.globals, function])
    module.attributes["spike.timesteps"] = IntegerAttr(t, i64)
    module.verify()
    return module, g


@st.composite
def pipelines(draw: st.DrawFn, graph: RandomGraph) -> str:
    passes = []
    if draw(st.booleans()):
        passes.append("fold-batchnorm")
    if draw(st.booleans()):
        policy = draw(st.sampled_from(["round-robin", "balanced"]))
        passes.append(f"partition-heads{{units={draw(st.integers(1, 6))} policy={policy}}}")
    partitioned = draw(st.booleans())
    if partitioned:
        policy = draw(st.sampled_from(["round-robin", "balanced"]))
        passes.append(f"partition-experts{{units={draw(st.integers(1, 6))} policy={policy}}}")
    if draw(st.booleans()):
        ops = ["ssa", "sdsa", "token_attention", "moe"] + (
            [] if graph.stochastic_without_tables else ["stochastic_attention"]
        )
        chosen = draw(st.lists(st.sampled_from(ops), min_size=1, unique=True))
        passes.append(f"decompose{{ops={','.join(chosen)}}}")
    if draw(st.booleans()):
        capable = [
            "linear",
            "conv2d",
            "maxpool",
            "add",
            "mul",
            "ssa",
            "sdsa",
            "token_attention",
            "stochastic_attention",
        ]
        consumers = draw(st.lists(st.sampled_from(capable), unique=True))
        option = f"{{consumers={','.join(consumers)}}}" if consumers else ""
        passes.append("sparsity-encoding" + option)
    if draw(st.booleans()):
        mode = "logic-on-logic" if partitioned and draw(st.booleans()) else "memory-on-logic"
        passes.append(f"tier-map{{tiers={draw(st.integers(1, 3))} mode={mode}}}")
    passes += draw(st.lists(st.sampled_from(["canonicalize", "cse", "dce"]), unique=True))
    return ",".join(passes)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_graphs_and_pipelines(data: st.DataObject) -> None:
    module, graph = data.draw(graphs())
    spec = data.draw(pipelines(graph))
    batch = data.draw(st.integers(1, 2))
    function = module.body.block.ops.last
    assert isinstance(function, func.FuncOp)
    t, _, n, d = shape_of(function.function_type.inputs.data[0])
    x = (np.round(np.random.default_rng(batch).uniform(-2, 2, (t, batch, n, d)) * 16) / 16).astype(
        np.float32
    )
    before = evaluate(module, WeightStore.for_module(module), {"arg0": x})
    transformed = module.clone()
    run_pipeline(transformed, spec)
    transformed.verify()
    text = print_ir(transformed)
    reparsed = parse_ir(text, "random.mlir")
    assert print_ir(reparsed) == text
    after = evaluate(reparsed, WeightStore.for_module(reparsed), {"arg0": x})
    for name in before:
        assert np.array_equal(before[name], after[name]), f"{spec}: {name} differs"
