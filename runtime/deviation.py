"""How far a run in hardware numerics (analog noise, quantisation, drift) strays from the same
program in exact numerics: spike agreement per layer, output error, top-1 agreement, and the
accuracy of both on labelled inputs. Opt-in numerics are always reported with their deviation,
never silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from runtime.encoded import EncodedSpikes
from runtime.errors import ProgramError
from runtime.isa import Value
from runtime.program import Instruction, Program


class SpikeLog:
    """The spikes each instruction wrote, by layer (an observer for `execute`)."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.spikes: dict[str, np.ndarray] = {}

    def __call__(self, instruction: Instruction, results: list[Value]) -> None:
        for name, value in zip(instruction.outputs, results, strict=True):
            kind = self.program.buffers[name].type.kind
            if kind in ("spk", "addr") and self.program.buffers[name].role == "buffer":
                dense = value.to_dense() if isinstance(value, EncodedSpikes) else value
                self.spikes.setdefault(instruction.layer, np.asarray(dense) != 0)


def top1(logits: np.ndarray) -> np.ndarray | None:
    """Predicted classes of a `[batch, classes]` output (None for other shapes)."""
    return np.argmax(logits, axis=-1) if logits.ndim == 2 and logits.shape[1] > 1 else None


def accuracy(outputs: Mapping[str, np.ndarray], labels: np.ndarray) -> float | None:
    """Top-1 accuracy of the first classifier-shaped output."""
    for value in outputs.values():
        predicted = top1(value)
        if predicted is not None and predicted.shape == labels.shape:
            classes = value.shape[1]
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                raise ProgramError(
                    f"labels must be classes 0 to {classes - 1} of the model's output, got "
                    f"values from {labels.min()} to {labels.max()}"
                )
            return float(np.mean(predicted == labels))
    return None


def deviation(
    mode: str,
    exact: Mapping[str, np.ndarray],
    observed: Mapping[str, np.ndarray],
    exact_spikes: SpikeLog,
    observed_spikes: SpikeLog,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    agreement = {
        layer: float(np.mean(spikes == observed_spikes.spikes[layer]))
        for layer, spikes in exact_spikes.spikes.items()
        if layer in observed_spikes.spikes
    }
    outputs: dict[str, dict[str, float]] = {}
    for name, reference in exact.items():
        value = observed[name]
        norm = float(np.linalg.norm(reference))
        figures = {
            "max_abs_error": float(np.max(np.abs(value - reference))) if value.size else 0.0,
            "relative_error": float(np.linalg.norm(value - reference) / norm) if norm else 0.0,
        }
        predicted, expected = top1(value), top1(reference)
        if predicted is not None and expected is not None:
            figures["top1_agreement"] = float(np.mean(predicted == expected))
        outputs[name] = figures
    result: dict[str, Any] = {
        "mode": mode,
        "spike_agreement_mean": float(np.mean(list(agreement.values()))) if agreement else 1.0,
        "spike_agreement": agreement,
        "outputs": outputs,
    }
    if labels is not None:
        result["accuracy"] = {"exact": accuracy(exact, labels), mode: accuracy(observed, labels)}
    return result
