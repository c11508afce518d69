"""The CLI contract, through click's test runner, with the hashing embedder and a scripted model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentkit.cli.app import cli
from tests.fakes import ScriptedGenerator


@pytest.fixture
def scripted(local_model_is: Callable[[ScriptedGenerator], None]) -> ScriptedGenerator:
    generator = ScriptedGenerator()
    local_model_is(generator)
    return generator


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False)


def make_docs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    (root / "nodes.md").write_text("# Cluster size\n\nA Zorblat cluster holds at most 12 nodes.\n")
    (root / "image.png").write_bytes(b"\x89PNG")
    return root


def created(runner: CliRunner, tmp_path: Path, name: str = "demo") -> Path:
    result = run(runner, "create", name, "--embedder", "hashing-128", "--description", "Test agent")
    assert result.exit_code == 0, result.output
    docs = make_docs(tmp_path / "docs")
    result = run(runner, "add", name, str(docs))
    assert result.exit_code == 0, result.output
    return docs


def test_help_imports_no_heavy_library() -> None:
    """`agentkit --help` stays instant because no model or index library loads for it."""
    code = (
        "import sys; from agentkit.cli.app import main; sys.argv=['agentkit','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('torch','sentence_transformers','llama_cpp','faiss','bs4','pypdf','numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Usage: agentkit" in output
    assert "HEAVY []" in output


def test_a_command_closes_its_database_when_it_ends(
    runner: CliRunner, tmp_path: Path, isolated_home: Path
) -> None:
    """The kit of a command is closed with it: SQLite's write-ahead log is checkpointed and
    removed instead of left for the next process to recover."""
    created(runner, tmp_path)
    assert (isolated_home / "agentkit.db").is_file()
    assert not (isolated_home / "agentkit.db-wal").exists()
    assert json.loads(run(runner, "list", "--json").output)[0]["documents"] == 2


def test_the_command_line_skips_the_exit_garbage_collection(tmp_path: Path) -> None:
    """`main` freezes what is alive when a command ends (the exit collection cost a cold
    `agentkit ask` 0.3 s or more); the command's output and exit status are unchanged."""
    code = (
        "import gc, sys; from agentkit.cli.app import main\n"
        "sys.argv = ['agentkit', '--home', sys.argv[1], 'list']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    print('EXIT', done.code, 'FROZEN', gc.get_freeze_count() > 0)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home")], capture_output=True, text=True, check=True
    ).stdout
    assert "EXIT 0 FROZEN True" in output


def test_create_list_show_delete(runner: CliRunner, tmp_path: Path) -> None:
    created(runner, tmp_path)
    listed = json.loads(run(runner, "list", "--json").output)
    assert listed[0]["name"] == "demo"
    assert {"name", "description", "sources", "documents", "chunks"} <= set(listed[0])
    assert listed[0]["documents"] == 2 and listed[0]["sources"] == 1
    shown = json.loads(run(runner, "show", "demo", "--json").output)
    assert shown["description"] == "Test agent"
    duplicate = run(runner, "create", "demo")
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    refused = run(runner, "delete", "demo")
    assert refused.exit_code != 0 and "--yes" in refused.output
    assert run(runner, "delete", "demo", "--yes").exit_code == 0
    assert json.loads(run(runner, "list", "--json").output) == []


def test_unknown_agent_is_a_clear_error(runner: CliRunner) -> None:
    for args in (["show", "ghost"], ["ask", "ghost", "hi"], ["add", "ghost", "."], ["sources", "ghost"]):
        result = run(runner, *args)
        assert result.exit_code == 1
        assert "no agent named 'ghost'" in result.output


def test_add_reports_counts_and_skipped_files(runner: CliRunner, tmp_path: Path) -> None:
    run(runner, "create", "demo", "--embedder", "hashing-128")
    result = run(runner, "add", "demo", str(make_docs(tmp_path / "docs")))
    assert result.exit_code == 0
    assert "2 documents" in result.output and "chunks" in result.output and " s" in result.output
    assert "image.png" in result.output and "unsupported" in result.output


def test_add_missing_path_fails_and_keeps_existing(runner: CliRunner, tmp_path: Path) -> None:
    created(runner, tmp_path)
    result = run(runner, "add", "demo", str(tmp_path / "missing"))
    assert result.exit_code == 1
    assert "missing" in result.output and "does not exist" in result.output
    sources = json.loads(run(runner, "sources", "demo", "--json").output)
    assert len(sources) == 1 and sources[0]["documents"] == 2


def test_sources_json_fields(runner: CliRunner, tmp_path: Path) -> None:
    created(runner, tmp_path)
    sources = json.loads(run(runner, "sources", "demo", "--json").output)
    assert {"id", "kind", "uri", "status", "documents", "chunks", "error", "last_synced_at"} <= set(sources[0])
    assert sources[0]["kind"] == "files" and sources[0]["status"] == "ready"


def test_search_json_fields(runner: CliRunner, tmp_path: Path) -> None:
    created(runner, tmp_path)
    hits = json.loads(run(runner, "search", "demo", "Zorblat daemon port", "-k", "1", "--json").output)
    assert len(hits) == 1
    assert {"chunk_id", "score", "title", "uri", "page", "text"} <= set(hits[0])
    assert "7421" in hits[0]["text"]


def test_ask_json_contract(runner: CliRunner, tmp_path: Path, scripted: ScriptedGenerator) -> None:
    created(runner, tmp_path)
    scripted.enqueue("The Zorblat daemon listens on port 7421 [1].")
    answer = json.loads(run(runner, "ask", "demo", "Which port does the Zorblat daemon listen on?", "--json").output)
    assert set(answer) == {"answer", "abstained", "citations"}
    assert "7421" in answer["answer"] and answer["abstained"] is False
    citation = answer["citations"][0]
    assert {"n", "title", "uri", "page", "chunk_id", "score", "text"} <= set(citation)
    assert "7421" in citation["text"]
    # the prompt held numbered sources and the agent's instructions
    prompt = scripted.prompts[-1]
    assert prompt[0].role == "system" and "[1]" in prompt[-1].content


def test_chat_over_piped_stdin(runner: CliRunner, tmp_path: Path, scripted: ScriptedGenerator) -> None:
    created(runner, tmp_path)
    scripted.enqueue("It listens on port 7421 [1].", "At most 12 nodes [1].")
    result = run(
        runner,
        "chat",
        "demo",
        input="Which port does the Zorblat daemon use?\n/sources\nHow many nodes can a Zorblat cluster hold?\n",
    )
    assert result.exit_code == 0, result.output
    assert "7421" in result.output and "12 nodes" in result.output
    assert result.output.count("Sources:") >= 2


def test_db_upgrade(runner: CliRunner) -> None:
    result = run(runner, "db", "upgrade")
    assert result.exit_code == 0 and "newest schema" in result.output


def test_the_home_option_also_holds_the_caches(runner: CliRunner, tmp_path: Path) -> None:
    from agentkit.models import prompt_cache
    from agentkit.models.onnx_embedder import onnx_cache_folder

    home = tmp_path / "elsewhere"
    run(runner, "--home", str(home), "list")
    # The ONNX export and the model's prompt state of this process go under --home, not the
    # default home (the autouse fixture points AGENTKIT_HOME at another folder).
    assert onnx_cache_folder().is_relative_to(home)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert prompt_cache.state_file(str(model), 2048, [1, 2, 3]).is_relative_to(home)
