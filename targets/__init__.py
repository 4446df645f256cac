"""One package per accelerator design: its hardware description (TOML data), its lowering from
`spike` IR to its instruction stream, and the semantics and cost of each instruction."""
