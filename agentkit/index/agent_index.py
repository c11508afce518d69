"""An agent's index as retrieval, ingest and maintenance see it: vectors and BM25 together.

Two implementations: `agentkit.index.files.AgentIndexFiles` (a `VectorBackend` file and
`lexical.npz` in the agent's folder, caches of SQL updated after each commit) and
`agentkit.index.pgvector.PgVectorIndex` (tables in the same PostgreSQL database, written in the
same transaction as the chunk rows). `agentkit.index.stores.open_agent_index` picks one.

- Searches ask `snapshot(session, index_version)` for an `IndexSnapshot` that answers dense
  and BM25 queries for exactly that SQL version, read in the caller's transaction.
- Writers call `apply_update` after each commit that changed the chunks. The files apply the
  change then; pgvector has nothing left to do, its rows were written by the flush that
  inserted the chunks (`agentkit.index.pgvector`), in the same transaction.
- `bring_up_to_date` runs under the writer lock before every write; `rebuild` writes the index
  again from the vectors SQL stores (after a reindex).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from agentkit.index.base import IndexManifest

if TYPE_CHECKING:
    import numpy as np

    from agentkit.index.base import VectorBackend
    from agentkit.index.lexical import LexicalIndex


@dataclass(frozen=True)
class IndexUpdate:
    """One committed change to an agent's chunks, to apply to its indexes."""

    removed_ids: list[int]
    added_ids: list[int]
    added_vectors: np.ndarray
    added_texts: list[str]


class IndexSnapshot(ABC):
    """An agent's vectors and BM25 index at one SQL version."""

    @abstractmethod
    def vector_count(self) -> int:
        """How many vectors (chunks) the index holds."""

    @abstractmethod
    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the k nearest chunks, best first, ties by chunk id."""

    @abstractmethod
    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25) of the k best chunks sharing a term with `query`, best first."""

    @abstractmethod
    def lexical_scores(self, query: str, chunk_ids: Iterable[int]) -> dict[int, float]:
        """The BM25 score of each given chunk (0.0 when it shares no term)."""


class MemorySnapshot(IndexSnapshot):
    """A snapshot over an in-memory `VectorBackend` and `LexicalIndex`, each loaded when first used."""

    def __init__(
        self, load_vectors: Callable[[], VectorBackend], load_lexical: Callable[[], LexicalIndex]
    ) -> None:
        self._load_vectors = load_vectors
        self._load_lexical = load_lexical

    def vector_count(self) -> int:
        return len(self._load_vectors())

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self._load_vectors().nearest(query_vector, k)

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._load_lexical().search(query, k)

    def lexical_scores(self, query: str, chunk_ids: Iterable[int]) -> dict[int, float]:
        return self._load_lexical().score_chunks(query, chunk_ids)


class AgentIndex(ABC):
    """The store of one agent's vectors and BM25 postings (see the module docstring)."""

    agent_name: str
    expected: IndexManifest
    folder: Path  # the agent's index folder (named in messages even when it holds nothing)

    @property
    @abstractmethod
    def backend_name(self) -> str:
        """The backend in use: `pgvector`, or the file backend's name."""

    @abstractmethod
    def snapshot(self, session: Session, *, agent_id: int, index_version: int) -> IndexSnapshot:
        """The index at exactly `index_version`, read through `session`'s transaction."""

    @abstractmethod
    def apply_update(
        self, session: Session, *, agent_id: int, old_version: int, new_version: int, change: IndexUpdate
    ) -> None:
        """After the commit that moved SQL from `old_version` to `new_version`."""

    @abstractmethod
    def manifest(self) -> IndexManifest | None:
        """What the stored index says it is, None when there is none yet."""

    @abstractmethod
    def bring_up_to_date(self, sessions: sessionmaker[Session], *, agent_id: int) -> bool:
        """Before a write: refuse a foreign index; rebuild a missing or lagging one from SQL.
        True when it was rebuilt."""

    @abstractmethod
    def rebuild(self, session: Session, *, agent_id: int, index_version: int) -> None:
        """Write the whole index again from the vectors and texts SQL holds."""
