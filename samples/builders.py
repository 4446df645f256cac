"""Parameterised spiking-transformer models in spikec's ONNX convention.

One function per model family of DESIGN.md, each building an `onnx.ModelProto` whose sizes are
arguments, so that the bundled samples and the paper-sized benchmark models come from the same
code. Each returns the model and its calibration steps (spiking layers, routers) in graph order.

Exactness: weights, biases and batch-norm parameters are dyadic fixed point (multiples of 2^-8)
and batch norms divide by powers of two (`var + epsilon` is 1/4 or 1), so sums of their products
with spikes, spike counts or the dyadic input are exact in float32 in any order, and every
backend (onnxruntime with its fusions, spikec's reference, fold-batchnorm, the targets) makes
identical threshold decisions. The exception is Xpikeformer's real-valued residual stream: its
layers multiply the patch embedding's outputs (multiples of 2^-16) by weights again, and
LayerNorm divides inexactly, so there the backends agree to about an ulp, not bit for bit.

Calibration: `gains` scales the weights feeding each layer, by name, and each `Layer` names the
gain (its `knob`) that sets its firing rate; `biases` adds per-expert biases to a router (each
`Router`), which balance the experts' load. `samples/generate.py` calibrates them one by one, in
graph order.
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

BN_EPSILON = 2.0**-8
"""Batch-norm epsilon; variances are `std**2 - BN_EPSILON` with std 1/2 or 1, so the division by
`sqrt(var + epsilon)` is exact in float32 whether or not a backend folds the norm."""

BN_SCALE_BITS = 4
"""Batch-norm scales have fewer fraction bits than weights, so that a conv on the dyadic image
folded with its norm still sums exactly (2^-8 input x 2^-12 weight, below 2^4)."""


def dyadic(array: np.ndarray, bits: int = FRACTION_BITS) -> np.ndarray:
    """Round to the fixed-point grid (float32)."""
    return (np.round(np.asarray(array, np.float64) * 2**bits) / 2**bits).astype(np.float32)


@dataclass(frozen=True)
class Layer:
    """A spiking layer: the value holding its spikes, and the gain that sets its firing rate."""

    name: str
    output: str
    knob: str | None
    """Name of the gain to calibrate this layer with; None when its rate follows from earlier
    layers and from a knob a later layer owns (e.g. SSA's V, set through the attention)."""
    power_of_two: bool = False
    """The knob only takes powers of two (a divisor that must stay exact)."""


@dataclass(frozen=True)
class Router:
    """An MoE router whose per-expert biases (`biases[name]`) balance the experts' load, as
    auxiliary-loss-free balancing does in training (a randomly initialised router sends most
    tokens to a few experts, and the others would never fire)."""

    name: str
    gates: str
    """The value holding the gates [T, B, N, E]."""
    load: float
    """The fraction of tokens each expert should receive."""


Step = Layer | Router
"""One step of calibration, in graph order."""


@dataclass
class Graph:
    """Accumulates nodes and initializers with readable names (`b0.attn.q`, `b0.attn.q_lif`)."""

    seed: int
    timesteps: int
    gains: Mapping[str, float] = field(default_factory=dict)
    biases: Mapping[str, Sequence[float]] = field(default_factory=dict)
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Weights are drawn in a fixed order whatever the gains, so calibrating one layer
        # leaves every other layer's weights unchanged.
        self.rng = np.random.default_rng(self.seed)

    def gain(self, name: str) -> float:
        return float(self.gains.get(name, 1.0))

    def power_of_two_gain(self, name: str) -> float:
        """The gain rounded to a power of two, for divisors that must keep values exact."""
        return float(2.0 ** round(np.log2(self.gain(name))))

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def shape(self, name: str, dims: Sequence[int]) -> str:
        return self.const(name, np.array(list(dims), np.int64))

    def node(
        self, op: str, inputs: Sequence[str], output: str, domain: str = "", **attrs: object
    ) -> str:
        """One node, named after its output so that spikec's IR shows the same name."""
        node = helper.make_node(op, list(inputs), [output], name=output, domain=domain)
        node.attribute.extend(helper.make_attribute(k, v) for k, v in attrs.items())
        self.nodes.append(node)
        return output

    # -- layers ----------------------------------------------------------------------------

    def linear(self, x: str, d_in: int, d_out: int, name: str, bias: bool = True) -> str:
        """`x @ W + b` (a Linear with its BatchNorm1d folded in, as at export); gain `name`,
        plus `biases[name]` if given."""
        g = self.gain(name)
        w = self.rng.normal(size=(d_in, d_out)) * g / np.sqrt(d_in)
        b = self.rng.normal(size=d_out) * 0.1 * g + np.asarray(self.biases.get(name, 0.0))
        # (b is drawn even without a bias, so that the draws of later layers stay the same)
        weight = self.const(f"{name}.weight", dyadic(w))
        if not bias:
            return self.node("MatMul", [x, weight], name)
        product = self.node("MatMul", [x, weight], f"{name}.mm")
        return self.node("Add", [product, self.const(f"{name}.bias", dyadic(b))], name)

    def conv_bn(self, x: str, c_in: int, c_out: int, name: str) -> str:
        """3x3 convolution (padding 1, no bias) and inference batch norm, on time folded into
        the batch; gain `name` scales the convolution."""
        w = self.rng.normal(size=(c_out, c_in, 3, 3)) * self.gain(name) / np.sqrt(9 * c_in)
        conv = self.node(
            "Conv",
            [x, self.const(f"{name}.weight", dyadic(w))],
            f"{name}.conv",
            pads=[1, 1, 1, 1],
        )
        std = self.rng.choice([0.5, 1.0], size=c_out)
        params = {
            "scale": dyadic(1 + 0.1 * self.rng.normal(size=c_out), BN_SCALE_BITS),
            "bias": dyadic(0.1 * self.rng.normal(size=c_out)),
            "mean": dyadic(0.1 * self.rng.normal(size=c_out)),
            "var": (std**2 - BN_EPSILON).astype(np.float32),
        }
        names = [self.const(f"{name}.bn.{p}", a) for p, a in params.items()]
        return self.node("BatchNormalization", [conv, *names], name, epsilon=BN_EPSILON)

    def lif(self, x: str, layer: str, knob: str | None = "", **attrs: object) -> str:
        """A LIF layer named `layer` whose spikes are `<layer>_lif`; calibrated by the gain
        `knob` (default: `layer`, the weights in front of it)."""
        out = self.node("LIF", [x], f"{layer}_lif", domain="spike", **attrs)
        self.steps.append(Layer(layer, out, layer if knob == "" else knob))
        return out

    def fold(self, x: str, item: Sequence[int], name: str) -> str:
        """[T, B, ...] -> [T*B, ...] for the stateless layers."""
        return self.node("Reshape", [x, self.shape(f"{name}.shape", [-1, *item])], name)

    def unfold(self, x: str, item: Sequence[int], name: str) -> str:
        """[T*B, ...] -> [T, B, ...]."""
        shape = self.shape(f"{name}.shape", [self.timesteps, -1, *item])
        return self.node("Reshape", [x, shape], name)

    def maxpool(self, x: str, name: str) -> str:
        """3x3 max-pool, stride 2 (SPS's down-sampling), on a folded value."""
        return self.node(
            "MaxPool", [x], name, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
        )

    def head(self, x: str, dim: int, classes: int) -> str:
        """Spikformer's head: mean over tokens, a linear classifier per step, mean over time."""
        pooled = self.node("ReduceMean", [x], "head.pool", axes=[2], keepdims=0)
        logits = self.linear(pooled, dim, classes, "head.fc")
        return self.node("ReduceMean", [logits], "logits", axes=[0], keepdims=0)

    def model(
        self, input_shape: Sequence[int | str], output: str, classes: int, name: str
    ) -> tuple[onnx.ModelProto, list[Step]]:
        """The model (input `x`, output `logits [B, classes]`) and its calibration steps."""
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["B", classes])],
            initializer=self.initializers,
        )
        model = make_model(graph, **{"spike.timesteps": str(self.timesteps)})
        return model, list(self.steps)


