"""Spiking networks as snnTorch and Norse write them to NIR, with each library's own simulation
of the graph it wrote: the files spikec's NIR import is tested against.

Each model is trained briefly on scikit-learn's 8x8 digits (rate-coded: each step's input is
Bernoulli spikes of the pixel intensities), exported with the library's own `to_nir`, read back
with the library's own NIR importer (`snntorch.import_nir.import_from_nir`,
`norse.torch.from_nir`) and run step by step in torch on the test inputs. Norse has no importer
for NIR's LI, so a readout model is run as the Norse modules it was exported from.

Writes into this folder: `<model>.nir`, `nir_test_x.npy` (float32 spikes `[T, N, 64]`, the
flattened images over T steps), `<model>_nir_reference.npy` (the library's outputs over time,
`[T, N, classes]`) and `nir_manifest.json` (per model: library, dt, discretisation to import it
with, parameters, test accuracy of the summed outputs).

Needs the optional extras `export` and `nir`. Run: `python samples/export/export_nir.py` (about
a minute on 2 cores).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
T = 6
TEST_SIZE = 64
EPOCHS = 6
SEED = 0
NORSE_DT = 1.0
"""Norse 1.1 writes NIR's tau as `dt / tau_mem_inv` and reads it back as `tau_mem_inv = 1 / tau`:
its round trip keeps the leak only at dt = 1 (its time constants are then in steps)."""


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32).reshape(-1, 64)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y
    )
    tensor = torch.from_numpy
    return tensor(x_train), tensor(y_train), tensor(x_test), tensor(y_test)


def rate_code(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`[N, F]` intensities as `[T, N, F]` Bernoulli spikes."""
    return (torch.rand((T, *x.shape), generator=generator) < x).float()


# -- the models ---------------------------------------------------------------------------------


def _per_neuron(value: float, n: int) -> torch.Tensor:
    """snnTorch's NIR export reads each neuron's size off its parameters: give them per neuron."""
    return torch.full((n,), value)


def snntorch_mlp() -> nn.Module:
    import snntorch as snn

    def leaky(n: int) -> nn.Module:
        return snn.Leaky(beta=_per_neuron(0.9, n), threshold=_per_neuron(1.0, n), init_hidden=True)

    return nn.Sequential(nn.Linear(64, 48), leaky(48), nn.Linear(48, 10), leaky(10))


def snntorch_synaptic() -> nn.Module:
    import snntorch as snn

    return nn.Sequential(
        nn.Linear(64, 32),
        snn.Synaptic(
            alpha=_per_neuron(0.8, 32),
            beta=_per_neuron(0.85, 32),
            threshold=_per_neuron(1.0, 32),
            init_hidden=True,
        ),
        nn.Linear(32, 10, bias=False),
        snn.Leaky(beta=_per_neuron(0.95, 10), threshold=_per_neuron(0.5, 10), init_hidden=True),
    )


AS_IMPORTED = {"reset_mechanism": "zero", "reset_delay": False}
"""The recurrent neurons as snnTorch's importer would build them from their NIR: snnTorch 1.0
cannot import its own recurrent subgraphs (nirtorch 2.6's `nir_to_torch` fails on them), so
these models are their own simulation of the graph they write. (`RSynaptic` with
`reset_delay=False` fails in snnTorch 1.0 itself, so no sample has one.)"""


def snntorch_rleaky() -> nn.Module:
    """A recurrent layer: snnTorch writes `RLeaky` as a subgraph LIF <-> Affine."""
    import snntorch as snn

    return nn.Sequential(
        nn.Linear(64, 32),
        snn.RLeaky(beta=0.9, linear_features=32, init_hidden=True, **AS_IMPORTED),
        nn.Linear(32, 10),
        snn.Leaky(
            beta=_per_neuron(0.9, 10),
            threshold=_per_neuron(1.0, 10),
            init_hidden=True,
            **AS_IMPORTED,
        ),
    )


def norse_mlp() -> nn.Module:
    import norse.torch as norse

    def box(n: int, tau_mem_inv: float) -> norse.LIFBoxParameters:
        return norse.LIFBoxParameters(
            tau_mem_inv=_per_neuron(tau_mem_inv, n),
            v_leak=_per_neuron(0.0, n),
            v_th=_per_neuron(1.0, n),
            v_reset=_per_neuron(0.0, n),
        )

    current = norse.LIFParameters(
        tau_syn_inv=_per_neuron(0.2, 32),
        tau_mem_inv=_per_neuron(0.1, 32),
        v_leak=_per_neuron(0.0, 32),
        v_th=_per_neuron(1.0, 32),
        v_reset=_per_neuron(0.0, 32),
    )
    return norse.SequentialState(
        nn.Linear(64, 48),
        norse.LIFBoxCell(box(48, 0.15), dt=NORSE_DT),
        nn.Linear(48, 32),
        norse.LIFCell(current, dt=NORSE_DT),
        nn.Linear(32, 10),
        norse.IAFCell(
            norse.IAFParameters(v_th=_per_neuron(0.25, 10), v_reset=_per_neuron(0.0, 10))
        ),
    )


