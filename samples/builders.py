"""Parameterised spiking-transformer models in spikec's ONNX convention.

One function per model family of DESIGN.md, each returning an `onnx.ModelProto` whose sizes are
arguments, so that the bundled samples and the paper-sized benchmark models come from the same
code. Weights are random (seeded) and dyadic fixed point (multiples of 2^-8): sums of their
products with spikes are exact in float32 in any order, which keeps every backend's threshold
comparisons identical. `gains` scales the weights feeding each spiking layer, by layer name, so
that a calibration loop (`samples/generate.py`) can set realistic firing rates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.frontend.onnx_functions import make_model

FRACTION_BITS = 8
"""Weights and inputs are multiples of 2^-FRACTION_BITS."""


def dyadic(array: np.ndarray, bits: int = FRACTION_BITS) -> np.ndarray:
    """Round to the fixed-point grid (float32)."""
    return (np.round(np.asarray(array, np.float64) * 2**bits) / 2**bits).astype(np.float32)


@dataclass
class Graph:
    """Accumulates nodes and initializers with readable names (`b0.attn.q`, `b0.attn.q_lif`)."""

    seed: int
    timesteps: int
    gains: Mapping[str, float] = field(default_factory=dict)
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    spiking: list[str] = field(default_factory=list)
    """Names of the spiking layers, in order (their outputs are named `<layer>_lif`)."""

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def gain(self, layer: str) -> float:
        return float(self.gains.get(layer, 1.0))

    def power_of_two_gain(self, layer: str) -> float:
        """The gain rounded to a power of two, for scales that must keep sums exact."""
        return float(2.0 ** round(np.log2(self.gain(layer))))

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def shape(self, name: str, dims: Sequence[int]) -> str:
        return self.const(name, np.array(list(dims), np.int64))

    def node(
        self, op: str, inputs: Sequence[str], output: str, domain: str = "", **attrs: object
    ) -> str:
        node = helper.make_node(op, list(inputs), [output], name=output, domain=domain)
        node.attribute.extend(helper.make_attribute(k, v) for k, v in attrs.items())
        self.nodes.append(node)
        return output

    # -- layers ----------------------------------------------------------------------------

    def linear(self, x: str, d_in: int, d_out: int, name: str, gain_of: str = "") -> str:
        """`x @ W + b` (Spikformer's Linear + BatchNorm1d, folded at export)."""
        g = self.gain(gain_of or name)
        w = self.rng.normal(size=(d_in, d_out)) * g / np.sqrt(d_in)
        b = self.rng.normal(size=d_out) * 0.1 * g
        product = self.node("MatMul", [x, self.const(f"{name}.weight", dyadic(w))], f"{name}.mm")
        return self.node("Add", [product, self.const(f"{name}.bias", dyadic(b))], name)

    def conv_bn(self, x: str, c_in: int, c_out: int, name: str, gain_of: str = "") -> str:
        """3x3 convolution (padding 1) and inference batch norm, on time folded into the batch."""
        g = self.gain(gain_of or name)
        w = self.rng.normal(size=(c_out, c_in, 3, 3)) * g / np.sqrt(9 * c_in)
        conv = self.node(
            "Conv",
            [x, self.const(f"{name}.weight", dyadic(w))],
            f"{name}.conv",
            pads=[1, 1, 1, 1],
        )
        params = [
            dyadic(1 + 0.1 * self.rng.normal(size=c_out)),
            dyadic(0.1 * self.rng.normal(size=c_out)),
            dyadic(0.1 * self.rng.normal(size=c_out)),
            dyadic(1 + 0.2 * self.rng.random(size=c_out)),
        ]
        names = [
            self.const(f"{name}.bn.{p}", a)
            for p, a in zip(("scale", "bias", "mean", "var"), params, strict=True)
        ]
        return self.node("BatchNormalization", [conv, *names], name, epsilon=1e-5)

    def lif(self, x: str, layer: str, **attrs: object) -> str:
        """A spiking layer named `layer`; its spikes are `<layer>_lif`."""
        self.spiking.append(layer)
        return self.node("LIF", [x], f"{layer}_lif", domain="spike", **attrs)

    def fold(self, x: str, item: Sequence[int], name: str) -> str:
        """[T, B, ...] -> [T*B, ...] for the stateless layers."""
        return self.node("Reshape", [x, self.shape(f"{name}.shape", [-1, *item])], name)

    def unfold(self, x: str, item: Sequence[int], name: str) -> str:
        """[T*B, ...] -> [T, B, ...]."""
        shape = self.shape(f"{name}.shape", [self.timesteps, -1, *item])
        return self.node("Reshape", [x, shape], name)

    def head(self, x: str, dim: int, classes: int) -> str:
        """Mean over tokens, linear classifier per step, mean over time."""
        pooled = self.node("ReduceMean", [x], "head.pool", axes=[2], keepdims=0)
        logits = self.linear(pooled, dim, classes, "head.fc")
        return self.node("ReduceMean", [logits], "logits", axes=[0], keepdims=0)

    def model(
        self,
        inputs: Sequence[tuple[str, Sequence[int | str]]],
        output: str,
        classes: int,
        name: str,
    ) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["B", classes])],
            initializer=self.initializers,
        )
        return make_model(graph, **{"spike.timesteps": str(self.timesteps)})


