"""Incremental sync through the API: exactly which chunks change, removals, refresh, reindex, doctor.

After every step the FAISS id set must equal the SQL chunk id set, and the chunk ids of
documents that did not change must stay what they were; the first test runs on SQLite,
PostgreSQL and PostgreSQL with pgvector.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from agentkit import AgentKit, IndexNeedsRepairError, InvalidSettingError, SourceNotFoundError
from agentkit.agent import Agent
from agentkit.index.faiss import INDEX_FILE, MANIFEST_FILE, read_manifest
from agentkit.ingest.pipeline import utc_now
from agentkit.ingest.refresh import format_duration, is_due, parse_refresh_interval
from agentkit.store.models import AgentRow, ChunkRow, ConversationRow, DocumentRow, MessageRow, SourceRow
from tests.fakes import FakeEmbedder
from tests.pg_fixtures import indexed_chunk_ids

PARAGRAPH = "Filler sentence about {topic} number {n} that pads the section out. "


def write_doc(folder: Path, name: str, topic: str, *, sections: int = 1, version: str = "one") -> None:
    """A Markdown file with `sections` headed sections, each its own chunk."""
    parts = [f"# {topic.title()} guide"]
    for n in range(sections):
        parts.append(
            f"## Part {n}\n\n{topic} fact {n} is version {version}. " + PARAGRAPH.format(topic=topic, n=n) * 3
        )
    (folder / name).write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def chunk_ids_by_document(kit: AgentKit, agent: Agent) -> dict[str, list[int]]:
    """{file name: [chunk ids in order]} from SQL."""
    with kit.sessions() as session:
        rows = session.execute(
            select(DocumentRow.uri, ChunkRow.id)
            .join(ChunkRow, ChunkRow.document_id == DocumentRow.id)
            .join(SourceRow, DocumentRow.source_id == SourceRow.id)
            .where(SourceRow.agent_id == agent.id)
            .order_by(ChunkRow.ordinal)
        ).all()
    result: dict[str, list[int]] = {}
    for uri, chunk_id in rows:
        result.setdefault(Path(uri).name, []).append(chunk_id)
    return result


def index_id_set(kit: AgentKit, agent: Agent) -> set[int]:
    """The chunk ids of the agent's vectors: its FAISS file, or its pgvector table."""
    return indexed_chunk_ids(kit, agent.name)[0]


def assert_index_matches_sql(kit: AgentKit, agent: Agent) -> set[int]:
    sql_ids = {i for ids in chunk_ids_by_document(kit, agent).values() for i in ids}
    assert index_id_set(kit, agent) == sql_ids
    report = agent.doctor()
    assert report.healthy, report.problems
    assert report.index_vectors == report.sql_chunks == len(sql_ids)
    return sql_ids


