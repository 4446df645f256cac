"""Spiking transformers as their users build them: small models from SpikingJelly 2.0's own
classes (Spikformer, Spike-driven Transformer, QKFormer), an snnTorch attention block, a Norse
LIF network, a top-k MoE of SpikingJelly neurons and a SEMM-style spike-gated MoE, trained briefly
on scikit-learn's 8x8 digits and exported with both `torch.onnx` exporters (TorchScript and dynamo)
where each succeeds.

These graphs hold no neuron op: every neuron is unrolled over the timesteps into plain
arithmetic. They are what spikec's raising passes must recognise (the "real models" issue).

Writes into this folder: `<model>.<exporter>.onnx`, `digits_test_x.npy` (float32 `[N, 1, 8, 8]`,
pixels in [0, 1]) and `digits_test_y.npy` (int64 labels), `<model>_reference.npy` (torch's logits
on the test split) and `manifest.json` (per model: classes used, parameters, test accuracy,
which exporters succeeded and why the others failed).

Needs the optional extra: `pip install -e '.[export]'` (torch 2.13 CPU, spikingjelly, snntorch,
norse, scikit-learn, onnxscript). Run: `python samples/export/export.py` (a few minutes on 2
cores; deterministic for a given torch build), or `python samples/export/export.py sj_semm_moe ...`
to rebuild only the models named (the manifest keeps the other models' entries).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
T = 4
TEST_SIZE = 64
EPOCHS = 15
SEED = 0


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8] in [0, 1]
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y
    )
    return (torch.from_numpy(a) for a in (x_train, y_train, x_test, y_test))  # type: ignore[return-value]


# -- the models --------------------------------------------------------------------------------


def reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


class TimeMean(nn.Module):
    """Logits averaged over the timesteps, for models that return `[T, B, classes]`."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        return y.mean(0) if y.dim() == 3 else y


def sj_spikformer() -> nn.Module:
    from spikingjelly.activation_based.model.spikformer import Spikformer

    return TimeMean(
        Spikformer(T=T, in_channels=1, img_size_h=8, img_size_w=8, patch_size=4,
                   num_classes=10, embed_dims=32, num_heads=2, depths=1)
    )  # fmt: skip


def sj_sdt() -> nn.Module:
    from spikingjelly.activation_based.model.spike_driven_transformer import (
        SpikeDrivenTransformer,
    )

    return TimeMean(
        SpikeDrivenTransformer(T=T, in_channels=1, num_classes=10, embed_dims=32, num_heads=2,
                               depths=1, pooling_stat="1100")
    )  # fmt: skip


def sj_qkformer() -> nn.Module:
    from spikingjelly.activation_based.model.qkformer import QKFormer

    return TimeMean(
        QKFormer(T=T, in_channels=1, num_classes=10, embed_dims=32, num_heads=(1, 2, 2),
                 depths=(1, 1, 1))
    )  # fmt: skip


class SnnTorchAttention(nn.Module):
    """snnTorch style: the layers unrolled per timestep with shared weights, `Leaky` neurons
    (reset by subtraction, from the previous step's spike), spiking self-attention Q K^T V."""

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        import snntorch as snn

        super().__init__()
        self.heads = heads
        self.embed = nn.Linear(8, dim)
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 10)
        beta = 0.9
        self.lif_in, self.lif_q, self.lif_k, self.lif_v, self.lif_a, self.lif_o = (
            snn.Leaky(beta=beta, threshold=1.0) for _ in range(6)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(x.shape[0], 8, 8)  # rows of the image as 8 tokens of 8 pixels
        states = [n.init_leaky() for n in (self.lif_in, self.lif_q, self.lif_k, self.lif_v,
                                           self.lif_a, self.lif_o)]  # fmt: skip
        out: Any = 0  # a tensor after the first step
        for _ in range(T):
            s, states[0] = self.lif_in(self.embed(tokens), states[0])
            q, states[1] = self.lif_q(self.q(s), states[1])
            k, states[2] = self.lif_k(self.k(s), states[2])
            v, states[3] = self.lif_v(self.v(s), states[3])
            b, n, d = q.shape
            qh, kh, vh = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
            a = (qh @ kh.transpose(-1, -2)) @ vh * 0.125
            a, states[4] = self.lif_a(a.transpose(1, 2).reshape(b, n, d), states[4])
            o, states[5] = self.lif_o(self.proj(a) + s, states[5])
            out = out + self.head(o.mean(1))
        return out / T


class NorseNetwork(nn.Module):
    """Norse's current-based LIF (`LIFCell`: a synaptic current and a membrane) over T, with
    Norse's default step (`dt` = 1 ms) or another."""

    def __init__(self, hidden: int = 64, dt: float = 1e-3, gain: float = 4.0) -> None:
        from norse.torch import LIFCell

        super().__init__()
        self.gain = gain
        self.fc1 = nn.Linear(64, hidden)
        self.lif1 = LIFCell(dt=dt)
        self.fc2 = nn.Linear(hidden, hidden)
        self.lif2 = LIFCell(dt=dt)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1) * self.gain
        s1 = s2 = None
        total: Any = 0
        for _ in range(T):
            z1, s1 = self.lif1(self.fc1(flat), s1)
            z2, s2 = self.lif2(self.fc2(z1), s2)
            total = total + self.out(z2)
        return total / T


