"""A long ingest keeps its progress: `add` of 400 documents SIGKILLed three times, then `sync`.

Each run is a real `agentkit` process (`tests.fault_cli`, which adds a counting embedder); the
test waits, by reading SQL, until the run has committed some batches, then kills it. After
every kill the source is listed as incomplete with the documents finished so far, each of them
whole (all its chunks, each with its vector). The final `sync` stores all 400, `doctor` is
healthy, and the chunks embedded over all runs are within 10% of one clean run's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agentkit import AgentKit
from agentkit.store.models import ChunkRow, DocumentRow, SourceRow
from tests.fakes import ScriptedGenerator
from tests.fault_cli import DELAY_VARIABLE, LOG_VARIABLE, counting_embedders, embedded_count

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = 400
BATCH_DOCUMENTS = 8
DIMENSION = 64
KILL_AT = (60, 170, 290)  # documents committed before each kill
KILL_DELAY_S = (0.0, 0.04, 0.1)  # then a little later each time: mid-read, mid-embed, mid-commit
EMBEDDER = f"counting:{DIMENSION}"

pytestmark = pytest.mark.slow


def write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(DOCUMENTS):
        paragraphs = [
            f"Note {number}, part {part}: the lighthouse keeper logs wind {number % 13} and tide "
            f"{(number * 7 + part) % 11} " + " ".join(f"word{(number + part + i) % 97}" for i in range(120))
            for part in range(3)
        ]
        (folder / f"note_{number:03}.md").write_text(f"# Note {number}\n\n" + "\n\n".join(paragraphs) + "\n")


def fault_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.fault_cli", *args]


def environment(log: Path) -> dict[str, str]:
    return {
        **os.environ,
        LOG_VARIABLE: str(log),
        DELAY_VARIABLE: "0.03",
        "AGENTKIT_SYNC_BATCH_DOCUMENTS": str(BATCH_DOCUMENTS),
    }


def stored_documents(kit: AgentKit) -> int:
    with kit.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DocumentRow)) or 0)


def kill_when_stored(
    command: list[str], env: dict[str, str], kit: AgentKit, at_least: int, delay_s: float
) -> int:
    """Run `command`, SIGKILL it `delay_s` after SQL holds `at_least` documents; returns how many
    documents SQL held then."""
    process = subprocess.Popen(
        command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    try:
        while stored_documents(kit) < at_least:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"the run ended (status {process.returncode}) before the kill: {stderr}")
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.01)
        time.sleep(delay_s)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    return stored_documents(kit)


def assert_whole_documents(kit: AgentKit) -> None:
    """Every stored document has all its chunks (ordinals 0..n-1), each with a vector."""
    with kit.sessions() as session:
        rows = session.execute(
            select(DocumentRow.id, ChunkRow.ordinal, func.length(ChunkRow.embedding)).join(
                ChunkRow, ChunkRow.document_id == DocumentRow.id, isouter=True
            )
        ).all()
    ordinals: dict[int, list[int]] = {}
    for document_id, ordinal, size in rows:
        assert ordinal is not None, f"document {document_id} has no chunks"
        assert size == DIMENSION * 4, f"a chunk of document {document_id} has no vector"
        ordinals.setdefault(document_id, []).append(ordinal)
    for document_id, seen in ordinals.items():
        assert sorted(seen) == list(range(len(seen))), f"document {document_id} is half-stored"


@pytest.fixture
def counting_kit(isolated_home: Path) -> Iterator[AgentKit]:
    with counting_embedders(), AgentKit(home=isolated_home, generator=ScriptedGenerator()) as kit:
        yield kit


def clean_run_chunks(tmp_path: Path, corpus: Path) -> int:
    home = tmp_path / "clean-home"
    log = tmp_path / "clean.log"
    env = {**environment(log), "AGENTKIT_HOME": str(home), DELAY_VARIABLE: "0"}
    for args in (("create", "docs", "--embedder", EMBEDDER), ("add", "docs", str(corpus))):
        result = subprocess.run(
            fault_cli(*args), env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
    return embedded_count(log)


def test_killed_add_resumes_without_embedding_again(counting_kit: AgentKit, tmp_path: Path) -> None:
    kit = counting_kit
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    log = tmp_path / "embedded.log"
    env = environment(log)
    agent = kit.create_agent("docs", embedder=EMBEDDER)

    held = []
    for at_least, delay_s in zip(KILL_AT, KILL_DELAY_S, strict=True):
        held.append(kill_when_stored(fault_cli("add", "docs", str(corpus)), env, kit, at_least, delay_s))
        [info] = agent.sources()
        assert info.status == "incomplete", (held, info)
        assert info.documents == held[-1] < DOCUMENTS
        assert "agentkit sync docs" in (info.error or "")
        assert_whole_documents(kit)
    assert held == sorted(held) and len(set(held)) == 3  # each run kept what the ones before stored

    listing = subprocess.run(
        fault_cli("sources", "docs"), env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert "incomplete" in listing.stdout, listing.stdout

    result = subprocess.run(
        fault_cli("sync", "docs", "--json"),
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    [info] = agent.sources()
    assert (info.status, info.documents, info.error) == ("ready", DOCUMENTS, None)
    assert_whole_documents(kit)
    assert agent.doctor().healthy, agent.doctor().problems

    with kit.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SourceRow)) == 1
    clean = clean_run_chunks(tmp_path, corpus)
    assert clean == agent.counts()["chunks"]
    embedded = embedded_count(log)
    print(
        f"\nresume: killed at {held} documents; {embedded} chunks embedded over all runs, {clean} by a clean run"
    )
    assert clean <= embedded <= 1.10 * clean, (embedded, clean)