def test_edit_delete_add_change_exactly_the_affected_chunks(
    any_database_url: str, isolated_home: Path, tmp_path: Path
) -> None:
    embedder = FakeEmbedder()
    with AgentKit(home=isolated_home, database_url=any_database_url, embedder=embedder) as kit:
        agent = kit.create_agent("docs")
        folder = tmp_path / "docs"
        folder.mkdir()
        for name, topic in (("a.md", "anchors"), ("b.md", "bolts"), ("c.md", "cables"), ("d.md", "drills")):
            write_doc(folder, name, topic, sections=3)
        write_doc(folder, "e.md", "engines", sections=1)
        first = agent.add_source(str(folder))
        assert (first.added, first.chunks_embedded) == (5, first.chunks)
        before = chunk_ids_by_document(kit, agent)
        assert [len(before[n]) for n in ("a.md", "e.md")] == [3, 1]
        assert_index_matches_sql(kit, agent)

        # edit b, delete c, add f; a, d, e stay as they are
        write_doc(folder, "b.md", "bolts", sections=2, version="two")
        (folder / "c.md").unlink()
        write_doc(folder, "f.md", "filters", sections=2)
        embedder.embedded_texts.clear()
        report = agent.sync().to_dict()
        assert {k: report[k] for k in ("added", "updated", "removed", "unchanged")} == {
            "added": 1,
            "updated": 1,
            "removed": 1,
            "unchanged": 3,
        }
        after = chunk_ids_by_document(kit, agent)
        for unchanged in ("a.md", "d.md", "e.md"):
            assert after[unchanged] == before[unchanged]
        assert "c.md" not in after
        assert len(after["b.md"]) == 2 and not set(after["b.md"]) & set(before["b.md"])
        assert len(after["f.md"]) == 2
        # only the edited and the new document were embedded
        assert report["chunks_embedded"] == 4 == len(embedder.embedded_texts)
        assert all("bolts" in text.lower() or "filters" in text.lower() for text in embedder.embedded_texts)
        sql_ids = assert_index_matches_sql(kit, agent)
        assert not sql_ids & set(before["c.md"]) and not sql_ids & set(before["b.md"])

        # an unchanged sync touches nothing and keeps the index version
        with kit.sessions() as session:
            version = session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent.id))
        again = agent.sync()
        assert again.to_dict()["chunks_embedded"] == 0 and again.to_dict()["unchanged"] == 5
        assert chunk_ids_by_document(kit, agent) == after
        with kit.sessions() as session:
            assert session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent.id)) == version
        texts = " ".join(hit.text for hit in agent.search("bolts fact version", k=20))
        assert "version two" in texts and "bolts fact 2" not in texts
        assert_index_matches_sql(kit, agent)