class TopKMoE(nn.Module):
    """Softmax -> TopK -> ScatterElements routing of tokens to spiking experts (SpikingJelly
    multi-step LIF), top-2 of 4."""

    def __init__(self, dim: int = 32, experts: int = 4, k: int = 2) -> None:
        from spikingjelly.activation_based import layer, neuron

        super().__init__()
        self.k = k
        self.embed = layer.Linear(8, dim, step_mode="m")
        self.lif = neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True)
        self.router = nn.Linear(dim, experts)
        self.experts = nn.ModuleList(
            nn.Sequential(
                layer.Linear(dim, dim, step_mode="m"),
                neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True),
            )
            for _ in range(experts)
        )
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(x.shape[0], 8, 8)
        seq = tokens.unsqueeze(0).repeat(T, 1, 1, 1)  # [T, B, 8, 8]
        s = self.lif(self.embed(seq))  # [T, B, 8, dim]
        probs = torch.softmax(self.router(s.mean(0)), dim=-1)  # [B, 8, E]
        top, index = torch.topk(probs, self.k, dim=-1)
        gates = torch.zeros_like(probs).scatter(-1, index, top)
        mixed = sum(
            gates[..., e : e + 1].unsqueeze(0) * expert(s) for e, expert in enumerate(self.experts)
        )
        return self.head((mixed + s).mean(dim=(0, 2)))


class SEMMMoE(nn.Module):
    """SEMM (Spiking Experts Mixture Mechanism, Zhou et al., "Spiking Transformer with Experts
    Mixture", NeurIPS 2024): a spiking router (Linear -> LIF) gives every token binary gates
    `R[T, B, N, E]` at every timestep; the experts (linear layers, no neuron) are applied to every
    token, stacked on an expert axis, and summed weighted by the gates, `sum_e R[..., e] * Y_e`
    (a Mul and a ReduceSum over the expert axis), before a LIF."""

    def __init__(self, dim: int = 32, experts: int = 4) -> None:
        from spikingjelly.activation_based import layer, neuron

        super().__init__()
        self.embed = layer.Linear(8, dim, step_mode="m")
        self.lif = neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True)
        self.router = layer.Linear(dim, experts, step_mode="m")
        self.router_lif = neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True)
        self.experts = nn.ModuleList(layer.Linear(dim, dim, step_mode="m") for _ in range(experts))
        self.out_lif = neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(x.shape[0], 8, 8)
        seq = tokens.unsqueeze(0).repeat(T, 1, 1, 1)  # [T, B, 8, 8]
        s = self.lif(self.embed(seq))  # [T, B, 8, dim]
        gates = self.router_lif(self.router(s))  # [T, B, 8, E] spikes
        outputs = torch.stack([expert(s) for expert in self.experts], dim=-2)  # [T, B, 8, E, dim]
        mixed = (gates.unsqueeze(-1) * outputs).sum(dim=-2)
        return self.head((self.out_lif(mixed) + s).mean(dim=(0, 2)))


class SJNeurons(nn.Module):
    """SpikingJelly's other neuron families, multi-step, one layer each: `IFNode`,
    `ParametricLIFNode` (a learned decay), `LIFNode` with soft reset (`v_reset=None`) and with
    `decay_input=False`."""

    def __init__(self, hidden: int = 48) -> None:
        from spikingjelly.activation_based import layer, neuron

        super().__init__()
        dims = [64, hidden, hidden, hidden, hidden]
        self.fcs = nn.ModuleList(
            layer.Linear(a, b, step_mode="m") for a, b in itertools.pairwise(dims)
        )
        self.neurons = nn.ModuleList([
            neuron.IFNode(step_mode="m", detach_reset=True),
            neuron.ParametricLIFNode(init_tau=2.0, step_mode="m", detach_reset=True),
            neuron.LIFNode(tau=2.0, v_reset=None, step_mode="m", detach_reset=True),
            neuron.LIFNode(tau=2.0, decay_input=False, step_mode="m", detach_reset=True),
        ])  # fmt: skip
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.reshape(x.shape[0], -1).unsqueeze(0).repeat(T, 1, 1)  # [T, B, 64]
        for fc, node in zip(self.fcs, self.neurons, strict=True):
            s = node(fc(s))
        return self.head(s.mean(0))


