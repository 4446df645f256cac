"""spikec: a compiler toolchain for spiking transformers.

The layers, bottom up (CONTRIBUTING.md gives the rules): `errors` and `progress`; `formats`
(reading ONNX and NIR files); `dialects` (the `spike` dialect); `ir` (context, parsing,
verifying, printing, weights, locations); `interpreters` (the reference interpreter) and
`transforms` (the passes); `frontend` (ONNX and NIR import); `toolchain` (compile and run a model
for a target of `targets`); `explore` (compare, sweep); `cli`.
"""

__version__ = "0.1.0"
