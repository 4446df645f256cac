"""spikec: a compiler toolchain for spiking transformers."""

__version__ = "0.1.0"
