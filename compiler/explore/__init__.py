"""Design-space exploration on top of the toolchain: one model on several designs (comparison),
one design over a grid of hardware parameters (sweep, grid), and what they draw and write
(plots, parquet)."""
