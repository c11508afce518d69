"""The exact NumPy vector backend: a matrix of vectors, an array of chunk ids, a matrix product.

It needs nothing beyond NumPy and gives the same results as FAISS's flat index (both are
exact, up to float32 rounding), so it is a reference to check other backends against. Search
is one matrix product (without BLAS threads for a single query), a partition for the best k
and a sort of those; where scores tie at the k-th place the smaller chunk ids are taken, so
results never depend on insertion order.

The file (`vectors.npy`) is one structured array written by `numpy.save`, a record per vector
(`id` int64, `vector` float32 x dimension), read back with `allow_pickle=False`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Self

from agentkit.errors import IndexCorruptError
from agentkit.index.base import VectorBackend

if TYPE_CHECKING:
    import numpy as np

INDEX_FILE = "vectors.npy"


class NumpyBackend(VectorBackend):
    """Chunk vectors in memory as NumPy arrays, searched exactly."""

    name = "numpy"
    file_name = INDEX_FILE

    def __init__(self, dimension: int) -> None:
        import numpy as np

        super().__init__(dimension)
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dimension), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import numpy as np

        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.concatenate([self._vectors, vectors])

    def _remove(self, ids: np.ndarray) -> int:
        import numpy as np

        removed = np.isin(self._ids, ids)
        count = int(removed.sum())
        if count:
            self._ids = self._ids[~removed]
            self._vectors = self._vectors[~removed]
        return count

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        if len(queries) == 1:
            # einsum's own loop runs on this thread; BLAS would wake its threads for one
            # query, which only contend with the embedder (10x slower on a busy 2-core machine).
            all_scores = np.einsum("ij,j->i", self._vectors, queries[0]).reshape(1, -1)
        else:
            all_scores = queries @ self._vectors.T
        scores = np.empty((len(queries), k), dtype=np.float32)
        ids = np.empty((len(queries), k), dtype=np.int64)
        for row, row_scores in enumerate(all_scores):
            best = _best_rows(row_scores, self._ids, k)
            scores[row], ids[row] = row_scores[best], self._ids[best]
        return scores, ids

    def to_bytes(self) -> bytes:
        import numpy as np

        records = np.empty(len(self), dtype=_record_type(self.dimension))
        records["id"] = self._ids
        records["vector"] = self._vectors
        buffer = io.BytesIO()
        np.save(buffer, records, allow_pickle=False)
        return buffer.getvalue()

    @classmethod
    def _from_bytes(cls, content: bytes) -> Self:
        import numpy as np

        records = np.load(io.BytesIO(content), allow_pickle=False)
        names = records.dtype.names or ()
        if records.ndim != 1 or names != ("id", "vector"):
            raise IndexCorruptError(
                f"an array of {records.dtype} and shape {records.shape}, not vector records"
            )
        vector_type = records.dtype["vector"]
        if (
            records.dtype["id"] != np.dtype("<i8")
            or vector_type.base != np.dtype("<f4")
            or len(vector_type.shape) != 1
        ):
            raise IndexCorruptError(f"records of {records.dtype}, not (int64 id, float32 vector)")
        index = cls(int(vector_type.shape[0]))
        ids = np.ascontiguousarray(records["id"], dtype=np.int64)
        if len(np.unique(ids)) != len(ids) or (ids < 0).any():
            raise IndexCorruptError("the chunk ids are not distinct and non-negative")
        index._ids = ids
        index._vectors = np.ascontiguousarray(records["vector"], dtype=np.float32).reshape(
            len(ids), index.dimension
        )
        return index


def _record_type(dimension: int) -> np.dtype:
    import numpy as np

    return np.dtype([("id", "<i8"), ("vector", "<f4", (dimension,))])


def _best_rows(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first; ties (at the k-th place too) by smaller id."""
    import numpy as np

    if k < len(scores):
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th largest score
        candidates = np.flatnonzero(scores >= kth)  # k of them, more when scores tie with it
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((ids[candidates], -scores[candidates]))
    return candidates[order[:k]]