# ---------------------------------------------------------------------------------------------
# Model families
# ---------------------------------------------------------------------------------------------


def _sps_stem(g: Graph, image: int, channels: Sequence[int], pool_after: set[int]) -> str:
    """SPS: Conv + BN + LIF stages on the image repeated over time, max-pooling the spikes after
    the stages in `pool_after`. Returns the last spikes, folded: [T*B, C, H', W']."""
    x, size, c_in = g.fold("x", [3, image, image], "sps.fold"), image, 3
    for i, c_out in enumerate(channels):
        y = g.conv_bn(x, c_in, c_out, f"sps.conv{i}")
        y = g.unfold(y, [c_out, size, size], f"sps.conv{i}.unfold")
        s = g.lif(y, f"sps.conv{i}")
        if i in pool_after:
            s = g.maxpool(g.fold(s, [c_out, size, size], f"sps.pool{i}.fold"), f"sps.pool{i}")
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


def _ssa(g: Graph, x: str, dim: int, heads: int, scale: float, p: str) -> str:
    """Spikformer attention: q/k/v spikes, `SN((Q K^T * scale) V)` with V_th 0.5, and a
    projection neuron. The scale is fixed, so V's gain sets the attention neuron's rate."""
    q = g.lif(g.linear(x, dim, dim, f"{p}.attn.q"), f"{p}.attn.q")
    k = g.lif(g.linear(x, dim, dim, f"{p}.attn.k"), f"{p}.attn.k")
    v = g.lif(g.linear(x, dim, dim, f"{p}.attn.v"), f"{p}.attn.v", knob=None)
    attn = g.node("SSA", [q, k, v], f"{p}.attn.ssa", domain="spike", heads=heads, scale=scale)
    attn = g.lif(attn, f"{p}.attn.ssa", knob=f"{p}.attn.v", v_threshold=0.5)
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
) -> tuple[onnx.ModelProto, list[Step]]:
    """Spikformer (Zhou et al., ICLR 2023): SPS conv stem (max-pool on spikes) with a
    relative-position conv, blocks of spiking self-attention and a spiking MLP with residual
    sums of spikes. Input `x [T, B, 3, image, image]`; (image / 4)^2 tokens."""
    g = Graph(seed, timesteps, gains or {})
    x = _sps_stem(g, image, [dim // 4, dim // 2, dim], pool_after={1, 2})
    size = image // 4
    rpe = g.unfold(g.conv_bn(x, dim, dim, "sps.rpe"), [dim, size, size], "sps.rpe.unfold")
    rpe = g.lif(rpe, "sps.rpe")
    stem = g.unfold(x, [dim, size, size], "sps.out")
    x = _tokens(g, g.node("Add", [stem, rpe], "sps.residual"), dim, size, "tokens")
    hidden = dim * mlp_ratio
    for b in range(blocks):
        p = f"b{b}"
        attn = _ssa(g, x, dim, heads, attention_scale, p)
        x = g.node("Add", [x, attn], f"{p}.attn.residual")
        h = g.lif(g.linear(x, dim, hidden, f"{p}.mlp.fc1"), f"{p}.mlp.fc1")
        m = g.lif(g.linear(h, hidden, dim, f"{p}.mlp.fc2"), f"{p}.mlp.fc2")
        x = g.node("Add", [x, m], f"{p}.mlp.residual")
    return g.model(
        [timesteps, "B", 3, image, image], g.head(x, dim, classes), classes, "spikformer"
    )


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
) -> tuple[onnx.ModelProto, list[Step]]:
    """Spike-driven Transformer (Yao et al., NeurIPS 2023): SPS stem (max-pool on spikes after
    conv2, on membranes after conv3), relative-position conv with a membrane shortcut, blocks of
    spike-driven self-attention and MLP whose residuals add membrane potentials, and a head with a
    neuron on the token mean. Input `x [T, B, 3, image, image]`; (image / 4)^2 tokens.

    The neuron on the membrane stream at each block's input has no weights of its own in front:
    it is calibrated by the last linear (or conv) added to the stream before it."""
    g = Graph(seed, timesteps, gains or {})
    x = _sps_stem(g, image, [dim // 8, dim // 4, dim // 2], pool_after={2})
    size = image // 4
    # conv3 + BN, then max-pool on the membrane, before its neuron
    y = g.maxpool(g.conv_bn(x, dim // 2, dim, "sps.conv3"), "sps.pool3")
    feat = g.unfold(y, [dim, size, size], "sps.pool3.unfold")
    s = g.fold(g.lif(feat, "sps.conv3"), [dim, size, size], "sps.rpe.fold")
    rpe = g.unfold(g.conv_bn(s, dim, dim, "sps.rpe"), [dim, size, size], "sps.rpe.unfold")
    u = _tokens(g, g.node("Add", [rpe, feat], "sps.shortcut"), dim, size, "tokens")
    last, hidden = "sps.rpe", dim * mlp_ratio
    for b in range(blocks):
        p = f"b{b}"
        s = g.lif(u, f"{p}.attn.in", knob=last)
        q = g.lif(g.linear(s, dim, dim, f"{p}.attn.q"), f"{p}.attn.q")
        k = g.lif(g.linear(s, dim, dim, f"{p}.attn.k"), f"{p}.attn.k")
        v = g.lif(g.linear(s, dim, dim, f"{p}.attn.v"), f"{p}.attn.v", knob=None)
        y = g.node(
            "SDSA", [q, k, v], f"{p}.attn.sdsa", domain="spike", heads=heads, v_threshold=0.5
        )
        g.steps.append(Layer(f"{p}.attn.sdsa", y, f"{p}.attn.v"))
        u = g.node("Add", [u, g.linear(y, dim, dim, f"{p}.attn.proj")], f"{p}.attn.shortcut")
        s = g.lif(u, f"{p}.mlp.in", knob=f"{p}.attn.proj")
        h = g.lif(g.linear(s, dim, hidden, f"{p}.mlp.fc1"), f"{p}.mlp.fc1")
        u = g.node("Add", [u, g.linear(h, hidden, dim, f"{p}.mlp.fc2")], f"{p}.mlp.shortcut")
        last = f"{p}.mlp.fc2"
    pooled = g.node("ReduceMean", [u], "head.pool", axes=[2], keepdims=0)
    s = g.lif(pooled, "head", knob=last)
    logits = g.linear(s, dim, classes, "head.fc")
    out = g.node("ReduceMean", [logits], "logits", axes=[0], keepdims=0)
    return g.model([timesteps, "B", 3, image, image], out, classes, "sdt")


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
) -> tuple[onnx.ModelProto, list[Step]]:
    """Xpikeformer-style ViT (Song et al., TVLSI 2025): patch embedding on real patches, a
    real-valued residual stream, q/k/v neurons (tau 2, decay_input off), stochastic spiking
    attention with a masked diagonal whose uniform numbers are initializers (broadcast over the
    batch), and a feed-forward neuron with tau 1.2 followed by LayerNorm on the FF output.
    Input `x [T, B, tokens, patch]`. The attention's rate is set by its normaliser `c2`
    (divided by the power-of-two gain `<block>.attn.ssa`, so the division stays exact)."""
    g = Graph(seed, timesteps, gains or {})
    x = g.linear("x", patch, dim, "embed")
    dh, hidden = dim // heads, dim * mlp_ratio
    for b in range(blocks):
        p = f"b{b}"
        q, k, v = (
            g.lif(g.linear(x, dim, dim, f"{p}.attn.{n}"), f"{p}.attn.{n}", decay_input=0)
            for n in "qkv"
        )
        u1 = g.rng.random((timesteps, 1, heads, tokens, tokens), np.float32)
        u2 = g.rng.random((timesteps, 1, heads, tokens, dh), np.float32)
        a = g.node(
            "StochasticAttention",
            [q, k, v, g.const(f"{p}.attn.u1", u1), g.const(f"{p}.attn.u2", u2)],
            f"{p}.attn.ssa",
            domain="spike",
            heads=heads,
            c1=c1,
            c2=c2 / g.power_of_two_gain(f"{p}.attn.ssa"),
            mask_diagonal=1,
            seed=seed,
        )
        g.steps.append(Layer(f"{p}.attn.ssa", a, f"{p}.attn.ssa", power_of_two=True))
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
    return g.model([timesteps, "B", tokens, patch], out, classes, "xpikeformer")


def _experts(g: Graph, x: str, gates: str, dim: int, hidden: int, experts: int, p: str) -> str:
    """Expert e: Dispatch -> Linear -> LIF -> Linear -> LIF; outputs stacked and combined.
    The experts' linears have no bias, so an expert stays silent on the tokens not routed to it
    (their dispatched input is zero), as on hardware that only computes routed tokens."""
    axis0 = g.const(f"{p}.axis0", np.array([0], np.int64))
    stacked = []
    for e in range(experts):
        name = f"{p}.moe.e{e}"
        xe = g.node("Dispatch", [x, gates], f"{name}.in", domain="spike", expert=e)
        h = g.lif(g.linear(xe, dim, hidden, f"{name}.fc1", bias=False), f"{name}.fc1")
        y = g.lif(g.linear(h, hidden, dim, f"{name}.fc2", bias=False), f"{name}.fc2")
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
    router_rate: float = 0.25,
    timesteps: int = 4,
    classes: int = 10,
    attention_scale: float = 0.125,
    seed: int = 0,
    gains: Mapping[str, float] | None = None,
    biases: Mapping[str, Sequence[float]] | None = None,
) -> tuple[onnx.ModelProto, list[Step]]:
    """Spiking MoE transformer: spiking patch embedding, multi-head spiking self-attention, and a
    mixture of spiking-MLP experts per block. Even blocks route top-k (TopKRouter on router
    logits); odd blocks use a spike-gated router (SEMM-style: the gates are the spikes of a
    router neuron, so a token goes to any number of experts). Input `x [T, B, tokens, patch]`;
    Spikformer's head. `biases` adds per-expert biases to the routers (`<block>.router`);
    calibration balances them so that each expert gets k / experts of the tokens under top-k,
    and `router_rate` of them behind the spike-gated router."""
    g = Graph(seed, timesteps, gains or {}, biases or {})
    x = g.lif(g.linear("x", patch, dim, "embed"), "embed")
    for b in range(blocks):
        p = f"b{b}"
        x = g.node("Add", [x, _ssa(g, x, dim, heads, attention_scale, p)], f"{p}.attn.residual")
        logits = g.linear(x, dim, experts, f"{p}.router")
        if b % 2 == 0:
            gates = g.node("TopKRouter", [logits], f"{p}.router.gates", domain="spike", k=k)
            g.steps.append(Router(f"{p}.router", gates, k / experts))
        else:
            # the per-expert balance sets the router neuron's rate
            gates = g.lif(logits, f"{p}.router", knob=None)
            g.steps.append(Router(f"{p}.router", gates, router_rate))
        y = _experts(g, x, gates, dim, expert_hidden, experts, p)
        x = g.node("Add", [x, y], f"{p}.moe.residual")
    return g.model([timesteps, "B", tokens, patch], g.head(x, dim, classes), classes, "moe")