# ---------------------------------------------------------------------------------------------
# Model families
# ---------------------------------------------------------------------------------------------


def _sps_stem(g: Graph, image: int, channels: Sequence[int], pool_after: set[int]) -> str:
    """Conv + BN + LIF stages on the image repeated over time, max-pooling spikes after the
    stages in `pool_after`. Returns spikes [T, B, C, H', W']."""
    x, size = g.fold("x", [3, image, image], "sps.fold"), image
    c_in = 3
    for i, c_out in enumerate(channels):
        y = g.conv_bn(x, c_in, c_out, f"sps.conv{i}")
        y = g.unfold(y, [c_out, size, size], f"sps.conv{i}.unfold")
        s = g.lif(y, f"sps.conv{i}")
        if i in pool_after:
            s = g.fold(s, [c_out, size, size], f"sps.pool{i}.fold")
            s = g.node(
                "MaxPool",
                [s],
                f"sps.pool{i}",
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
            )
            size //= 2
            s = g.unfold(s, [c_out, size, size], f"sps.pool{i}.unfold")
        x, c_in = g.fold(s, [c_out, size, size], f"sps.conv{i + 1}.fold"), c_out
    return x


def _tokens(g: Graph, x: str, dim: int, size: int, name: str) -> str:
    """[T, B, D, H, W] -> [T, B, N, D]."""
    flat = g.node(
        "Reshape",
        [x, g.shape(f"{name}.shape", [g.timesteps, -1, dim, size * size])],
        f"{name}.flat",
    )
    return g.node("Transpose", [flat], name, perm=[0, 1, 3, 2])


def _ssa_block(g: Graph, x: str, dim: int, heads: int, scale: float, p: str) -> str:
    """Spikformer attention: q/k/v spikes, SSA, a neuron (v_th 0.5), a projection neuron."""
    qkv = [g.lif(g.linear(x, dim, dim, f"{p}.attn.{n}"), f"{p}.attn.{n}") for n in "qkv"]
    scale *= g.power_of_two_gain(f"{p}.attn.ssa")
    attn = g.node("SSA", qkv, f"{p}.attn.ssa", domain="spike", heads=heads, scale=scale)
    attn = g.lif(attn, f"{p}.attn.ssa", v_threshold=0.5)
    return g.lif(g.linear(attn, dim, dim, f"{p}.attn.proj"), f"{p}.attn.proj")


