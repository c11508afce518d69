"""Hybrid search through the Agent and CLI: the lexical index follows every write, search modes
return fused and component scores, and records (files and pushed) carry `record_id`. The tests
on `any_kit` run on SQLite, PostgreSQL and PostgreSQL with pgvector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from agentkit import AgentKit, SearchError
from agentkit.cli.app import cli
from agentkit.index.files import LEXICAL_FILE, AgentIndexFiles
from agentkit.index.lexical import LexicalIndex
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow
from tests.fakes import FakeEmbedder, ScriptedGenerator
from tests.pg_fixtures import indexed_chunk_ids


def sql_chunks(kit: AgentKit, agent_id: int) -> tuple[set[int], int]:
    with kit.sessions() as session:
        ids = set(
            session.scalars(
                select(ChunkRow.id)
                .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
                .join(SourceRow, DocumentRow.source_id == SourceRow.id)
                .where(SourceRow.agent_id == agent_id)
            )
        )
        version = session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent_id))
    assert version is not None
    return ids, version


def assert_lexical_file_matches_sql(kit: AgentKit, name: str) -> set[int]:
    """The agent's BM25 and vector indexes hold exactly its SQL chunks (index files: at the SQL
    version; pgvector: in its tables)."""
    agent = kit.get_agent(name)
    ids, version = sql_chunks(kit, agent.id)
    vector_ids, lexical_ids = indexed_chunk_ids(kit, name)
    assert lexical_ids == ids and vector_ids == ids
    if isinstance(agent._index_files(), AgentIndexFiles):
        assert LexicalIndex.load(kit.index_folder(agent.index_key) / LEXICAL_FILE).version == version
    return lexical_ids


def lexical_titles(kit: AgentKit, name: str, query: str) -> list[str]:
    return [hit.title for hit in kit.get_agent(name).search(query, k=10, mode="lexical")]


@pytest.fixture
def any_kit(any_database_url: str, tmp_path: Path) -> AgentKit:
    kit = AgentKit(
        home=tmp_path / "home",
        database_url=any_database_url,
        embedder=FakeEmbedder(),
        generator=ScriptedGenerator(),
    )
    yield kit  # type: ignore[misc]
    kit.close()


def test_lexical_index_follows_add_sync_and_remove(any_kit: AgentKit, tmp_path: Path) -> None:
    kit = any_kit
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "alpha.md").write_text("# Alpha\n\nThe quokka lives on Rottnest island.\n")
    (folder / "beta.md").write_text("# Beta\n\nError E4711 means the disk is full.\n")
    (folder / "gamma.md").write_text("# Gamma\n\nThe capybara enjoys warm water.\n")
    agent = kit.create_agent("notes")
    source_id = agent.add_source(str(folder)).source_id
    assert_lexical_file_matches_sql(kit, "notes")
    assert lexical_titles(kit, "notes", "E4711") == ["Beta"]

    (folder / "beta.md").write_text("# Beta\n\nError E5000 means the fan stopped.\n")
    (folder / "gamma.md").unlink()
    (folder / "delta.md").write_text("# Delta\n\nThe axolotl regrows its limbs.\n")
    assert kit.get_agent("notes").sync().ok
    assert_lexical_file_matches_sql(kit, "notes")
    assert lexical_titles(kit, "notes", "E4711") == []
    assert lexical_titles(kit, "notes", "E5000") == ["Beta"]
    assert lexical_titles(kit, "notes", "capybara") == []
    assert lexical_titles(kit, "notes", "axolotl limbs") == ["Delta"]

    kit.get_agent("notes").reindex()  # a new index version: the lexical file follows it
    assert_lexical_file_matches_sql(kit, "notes")

    assert source_id is not None
    kit.get_agent("notes").remove_source(source_id)
    assert len(assert_lexical_file_matches_sql(kit, "notes")) == 0
    assert kit.get_agent("notes").search("quokka", mode="lexical") == []


def test_missing_damaged_or_lagging_lexical_file_is_rebuilt(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "alpha.md").write_text("# Alpha\n\nThe quokka lives on Rottnest island.\n")
    agent = kit.create_agent("notes")
    agent.add_source(str(folder))
    path = kit.index_folder(agent.index_key) / LEXICAL_FILE
    for damage in ("delete", "garbage", "lag"):
        if damage == "delete":
            path.unlink()
        elif damage == "garbage":
            path.write_bytes(b"garbage")
        else:
            LexicalIndex.build([1], ["unrelated words"]).save(path, version=0)
        fresh = kit.get_agent("notes")  # a new handle reads the file like a new process
        assert [hit.title for hit in fresh.search("quokka", mode="lexical")] == ["Alpha"]
        assert_lexical_file_matches_sql(kit, "notes")  # the rebuilt file was saved


def test_search_modes_return_fused_and_component_scores(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        (folder / f"n{i}.md").write_text(
            f"# Note {i}\n\nRoutine maintenance note number {i} for the pumps.\n"
        )
    (folder / "code.md").write_text("# Codes\n\nThe controller shows ZX-99 when the valve sticks.\n")
    agent = kit.create_agent("notes")
    agent.add_source(str(folder))

    hybrid = agent.search("what does ZX-99 mean", k=5)  # hybrid is the default
    assert hybrid[0].title == "Codes"
    assert hybrid[0].lexical_score is not None and hybrid[0].lexical_score > 0
    assert hybrid[0].dense_score is not None
    assert [hit.score for hit in hybrid] == sorted((hit.score for hit in hybrid), reverse=True)
    assert len({hit.chunk_id for hit in hybrid}) == len(hybrid)

    # every hybrid hit carries both component scores, even if only one side ranked it
    assert all(hit.dense_score is not None and hit.lexical_score is not None for hit in hybrid)
    assert any(hit.lexical_score == 0.0 for hit in hybrid)  # found by meaning alone
    dense = agent.search("what does ZX-99 mean", k=20, mode="dense")
    assert all(hit.lexical_score is None and hit.dense_score == hit.score for hit in dense)
    cosine = {hit.chunk_id: hit.score for hit in dense}
    for hit in hybrid:
        assert hit.dense_score == pytest.approx(cosine[hit.chunk_id], abs=1e-5)
    lexical = agent.search("what does ZX-99 mean", k=5, mode="lexical")
    assert [hit.title for hit in lexical] == ["Codes"]
    assert lexical[0].dense_score is None and lexical[0].lexical_score == lexical[0].score
    with pytest.raises(SearchError, match="unknown search mode 'sparse'"):
        agent.search("x", mode="sparse")


def test_records_file_hits_and_citations_carry_record_id(kit: AgentKit, tmp_path: Path) -> None:
    data = tmp_path / "faq.jsonl"
    rows = [
        {"id": "r-1", "q": "Refund window", "a": "Refunds are accepted within 30 days of purchase."},
        {"id": "r-2", "q": "Shipping time", "a": "Parcels arrive within two working days."},
    ]
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    agent = kit.create_agent("faq")
    report = agent.add_source(str(data), options={"text_field": "a", "title_field": "q", "id_field": "id"})
    assert report.kind == "records" and report.added == 2
    hits = agent.search("refunds purchase", k=2)
    assert hits[0].record_id == "r-1" and hits[0].title == "Refund window"
    assert hits[0].to_dict()["record_id"] == "r-1"
    answer = agent.ask("How long do I have for a refund?")
    assert answer.citations and answer.citations[0].record_id == "r-1"

    # a re-sync re-embeds only the changed record
    rows[1]["a"] = "Parcels arrive within three working days."
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    resync = agent.sync().sources[0]
    assert (resync.updated, resync.unchanged, resync.chunks_embedded) == (1, 1, 1)


def test_pushed_records_upsert_and_delete(any_kit: AgentKit) -> None:
    kit = any_kit
    agent = kit.create_agent("crm")
    report = agent.upsert_records(
        [
            {"id": 1, "body": "Acme Corp renewed its support plan.", "name": "Acme"},
            {"id": 2, "body": "Globex asked about invoice 8812.", "name": "Globex"},
            {"id": 3, "name": "no text"},
        ],
        text_field="body",
        title_field="name",
    )
    assert (report.added, len(report.failed)) == (2, 1)
    assert "record 3" in report.failed[0].error
    hits = agent.search("invoice 8812", k=1, mode="lexical")
    assert (hits[0].record_id, hits[0].uri, hits[0].title) == ("2", "records://records#2", "Globex")
    assert_lexical_file_matches_sql(kit, "crm")

    again = agent.upsert_records(
        [
            {"id": 2, "body": "Globex paid invoice 8812.", "name": "Globex"},
            {"id": 4, "body": "Initech churned."},
        ],
        text_field="body",
        title_field="name",
    )
    assert (again.added, again.updated, again.unchanged, again.removed) == (1, 1, 1, 0)
    assert agent.sync().ok and agent.counts()["documents"] == 3  # a plain sync keeps pushed records
    assert [hit.record_id for hit in agent.search("paid invoice", k=1, mode="lexical")] == ["2"]

    deleted = agent.delete_records([2, "404"])
    assert (deleted.removed, deleted.unchanged) == (1, 2)
    assert agent.search("invoice 8812", mode="lexical") == []
    assert_lexical_file_matches_sql(kit, "crm")


def test_cli_add_records_and_search_modes(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "products.csv"
    data.write_text(
        "sku,name,blurb\nK1,Kettle,Boils a litre of water in a minute.\nT2,Toaster,Browns four slices.\n"
    )
    assert runner.invoke(cli, ["create", "shop", "--embedder", "hashing-128"]).exit_code == 0
    added = runner.invoke(
        cli, ["add", "shop", str(data), "--text-field", "blurb", "--title-field", "name", "--id-field", "sku"]
    )
    assert added.exit_code == 0, added.output
    result = runner.invoke(cli, ["search", "shop", "toaster slices", "--mode", "lexical", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["record_id"] == "T2" and hits[0]["dense_score"] is None
    text = runner.invoke(cli, ["search", "shop", "kettle water"])
    assert text.exit_code == 0 and "record K1" in text.output and "bm25" in text.output
    bad = runner.invoke(cli, ["search", "shop", "kettle", "--mode", "fuzzy"])
    assert bad.exit_code != 0 and "fuzzy" in bad.output


def test_hit_fields_are_the_stored_rows_on_every_store(any_kit: AgentKit, tmp_path: Path) -> None:
    """Hits are read with the driver's own SQL (`agentkit.retrieval.retriever._DriverQuery`):
    every field equals what the ORM reads for that chunk and document, on SQLite and
    PostgreSQL (JSON and timestamps decoded alike), for every mode and number of hits."""
    import shutil

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("installation.md", "quillstack-box-qb200-guide.pdf", "support.html"):
        shutil.copy(Path(__file__).resolve().parents[1] / "data" / "quillstack" / name, docs / name)
    agent = any_kit.create_agent("fields")
    agent.add_source(str(docs))
    agent.upsert_records([{"id": "r-9", "body": "The warranty covers two years of repairs."}], text_field="body")
    seen = 0
    for mode in ("hybrid", "dense", "lexical"):
        for k in (1, 3, 20):
            hits = agent.search("warranty port install support", k=k, mode=mode)
            assert 0 < len(hits) <= k
            with any_kit.sessions() as session:
                for hit in hits:
                    chunk = session.get(ChunkRow, hit.chunk_id)
                    assert chunk is not None
                    document = session.get(DocumentRow, chunk.document_id)
                    assert document is not None
                    assert (hit.text, hit.page, hit.heading_path, hit.anchor) == (
                        chunk.text, chunk.page, tuple(chunk.heading_path or ()), chunk.anchor
                    )
                    assert (hit.document_id, hit.title, hit.uri, hit.source_id) == (
                        document.id, document.title, document.uri, document.source_id
                    )
                    assert hit.fetched_at == document.fetched_at.isoformat()
                    assert hit.record_id == (document.meta or {}).get("record_id")
                    seen += 1
    pages = {hit.page for hit in agent.search("warranty", k=20)}
    headings = {hit.heading_path for hit in agent.search("install", k=20)}
    assert any(page for page in pages) and any(len(path) > 0 for path in headings)
    assert "r-9" in {hit.record_id for hit in agent.search("warranty repairs", k=20)}
    assert seen > 20