class SnnTorchNeurons(nn.Module):
    """snnTorch's `Synaptic` (a synaptic current and a membrane) and `Leaky` with reset to zero,
    unrolled per timestep."""

    def __init__(self, hidden: int = 48) -> None:
        import snntorch as snn

        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.syn = snn.Synaptic(alpha=0.8, beta=0.9)
        self.fc2 = nn.Linear(hidden, hidden)
        self.leaky = snn.Leaky(beta=0.85, reset_mechanism="zero")
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        syn, mem1 = self.syn.init_synaptic()
        mem2 = self.leaky.init_leaky()
        out: Any = 0
        for _ in range(T):
            s1, syn, mem1 = self.syn(self.fc1(flat), syn, mem1)
            s2, mem2 = self.leaky(self.fc2(s1), mem2)
            out = out + self.head(s2)
        return out / T


class HybridAttention(nn.Module):
    """A hybrid block as ANN-to-SNN work writes it: spiking Q/K/V (Linear -> LIF) with real-valued
    softmax attention, then a GELU MLP and a ReLU MLP, SpikingJelly multi-step neurons."""

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        from spikingjelly.activation_based import layer, neuron

        super().__init__()
        self.heads = heads

        def lif() -> nn.Module:
            return neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True)

        self.embed = layer.Linear(8, dim, step_mode="m")
        self.lif = lif()
        self.q, self.k, self.v = (layer.Linear(dim, dim, step_mode="m") for _ in range(3))
        self.q_lif, self.k_lif, self.v_lif = lif(), lif(), lif()
        self.proj = nn.Linear(dim, dim)
        self.gelu_mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.relu_mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(x.shape[0], 8, 8)
        s = self.lif(self.embed(tokens.unsqueeze(0).repeat(T, 1, 1, 1)))  # [T, B, N, D]
        t, b, n, d = s.shape
        q, k, v = (
            lif(fc(s)).reshape(t, b, n, self.heads, -1).transpose(2, 3)
            for fc, lif in ((self.q, self.q_lif), (self.k, self.k_lif), (self.v, self.v_lif))
        )
        scores = torch.softmax(q @ k.transpose(-1, -2) * (d // self.heads) ** -0.5, dim=-1)
        y = s + self.proj((scores @ v).transpose(2, 3).reshape(t, b, n, d))
        y = y + self.gelu_mlp(y)
        y = y + self.relu_mlp(y)
        return self.head(y.mean(dim=(0, 2)))


MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "sj_spikformer": (sj_spikformer, "spikingjelly.activation_based.model.spikformer.Spikformer"),
    "sj_sdt": (sj_sdt, "spikingjelly...spike_driven_transformer.SpikeDrivenTransformer"),
    "sj_qkformer": (sj_qkformer, "spikingjelly.activation_based.model.qkformer.QKFormer"),
    "snntorch_attention": (SnnTorchAttention, "snntorch.Leaky, unrolled per timestep"),
    "norse_lif": (NorseNetwork, "norse.torch.LIFCell (current-based LIF)"),
    "sj_topk_moe": (TopKMoE, "spikingjelly LIFNode experts, Softmax/TopK/scatter routing"),
    "sj_semm_moe": (SEMMMoE, "spikingjelly LIFNode router (SEMM spike gates), Linear experts"),
    "sj_neurons": (SJNeurons, "spikingjelly IFNode, ParametricLIFNode, LIFNode soft reset and "
                   "decay_input=False"),
    "snntorch_neurons": (SnnTorchNeurons, "snntorch.Synaptic, snntorch.Leaky reset to zero"),
    "norse_dt": (lambda: NorseNetwork(dt=5e-4, gain=8.0), "norse.torch.LIFCell, dt = 0.5 ms"),
    "sj_hybrid": (HybridAttention, "spikingjelly LIFNode Q/K/V, softmax attention, GELU and "
                  "ReLU MLPs"),
}  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One way of exporting: the exporter and what a user may ask of it."""

    dynamo: bool
    opset: int = 18
    dynamic_batch: bool = False
    sidecar: bool = False
    """Keep the dynamo exporter's default `.onnx.data` file of weights beside the model."""


VARIANTS = {
    "dynamo": Variant(dynamo=True),
    "torchscript": Variant(dynamo=False),
    "dynamo_batch": Variant(dynamo=True, dynamic_batch=True),
    "torchscript_batch": Variant(dynamo=False, dynamic_batch=True),
    "dynamo_opset20": Variant(dynamo=True, opset=20),
    "torchscript_opset20": Variant(dynamo=False, opset=20),
    "dynamo_sidecar": Variant(dynamo=True, sidecar=True),
}
EXTRA_VARIANTS = {
    "sj_spikformer": ["dynamo_batch", "dynamo_opset20", "dynamo_sidecar"],
    "sj_neurons": ["dynamo_batch", "torchscript_batch", "torchscript_opset20"],
}
"""Besides both exporters for every model: a dynamic batch, opset 20 and a weights sidecar."""


# -- training and export -------------------------------------------------------------------


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start : start + 64]
            reset(model)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()