def spikformer(
    *,
    blocks: int = 2,
    dim: int = 64,
    heads: int = 4,
    mlp_ratio: int = 4,
    image: int = 32,
    timesteps: int = 4,
    classes: int = 10,
    attention_scale: float = 0.125,
    seed: int = 0,
    gains: Mapping[str, float] | None = None,
) -> tuple[onnx.ModelProto, list[str]]:
    """Spikformer (Zhou et al., ICLR 2023): SPS conv stem with a relative-position conv,
    blocks of spiking self-attention and a spiking MLP with residual sums of spikes.
    Input `x [T, B, 3, image, image]`; image / 4 squared tokens. Returns the model and the names
    of its spiking layers."""
    g = Graph(seed, timesteps, gains or {})
    channels = [dim // 4, dim // 2, dim]
    x = _sps_stem(g, image, channels, pool_after={1, 2})
    size = image // 4
    rpe = g.unfold(g.conv_bn(x, dim, dim, "sps.rpe"), [dim, size, size], "sps.rpe.unfold")
    rpe = g.lif(rpe, "sps.rpe")
    stem = g.unfold(x, [dim, size, size], "sps.out")
    x = g.node("Add", [stem, rpe], "sps.residual")
    x = _tokens(g, x, dim, size, "tokens")
    hidden = dim * mlp_ratio
    for b in range(blocks):
        p = f"b{b}"
        x = g.node(
            "Add", [x, _ssa_block(g, x, dim, heads, attention_scale, p)], f"{p}.attn.residual"
        )
        h = g.lif(g.linear(x, dim, hidden, f"{p}.mlp.fc1"), f"{p}.mlp.fc1")
        m = g.lif(g.linear(h, hidden, dim, f"{p}.mlp.fc2"), f"{p}.mlp.fc2")
        x = g.node("Add", [x, m], f"{p}.mlp.residual")
    out = g.head(x, dim, classes)
    return g.model(
        [("x", [timesteps, "B", 3, image, image])], out, classes, "spikformer"
    ), g.spiking


def sdt(
    *,
    blocks: int = 2,
    dim: int = 64,
    heads: int = 4,
    mlp_ratio: int = 4,
    image: int = 32,
    timesteps: int = 4,
    classes: int = 10,
    seed: int = 0,
    gains: Mapping[str, float] | None = None,
) -> tuple[onnx.ModelProto, list[str]]:
    """Spike-driven Transformer (Yao et al., NeurIPS 2023): SPS stem (max-pool on spikes after
    conv2, on membranes after conv3), relative-position conv with a membrane shortcut, blocks of
    spike-driven self-attention and MLP whose residuals add membrane potentials, and a head with a
    neuron on the token mean. Input `x [T, B, 3, image, image]`."""
    g = Graph(seed, timesteps, gains or {})
    x = _sps_stem(g, image, [dim // 8, dim // 4, dim // 2], pool_after={2})
    size = image // 2
    # conv3 + BN, then max-pool on the membrane, before its neuron
    y = g.conv_bn(x, dim // 2, dim, "sps.conv3")
    y = g.node("MaxPool", [y], "sps.pool3", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    size //= 2
    feat = g.unfold(y, [dim, size, size], "sps.pool3.unfold")
    s = g.fold(g.lif(feat, "sps.conv3"), [dim, size, size], "sps.rpe.fold")
    rpe = g.unfold(g.conv_bn(s, dim, dim, "sps.rpe"), [dim, size, size], "sps.rpe.unfold")
    u = g.node("Add", [rpe, feat], "sps.shortcut")
    u = _tokens(g, u, dim, size, "tokens")
    hidden = dim * mlp_ratio
    for b in range(blocks):
        p = f"b{b}"
        s = g.lif(u, f"{p}.attn.in")
        qkv = [g.lif(g.linear(s, dim, dim, f"{p}.attn.{n}"), f"{p}.attn.{n}") for n in "qkv"]
        y = g.node("SDSA", qkv, f"{p}.attn.sdsa", domain="spike", heads=heads, v_threshold=0.5)
        g.spiking.append(f"{p}.attn.sdsa")
        u = g.node("Add", [u, g.linear(y, dim, dim, f"{p}.attn.proj")], f"{p}.attn.shortcut")
        s = g.lif(u, f"{p}.mlp.in")
        h = g.lif(g.linear(s, dim, hidden, f"{p}.mlp.fc1"), f"{p}.mlp.fc1")
        u = g.node("Add", [u, g.linear(h, hidden, dim, f"{p}.mlp.fc2")], f"{p}.mlp.shortcut")
    pooled = g.node("ReduceMean", [u], "head.pool", axes=[2], keepdims=0)
    s = g.lif(pooled, "head")
    logits = g.linear(s, dim, classes, "head.fc")
    out = g.node("ReduceMean", [logits], "logits", axes=[0], keepdims=0)
    return g.model([("x", [timesteps, "B", 3, image, image])], out, classes, "sdt"), g.spiking


def xpikeformer(
    *,
    blocks: int = 2,
    dim: int = 64,
    heads: int = 4,
    mlp_ratio: int = 4,
    tokens: int = 16,
    patch: int = 48,
    timesteps: int = 4,
    classes: int = 10,
    c1: float = 2.0,
    c2: float = 2.0,
    seed: int = 0,
    gains: Mapping[str, float] | None = None,
) -> tuple[onnx.ModelProto, list[str]]:
    """Xpikeformer-style ViT (Song et al., TVLSI 2025): patch embedding, a real-valued residual
    stream, q/k/v neurons (tau 2, decay_input off), stochastic spiking attention with a masked
    diagonal whose uniform numbers are initializers (batch-broadcast), and a feed-forward neuron
    with tau 1.2 followed by LayerNorm on the FF output. Input `x [T, B, tokens, patch]`."""
    g = Graph(seed, timesteps, gains or {})
    x = g.linear("x", patch, dim, "embed")
    dh, hidden = dim // heads, dim * mlp_ratio
    for b in range(blocks):
        p = f"b{b}"
        qkv = [
            g.lif(g.linear(x, dim, dim, f"{p}.attn.{n}"), f"{p}.attn.{n}", decay_input=0)
            for n in "qkv"
        ]
        u1 = g.const(
            f"{p}.attn.u1", g.rng.random((timesteps, 1, heads, tokens, tokens), np.float32)
        )
        u2 = g.const(f"{p}.attn.u2", g.rng.random((timesteps, 1, heads, tokens, dh), np.float32))
        a = g.node(
            "StochasticAttention",
            [*qkv, u1, u2],
            f"{p}.attn.ssa",
            domain="spike",
            heads=heads,
            c1=c1,
            c2=c2 / g.power_of_two_gain(f"{p}.attn.ssa"),
            mask_diagonal=1,
            seed=seed,
        )
        g.spiking.append(f"{p}.attn.ssa")
        x = g.node("Add", [x, g.linear(a, dim, dim, f"{p}.attn.proj")], f"{p}.attn.residual")
        h = g.lif(g.linear(x, dim, hidden, f"{p}.ff.fc1"), f"{p}.ff.fc1", tau=1.2, decay_input=0)
        f = g.linear(h, hidden, dim, f"{p}.ff.fc2")
        gamma = g.const(f"{p}.ff.norm.scale", dyadic(1 + 0.1 * g.rng.normal(size=dim)))
        beta = g.const(f"{p}.ff.norm.bias", dyadic(0.1 * g.rng.normal(size=dim)))
        f = g.node("LayerNormalization", [f, gamma, beta], f"{p}.ff.norm", axis=-1, epsilon=1e-5)
        x = g.node("Add", [x, f], f"{p}.ff.residual")
    pooled = g.node("ReduceMean", [x], "head.pool", axes=[2], keepdims=0)
    pooled = g.node("ReduceMean", [pooled], "head.time", axes=[0], keepdims=0)
    out = g.linear(pooled, dim, classes, "logits")
    return g.model([("x", [timesteps, "B", tokens, patch])], out, classes, "xpikeformer"), g.spiking


def _experts(g: Graph, x: str, gates: str, dim: int, hidden: int, experts: int, p: str) -> str:
    """Expert e: Dispatch -> Linear -> LIF -> Linear -> LIF; outputs stacked and combined."""
    axis0 = g.const(f"{p}.axis0", np.array([0], np.int64))
    stacked = []
    for e in range(experts):
        name = f"{p}.moe.e{e}"
        xe = g.node("Dispatch", [x, gates], f"{name}.in", domain="spike", expert=e)
        h = g.lif(g.linear(xe, dim, hidden, f"{name}.fc1"), f"{name}.fc1")
        y = g.lif(g.linear(h, hidden, dim, f"{name}.fc2"), f"{name}.fc2")
        stacked.append(g.node("Unsqueeze", [y, axis0], f"{name}.stack"))
    stack = g.node("Concat", stacked, f"{p}.moe.stack", axis=0)
    return g.node("Combine", [gates, stack], f"{p}.moe", domain="spike")


def moe(
    *,
    blocks: int = 2,
    dim: int = 64,
    heads: int = 8,
    tokens: int = 16,
    patch: int = 48,
    experts: int = 4,
    k: int = 2,
    expert_hidden: int = 64,
    timesteps: int = 4,
    classes: int = 10,
    attention_scale: float = 0.125,
    seed: int = 0,
    gains: Mapping[str, float] | None = None,
) -> tuple[onnx.ModelProto, list[str]]:
    """Spiking MoE transformer: spiking patch embedding, multi-head spiking self-attention, and a
    mixture of spiking-MLP experts per block. Even blocks route top-k (TopKRouter on router
    scores); odd blocks use a spike-gated router (SEMM-style: the gates are the spikes of a
    router neuron). Input `x [T, B, tokens, patch]`."""
    g = Graph(seed, timesteps, gains or {})
    x = g.lif(g.linear("x", patch, dim, "embed"), "embed")
    for b in range(blocks):
        p = f"b{b}"
        x = g.node(
            "Add", [x, _ssa_block(g, x, dim, heads, attention_scale, p)], f"{p}.attn.residual"
        )
        scores = g.linear(x, dim, experts, f"{p}.router")
        if b % 2 == 0:
            gates = g.node("TopKRouter", [scores], f"{p}.router.gates", domain="spike", k=k)
        else:
            gates = g.lif(scores, f"{p}.router")
        y = _experts(g, x, gates, dim, expert_hidden, experts, p)
        x = g.node("Add", [x, y], f"{p}.moe.residual")
    out = g.head(x, dim, classes)
    return g.model([("x", [timesteps, "B", tokens, patch])], out, classes, "moe"), g.spiking
