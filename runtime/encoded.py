"""Address-encoded spikes as numpy arrays (the value of a `!spike.encoded` in the interpreter).

A dense spike tensor viewed as `[rows, positions]` becomes, as in compressed sparse rows,
`row_ptr` (where each row's addresses start) and `addresses` (positions of the spikes, increasing
within a row). Encoding and decoding are lossless and vectorised.

Encoding from a bitmap keeps the bitmap and counts the spikes of each row at once; the address
list itself is built the first time something reads it. Costs need only the counts and
consumers compute on the bitmap, so most runs never pay for listing every address.
"""

from __future__ import annotations

import math

import numpy as np


class EncodedSpikes:
    def __init__(
        self,
        shape: tuple[int, ...],
        address_axes: int,
        row_ptr: np.ndarray,
        addresses: np.ndarray | None = None,
        dense: np.ndarray | None = None,
    ) -> None:
        assert addresses is not None or dense is not None, "addresses or their bitmap"
        self.shape = shape
        """The dense shape."""
        self.address_axes = address_axes
        """Trailing axes that form the address space."""
        self.row_ptr = row_ptr
        """int64 `[rows + 1]`: row r's addresses are `addresses[row_ptr[r] : row_ptr[r + 1]]`."""
        self._addresses = addresses
        self.dense = dense
        """The bitmap these addresses were made from, kept so that a consumer computing on
        dense data does not rebuild it (a cache: the addresses are the value)."""

    @property
    def addresses(self) -> np.ndarray:
        """int32 `[spikes]`: positions in the flattened address space."""
        if self._addresses is None:
            assert self.dense is not None
            _, where = np.nonzero(self.dense.reshape(self.rows, self.positions) != 0)
            self._addresses = where.astype(np.int32)
        return self._addresses

    @property
    def rows(self) -> int:
        return int(math.prod(self.shape[: -self.address_axes]))

    @property
    def positions(self) -> int:
        return int(math.prod(self.shape[-self.address_axes :]))

    @property
    def spikes(self) -> int:
        return int(self.row_ptr[-1])

    @classmethod
    def from_dense(cls, dense: np.ndarray, address_axes: int = 1) -> EncodedSpikes:
        positions = int(np.prod(dense.shape[-address_axes:], dtype=np.int64))
        counts = np.count_nonzero(dense.reshape(-1, positions), axis=1)
        row_ptr = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=row_ptr[1:])
        return cls(tuple(dense.shape), address_axes, row_ptr, dense=dense)

    def row_counts(self) -> np.ndarray:
        """Spikes in each row."""
        return np.diff(self.row_ptr)

    def to_dense(self) -> np.ndarray:
        if self.dense is not None:
            return self.dense
        matrix = np.zeros((self.rows, self.positions), dtype=np.float32)
        rows = np.repeat(np.arange(self.rows), np.diff(self.row_ptr))
        matrix[rows, self.addresses] = 1.0
        self.dense = matrix.reshape(self.shape)
        return self.dense
