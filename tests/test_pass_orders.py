"""Property test: every order of the four mission passes, each with random options, on every
bundled model (the samples, the ONNX exports and the NIR exports): the IR verifies, every pass
did its work whatever ran before it, and the reference interpreter's outputs are identical to
the unpassed model's (spikes bit for bit, reals exactly: the passes change no arithmetic).

Options are drawn from a generator seeded by the model and the order, so a failure reproduces
from its test id; `SPIKEC_ORDER_SEED` draws another set."""

from __future__ import annotations

import itertools
import os
import random

import numpy as np
import pytest
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, ModuleOp

from compiler.dialects import spike
from compiler.dialects.spike.types import PlacementAttr
from compiler.frontend.load import load_model
from compiler.frontend.nir_options import using
from compiler.interpreters.reference import evaluate, input_names
from compiler.ir.weights import WeightStore
from compiler.transforms.pipeline import run_pipeline
from compiler.transforms.placement import compute_ops
from compiler.transforms.sparsity_encoding import NEURONS
from tests.conftest import SAMPLES, bundled_models

EXPORTS = SAMPLES / "export"
MISSION = ("sparsity-encoding", "partition-heads", "partition-experts", "tier-map")
ORDERS = list(itertools.permutations(MISSION))
SEED = os.environ.get("SPIKEC_ORDER_SEED", "0")

CONSUMERS = (
    "linear",
    "conv2d",
    "maxpool",
    "avgpool",
    "add",
    "mul",
    "matmul",
    "ssa",
    "sdsa",
    "token_attention",
    "stochastic_attention",
)
"""Ops that read encoded spikes, for `sparsity-encoding{consumers=...}`."""

ATTENTION = (spike.SSAOp, spike.SDSAOp, spike.StochasticAttentionOp, spike.TokenAttentionOp)


MODELS = bundled_models()


def _options(rng: random.Random, name: str) -> str:
    if name == "sparsity-encoding":
        options = []
        if rng.random() < 0.7:
            chosen = rng.sample(CONSUMERS, rng.randint(1, len(CONSUMERS)))
            options.append(f"consumers={','.join(chosen)}")
        if rng.random() < 0.5:
            options.append(f"producers={','.join(rng.sample(NEURONS, rng.randint(1, 4)))}")
        return name + (f"{{{' '.join(options)}}}" if options else "")
    if name in ("partition-heads", "partition-experts"):
        policy = rng.choice(["round-robin", "balanced"])
        return f"{name}{{units={rng.randint(1, 8)} policy={policy}}}"
    tiers = rng.randint(1, 3)
    mode = rng.choice(["memory-on-logic", "logic-on-logic"])
    return f"tier-map{{tiers={tiers} mode={mode} neuron-tier={rng.randint(-1, tiers - 1)}}}"


def pipeline(model: str, order: tuple[str, ...]) -> str:
    rng = random.Random(f"{SEED}/{model}/{','.join(order)}")
    return ",".join(_options(rng, name) for name in order)


Loaded = tuple[ModuleOp, WeightStore, dict[str, np.ndarray], dict[str, np.ndarray]]


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> tuple[str, Loaded]:
    """Each model imported and evaluated once: (module, weights, inputs, reference outputs)."""
    bundled = MODELS[request.param]
    if bundled.nir is not None:
        with using(bundled.nir):
            module, weights, _ = load_model(str(bundled.path))
    else:
        module, weights, _ = load_model(str(bundled.path))
    (name,) = input_names(module)
    inputs = {name: bundled.input}
    return request.param, (module, weights, inputs, evaluate(module, weights, inputs))


def _check_partitioned(module: ModuleOp, spec: str) -> None:
    """Whatever ran before them, partition-heads and partition-experts did their work."""
    for op in module.walk():
        assert not isinstance(op, spike.MoEOp), f"{spec}: a spike.moe is left whole"
        if isinstance(op, ATTENTION):
            unit = op.attributes.get("spike.unit")
            assert isinstance(unit, PlacementAttr) and unit.kind.data == "head", (
                f"{spec}: {op.name} is not on a head unit"
            )
    assert "spike.tier_map" in module.attributes, f"{spec}: no tier map"


def _check_placed(module: ModuleOp, spec: str) -> None:
    """Whatever ran after tier-map, every op is on a tier and a unit, and the summary's total is
    the sum of the crossings the ops record."""
    summary = module.attributes["spike.tier_map"]
    assert isinstance(summary, DictionaryAttr)
    tiers = summary.data["tiers"]
    assert isinstance(tiers, IntegerAttr)
    recorded = 0
    for op in compute_ops(module):
        tier = op.attributes.get("spike.tier")
        assert isinstance(tier, IntegerAttr), f"{spec}: {op.name} has no tier"
        assert 0 <= tier.value.data < tiers.value.data, f"{spec}: {op.name} on no tier"
        assert isinstance(op.attributes.get("spike.unit"), PlacementAttr), f"{spec}: {op.name}"
    for op in module.walk():
        crossing = op.attributes.get("spike.cross_tier_bytes")
        recorded += crossing.value.data if isinstance(crossing, IntegerAttr) else 0
    total = summary.data["cross_tier_bytes"]
    assert isinstance(total, IntegerAttr) and total.value.data == recorded, spec


@pytest.mark.parametrize(
    "order", ORDERS, ids=["-".join(n.split("-")[-1] for n in o) for o in ORDERS]
)
def test_every_order_of_the_mission_passes(
    order: tuple[str, ...], model: tuple[str, Loaded]
) -> None:
    name, (module, weights, inputs, reference) = model
    spec = pipeline(name, order)
    transformed = module.clone()
    run_pipeline(transformed, spec)  # verifies after every pass
    transformed.verify()
    _check_partitioned(transformed, spec)
    _check_placed(transformed, spec)
    outputs = evaluate(transformed, weights, inputs)
    assert outputs.keys() == reference.keys()
    for output in reference:
        assert outputs[output].dtype == reference[output].dtype
        assert np.array_equal(outputs[output], reference[output]), f"{spec}: {output} differs"
