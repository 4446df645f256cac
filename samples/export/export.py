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
import json
import time
import warnings
from collections.abc import Callable
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
    """Norse's current-based LIF (`LIFCell`: a synaptic current and a membrane) over T."""

    def __init__(self, hidden: int = 64) -> None:
        from norse.torch import LIFCell

        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.lif1 = LIFCell()
        self.fc2 = nn.Linear(hidden, hidden)
        self.lif2 = LIFCell()
        self.out = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1) * 4.0
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


MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "sj_spikformer": (sj_spikformer, "spikingjelly.activation_based.model.spikformer.Spikformer"),
    "sj_sdt": (sj_sdt, "spikingjelly...spike_driven_transformer.SpikeDrivenTransformer"),
    "sj_qkformer": (sj_qkformer, "spikingjelly.activation_based.model.qkformer.QKFormer"),
    "snntorch_attention": (SnnTorchAttention, "snntorch.Leaky, unrolled per timestep"),
    "norse_lif": (NorseNetwork, "norse.torch.LIFCell (current-based LIF)"),
    "sj_topk_moe": (TopKMoE, "spikingjelly LIFNode experts, Softmax/TopK/scatter routing"),
    "sj_semm_moe": (SEMMMoE, "spikingjelly LIFNode router (SEMM spike gates), Linear experts"),
}


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


def export(model: nn.Module, x: torch.Tensor, path: Path, dynamo: bool) -> str | None:
    """Export into one self-contained file; None on success, else why it failed."""
    reset(model)
    chatter = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=18,
                              input_names=["x"], output_names=["logits"])  # fmt: skip
    except Exception as e:
        path.unlink(missing_ok=True)
        return f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    compact(path)
    return None


def compact(path: Path) -> None:
    """Weights inside the model file, and no per-node debug strings (they are most of a
    dynamo export's size)."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    data = path.with_name(path.name + ".data")
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
        for exporter, dynamo in (("dynamo", True), ("torchscript", False)):
            error = export(model, x_test, HERE / f"{name}.{exporter}.onnx", dynamo)
            exporters[exporter] = "ok" if error is None else error
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
