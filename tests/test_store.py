"""The store through the public API, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import AgentExistsError, AgentKit, AgentNotFoundError, InvalidSettingError
from tests.fakes import FakeEmbedder, ScriptedGenerator


def open_kit(home: Path, database_url: str) -> AgentKit:
    return AgentKit(home=home, database_url=database_url, embedder=FakeEmbedder(), generator=ScriptedGenerator())


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "port.md").write_text("# Ports\n\nThe Zorblat server listens on port 7421 by default.\n")
    (folder / "limits.txt").write_text("A Zorblat cluster holds at most 12 nodes.\n")
    return folder


def test_agent_crud_and_counts(tmp_path: Path, database_url: str) -> None:
    kit = open_kit(tmp_path / "home", database_url)
    agent = kit.create_agent("helpdesk", description="Support answers", top_k=3)
    assert agent.top_k == 3
    with pytest.raises(AgentExistsError):
        kit.create_agent("helpdesk")
    with pytest.raises(InvalidSettingError):
        kit.create_agent("bad name!")
    report = agent.add_source(str(write_docs(tmp_path / "docs")))
    assert report.error is None and report.added == 2
    listed = {a.name: a.to_dict() for a in kit.list_agents()}
    assert listed["helpdesk"]["documents"] == 2
    assert listed["helpdesk"]["chunks"] >= 2
    assert listed["helpdesk"]["sources"] == 1
    kit.delete_agent("helpdesk")
    with pytest.raises(AgentNotFoundError):
        kit.get_agent("helpdesk")
    assert kit.list_agents() == []
    kit.close()


def test_conversation_history_is_stored(tmp_path: Path, database_url: str) -> None:
    kit = open_kit(tmp_path / "home", database_url)
    agent = kit.create_agent("chatty")
    agent.add_source(str(write_docs(tmp_path / "docs")))
    conversation = agent.chat()
    conversation.ask("Which port does the Zorblat server listen on?")
    again = agent.chat(conversation_id=conversation.id)
    history = again.history()
    assert [m.role for m in history] == ["user", "assistant"]
    assert "port" in history[0].content
    kit.close()


def test_delete_agent_removes_rows_and_index_but_nothing_else(tmp_path: Path, database_url: str) -> None:
    kit = open_kit(tmp_path / "home", database_url)
    keep = kit.create_agent("keep")
    drop = kit.create_agent("drop")
    docs = write_docs(tmp_path / "docs")
    keep.add_source(str(docs))
    drop.add_source(str(docs))
    drop_folder = kit.index_folder(drop.index_key)
    keep_folder = kit.index_folder(keep.index_key)
    assert drop_folder.exists() and keep_folder.exists()
    kit.delete_agent("drop")
    assert not drop_folder.exists()
    assert keep_folder.exists()
    assert keep.counts()["chunks"] >= 2
    assert docs.exists() and len(list(docs.iterdir())) == 2
    assert keep.search("port", k=1)
    kit.close()