@contextlib.contextmanager
def pure_pytorch_neurons(model: nn.Module) -> Iterator[None]:
    """SpikingJelly 2.0 runs a neuron with a built-in surrogate as its own `sj_lif` operator,
    which the TorchScript exporter cannot write; with a surrogate of the user's own class it
    falls back to its pure-PyTorch loop. The forward pass is the same Heaviside step."""
    from spikingjelly.activation_based import surrogate

    class UserSigmoid(surrogate.Sigmoid):
        """SpikingJelly's Sigmoid surrogate under a class of the user's module."""

    swapped: list[tuple[nn.Module, Any]] = []
    for module in model.modules():
        function = getattr(module, "surrogate_function", None)
        if isinstance(function, surrogate.Sigmoid):
            swapped.append((module, function))
            module.surrogate_function = UserSigmoid(alpha=function.alpha)
    try:
        yield
    finally:
        for module, function in swapped:
            module.surrogate_function = function


def export(model: nn.Module, x: torch.Tensor, path: Path, variant: Variant) -> str | None:
    """Export into `path`; None on success, else why it failed."""
    reset(model)
    chatter = io.StringIO()
    options: dict[str, Any] = {}
    if variant.dynamic_batch and variant.dynamo:
        options["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=2, max=4096)},)
    elif variant.dynamic_batch:
        options["dynamic_axes"] = {"x": {0: "batch"}, "logits": {0: "batch"}}
    path.with_name(path.name + ".data").unlink(missing_ok=True)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
            contextlib.nullcontext() if variant.dynamo else pure_pytorch_neurons(model),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=variant.dynamo,
                              opset_version=variant.opset, input_names=["x"],
                              output_names=["logits"], **options)  # fmt: skip
    except Exception as e:
        path.unlink(missing_ok=True)
        return f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    compact(path, variant.sidecar)
    return None


def compact(path: Path, sidecar: bool) -> None:
    """No per-node debug strings (they are most of a dynamo export's size), and the weights
    inside the model file unless the variant keeps the exporter's sidecar."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    data = path.with_name(path.name + ".data")
    if sidecar:
        data.unlink(missing_ok=True)
        onnx.save(model, str(path), save_as_external_data=True, location=data.name,
                  all_tensors_to_one_file=True, size_threshold=1024)  # fmt: skip
        return
    onnx.save(model, str(path), save_as_external_data=False)
    data.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "models", nargs="*", metavar="MODEL",
        help=f"the models to rebuild (default: all): {', '.join(MODELS)}",
    )  # fmt: skip
    names = parser.parse_args().models or list(MODELS)
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    x_train, y_train, x_test, y_test = digits()
    np.save(HERE / "digits_test_x.npy", x_test.numpy())
    np.save(HERE / "digits_test_y.npy", y_test.numpy())
    path = HERE / "manifest.json"
    manifest: dict[str, dict[str, object]] = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        make, classes = MODELS[name]
        start = time.perf_counter()
        torch.manual_seed(SEED)
        model = make()
        train(model, x_train, y_train)
        with torch.no_grad():
            reset(model)
            logits = model(x_test)
        np.save(HERE / f"{name}_reference.npy", logits.numpy().astype(np.float32))
        accuracy = float((logits.argmax(1) == y_test).float().mean())
        exporters: dict[str, str] = {}
        for variant in ["dynamo", "torchscript", *EXTRA_VARIANTS.get(name, [])]:
            error = export(model, x_test, HERE / f"{name}.{variant}.onnx", VARIANTS[variant])
            exporters[variant] = "ok" if error is None else error
        manifest[name] = {
            "classes": classes,
            "parameters": sum(p.numel() for p in model.parameters()),
            "timesteps": T,
            "test_accuracy": accuracy,
            "exporters": exporters,
        }
        print(f"{name:<20} accuracy {100 * accuracy:5.1f} %  {exporters}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    ordered = {name: manifest[name] for name in MODELS if name in manifest}
    path.write_text(json.dumps(ordered, indent=2) + "\n")


if __name__ == "__main__":
    main()
