"""The staleness commands through click's runner: sync, remove-source, sources, doctor, reindex."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentkit import AgentKit
from agentkit.cli.app import cli
from agentkit.index.faiss import INDEX_FILE
from agentkit.index.locking import agent_write_lock
from tests.fakes import ScriptedGenerator

SYNC_KEYS = {"added", "updated", "removed", "unchanged", "failed", "chunks_embedded", "seconds"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, list(args), catch_exceptions=False)


def make_agent(runner: CliRunner, tmp_path: Path, name: str = "demo", *extra: str) -> Path:
    folder = tmp_path / f"{name}-docs"
    folder.mkdir()
    (folder / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    (folder / "nodes.md").write_text("# Nodes\n\nA Zorblat cluster holds at most 12 nodes.\n")
    assert run(runner, "create", name, "--embedder", "hashing-128").exit_code == 0
    result = run(runner, "add", name, str(folder), *extra)
    assert result.exit_code == 0, result.output
    return folder


def test_sync_json_reports_document_counts(runner: CliRunner, tmp_path: Path) -> None:
    folder = make_agent(runner, tmp_path)
    unchanged = json.loads(run(runner, "sync", "demo", "--json").output)
    assert SYNC_KEYS <= set(unchanged)
    assert (unchanged["unchanged"], unchanged["chunks_embedded"], unchanged["failed"]) == (2, 0, [])
    (folder / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 9000.\n")
    (folder / "nodes.md").unlink()
    (folder / "disks.md").write_text("# Disks\n\nEach node has 4 disks.\n")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    result = run(runner, "sync", "demo", "--json")
    report = json.loads(result.output)
    assert {k: report[k] for k in ("added", "updated", "removed", "unchanged")} == {
        "added": 1,
        "updated": 1,
        "removed": 1,
        "unchanged": 0,
    }
    assert report["chunks_embedded"] == 2
    assert [Path(item["uri"]).name for item in report["failed"]] == ["bad.pdf"] and report["failed"][0][
        "error"
    ]
    assert result.exit_code == 0  # a skipped file is reported, not fatal
    text = run(runner, "sync", "demo").output
    assert "0 chunks embedded" in text and "Synced 1 sources" in text


def test_sync_needs_a_name_or_all(runner: CliRunner, tmp_path: Path) -> None:
    assert run(runner, "sync").exit_code == 2
    assert "--all" in run(runner, "sync").output
    make_agent(runner, tmp_path, "one")
    make_agent(runner, tmp_path, "two")
    assert run(runner, "sync", "one", "--all").exit_code == 2
    everything = json.loads(run(runner, "sync", "--all", "--json").output)
    assert set(everything) == {"one", "two"} and all(r["unchanged"] == 2 for r in everything.values())
    assert "== one" in run(runner, "sync", "--all").output
    assert run(runner, "sync", "ghost").exit_code == 1


def test_refresh_age_and_due(runner: CliRunner, tmp_path: Path) -> None:
    make_agent(runner, tmp_path, "demo", "--refresh", "1d")
    sources = json.loads(run(runner, "sources", "demo", "--json").output)
    assert sources[0]["refresh_interval_s"] == 86400 and sources[0]["due"] is False
    assert sources[0]["age_s"] is not None and sources[0]["age_s"] < 60
    line = run(runner, "sources", "demo").output
    assert "synced 0s ago" in line or "synced 1s ago" in line
    assert "refresh 1d" in line and "due in 23h" in line
    due = run(runner, "sync", "--due")
    assert due.exit_code == 0 and "No source is due" in due.output
    assert json.loads(run(runner, "sync", "demo", "--due", "--json").output)["unchanged"] == 0
    bad = run(runner, "add", "demo", str(tmp_path), "--refresh", "soon")
    assert bad.exit_code == 1 and "30m" in bad.output


def test_remove_source_command(runner: CliRunner, tmp_path: Path) -> None:
    make_agent(runner, tmp_path)
    source_id = json.loads(run(runner, "sources", "demo", "--json").output)[0]["id"]
    result = run(runner, "remove-source", "demo", str(source_id))
    assert result.exit_code == 0 and "2 documents" in result.output
    assert json.loads(run(runner, "sources", "demo", "--json").output) == []
    assert json.loads(run(runner, "search", "demo", "Zorblat", "--json").output) == []
    assert run(runner, "doctor", "demo").exit_code == 0
    missing = run(runner, "remove-source", "demo", str(source_id))
    assert missing.exit_code == 1 and "agentkit sources demo" in missing.output


def test_doctor_and_reindex_commands(runner: CliRunner, tmp_path: Path, isolated_home: Path) -> None:
    make_agent(runner, tmp_path)
    healthy = run(runner, "doctor", "demo", "--json")
    assert healthy.exit_code == 0
    report = json.loads(healthy.output)
    assert report["healthy"] and report["sql_chunks"] == report["index_vectors"] == 2
    assert report["sql_index_version"] == report["index_file_version"]
    with AgentKit(home=isolated_home) as kit:
        index_file = kit.index_folder(kit.get_agent("demo").index_key) / INDEX_FILE
    index_file.write_bytes(b"\x00" * 40)
    sick = run(runner, "doctor", "demo")
    assert sick.exit_code == 1 and "damaged" in sick.output and "agentkit reindex demo" in sick.output
    search = run(runner, "search", "demo", "Zorblat")
    assert search.exit_code == 1 and "agentkit reindex demo" in search.output
    fixed = run(runner, "reindex", "demo", "--embedder", "hashing-96")
    assert fixed.exit_code == 0 and "hashing-96" in fixed.output and "was hashing-128" in fixed.output
    assert json.loads(run(runner, "doctor", "demo", "--json").output)["index_dimension"] == 96
    assert json.loads(run(runner, "show", "demo", "--json").output)["embedder"] == "hashing-96"
    bad = run(runner, "reindex", "demo", "--embedder", "no-such-model")
    assert bad.exit_code == 1 and "no-such-model" in bad.output
    assert json.loads(run(runner, "reindex", "demo", "--json").output)["chunks_embedded"] == 2


def test_fetched_at_reaches_search_and_ask_json(
    runner: CliRunner, tmp_path: Path, local_model_is: Callable[[ScriptedGenerator], None]
) -> None:
    generator = ScriptedGenerator(["The daemon listens on port 7421 [1]."])
    local_model_is(generator)
    make_agent(runner, tmp_path)
    hits = json.loads(run(runner, "search", "demo", "Zorblat daemon port", "--json").output)
    assert hits and all(hit["fetched_at"] for hit in hits)
    answer = json.loads(run(runner, "ask", "demo", "Which port?", "--json").output)
    assert answer["citations"] and all(c["fetched_at"] for c in answer["citations"])


def test_second_writer_fails_with_a_clear_message(
    runner: CliRunner, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_agent(runner, tmp_path)
    monkeypatch.setenv("AGENTKIT_LOCK_TIMEOUT_S", "0.2")
    with AgentKit(home=isolated_home) as kit:
        lock = kit.lock_path(kit.get_agent("demo").index_key)
    with agent_write_lock(lock, agent_name="demo", timeout_s=0):
        for args in (["sync", "demo"], ["add", "demo", str(tmp_path / "demo-docs")], ["reindex", "demo"]):
            result = run(runner, *args)
            assert result.exit_code == 75  # EX_TEMPFAIL
            assert "being changed by another process" in result.output
        everything = run(runner, "sync", "--all", "--json")
        assert everything.exit_code == 1
        assert "being changed" in json.loads(everything.output)["demo"]["failed"][0]["error"]
        assert run(runner, "search", "demo", "Zorblat").exit_code == 0  # readers do not wait
    assert run(runner, "sync", "demo").exit_code == 0
    monkeypatch.setenv("AGENTKIT_LOCK_TIMEOUT_S", "soon")
    result = run(runner, "sync", "demo")
    assert result.exit_code == 1 and "AGENTKIT_LOCK_TIMEOUT_S" in result.output