def norse_readout() -> nn.Module:
    import norse.torch as norse

    return norse.SequentialState(
        nn.Linear(64, 32),
        norse.LIFBoxCell(
            norse.LIFBoxParameters(
                tau_mem_inv=_per_neuron(0.2, 32),
                v_leak=_per_neuron(0.0, 32),
                v_th=_per_neuron(1.0, 32),
                v_reset=_per_neuron(0.0, 32),
            ),
            dt=NORSE_DT,
        ),
        nn.Linear(32, 10),
        norse.LIBoxCell(
            norse.LIBoxParameters(tau_mem_inv=_per_neuron(0.1, 10), v_leak=_per_neuron(0.0, 10)),
            dt=NORSE_DT,
        ),
    )


# -- running over time -------------------------------------------------------------------------


def reset_snntorch(model: nn.Module) -> None:
    import snntorch as snn

    for m in model.modules():
        if isinstance(m, snn.SpikingNeuron):
            m.reset_hidden()


def run_snntorch(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    reset_snntorch(model)
    return torch.stack([model(x[t]) for t in range(T)])


def run_stateful(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A module that takes and returns a state (Norse, nirtorch's GraphExecutor)."""
    state, outs = None, []
    for t in range(T):
        out, state = model(x[t], state)
        outs.append(out)
    return torch.stack(outs)


def norse_from_nir(graph: nir.NIRGraph, dt: float) -> nn.Module:
    """`norse.torch.from_nir`, with NIR's LI read as a `LIBoxCell` the way Norse reads LIF as a
    `LIFBoxCell` (`tau_mem_inv = 1 / tau`), since Norse 1.1's importer has no LI."""
    import nirtorch
    import norse.torch as norse
    from norse.torch.utils import import_nir

    def module(node: nir.NIRNode) -> nn.Module:
        if isinstance(node, nir.LI):
            parameters = norse.LIBoxParameters(
                tau_mem_inv=1 / torch.from_numpy(node.tau).float(),
                v_leak=torch.from_numpy(node.v_leak).float(),
            )
            return norse.LIBoxCell(parameters, dt=dt)
        return import_nir._import_norse_module(node, dt=dt)

    return nirtorch.load(graph, module)


def train(model: nn.Module, run: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
    x_train, y_train, _, _ = digits()
    generator = torch.Generator().manual_seed(SEED)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(EPOCHS):
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            logits = run(model, rate_code(x_train[batch], generator)).sum(0)
            loss = nn.functional.cross_entropy(logits, y_train[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


MODELS: dict[str, dict[str, Any]] = {
    "snntorch_mlp": {"build": snntorch_mlp, "library": "snntorch", "dt": 1e-4},
    "snntorch_synaptic": {"build": snntorch_synaptic, "library": "snntorch", "dt": 1e-4},
    "snntorch_rleaky": {
        "build": snntorch_rleaky,
        "library": "snntorch",
        "dt": 1e-4,
        "snntorch_imports": False,
    },
    "norse_mlp": {"build": norse_mlp, "library": "norse", "dt": NORSE_DT},
    "norse_readout": {
        "build": norse_readout,
        "library": "norse",
        "dt": NORSE_DT,
        "norse_imports": False,
    },
}


def build(name: str, spec: dict[str, Any], x_test: torch.Tensor) -> dict[str, Any]:
    torch.manual_seed(SEED)
    model = spec["build"]()
    library = spec["library"]
    if library == "snntorch":
        from snntorch.export_nir import export_to_nir
        from snntorch.import_nir import import_from_nir

        train(model, run_snntorch)
        graph = export_to_nir(model, torch.zeros(1, 64), ignore_dims=[0])
        path = HERE / f"{name}.nir"
        nir.write(path, graph)
        with torch.no_grad():
            if spec.get("snntorch_imports", True):
                reference = run_stateful(import_from_nir(nir.read(path)), x_test)
                simulated_by = "snntorch.import_nir.import_from_nir"
            else:
                reference = run_snntorch(model, x_test)
                simulated_by = "the exported modules, built as snnTorch's importer builds them"
    else:
        import norse.torch as norse

        train(model, run_stateful)
        graph = norse.to_nir(model, torch.zeros(64), dt=spec["dt"])
        path = HERE / f"{name}.nir"
        nir.write(path, graph)
        with torch.no_grad():
            reference = run_stateful(norse_from_nir(nir.read(path), spec["dt"]), x_test)
            simulated_by = "norse.torch.from_nir"
            if spec.get("norse_imports", True) is False:
                simulated_by += " (with LI read as Norse's LIBoxCell, which from_nir lacks)"
    reference_np = reference.detach().numpy().astype(np.float32)
    np.save(HERE / f"{name}_nir_reference.npy", reference_np)
    _, _, _, y_test = digits()
    accuracy = float((reference_np.sum(0).argmax(-1) == y_test.numpy()).mean())
    return {
        "library": library,
        "dt": spec["dt"],
        "timesteps": T,
        "discretisation": library,
        "simulated_by": simulated_by,
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_accuracy": accuracy,
    }


def main() -> None:
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    _, _, x_test, _ = digits()
    x = rate_code(x_test, torch.Generator().manual_seed(SEED + 1))
    np.save(HERE / "nir_test_x.npy", x.numpy().astype(np.float32))
    manifest = {name: build(name, spec, x) for name, spec in MODELS.items()}
    (HERE / "nir_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for name, entry in manifest.items():
        print(f"{name}: {entry['simulated_by']}, accuracy {entry['test_accuracy']:.3f}")


if __name__ == "__main__":
    main()
