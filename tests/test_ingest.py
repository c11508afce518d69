"""Ingest and sync through the API: hashes decide what is embedded; bad input changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentkit import AgentKit, ConnectorError, IndexNeedsRepairError
from agentkit.index.faiss import INDEX_FILE
from tests.fakes import FakeEmbedder


def make_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "alpha.md").write_text("# Alpha\n\nAlpha widgets run on port 7001.\n")
    (root / "beta.txt").write_text("Beta gadgets weigh 3 kilograms each.\n")
    (root / "gamma.md").write_text("# Gamma\n\nGamma tools need a 12 volt supply.\n")
    return root


def test_add_then_unchanged_sync_embeds_nothing(kit: AgentKit, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    agent = kit.create_agent("docs")
    folder = make_folder(tmp_path / "docs")
    first = agent.add_source(str(folder))
    assert (first.added, first.chunks_embedded, first.documents) == (3, first.chunks, 3)
    embedded_before = len(fake_embedder.embedded_texts)
    again = agent.add_source(str(folder))  # adding again is a sync, never a duplicate
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 3)
    assert again.chunks_embedded == 0
    assert len(fake_embedder.embedded_texts) == embedded_before
    assert len(agent.sources()) == 1


def test_changed_and_vanished_documents_leave_sql_and_faiss(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    folder = make_folder(tmp_path / "docs")
    agent.add_source(str(folder))
    (folder / "alpha.md").write_text("# Alpha\n\nAlpha widgets moved to port 9009.\n")
    (folder / "gamma.md").unlink()
    (folder / "delta.md").write_text("# Delta\n\nDelta parts ship from Oslo.\n")
    report = agent.sync()
    assert report.to_dict()["added"] == 1
    assert report.to_dict()["updated"] == 1
    assert report.to_dict()["removed"] == 1
    assert report.to_dict()["unchanged"] == 1
    texts = " ".join(hit.text for hit in agent.search("port widgets volt Oslo", k=20))
    assert "9009" in texts and "7001" not in texts and "12 volt" not in texts and "Oslo" in texts
    assert agent.counts()["documents"] == 3


def test_one_bad_file_does_not_stop_the_folder(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    folder = make_folder(tmp_path / "docs")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n")
    (folder / "empty.txt").write_text("   \n")
    report = agent.add_source(str(folder))
    assert report.error is None
    assert report.added == 3
    failed = {Path(item.uri).name: item.error for item in report.failed}
    assert set(failed) == {"broken.pdf", "picture.png", "empty.txt"}
    assert "broken.pdf" in failed["broken.pdf"] or "PDF" in failed["broken.pdf"]
    assert ".png" in failed["picture.png"]


def test_missing_path_is_a_clear_error_and_stores_nothing(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    with pytest.raises(ConnectorError, match="does not exist"):
        agent.add_source(str(tmp_path / "nope"))
    assert agent.sources() == []


def test_a_single_unsupported_file_is_refused_without_storing_a_source(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK\x03\x04")
    report = agent.add_source(str(path))
    assert report.error is not None
    assert report.failed and ".xlsx" in report.failed[0].error
    assert agent.sources() == []


def test_source_that_vanishes_keeps_its_documents_and_records_the_error(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    folder = make_folder(tmp_path / "docs")
    agent.add_source(str(folder))
    shutil.rmtree(folder)
    report = agent.sync()
    assert report.failed and "does not exist" in report.failed[0].error
    assert agent.counts()["documents"] == 3  # a missing folder is not a mass delete
    assert agent.sources()[0].status == "error"


def test_index_lagging_behind_sql_is_rebuilt_from_stored_vectors(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    agent.add_source(str(make_folder(tmp_path / "docs")))
    folder = kit.index_folder(agent.index_key)
    shutil.rmtree(folder)  # as if the process died between the SQL commit and the index write
    hits = agent.search("Alpha widgets port", k=1)
    assert hits and "7001" in hits[0].text


def test_corrupt_index_is_a_clear_error_naming_reindex(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    agent.add_source(str(make_folder(tmp_path / "docs")))
    index_file = kit.index_folder(agent.index_key) / INDEX_FILE
    index_file.write_bytes(index_file.read_bytes()[:64])
    fresh = kit.get_agent("docs")
    with pytest.raises(IndexNeedsRepairError, match="agentkit reindex docs"):
        fresh.search("Alpha", k=1)


def test_citations_carry_page_uri_and_fetched_at(kit: AgentKit, tmp_path: Path) -> None:
    agent = kit.create_agent("docs")
    agent.add_source(str(make_folder(tmp_path / "docs")))
    hit = agent.search("Beta gadgets weigh", k=1)[0]
    assert hit.uri.endswith("beta.txt")
    assert hit.fetched_at is not None
    assert hit.title
