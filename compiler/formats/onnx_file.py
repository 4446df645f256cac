"""Read an ONNX model without reading its weights.

`onnx.load` copies every initializer into memory (twice, while it parses), although importing a
model needs only their names, types and shapes. `read_model` walks the protobuf wire format of
the file with positioned reads, copies everything except the `raw_data` of large initializers,
and turns those into external-data references to the model file itself (offset and length). onnx
then parses a small skeleton, and weights are memory-mapped from disk only when evaluated.
(A memory map of the whole file would do, but the kernel maps pages around every header read,
which costs as much resident memory as reading the weights.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import onnx

MODEL_GRAPH = 7
GRAPH_INITIALIZER = 5
TENSOR_RAW_DATA = 9
TENSOR_EXTERNAL_DATA = 13
TENSOR_DATA_LOCATION = 14
INLINE_BYTES = 1024
"""raw_data up to this size stays in the skeleton."""

WIRE_VARINT, WIRE_64BIT, WIRE_LENGTH, WIRE_32BIT = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (e.g. a truncated file)."""


class _Source:
    """Bytes of a file by position, read on demand in small windows."""

    WINDOW = 64

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size
        self._start, self._window = 0, b""

    def __len__(self) -> int:
        return self.size

    def byte(self, pos: int) -> int:
        offset = pos - self._start
        if not 0 <= offset < len(self._window):
            self._start, self._window = pos, os.pread(self.fd, self.WINDOW, pos)
            offset = 0
            if not self._window:
                raise WireError("unexpected end of file")
        return self._window[offset]

    def read(self, start: int, end: int) -> bytes:
        data = os.pread(self.fd, end - start, start)
        if len(data) != end - start:
            raise WireError("unexpected end of file")
        return data


def _varint(data: _Source, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("varint runs past the end of the message")
        byte = data.byte(pos)
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(data: _Source, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, payload start, field end) of each field."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(data, pos, end)
        field, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            _, next_pos = _varint(data, pos, end)
        elif wire == WIRE_64BIT:
            next_pos = pos + 8
        elif wire == WIRE_32BIT:
            next_pos = pos + 4
        elif wire == WIRE_LENGTH:
            length, pos = _varint(data, pos, end)
            next_pos = pos + length
        else:
            raise WireError(f"unsupported wire type {wire}")
        if next_pos > end or field == 0:
            raise WireError("field runs past the end of the message")
        yield field, wire, field_start, pos, next_pos
        pos = next_pos


def _length_field(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | WIRE_LENGTH) + _encode_varint(len(payload)) + payload


def _entry(key: str, value: str) -> bytes:
    return _length_field(1, key.encode()) + _length_field(2, value.encode())


def _tensor(data: _Source, start: int, end: int, location: str) -> bytes:
    fields = list(_fields(data, start, end))
    raw = [
        (payload, field_end - payload)
        for field, _, _, payload, field_end in fields
        if field == TENSOR_RAW_DATA and field_end - payload > INLINE_BYTES
    ]
    if not raw:
        return data.read(start, end)
    out = bytearray()
    for field, _, field_start, _, field_end in fields:
        if field not in (TENSOR_RAW_DATA, TENSOR_DATA_LOCATION):
            out += data.read(field_start, field_end)
    offset, length = raw[-1]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        out += _length_field(TENSOR_EXTERNAL_DATA, _entry(key, str(value)))
    out += _encode_varint(TENSOR_DATA_LOCATION << 3 | WIRE_VARINT) + _encode_varint(1)
    return bytes(out)


def _graph(data: _Source, start: int, end: int, location: str) -> bytes:
    out = bytearray()
    for field, wire, field_start, payload, field_end in _fields(data, start, end):
        if field == GRAPH_INITIALIZER and wire == WIRE_LENGTH:
            out += _length_field(field, _tensor(data, payload, field_end, location))
        else:
            out += data.read(field_start, field_end)
    return bytes(out)


def read_model(path: Path) -> onnx.ModelProto:
    """The model at `path` with large initializers left on disk as external data."""
    size = path.stat().st_size
    if size == 0:
        raise WireError("the file is empty")
    fd = os.open(path, os.O_RDONLY)
    try:
        data = _Source(fd, size)
        out = bytearray()
        for field, wire, field_start, payload, field_end in _fields(data, 0, size):
            if field == MODEL_GRAPH and wire == WIRE_LENGTH:
                out += _length_field(field, _graph(data, payload, field_end, path.name))
            else:
                out += data.read(field_start, field_end)
    finally:
        os.close(fd)
    model = onnx.ModelProto()
    model.ParseFromString(bytes(out))
    return model
