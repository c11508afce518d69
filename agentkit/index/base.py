"""The vector backend interface, and the one on-disk format every file-based backend shares.

A `VectorBackend` holds an agent's chunk vectors keyed by chunk id (the chunk's row id in SQL)
and finds the ones nearest a query by inner product; vectors are normalised, so that is cosine
similarity. Implementations: `agentkit.index.faiss` (FAISS, the default) and
`agentkit.index.numpy` (exact search in NumPy); `agentkit.index.registry` names them, and
plugins add theirs there. `tests/test_index_backends.py` is the conformance suite every one passes.

A backend implements only the storage: `__len__`, `ids`, `_add`, `_remove`, `_search`,
`to_bytes` and `_from_bytes`. This base class checks every argument first (ids are distinct,
non-negative int64 chunk ids; vectors have the index's dimension), so the implementations
receive clean arrays, and gives search results one shape and one order for all backends.

Stored, an index is a cache of what SQL holds: the backend's file (`file_name`) and beside it
`manifest.json`, which records the embedder id, dimension, chunker version, vector count, the
SQL `index_version` the file reflects, the backend that wrote it and a checksum of the file.
`save` writes the file and then the manifest, each atomically; `load` refuses a file whose
manifest does not match what the caller expects (`IndexMismatchError`) or whose bytes do not
match the checksum or cannot be read (`IndexCorruptError`). Deciding what to do about either
(rebuild from SQL, or tell the user to reindex) is `agentkit.index.files`'s job.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar, Self

from agentkit.atomic_files import write_atomically
from agentkit.errors import IndexCorruptError, IndexMismatchError, VectorIndexError

if TYPE_CHECKING:
    import numpy as np

MANIFEST_FILE = "manifest.json"
# Manifests written before backends existed have no `backend` field: they were all FAISS.
LEGACY_BACKEND = "faiss"


@dataclass(frozen=True)
class IndexManifest:
    """What a stored index was built from and what it holds; saved as `manifest.json`."""

    embedder_id: str
    dimension: int
    chunker_version: str
    count: int
    index_version: int
    checksum: str = ""
    backend: str = LEGACY_BACKEND

    def describes_same_space(self, other: IndexManifest) -> bool:
        """True when both hold vectors of one embedder and chunker (the backend may differ)."""
        return (self.embedder_id, self.dimension, self.chunker_version) == (
            other.embedder_id,
            other.dimension,
            other.chunker_version,
        )


def read_manifest(folder: Path) -> IndexManifest | None:
    """The manifest in `folder`, None when there is none; `IndexCorruptError` when unreadable."""
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return IndexManifest(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        raise IndexCorruptError(f"{path} is unreadable: {error}") from error


@dataclass(frozen=True)
class IdCheck:
    """How the ids in an index compare with the chunk ids it should hold (`VectorBackend.verify`)."""

    vectors: int
    missing: int
    extra: int
    duplicates: int

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.duplicates)


class VectorBackend(ABC):
    """Chunk vectors keyed by chunk id, searched by inner product.

    Subclasses set `name` (the name they are registered under, recorded in the manifest) and
    `file_name` (their file in the agent's index folder), and implement the storage methods.
    """

    name: ClassVar[str]
    file_name: ClassVar[str]

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"an index needs a dimension of at least 1, not {dimension}")
        self.dimension = dimension

    # ----- what a backend implements -----------------------------------------------------

    @abstractmethod
    def __len__(self) -> int:
        """The number of vectors held."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """The chunk ids held, int64, in no particular order."""

    @abstractmethod
    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store `vectors` (float32, n x dimension, C order) under `ids` (int64, distinct, new)."""

    @abstractmethod
    def _remove(self, ids: np.ndarray) -> int:
        """Drop the vectors of `ids` (int64, distinct, some perhaps absent); how many were held."""

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (len(queries), k), of the k largest inner products.

        `queries` is float32, q x dimension; 1 <= k <= len(self). Order within a row is free:
        `search` sorts it.
        """

    @abstractmethod
    def to_bytes(self) -> bytes:
        """The index serialised, for `save`; `_from_bytes` reads it back. Never pickle."""

    @classmethod
    @abstractmethod
    def _from_bytes(cls, content: bytes) -> Self:
        """An index from `to_bytes` output; any exception means the bytes are not an index."""

    # ----- the interface, checked once here ----------------------------------------------

    @classmethod
    def from_vectors(cls, dimension: int, ids: np.ndarray, vectors: np.ndarray) -> Self:
        """A new index holding `vectors` under `ids` (how an index is rebuilt from SQL)."""
        index = cls(dimension)
        index.add(ids, vectors)
        return index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add one vector per id. An id the index holds already is refused: remove it first."""
        import numpy as np

        ids = _chunk_ids(ids)
        if len(ids) == 0:
            return
        matrix = self._matrix(vectors, what="vectors")
        if matrix.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids for {matrix.shape[0]} vectors")
        if len(ids) != len(np.unique(ids)):
            raise VectorIndexError("the same chunk id is given twice in one add")
        held = ids[self.contains(ids)]
        if len(held):
            raise VectorIndexError(
                f"the index holds chunk ids {held[:5].tolist()} already; remove them before adding again"
            )
        self._add(ids, matrix)

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of `ids`; ids the index does not hold are ignored. Returns how many went."""
        import numpy as np

        ids = np.unique(_chunk_ids(ids))
        if len(ids) == 0 or len(self) == 0:
            return 0
        return int(self._remove(ids))

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """For each id, whether the index holds it (a bool array)."""
        import numpy as np

        ids = _chunk_ids(ids)
        if len(ids) == 0 or len(self) == 0:
            return np.zeros(len(ids), dtype=bool)
        return np.isin(ids, self.ids())

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (float32) and chunk ids (int64) of the `k` best vectors for each query.

        `queries` is one vector or a q x dimension matrix. Both results have shape
        (q, min(k, len(self))): there is no padding, an index smaller than `k` returns all it
        holds. Each row is best first; equal scores are ordered by chunk id.
        """
        import numpy as np

        matrix = self._matrix(queries, what="queries")
        width = min(max(k, 0), len(self))
        if width == 0:
            return np.zeros((len(matrix), 0), dtype=np.float32), np.zeros((len(matrix), 0), dtype=np.int64)
        scores, ids = self._search(matrix, width)
        scores = np.asarray(scores, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if scores.shape != (len(matrix), width) or ids.shape != scores.shape:
            raise VectorIndexError(
                f"the {self.name} backend returned results of shape {scores.shape} and {ids.shape} "
                f"for {len(matrix)} queries and k={width}"
            )
        order = np.lexsort((ids, -scores), axis=-1)
        return np.take_along_axis(scores, order, axis=-1), np.take_along_axis(ids, order, axis=-1)

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, score) of the `k` vectors nearest one query vector, best first."""
        scores, ids = self.search(query.reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True)]

    def verify(self, chunk_ids: np.ndarray) -> IdCheck:
        """Compare the ids held with `chunk_ids`, the ones SQL says the index should hold."""
        import numpy as np

        held = self.ids()
        unique_held = np.unique(held)
        expected = np.unique(_chunk_ids(chunk_ids))
        return IdCheck(
            vectors=len(held),
            missing=int(np.setdiff1d(expected, unique_held, assume_unique=True).size),
            extra=int(np.setdiff1d(unique_held, expected, assume_unique=True).size),
            duplicates=len(held) - len(unique_held),
        )

    @classmethod
    def from_bytes(cls, content: bytes) -> Self:
        """An index from `to_bytes` output; `IndexCorruptError` when the bytes are not one."""
        return cls._parsed(lambda: cls._from_bytes(content))

    @classmethod
    def _parsed(cls, parse: Callable[[], Self]) -> Self:
        try:
            return parse()
        except IndexCorruptError:
            raise
        except Exception as error:  # whatever a parser raises, damaged bytes are not an index
            raise IndexCorruptError(
                f"not a valid {cls.name} index: {type(error).__name__}: {error}"
            ) from error

    # ----- stored with a manifest --------------------------------------------------------

    def write_to(self, write: Callable[[bytes], object]) -> None:
        """Stream the `to_bytes` serialisation to `write`; a backend that can write in pieces
        overrides this, so saving does not hold a second copy of the index in memory."""
        write(self.to_bytes())

    @classmethod
    def read_from(cls, stream: BinaryIO) -> Self:
        """An index from a stream of `to_bytes` output (default: read whole, then parse); a
        backend that can parse from a stream overrides `_read_from` to skip the copy."""
        return cls._parsed(lambda: cls._read_from(stream))

    @classmethod
    def _read_from(cls, stream: BinaryIO) -> Self:
        return cls._from_bytes(stream.read())

    def save(self, folder: Path, manifest: IndexManifest) -> IndexManifest:
        """Write the index file and then its manifest, each atomically; returns the manifest.

        The manifest's count, checksum and backend are filled in from this index. The file is
        written as it is serialised, hashed on the way.
        """
        digest = hashlib.sha256()

        def write(path: Path) -> None:
            with path.open("wb") as stream:

                def sink(piece: bytes) -> None:
                    digest.update(piece)
                    stream.write(piece)

                self.write_to(sink)

        write_atomically(folder / self.file_name, write)
        final = replace(manifest, count=len(self), checksum=digest.hexdigest(), backend=self.name)
        write_atomically(
            folder / MANIFEST_FILE,
            lambda path: path.write_text(json.dumps(asdict(final), indent=2), encoding="utf-8"),
        )
        return final

    @classmethod
    def load(cls, folder: Path, expected: IndexManifest) -> tuple[Self, IndexManifest]:
        """Read an index saved by `save`, checking its manifest against `expected` and its checksum.

        `expected`'s embedder, dimension and chunker must match; its count, version and
        checksum are not compared (the stored manifest is returned for the caller to judge).
        """
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
        if manifest.backend != cls.name:
            raise IndexMismatchError(
                f"the index in {folder} was written by the {manifest.backend!r} index backend, "
                f"not {cls.name!r}"
            )
        path = folder / cls.file_name
        # One open file for the checksum and the parse: a writer renaming a new file into place
        # meanwhile cannot mix the two. Nothing is parsed before its checksum holds.
        try:
            with path.open("rb") as stream:
                matches = hashlib.file_digest(stream, "sha256").hexdigest() == manifest.checksum
                if matches:
                    stream.seek(0)
                    index = cls.read_from(stream)
        except OSError as error:
            raise IndexCorruptError(f"{path}: cannot read: {error}") from error
        except IndexCorruptError as error:
            raise IndexCorruptError(f"{path}: {error}") from error
        if not matches:
            raise IndexCorruptError(f"{path} does not match its manifest checksum")
        if index.dimension != manifest.dimension:
            raise IndexCorruptError(
                f"{path} holds vectors of dimension {index.dimension}, its manifest says {manifest.dimension}"
            )
        if len(index) != manifest.count:
            raise IndexCorruptError(f"{path} holds {len(index)} vectors, its manifest says {manifest.count}")
        return index, manifest

    # ----- checks ------------------------------------------------------------------------

    def _matrix(self, values: np.ndarray, *, what: str) -> np.ndarray:
        import numpy as np

        matrix = np.asarray(values, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2:
            raise ValueError(f"{what} must be one vector or a matrix of them, not shape {matrix.shape}")
        if matrix.shape[1] != self.dimension:
            raise IndexMismatchError(f"{what} have dimension {matrix.shape[1]}, the index {self.dimension}")
        return np.ascontiguousarray(matrix)


def _chunk_ids(ids: np.ndarray) -> np.ndarray:
    """`ids` as a flat int64 array; chunk ids are row ids, never negative (FAISS pads with -1)."""
    import numpy as np

    array = np.asarray(ids)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"chunk ids must be a flat array of integers, not {array.dtype} of shape {array.shape}"
        )
    array = array.astype(np.int64, copy=False)
    if (array < 0).any():
        raise VectorIndexError(f"chunk ids are never negative: {array[array < 0][:5].tolist()}")
    return array
