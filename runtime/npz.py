"""Write and read a program's `constants.npz`, memory-mapping its arrays instead of copying them.

`np.load` copies every member of an archive into memory (it ignores `mmap_mode` for `.npz`):
on Xpikeformer-6-512 that is 82 MB copied, about half of loading the program. The members are
stored uncompressed, so each array's bytes lie contiguous in the file and can be mapped
read-only where they are; the zip CRC of each member is still checked, so a corrupt file is
refused as `np.load` would refuse it. `write_npz` pads each member's local header (a zip extra
field) so that its array starts on a 64-byte boundary: `np.savez` does not, and numpy copies or
buffers a misaligned array at every product. An archive from elsewhere still reads: a misaligned
member is copied, a compressed one (`np.savez_compressed`) read the ordinary way.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from runtime.errors import ProgramError

_LOCAL_HEADER = 30
"""Bytes of a zip local file header before its name and extra field."""

_ALIGNMENT = 64
"""Where `write_npz` starts each member's data (and `.npy` pads its header to 64 too)."""

_PADDING_ID = 0xD935
"""The zip extra-field id of alignment padding (the one Android's zipalign writes)."""

_EPOCH = (1980, 1, 1, 0, 0, 0)
"""Every member's timestamp: the same constants give the same bytes."""


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` as an uncompressed `.npz` (what `np.load` reads) whose array data each
    start on a 64-byte boundary of the file."""
    with open(path, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            data = member.getvalue()
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            zip64 = 20 if len(data) * 1.05 > zipfile.ZIP64_LIMIT else 0  # zipfile adds it
            header = _LOCAL_HEADER + len(info.filename.encode()) + 4 + zip64
            pad = -(raw.tell() + header) % _ALIGNMENT
            info.extra = struct.pack("<HH", _PADDING_ID, pad) + bytes(pad)
            archive.writestr(info, data)


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the archive at `path` by name (read-only, memory-mapped where stored)."""
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            return {
                info.filename.removesuffix(".npy"): _member(path, archive, raw, info)
                for info in archive.infolist()
            }
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, struct.error) as e:
        raise ProgramError(f"{path}: not readable ({e})") from None


def _member(
    path: Path, archive: zipfile.ZipFile, raw: io.BufferedReader, info: zipfile.ZipInfo
) -> np.ndarray:
    if info.compress_type != zipfile.ZIP_STORED:
        array = np.load(io.BytesIO(archive.read(info)), allow_pickle=False)
        assert isinstance(array, np.ndarray)
        return array
    raw.seek(info.header_offset)
    local = raw.read(_LOCAL_HEADER)
    if len(local) != _LOCAL_HEADER or local[:4] != b"PK\x03\x04":
        raise ValueError(f"member {info.filename}: bad local header")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = info.header_offset + _LOCAL_HEADER + name_length + extra_length
    raw.seek(start)
    version = np.lib.format.read_magic(raw)
    if version not in _HEADER_READERS:
        raise ValueError(f"member {info.filename}: .npy format version {version} is not read")
    shape, fortran, dtype = _HEADER_READERS[version](raw)
    if dtype.hasobject:
        raise ValueError(f"member {info.filename}: object arrays are not accepted")
    offset = raw.tell()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset - start + nbytes != info.file_size:
        raise ValueError(f"member {info.filename}: its header does not describe its data")
    raw.seek(start)
    crc = zlib.crc32(raw.read(offset - start))
    if nbytes == 0:
        array = np.empty(shape, dtype, order="F" if fortran else "C")
        array.flags.writeable = False
    else:
        data = np.memmap(path, np.uint8, "r", offset=offset, shape=(nbytes,))
        crc = zlib.crc32(data.data, crc)
        array = data.view(np.ndarray).view(dtype).reshape(shape, order="F" if fortran else "C")
        if not array.flags.aligned:  # not written by `write_npz`
            array = np.array(array)
            array.flags.writeable = False
    if crc != info.CRC:
        raise ValueError(f"member {info.filename}: bad CRC (the file is corrupt)")
    return array
