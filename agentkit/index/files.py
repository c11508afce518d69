"""Keeping each agent's on-disk vector index in step with SQL.

SQL is the source of truth: every chunk row carries its vector, and every change to an
agent's chunks bumps `agents.index_version` in the same transaction. The index file in the
agent's folder (written by the vector backend this process uses, `AGENTKIT_INDEX_BACKEND`,
see `agentkit.index.registry`) records in its manifest the version it reflects. So:
- a reader whose file is at the SQL version uses it as it is;
- a reader whose file is behind (a writer was killed between its SQL commit and its index
  write), or was written by another backend than the one it uses, rebuilds the index in
  memory from the vectors in SQL: it answers from exactly the committed state, never from a mix;
- a writer applies its change to the index it loaded and saves it atomically;
- a file that is corrupt, or built for another embedder, is a clear error that names the
  repair command (`agentkit reindex NAME`).

The lexical (BM25) index, `lexical.npz` beside the vector index file, follows the same version rule
with one difference: it needs no embedding, so a missing, damaged or lagging file is simply
rebuilt from the chunk texts in SQL (and saved, by readers too: the file carries the version
it reflects, so a late save by anyone is at worst ignored as lagging). It indexes the same
text the embedder sees (title and headings, then the chunk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agentkit.errors import IndexCorruptError, IndexMismatchError, IndexNeedsRepairError, LexicalIndexError
from agentkit.index.agent_index import AgentIndex, IndexSnapshot, IndexUpdate, MemorySnapshot
from agentkit.index.base import IndexManifest, VectorBackend, read_manifest
from agentkit.index.lexical import LexicalIndex
from agentkit.index.registry import index_backend, index_backends
from agentkit.ingest.chunking import CHUNKER_VERSION, text_for_embedding
from agentkit.plugins import PluginError
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow

if TYPE_CHECKING:
    import numpy as np

LEXICAL_FILE = "lexical.npz"
# How long a reader that found the vectors file newer than its manifest waits for the writer to
# rename the manifest into place too (5 x 0.1 s) before it calls the file damaged.
MANIFEST_FOLLOW_CHECKS = 5
MANIFEST_FOLLOW_WAIT_S = 0.1


@dataclass(frozen=True)
class LoadedIndex:
    vectors: VectorBackend
    index_version: int
    rebuilt_from_sql: bool


def vectors_from_bytes(rows: list[bytes], dimension: int) -> np.ndarray:
    import numpy as np

    if not rows:
        return np.zeros((0, dimension), dtype=np.float32)
    matrix = np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(rows), -1)
    if matrix.shape[1] != dimension:
        raise IndexNeedsRepairError(
            f"stored vectors have dimension {matrix.shape[1]}, the embedder {dimension}"
        )
    return matrix


def read_agent_vectors(session: Session, agent_id: int, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, vectors) of every chunk of the agent, from SQL."""
    import numpy as np

    rows = session.execute(
        select(ChunkRow.id, ChunkRow.embedding)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .join(SourceRow, DocumentRow.source_id == SourceRow.id)
        .where(SourceRow.agent_id == agent_id)
        .order_by(ChunkRow.id)
    ).all()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    return ids, vectors_from_bytes([row[1] for row in rows], dimension)


def check_stored_dimension(
    session: Session, *, agent_id: int, expected: IndexManifest, agent_name: str
) -> None:
    """Refuse to write when the agent's stored vectors are not of its embedder's dimension."""
    stored_size = session.scalar(
        select(func.length(ChunkRow.embedding))
        .select_from(ChunkRow)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .join(SourceRow, DocumentRow.source_id == SourceRow.id)
        .where(SourceRow.agent_id == agent_id)
        .limit(1)
    )
    if stored_size is not None and stored_size != expected.dimension * 4:
        raise IndexNeedsRepairError(
            f"the chunks of agent {agent_name!r} hold vectors of dimension {stored_size // 4} but its "
            f"embedder {expected.embedder_id!r} makes {expected.dimension}; nothing was changed. "
            f"Run `agentkit reindex {agent_name}` to embed them again"
        )


def read_agent_chunk_texts(session: Session, agent_id: int) -> tuple[list[int], list[str]]:
    """(chunk ids, texts as the embedder and the lexical index see them) of the agent, from SQL."""
    rows = session.execute(
        select(ChunkRow.id, ChunkRow.text, ChunkRow.heading_path, DocumentRow.title)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .join(SourceRow, DocumentRow.source_id == SourceRow.id)
        .where(SourceRow.agent_id == agent_id)
        .order_by(ChunkRow.id)
    ).all()
    texts = [
        text_for_embedding(text, title=title, heading_path=tuple(heading_path or ()))
        for _, text, heading_path, title in rows
    ]
    return [row[0] for row in rows], texts


__all__ = ["AgentIndexFiles", "IndexUpdate", "LoadedIndex"]


