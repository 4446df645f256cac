"""lit configuration: FileCheck tests of the `spike` IR, run through the `spikec` CLI.

`pytest tests/test_filecheck.py` runs this suite so that its result counts in the pytest summary.
"""

import os

import lit.formats

config.name = "spikec"  # noqa: F821
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821
# each run's %t files in a folder of its own when given (pytest gives a temporary one), so two
# runs at once (two pytest sessions, or pytest beside a manual `lit`) do not share files
if os.environ.get("SPIKEC_LIT_OUTPUT"):
    config.test_exec_root = os.environ["SPIKEC_LIT_OUTPUT"]  # noqa: F821
config.environment["PATH"] = os.environ["PATH"]  # noqa: F821
# `spikec` imports the checkout this suite belongs to, not whichever one the venv was installed
# from (a git worktree beside the installed tree would otherwise test the other tree's code)
config.environment["PYTHONPATH"] = os.pathsep.join(  # noqa: F821
    [os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))]
    + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
)
config.substitutions.append(  # noqa: F821
    ("%samples", os.path.join(os.path.dirname(__file__), "..", "..", "samples"))
)
