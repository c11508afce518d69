"""The FAISS vector backend, the default: `IndexIDMap2` over `IndexFlatIP`.

Exact inner-product search, which stays fast at the sizes a laptop agent reaches and needs no
training; ids are chunk row ids from SQL. The file is FAISS's own serialisation
(`vectors.faiss`); the manifest beside it and every check are `agentkit.index.base`'s. A large
index searched more than once has its vectors moved to huge pages
(`agentkit.index.huge_pages`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, Self

from agentkit.errors import IndexCorruptError
from agentkit.index.base import MANIFEST_FILE, IndexManifest, VectorBackend, read_manifest
from agentkit.index.huge_pages import HugePageAdvisor

if TYPE_CHECKING:
    import numpy as np

__all__ = ["INDEX_FILE", "MANIFEST_FILE", "FaissBackend", "IndexManifest", "read_manifest", "vector_memory"]

INDEX_FILE = "vectors.faiss"


class FaissBackend(VectorBackend):
    """An in-memory FAISS index of chunk vectors keyed by chunk id."""

    name = "faiss"
    file_name = INDEX_FILE

    def __init__(self, dimension: int) -> None:
        import faiss

        super().__init__(dimension)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._huge_pages = HugePageAdvisor()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        import faiss
        import numpy as np

        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(vectors, ids)

    def _remove(self, ids: np.ndarray) -> int:
        return int(self._index.remove_ids(ids))

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        if len(queries) == 1:
            # One query gains nothing from OpenMP threads, which only contend with the embedder.
            faiss.omp_set_num_threads(1)
        # The size costs nothing; where the vectors are is asked only of an index large enough.
        self._huge_pages.before_search(len(self) * self.dimension * 4, lambda: self.vector_memory()[0])
        return self._index.search(queries, k)

    def vector_memory(self) -> tuple[int, int]:
        """Where the stored vectors are in memory: (address, bytes); (0, 0) when empty."""
        return vector_memory(self._index)

    def to_bytes(self) -> bytes:
        import faiss

        return faiss.serialize_index(self._index).tobytes()

    def write_to(self, write: Callable[[bytes], object]) -> None:
        import faiss

        faiss.write_index(self._index, faiss.PyCallbackIOWriter(write))

    @classmethod
    def _read_from(cls, stream: BinaryIO) -> Self:
        import faiss

        return cls._wrap(faiss.read_index(faiss.PyCallbackIOReader(stream.read)))

    @classmethod
    def _from_bytes(cls, content: bytes) -> Self:
        import faiss
        import numpy as np

        return cls._wrap(faiss.deserialize_index(np.frombuffer(content, dtype=np.uint8)))

    @classmethod
    def _wrap(cls, raw: object) -> Self:
        import faiss

        if not isinstance(raw, faiss.IndexIDMap2):
            raise IndexCorruptError(f"a FAISS {type(raw).__name__}, not the IndexIDMap2 agentkit writes")
        index = cls(int(raw.d))
        index._index = raw
        return index


def vector_memory(index: object) -> tuple[int, int]:
    """Where the vectors of a FAISS `IndexIDMap2` over a flat index are in memory: (address,
    bytes); (0, 0) when it is empty."""
    import faiss

    flat = faiss.downcast_index(index.index)  # type: ignore[attr-defined]
    values = int(flat.ntotal) * int(flat.d)
    if values == 0:
        return 0, 0
    vectors = faiss.rev_swig_ptr(flat.get_xb(), values)  # a view of FAISS's own array
    return int(vectors.ctypes.data), int(vectors.nbytes)
