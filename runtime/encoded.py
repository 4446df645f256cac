"""Address-encoded spikes as numpy arrays (the value of a `!spike.encoded` in the interpreter).

A dense spike tensor viewed as `[rows, positions]` becomes, as in compressed sparse rows,
`row_ptr` (where each row's addresses start) and `addresses` (positions of the spikes, increasing
within a row). Encoding and decoding are lossless and vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EncodedSpikes:
    shape: tuple[int, ...]
    """The dense shape."""
    address_axes: int
    """Trailing axes that form the address space."""
    row_ptr: np.ndarray
    """int64 `[rows + 1]`: row r's addresses are `addresses[row_ptr[r] : row_ptr[r + 1]]`."""
    addresses: np.ndarray
    """int32 `[spikes]`: positions in the flattened address space."""
    dense: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The bitmap these addresses were made from, kept so that a consumer computing on dense
    data does not rebuild it (a cache: the addresses are the value)."""

    @property
    def rows(self) -> int:
        return int(np.prod(self.shape[: -self.address_axes], dtype=np.int64))

    @property
    def positions(self) -> int:
        return int(np.prod(self.shape[-self.address_axes :], dtype=np.int64))

    @property
    def spikes(self) -> int:
        return int(self.addresses.size)

    @classmethod
    def from_dense(cls, dense: np.ndarray, address_axes: int = 1) -> EncodedSpikes:
        positions = int(np.prod(dense.shape[-address_axes:], dtype=np.int64))
        matrix = dense.reshape(-1, positions)
        rows, addresses = np.nonzero(matrix)
        counts = np.bincount(rows, minlength=matrix.shape[0])
        row_ptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=row_ptr[1:])
        return cls(tuple(dense.shape), address_axes, row_ptr, addresses.astype(np.int32), dense)

    def row_counts(self) -> np.ndarray:
        """Spikes in each row."""
        return np.diff(self.row_ptr)

    def to_dense(self) -> np.ndarray:
        if self.dense is not None:
            return self.dense
        matrix = np.zeros((self.rows, self.positions), dtype=np.float32)
        rows = np.repeat(np.arange(self.rows), np.diff(self.row_ptr))
        matrix[rows, self.addresses] = 1.0
        return matrix.reshape(self.shape)
