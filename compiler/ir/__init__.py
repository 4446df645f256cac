"""spikec's own handling of xDSL IR: the context (context), reading (parse), verifying
(verify) and printing (printer) `spike` IR, writing files (files), the weights a module names
(weights, weight_paths) and the locations of its ops (locations)."""
