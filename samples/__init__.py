"""Bundled sample models (spikec ONNX convention), their builders and generator."""