class AgentIndexFiles(AgentIndex):
    """The index folder of one agent and the rules for reading and writing it."""

    def __init__(
        self,
        folder: Path,
        *,
        agent_name: str,
        embedder_id: str,
        dimension: int,
        backend: str | None = None,
    ) -> None:
        """`backend` names the vector backend; by default `AGENTKIT_INDEX_BACKEND`'s, or FAISS."""
        self.folder = folder
        self.agent_name = agent_name
        self.backend = index_backend(backend)
        self.expected = IndexManifest(
            embedder_id=embedder_id,
            dimension=dimension,
            chunker_version=CHUNKER_VERSION,
            count=0,
            index_version=0,
            backend=self.backend.name,
        )
        # What the last snapshot loaded, kept while SQL's version stays the same.
        self._vectors: tuple[int, VectorBackend] | None = None
        self._lexical: tuple[int, LexicalIndex] | None = None

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def snapshot(self, session: Session, *, agent_id: int, index_version: int) -> IndexSnapshot:
        def vectors() -> VectorBackend:
            if self._vectors is None or self._vectors[0] != index_version:
                loaded = self.load(session, agent_id=agent_id, index_version=index_version)
                self._vectors = (index_version, loaded.vectors)
            return self._vectors[1]

        def lexical() -> LexicalIndex:
            if self._lexical is None or self._lexical[0] != index_version:
                found = self.load_lexical(session, agent_id=agent_id, index_version=index_version)
                self._lexical = (index_version, found)
            return self._lexical[1]

        return MemorySnapshot(vectors, lexical)

    def rebuild(self, session: Session, *, agent_id: int, index_version: int) -> None:
        self.rebuild_and_save(session, agent_id=agent_id, index_version=index_version)

    def bring_up_to_date(self, sessions: sessionmaker[Session], *, agent_id: int) -> bool:
        """Refuse an index of another embedder; save one rebuilt from SQL when the file is
        missing, damaged, behind SQL or written by another backend. True when rebuilt."""
        expected = self.expected
        name = self.agent_name
        with sessions() as session, session.begin():
            version = session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent_id))
            assert version is not None
            try:
                manifest = self.manifest()
            except IndexCorruptError:
                manifest = None  # a damaged manifest says nothing; SQL has everything
            if manifest is not None and not manifest.describes_same_space(expected):
                raise IndexNeedsRepairError(
                    f"the index of agent {name!r} was built with embedder {manifest.embedder_id!r} "
                    f"(dimension {manifest.dimension}, chunker {manifest.chunker_version}) but the agent "
                    f"now uses {expected.embedder_id!r} (dimension {expected.dimension}, chunker "
                    f"{expected.chunker_version}); nothing was changed. Run `agentkit reindex {name}` "
                    "to embed its chunks again with the agent's embedder"
                )
            check_stored_dimension(session, agent_id=agent_id, expected=expected, agent_name=name)
            if (
                manifest is not None
                and manifest.index_version == version
                and manifest.backend == expected.backend
            ):
                try:
                    self.load(session, agent_id=agent_id, index_version=version)
                    return False
                except IndexNeedsRepairError:
                    pass  # a damaged file: SQL holds every vector, so rebuild it without embedding
            self.rebuild_and_save(session, agent_id=agent_id, index_version=version)
            return True

    def manifest(self) -> IndexManifest | None:
        return read_manifest(self.folder)

    def load(self, session: Session, *, agent_id: int, index_version: int) -> LoadedIndex:
        """The index at exactly `index_version` (the SQL one), rebuilt from SQL if the file lags."""
        try:
            manifest = read_manifest(self.folder)
        except IndexCorruptError as error:
            raise self._repair_error(str(error)) from error
        if manifest is None:
            return self._rebuild(session, agent_id, index_version)
        if manifest.describes_same_space(self.expected) and (
            manifest.index_version != index_version or manifest.backend != self.backend.name
        ):
            # The file lags SQL, perhaps with a new index file under an old manifest (a writer
            # killed between the two renames), or another backend wrote it: its bytes do not
            # matter, SQL has every vector.
            return self._rebuild(session, agent_id, index_version)
        try:
            vectors, manifest = self.backend.load(self.folder, self.expected)
        except IndexMismatchError as error:
            raise IndexNeedsRepairError(
                f"{error}. Run `agentkit reindex {self.agent_name}` to rebuild it with the agent's embedder."
            ) from error
        except IndexCorruptError as error:
            if self._replaced_since(manifest):
                # A writer saved a new file (and then its manifest) while this reader read the
                # old pair: not damage. SQL holds this reader's snapshot; build it in memory.
                return self._rebuild(session, agent_id, index_version)
            raise self._repair_error(str(error)) from error
        if manifest.index_version != index_version:
            return self._rebuild(session, agent_id, index_version)
        return LoadedIndex(vectors, index_version, rebuilt_from_sql=False)

    def _replaced_since(self, manifest: IndexManifest) -> bool:
        """True when the stored manifest is no longer `manifest`: a writer saved in between.

        A writer renames the new file into place and then its manifest, so for a moment the
        file is newer than the manifest; watch for the manifest to follow before calling the
        file damaged (a crash between the two renames leaves it so for good).
        """
        for _ in range(MANIFEST_FOLLOW_CHECKS):
            try:
                if read_manifest(self.folder) != manifest:
                    return True
            except IndexCorruptError:
                return True  # being replaced right now
            time.sleep(MANIFEST_FOLLOW_WAIT_S)
        return False

    def save(self, vectors: VectorBackend, index_version: int) -> IndexManifest:
        """Save `vectors` as the index at `index_version`; drop the file of a backend it replaces."""
        try:
            previous = read_manifest(self.folder)
        except IndexCorruptError:
            previous = None
        manifest = vectors.save(
            self.folder, replace(self.expected, count=len(vectors), index_version=index_version)
        )
        if previous is not None and previous.backend != vectors.name:
            try:
                replaced = index_backends.get(previous.backend)
            except PluginError:
                replaced = None  # a broken plugin's file stays; it is only a cache
            if replaced is not None and replaced.file_name != vectors.file_name:
                (self.folder / replaced.file_name).unlink(missing_ok=True)
        return manifest

    def apply_update(
        self,
        session: Session,
        *,
        agent_id: int,
        old_version: int,
        new_version: int,
        change: IndexUpdate,
    ) -> None:
        """After a commit that moved SQL from `old_version` to `new_version`, update the file.

        If the file was at `old_version` the change is applied to it; otherwise (missing,
        lagging or damaged file) the index is rebuilt from SQL, which already holds the change.
        """
        import numpy as np

        try:
            loaded = self.load(session, agent_id=agent_id, index_version=old_version)
        except IndexNeedsRepairError:
            loaded = self._rebuild(session, agent_id, new_version)
        vectors = loaded.vectors
        if not loaded.rebuilt_from_sql:  # a rebuilt index already reflects the commit
            vectors.remove(np.asarray(change.removed_ids, dtype=np.int64))
            vectors.add(np.asarray(change.added_ids, dtype=np.int64), change.added_vectors)
        self.save(vectors, new_version)
        self._apply_lexical_update(session, agent_id, old_version, new_version, change)

    def rebuild_and_save(self, session: Session, *, agent_id: int, index_version: int) -> VectorBackend:
        loaded = self._rebuild(session, agent_id, index_version)
        self.save(loaded.vectors, index_version)
        self._save_lexical(self._rebuild_lexical(session, agent_id), index_version)
        return loaded.vectors

    @property
    def lexical_path(self) -> Path:
        return self.folder / LEXICAL_FILE

    def load_lexical(self, session: Session, *, agent_id: int, index_version: int) -> LexicalIndex:
        """The lexical index at exactly `index_version`; rebuilt from SQL (and saved) if the file
        is missing, damaged or lags."""
        lexical = self._read_lexical()
        if lexical is not None and lexical.version == index_version:
            return lexical
        lexical = self._rebuild_lexical(session, agent_id)
        self._save_lexical(lexical, index_version)
        return lexical

    def _apply_lexical_update(
        self, session: Session, agent_id: int, old_version: int, new_version: int, change: IndexUpdate
    ) -> None:
        """Apply a committed change to the lexical file, or rebuild it if it was not at `old_version`."""
        lexical = self._read_lexical()
        if lexical is not None and lexical.version == old_version:
            lexical.remove(change.removed_ids)
            lexical.add(change.added_ids, change.added_texts)
        else:  # SQL already holds the change
            lexical = self._rebuild_lexical(session, agent_id)
        self._save_lexical(lexical, new_version)

    def _read_lexical(self) -> LexicalIndex | None:
        """The lexical file as stored, or None when it is missing or damaged (SQL rebuilds it)."""
        try:
            return LexicalIndex.load(self.lexical_path)
        except LexicalIndexError:
            return None

    def _rebuild_lexical(self, session: Session, agent_id: int) -> LexicalIndex:
        ids, texts = read_agent_chunk_texts(session, agent_id)
        return LexicalIndex.build(ids, texts)

    def _save_lexical(self, lexical: LexicalIndex, index_version: int) -> None:
        try:
            lexical.save(self.lexical_path, version=index_version)
        except OSError:
            pass  # a read-only folder: searches rebuild it in memory, still correct

    def _rebuild(self, session: Session, agent_id: int, index_version: int) -> LoadedIndex:
        ids, matrix = read_agent_vectors(session, agent_id, self.expected.dimension)
        vectors = self.backend.from_vectors(self.expected.dimension, ids, matrix)
        return LoadedIndex(vectors, index_version, rebuilt_from_sql=True)

    def _repair_error(self, detail: str) -> IndexNeedsRepairError:
        return IndexNeedsRepairError(
            f"the search index of agent {self.agent_name!r} is damaged ({detail}). "
            f"Run `agentkit reindex {self.agent_name}` to rebuild it from the database."
        )