def test_remove_source_removes_its_documents_and_vectors_only(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    keep.mkdir()
    drop.mkdir()
    write_doc(keep, "k.md", "kettles", sections=2)
    write_doc(drop, "d1.md", "drums", sections=2)
    write_doc(drop, "d2.md", "dials")
    agent.add_source(str(keep))
    dropped = agent.add_source(str(drop))
    assert dropped.source_id is not None
    kept_ids = chunk_ids_by_document(kit, agent)["k.md"]
    report = agent.remove_source(dropped.source_id)
    assert (report.removed, report.chunks_removed) == (2, 3)
    assert [info.uri for info in agent.sources()] == [str(keep.resolve())]
    assert chunk_ids_by_document(kit, agent) == {"k.md": kept_ids}
    assert_index_matches_sql(kit, agent)
    assert all("drums" not in hit.text for hit in agent.search("drums dials", k=10))
    with pytest.raises(SourceNotFoundError, match="no source"):
        agent.remove_source(dropped.source_id)
    other = kit.create_agent("other")
    with pytest.raises(SourceNotFoundError):
        other.remove_source(agent.sources()[0].id)  # another agent's source is not yours
    assert agent.counts()["chunks"] == 2


def test_refresh_intervals_parse_and_decide_what_is_due() -> None:
    assert [parse_refresh_interval(t) for t in ("30m", "12h", "1d", "1w", "90s", " 2D ")] == [
        1800,
        43200,
        86400,
        604800,
        90,
        172800,
    ]
    for bad in ("", "1", "d", "1.5h", "-1h", "0m", "1y", "10000w"):
        with pytest.raises(InvalidSettingError, match="refresh interval"):
            parse_refresh_interval(bad)
    now = utc_now()
    assert is_due(None, 60) and not is_due(None, None)
    assert is_due(now - timedelta(seconds=61), 60, now=now)
    assert not is_due(now - timedelta(seconds=59), 60, now=now)
    assert not is_due((now - timedelta(days=400)).replace(tzinfo=None), None, now=now)
    assert is_due((now - timedelta(hours=2)).replace(tzinfo=None), 3600, now=now)  # SQLite's naive times
    assert [format_duration(s) for s in (5, 125, 7200, 90000, 1300000)] == ["5s", "2m", "2h", "1d", "2w"]


def age_source(kit: AgentKit, source_id: int, seconds: int) -> None:
    with kit.sessions() as session, session.begin():
        session.execute(
            update(SourceRow)
            .where(SourceRow.id == source_id)
            .values(last_synced_at=utc_now() - timedelta(seconds=seconds))
        )


def test_sync_due_only_syncs_sources_past_their_interval(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    hourly, daily, manual = (tmp_path / name for name in ("hourly", "daily", "manual"))
    for folder in (hourly, daily, manual):
        folder.mkdir()
        write_doc(folder, "x.md", folder.name)
    hourly_id = agent.add_source(str(hourly), refresh_interval_s=3600).source_id
    daily_id = agent.add_source(str(daily), refresh_interval_s=86400).source_id
    manual_id = agent.add_source(str(manual)).source_id
    assert hourly_id and daily_id and manual_id
    assert agent.sync(due_only=True).sources == []
    for source_id in (hourly_id, daily_id, manual_id):
        age_source(kit, source_id, 2 * 3600)
    due = {info.id: info.due for info in agent.sources()}
    assert due == {hourly_id: True, daily_id: False, manual_id: False}
    report = agent.sync(due_only=True)
    assert [r.source_id for r in report.sources] == [hourly_id]
    ages = {info.id: info.age_s for info in agent.sources()}
    assert ages[hourly_id] is not None and ages[hourly_id] < 60
    assert ages[daily_id] is not None and ages[daily_id] > 3600
    info = agent.sources()[0].to_dict()
    assert {"age_s", "due", "refresh_interval_s"} <= set(info)
    # re-adding with another interval stores it
    agent.add_source(str(manual), refresh_interval_s=1800)
    assert {i.id: i.refresh_interval_s for i in agent.sources()}[manual_id] == 1800


def test_sync_all_covers_every_agent(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "x.md", "xylophones")
    for name in ("one", "two"):
        kit.create_agent(name).add_source(str(folder))
    write_doc(folder, "x.md", "xylophones", version="two")
    reports = kit.sync_all()
    assert set(reports) == {"one", "two"}
    assert all(r.to_dict()["updated"] == 1 and r.ok for r in reports.values())
    assert all(r.sources == [] for r in kit.sync_all(due_only=True).values())


def test_reindex_switches_embedder_and_keeps_answers(isolated_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "a.md", "anchors", sections=2)
    write_doc(folder, "b.md", "bolts")
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("docs", embedder="hashing-128")
        agent.add_source(str(folder))
        ids_before = chunk_ids_by_document(kit, agent)
        report = agent.reindex(embedder="hashing-64")
        assert (report.chunks_embedded, report.embedder_id, report.previous_embedder_id) == (
            3,
            "hashing-64",
            "hashing-128",
        )
        assert chunk_ids_by_document(kit, agent) == ids_before  # same chunks, new vectors
        manifest = read_manifest(kit.index_folder(agent.index_key))
        assert manifest is not None and (manifest.embedder_id, manifest.dimension) == ("hashing-64", 64)
    with AgentKit(home=isolated_home) as kit:  # a fresh process sees the switch
        agent = kit.get_agent("docs")
        assert agent.embedder_id == "hashing-64"
        assert_index_matches_sql(kit, agent)
        assert "bolts" in agent.search("bolts fact", k=1)[0].text
        write_doc(folder, "c.md", "cables")
        assert agent.sync().to_dict()["added"] == 1
        assert_index_matches_sql(kit, agent)


def test_foreign_embedder_is_refused_until_reindex(isolated_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "a.md", "anchors")
    with AgentKit(home=isolated_home, embedder=FakeEmbedder(128)) as kit:
        kit.create_agent("docs").add_source(str(folder))
    with AgentKit(home=isolated_home, embedder=FakeEmbedder(64)) as kit:
        agent = kit.get_agent("docs")
        with pytest.raises(IndexNeedsRepairError, match="agentkit reindex docs"):
            agent.search("anchors", k=1)
        write_doc(folder, "b.md", "bolts")
        with pytest.raises(IndexNeedsRepairError, match="nothing was changed"):
            agent.sync()
        assert agent.counts()["documents"] == 1
        doctor = agent.doctor()
        assert not doctor.healthy and any("hashing-128" in p for p in doctor.problems)
        agent.reindex()
        assert agent.doctor().healthy
        assert agent.sync().to_dict()["added"] == 1
        assert_index_matches_sql(kit, agent)


@pytest.mark.parametrize(
    ("damage", "repair"),
    [
        ("truncate", "reindex"),
        ("truncate", "sync"),
        ("garbage-manifest", "reindex"),
        ("garbage-manifest", "sync"),
        ("delete-index-file", "reindex"),
    ],
)
def test_damaged_index_is_a_clear_error_and_reindex_or_sync_repairs_it(
    kit: AgentKit, tmp_path: Path, fake_embedder: FakeEmbedder, damage: str, repair: str
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "a.md", "anchors", sections=2)
    agent = kit.create_agent("docs")
    agent.add_source(str(folder))
    index_folder = kit.index_folder(agent.index_key)
    if damage == "truncate":
        index_file = index_folder / INDEX_FILE
        index_file.write_bytes(index_file.read_bytes()[:100])
    elif damage == "garbage-manifest":
        (index_folder / MANIFEST_FILE).write_text("{not json")
    else:
        (index_folder / INDEX_FILE).unlink()
    with pytest.raises(IndexNeedsRepairError, match="agentkit reindex docs"):
        kit.get_agent("docs").search("anchors", k=1)
    report = agent.doctor()
    assert not report.healthy and any("agentkit reindex docs" in p for p in report.problems)
    if repair == "reindex":
        agent.reindex()
    else:  # SQL holds every vector: a sync rebuilds the file without embedding anything
        embedded = len(fake_embedder.embedded_texts)
        assert agent.sync().to_dict()["chunks_embedded"] == 0
        assert len(fake_embedder.embedded_texts) == embedded
    assert_index_matches_sql(kit, agent)
    assert "anchors" in kit.get_agent("docs").search("anchors fact", k=1)[0].text


def test_sync_saves_an_index_that_lags_behind_sql(kit: AgentKit, tmp_path: Path) -> None:
    """A writer killed after its commit leaves the file behind; the next sync writes it."""
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "a.md", "anchors")
    agent = kit.create_agent("docs")
    agent.add_source(str(folder))
    with kit.sessions() as session, session.begin():
        session.execute(
            update(AgentRow).where(AgentRow.id == agent.id).values(index_version=AgentRow.index_version + 1)
        )
    report = agent.doctor()
    assert not report.healthy and any("agentkit sync docs" in p for p in report.problems)
    assert agent.search("anchors", k=1)  # readers rebuild from SQL meanwhile
    assert agent.sync().to_dict()["chunks_embedded"] == 0
    assert_index_matches_sql(kit, agent)


def test_delete_agent_removes_its_rows_and_files_and_nothing_else(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "a.md", "anchors", sections=2)
    doomed, survivor = kit.create_agent("doomed"), kit.create_agent("survivor")
    for agent in (doomed, survivor):
        agent.add_source(str(folder))
        with kit.sessions() as session, session.begin():
            conversation = ConversationRow(agent_id=agent.id, title="hello")
            session.add(conversation)
            session.flush()
            session.add(MessageRow(conversation_id=conversation.id, role="user", content="hi"))

    def counts() -> dict[str, int]:
        with kit.sessions() as session:
            return {
                table.__tablename__: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for table in (AgentRow, SourceRow, DocumentRow, ChunkRow, ConversationRow, MessageRow)
            }

    def home_files() -> set[str]:
        return {str(p.relative_to(kit.home)) for p in kit.home.rglob("*") if "agentkit.db" not in p.name}

    before, files_before = counts(), home_files()
    survivor_ids = chunk_ids_by_document(kit, survivor)
    kit.delete_agent("doomed")
    assert counts() == {
        "agents": 1,
        "sources": 1,
        "documents": 1,
        "chunks": 2,
        "conversations": 1,
        "messages": 1,
    }
    assert {k: v * 2 if k != "agents" else 2 for k, v in counts().items()} == before
    gone = files_before - home_files()
    assert gone and all(doomed.index_key in path for path in gone)
    assert home_files() <= files_before
    assert not kit.index_folder(doomed.index_key).exists()
    assert chunk_ids_by_document(kit, survivor) == survivor_ids
    assert_index_matches_sql(kit, survivor)
    assert folder.joinpath("a.md").exists()  # the source files are not the agent's to delete
