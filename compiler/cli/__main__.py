"""`python -m compiler.cli`: the `spikec` command."""

from compiler.cli import main

main()
