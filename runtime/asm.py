"""Reading and writing `.sasm` text (grammar in `sasm.lark`).

`parse_program` reports syntax errors with file, line, column and what was expected, and
structural errors (a buffer declared twice, an undeclared buffer, a buffer written twice) with
the line; `print_program` writes text that parses back to the same program.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from lark import (
    Lark,
    Token,
    Transformer,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    v_args,
)

from runtime.errors import ProgramError
from runtime.program import AttrValue, Buffer, BufferType, Instruction, Program, Role

TERMINALS = {
    "BUFFER": "a buffer (%name or @name)",
    "NAME": "a name",
    "VARIANT": "a variant name",
    "OPCODE": "an opcode (UPPER.CASE)",
    "DIRECTIVE": "a directive (.input, .output, .const, .buffer)",
    "KIND": "a type (f32, spk, addr)",
    "SIGNED_INT": "an integer",
    "SIGNED_FLOAT": "a number",
    "NONFINITE": "nan or inf",
    "INT": "an integer",
    "ESCAPED_STRING": "a string",
    "_NL": "the end of the line",
    "COLON": "':'",
    "COMMA": "','",
    "EQUAL": "'='",
    "LSQB": "'['",
    "RSQB": "']'",
    "__ANON_0": "'->'",
    "MINUS": "'-'",
    "QMARK": "'?'",
    "ADDR": "a type (f32, spk, addr)",
}


@v_args(inline=True)
class _Values(Transformer[Token, Any]):
    def int_value(self, token: Token) -> int:
        return int(token)

    def float_value(self, token: Token) -> float:
        return float(token)

    def string_value(self, token: Token) -> str:
        return str(json.loads(token))

    def true_value(self) -> bool:
        return True

    def false_value(self) -> bool:
        return False

    def list_value(self, *values: AttrValue) -> list[AttrValue]:
        return list(values)

    def size(self, token: Token) -> int:
        return int(token)

    def dynamic(self) -> None:
        return None

    def dims(self, *dims: int | None) -> tuple[int | None, ...]:
        return tuple(dims)

    def dense_type(self, kind: Token, dims: tuple[int | None, ...] | None = None) -> BufferType:
        """`f32[]` is a scalar (a constant such as a divisor)."""
        return BufferType(str(kind), dims or ())  # type: ignore[arg-type]

    def addr_type(
        self, rows: tuple[int | None, ...], positions: tuple[int | None, ...]
    ) -> BufferType:
        return BufferType("addr", rows + positions, len(positions))

    # Statements become (kind, line, parts); the line is that of the statement's first token.

    def operands(self, *buffers: Token) -> list[str]:
        return [str(b) for b in buffers]

    def attr(self, key: Token, value: AttrValue) -> tuple[str, AttrValue]:
        return str(key), value

    def target(self, name: Token, variant: Token) -> Statement:
        return Statement("target", name.line or 0, (str(name), str(variant)))

    def declaration(self, directive: Token, name: Token, buffer_type: BufferType) -> Statement:
        return Statement(
            "declaration", directive.line or 0, (str(directive), str(name), buffer_type)
        )

    def instruction(
        self,
        unit: Token,
        opcode: Token,
        inputs: list[str],
        outputs: list[str],
        *attrs: tuple[str, AttrValue],
    ) -> Statement:
        return Statement(
            "instruction", unit.line or 0, (str(unit), str(opcode), inputs, outputs, attrs)
        )

    def instruction_no_outputs(
        self, unit: Token, opcode: Token, inputs: list[str], *attrs: tuple[str, AttrValue]
    ) -> Statement:
        return self.instruction(unit, opcode, inputs, [], *attrs)

    def start(self, *statements: Statement) -> list[Statement]:
        return list(statements)


@dataclass(frozen=True)
class Statement:
    kind: str
    line: int
    parts: tuple[Any, ...]


@cache
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "sasm.lark").read_text(encoding="utf-8")
    # The transformer runs as the parser reduces (no tree is built): about twice as fast.
    return Lark(grammar, parser="lalr", maybe_placeholders=False, transformer=_Values())


def _expected(error: UnexpectedInput) -> str:
    names = sorted({TERMINALS.get(t, repr(t)) for t in getattr(error, "expected", set())})
    return f"; expected {', '.join(names)}" if names else ""


def parse_program(text: str, filename: str = "<program>") -> Program:
    """Parse `.sasm` text into a program (no check against a target's instruction set)."""
    if not text.endswith("\n"):
        text += "\n"
    try:
        statements: list[Statement] = _parser().parse(text)  # type: ignore[assignment]
    except UnexpectedInput as e:
        context = e.get_context(text).rstrip()
        if isinstance(e, UnexpectedToken):
            what = "end of file" if e.token.type == "$END" else repr(str(e.token))
            message = f"unexpected {what}{_expected(e)}"
        elif isinstance(e, UnexpectedCharacters):
            message = f"unexpected character {e.char!r}{_expected(e)}"
        else:
            message = "syntax error"
        raise ProgramError(f"{filename}:{e.line}:{e.column}: {message}\n{context}") from None
    return _build(statements, filename)


def _build(statements: list[Statement], filename: str) -> Program:
    program = Program(target="", variant="")
    written: dict[str, int] = {}
    for statement in statements:
        line = statement.line
        where = f"{filename}:{line}"
        if statement.kind == "target":
            program.target, program.variant = statement.parts
        elif statement.kind == "declaration":
            directive, name, buffer_type = statement.parts
            if name in program.buffers:
                first = program.buffers[name].line
                raise ProgramError(f"{where}: buffer {name} is already declared on line {first}")
            role = str(directive)[1:]
            if (role == "const") != name.startswith("@"):
                raise ProgramError(f"{where}: {name}: constants are named @..., other buffers %...")
            assert isinstance(buffer_type, BufferType)
            program.buffers[name] = Buffer(name, buffer_type, cast(Role, role), line)
        else:
            unit, opcode, inputs, outputs, attr_items = statement.parts
            attrs: dict[str, AttrValue] = {}
            for key, value in attr_items:
                if key in attrs:
                    raise ProgramError(f"{where}: attribute {key} is given twice")
                attrs[key] = value
            instruction = Instruction(unit, opcode, inputs, outputs, attrs, line)
            for name in instruction.inputs + instruction.outputs:
                if name not in program.buffers:
                    raise ProgramError(
                        f"{where}: {opcode} uses buffer {name}, which is not declared "
                        "(declare it with .input, .const, .buffer or .output)"
                    )
            for name in instruction.inputs:
                buffer = program.buffers[name]
                if buffer.role in ("buffer", "output") and name not in written:
                    raise ProgramError(
                        f"{where}: {opcode} reads {name} before any instruction writes it"
                    )
            for name in instruction.outputs:
                buffer = program.buffers[name]
                if buffer.role in ("input", "const"):
                    raise ProgramError(f"{where}: {opcode} writes {buffer.role} {name}")
                if name in written:
                    raise ProgramError(
                        f"{where}: {name} is written again (first on line {written[name]}); every "
                        "buffer is written once"
                    )
                written[name] = line
            program.instructions.append(instruction)
    if not program.target:
        raise ProgramError(f"{filename}: missing '.target NAME VARIANT'")
    for buffer in program.outputs:
        if buffer.name not in written:
            raise ProgramError(f"{filename}:{buffer.line}: output {buffer.name} is never written")
    return program


def _value(value: AttrValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def print_program(program: Program) -> str:
    lines = [f".target {program.target} {program.variant}"]
    order = {"input": 0, "const": 1, "output": 2, "buffer": 3}
    for buffer in sorted(program.buffers.values(), key=lambda b: order[b.role]):
        lines.append(f".{buffer.role} {buffer.name} : {buffer.type}")
    width = max((len(i.unit) for i in program.instructions), default=0) + 1
    for ins in program.instructions:
        text = f"{(ins.unit + ':'):<{width}} {ins.opcode} {', '.join(ins.inputs)}"
        if ins.outputs:
            text += f" -> {', '.join(ins.outputs)}"
        for key, value in ins.attrs.items():
            text += f" {key}={_value(value)}"
        lines.append(text)
    return "\n".join(lines) + "\n"
