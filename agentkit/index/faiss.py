"""The per-agent FAISS vector index: add, remove, search, and atomic save/load with a manifest.

Ids in the index are chunk row ids from SQL; vectors are normalised, so inner product is
cosine similarity (`IndexIDMap2` over `IndexFlatIP`: exact search, which stays fast at the
sizes a laptop agent reaches and needs no training).

The index is a cache of what SQL holds. Its manifest records the embedder id, dimension,
chunker version, vector count, the SQL `index_version` it reflects and a checksum of the
index file; `load` refuses a file whose manifest does not match what the caller expects or
whose bytes do not match the checksum, with a message that names the rebuild command.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentkit.atomic_files import write_atomically, write_bytes_atomically
from agentkit.errors import IndexCorruptError, IndexMismatchError

if TYPE_CHECKING:
    import numpy as np

INDEX_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class IndexManifest:
    embedder_id: str
    dimension: int
    chunker_version: str
    count: int
    index_version: int
    checksum: str = ""

    def describes_same_space(self, other: IndexManifest) -> bool:
        return (self.embedder_id, self.dimension, self.chunker_version) == (
            other.embedder_id,
            other.dimension,
            other.chunker_version,
        )


class VectorIndex:
    """An in-memory FAISS index of chunk vectors keyed by chunk id."""

    def __init__(self, dimension: int) -> None:
        import faiss

        self.dimension = dimension
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    @classmethod
    def from_vectors(cls, dimension: int, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        index = cls(dimension)
        index.add(ids, vectors)
        return index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import numpy as np

        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise IndexMismatchError(
                f"vectors have dimension {vectors.shape[1]}, the index {self.dimension}"
            )
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        import numpy as np

        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def ids(self) -> np.ndarray:
        import faiss
        import numpy as np

        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the k nearest vectors, best first."""
        import numpy as np

        if len(self) == 0 or k <= 0:
            return []
        import faiss

        # One query gains nothing from OpenMP threads, which only contend with the embedder.
        faiss.omp_set_num_threads(1)
        matrix = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self._index.search(matrix, min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, folder: Path, manifest: IndexManifest) -> IndexManifest:
        """Write the index and then its manifest, each atomically; returns the manifest."""
        import faiss

        serialized = faiss.serialize_index(self._index).tobytes()
        final = IndexManifest(
            **{**asdict(manifest), "count": len(self), "checksum": _sha256(serialized)}
        )
        write_bytes_atomically(folder / INDEX_FILE, serialized)
        write_atomically(
            folder / MANIFEST_FILE,
            lambda path: path.write_text(json.dumps(asdict(final), indent=2), encoding="utf-8"),
        )
        return final

    @classmethod
    def load(cls, folder: Path, expected: IndexManifest) -> tuple[VectorIndex, IndexManifest]:
        """Read an index saved by `save`, checking it against `expected` and its checksum."""
        import faiss
        import numpy as np

        manifest = read_manifest(folder)
        if manifest is None:
            raise IndexCorruptError(f"{folder}: no index manifest")
        if not manifest.describes_same_space(expected):
            raise IndexMismatchError(
                f"the index in {folder} was built with embedder {manifest.embedder_id!r} "
                f"(dimension {manifest.dimension}, chunker {manifest.chunker_version}) but the "
                f"agent uses {expected.embedder_id!r} (dimension {expected.dimension}, chunker "
                f"{expected.chunker_version})"
            )
        try:
            serialized = (folder / INDEX_FILE).read_bytes()
        except OSError as error:
            raise IndexCorruptError(f"{folder / INDEX_FILE}: cannot read: {error}") from error
        if _sha256(serialized) != manifest.checksum:
            raise IndexCorruptError(f"{folder / INDEX_FILE} does not match its manifest checksum")
        try:
            raw = faiss.deserialize_index(np.frombuffer(serialized, dtype=np.uint8))
        except RuntimeError as error:
            raise IndexCorruptError(f"{folder / INDEX_FILE} is not a valid index: {error}") from error
        index = cls(manifest.dimension)
        index._index = raw
        if len(index) != manifest.count:
            raise IndexCorruptError(f"{folder / INDEX_FILE} holds {len(index)} vectors, manifest says {manifest.count}")
        return index, manifest


def read_manifest(folder: Path) -> IndexManifest | None:
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return IndexManifest(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        raise IndexCorruptError(f"{path} is unreadable: {error}") from error


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
