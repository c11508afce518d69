"""A sync commits in batches: an interrupted one keeps what it finished and the next one resumes.

The interruption here is an embedder that fails after some batches (the SIGKILL version, with
real processes, is `tests/test_faults_resume.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import AgentKit, InvalidSettingError
from agentkit.ingest.batching import MIN_GROWTH, Batching
from tests.fakes import FakeEmbedder

DOCUMENTS = 30


class FailingEmbedder(FakeEmbedder):
    """Fails on its `fail_on`-th call to `embed_batch` (counting from 1), once."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fail_on: int | None = None

    def embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.fail_on is not None and self.calls >= self.fail_on:
            self.fail_on = None
            raise RuntimeError("embedder stopped")
        return super().embed_batch(texts)


def write_notes(folder: Path, numbers: range, version: str = "one") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (folder / f"note_{number:02}.md").write_text(f"# Note {number}\n\nNote {number} says {version}.\n")


@pytest.fixture
def failing_kit(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AgentKit, FailingEmbedder]:
    monkeypatch.setenv("AGENTKIT_SYNC_BATCH_DOCUMENTS", "5")
    embedder = FailingEmbedder()
    return AgentKit(home=isolated_home, embedder=embedder), embedder


def test_an_interrupted_add_keeps_its_batches_and_the_next_sync_resumes(
    failing_kit: tuple[AgentKit, FailingEmbedder], tmp_path: Path
) -> None:
    kit, embedder = failing_kit
    folder = tmp_path / "notes"
    write_notes(folder, range(DOCUMENTS))
    agent = kit.create_agent("docs")
    embedder.fail_on = 4
    with pytest.raises(RuntimeError, match="embedder stopped"):
        agent.add_source(str(folder))
    [info] = agent.sources()
    assert (info.status, info.documents) == ("incomplete", 15)
    assert "agentkit sync docs" in (info.error or "")
    assert agent.doctor().healthy  # every committed batch reached the index

    assert info.due  # `agentkit sync --due` (cron) resumes it, though it has no refresh interval

    embedder.embedded_texts.clear()
    report = agent.sync(due_only=True)
    assert report.ok
    assert report.total("added") == DOCUMENTS - 15 and report.total("unchanged") == 15
    assert len(embedder.embedded_texts) == DOCUMENTS - 15  # one chunk per note, none twice
    [info] = agent.sources()
    assert (info.status, info.documents, info.error) == ("ready", DOCUMENTS, None)
    assert agent.doctor().healthy


def test_vanished_documents_leave_only_after_a_complete_pass(
    failing_kit: tuple[AgentKit, FailingEmbedder], tmp_path: Path
) -> None:
    kit, embedder = failing_kit
    folder = tmp_path / "notes"
    write_notes(folder, range(DOCUMENTS))
    agent = kit.create_agent("docs")
    agent.add_source(str(folder))
    for number in (28, 29):
        (folder / f"note_{number:02}.md").unlink()
    write_notes(folder, range(20), version="two")

    embedder.fail_on = embedder.calls + 2
    with pytest.raises(RuntimeError):
        agent.sync()
    [info] = agent.sources()
    assert (info.status, info.documents) == ("incomplete", DOCUMENTS)  # nothing removed yet
    texts = {hit.text for hit in agent.search("Note says", k=100, mode="lexical")}
    assert any("says two" in text for text in texts) and any("says one" in text for text in texts)

    embedder.embedded_texts.clear()
    report = agent.sync()
    assert (report.total("removed"), report.total("updated")) == (2, 15)
    assert len(embedder.embedded_texts) == 15  # the 5 updated before the stop are not embedded again
    [info] = agent.sources()
    assert (info.status, info.documents) == ("ready", DOCUMENTS - 2)
    assert agent.doctor().healthy


def test_batching_rule() -> None:
    batching = Batching(documents=10, seconds=30.0, chunks=100)
    assert not batching.due(documents=0, chunks=0, waited_s=99.0, index_chunks=0)
    assert not batching.due(documents=9, chunks=9, waited_s=1.0, index_chunks=0)
    assert batching.due(documents=10, chunks=10, waited_s=0.0, index_chunks=0)
    big = int(20 / MIN_GROWTH)  # 20 chunks are too few a change for an index this large
    assert not batching.due(documents=10, chunks=19, waited_s=1.0, index_chunks=big)
    assert batching.due(documents=10, chunks=20, waited_s=1.0, index_chunks=big)
    assert batching.due(documents=1, chunks=1, waited_s=30.0, index_chunks=big)  # time bound
    assert batching.due(documents=1, chunks=400, waited_s=0.0, index_chunks=10**9)  # memory bound


def test_batch_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_SYNC_BATCH_DOCUMENTS", "50")
    monkeypatch.setenv("AGENTKIT_SYNC_BATCH_SECONDS", "2.5")
    assert Batching.from_environment() == Batching(documents=50, seconds=2.5)
    monkeypatch.setenv("AGENTKIT_SYNC_BATCH_DOCUMENTS", "many")
    with pytest.raises(InvalidSettingError, match="AGENTKIT_SYNC_BATCH_DOCUMENTS='many'"):
        Batching.from_environment()
