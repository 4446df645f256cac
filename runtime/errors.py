"""Errors of the runtime. A `ProgramError` is a problem with a program or its inputs, reported to
the user as one message (file, line, what is wrong); the CLI exits with status 2."""


class ProgramError(Exception):
    """A malformed program, hardware description, option or input."""
