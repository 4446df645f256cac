"""spikec's runtime: instruction streams, their interpreter, and cycle and energy accounting.

It knows nothing of xDSL: a compiled program is a directory of text, constants and a manifest, and
the runtime executes it with numpy.
"""
