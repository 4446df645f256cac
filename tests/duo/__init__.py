"""Target `duo`: a tiny design of two units, registered by the tests alone, to show that a
design is one package plus one registry line (`targets.register("duo", "tests.duo")`).

Its `mac` unit runs the ops with products (linear layers, convolutions, matmuls), its `vec` unit
everything else and the stores of the model's outputs; both are the generic vector unit of
`targets.vector`, priced by this package's hardware description."""

from __future__ import annotations

from pathlib import Path

from targets.target import Target

TARGET = Target(
    name="duo",
    description="test design: a MAC unit and a vector unit over one buffer",
    variants={"duo": "the design"},
    hardware_file=Path(__file__).with_name("hardware.toml"),
    machine_module="tests.duo.machine",
    backend_module="tests.duo.backend",
)
