"""4 writers and 8 readers on one agent at once, each its own process, for N seconds.

Writers loop over: edit their own files and `sync`; `upsert_records`; `delete_records`. The only
error a writer may get is `AgentBusyError` (another writer held the agent longer than the lock
timeout). Readers loop over searches and `ask` (the scripted generator) and may get no error.

A reader saw a consistent snapshot when, in one read transaction, a dense search over every
chunk returned exactly the chunk ids that the transaction's SQL holds for the agent: the index it
searched reflects that snapshot's `index_version`, no vector of a removed chunk and no chunk
without its vector. Every hit's text also carries one generation tag for its document, and all
hits of one document carry the same tag (a document is old or new, never half-replaced).

N is `AGENTKIT_FAULTS_SECONDS` (default 20); `benchmarks/faults.py` runs it for 5 minutes.
After the run `doctor` is healthy.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agentkit import AgentKit
from agentkit.errors import AgentBusyError
from agentkit.store.models import ChunkRow, DocumentRow, SourceRow
from tests.fakes import ScriptedGenerator

WRITERS = 4
READERS = 8
FILES_PER_WRITER = 12
EMBEDDER = "hashing-64"
TAG = re.compile(r"gen-(\d+)-(\d+)")

pytestmark = pytest.mark.slow


def duration_s() -> float:
    return float(os.environ.get("AGENTKIT_FAULTS_SECONDS") or 20)


def note(writer: int, number: int, generation: int) -> str:
    words = " ".join(f"harbour{(number * 7 + i) % 50}" for i in range(60))
    return f"# Note {writer}-{number}\n\nNote gen-{writer}-{generation} of writer {writer}: {words}.\n"


def writer_loop(home: str, folder: str, writer: int, start: Any, result: str) -> None:
    rng = random.Random(writer)
    counts = {"sync": 0, "upsert": 0, "delete": 0, "busy": 0}
    errors: list[str] = []
    generation = 0
    with AgentKit(home=home) as kit:
        agent = kit.get_agent("docs")
        until = started(start)
        while time.time() < until:
            operation = rng.choice(("sync", "sync", "upsert", "delete"))
            generation += 1
            try:
                if operation == "sync":
                    for number in rng.sample(range(FILES_PER_WRITER), 3):
                        path = Path(folder) / f"w{writer}_{number:02}.md"
                        if rng.random() < 0.2 and path.exists():
                            path.unlink()
                        else:
                            path.write_text(note(writer, number, generation))
                    agent.sync()
                elif operation == "upsert":
                    agent.upsert_records(
                        [
                            {
                                "id": f"{writer}-{n}",
                                "text": f"Record gen-{writer}-{generation} harbour{n} of {writer}.",
                            }
                            for n in rng.sample(range(20), 5)
                        ]
                    )
                else:
                    agent.delete_records([f"{writer}-{n}" for n in rng.sample(range(20), 2)])
                counts[operation] += 1
            except AgentBusyError:
                counts["busy"] += 1
            except Exception:  # noqa: BLE001 - every other error is a failure to report
                errors.append(traceback.format_exc())
    Path(result).write_text(json.dumps({"counts": counts, "errors": errors}))


def reader_loop(home: str, reader: int, start: Any, result: str) -> None:
    rng = random.Random(100 + reader)
    counts = {"search": 0, "ask": 0, "checked_chunks": 0}
    errors: list[str] = []
    with AgentKit(home=home, generator=ScriptedGenerator()) as kit:
        agent = kit.get_agent("docs")
        agent.search("warm up")  # load the models and the index before the clock starts
        until = started(start)
        while time.time() < until:
            try:
                if rng.random() < 0.25:
                    answer = agent.ask(f"What does note harbour{rng.randrange(50)} say?")
                    assert answer.text
                    counts["ask"] += 1
                else:
                    counts["checked_chunks"] += check_snapshot(kit, agent, f"harbour{rng.randrange(50)} note")
                    counts["search"] += 1
            except Exception:  # noqa: BLE001 - readers may get no error at all
                errors.append(traceback.format_exc())
    Path(result).write_text(json.dumps({"counts": counts, "errors": errors}))


def started(start: Any) -> float:
    """Wait until every worker is ready (imports take long on a loaded machine); the end time."""
    start.wait(timeout=600)
    return time.time() + duration_s()


def check_snapshot(kit: AgentKit, agent: object, query: str) -> int:
    """One consistent read (see the module docstring); returns the number of chunks checked."""
    retriever = agent._get_retriever()  # type: ignore[attr-defined]
    with kit.sessions() as session, session.begin():
        hits = retriever.search(session, query, k=100_000, mode="dense")
        rows = session.execute(
            select(ChunkRow.id, ChunkRow.document_id)
            .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
            .join(SourceRow, DocumentRow.source_id == SourceRow.id)
            .where(SourceRow.agent_id == agent.id)  # type: ignore[attr-defined]
        ).all()
    snapshot = {chunk_id for chunk_id, _ in rows}
    found = {hit.chunk_id for hit in hits}
    assert found == snapshot, (
        f"index and SQL disagree: {len(found - snapshot)} extra, {len(snapshot - found)} missing"
    )
    tags: dict[int, set[str]] = {}
    for hit in hits:
        match = TAG.search(hit.text)
        if match:
            tags.setdefault(hit.document_id, set()).add(match.group(0))
    mixed = [document for document, seen in tags.items() if len(seen) > 1]
    assert not mixed, f"documents {mixed} mix chunks of two versions"
    return len(hits)


def test_writers_and_readers_at_once(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTKIT_LOCK_TIMEOUT_S", "3")
    folder = tmp_path / "notes"
    folder.mkdir()
    for writer in range(WRITERS):
        for number in range(FILES_PER_WRITER):
            (folder / f"w{writer}_{number:02}.md").write_text(note(writer, number, 0))
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("docs", embedder=EMBEDDER)
        agent.add_source(str(folder))
        agent.upsert_records([{"id": f"0-{n}", "text": f"Record gen-0-0 harbour{n}."} for n in range(20)])

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS + READERS + 1)
    results: list[Path] = []
    processes = []
    for writer in range(WRITERS):
        results.append(tmp_path / f"writer{writer}.json")
        processes.append(
            context.Process(
                target=writer_loop, args=(str(isolated_home), str(folder), writer, start, str(results[-1]))
            )
        )
    for reader in range(READERS):
        results.append(tmp_path / f"reader{reader}.json")
        processes.append(
            context.Process(target=reader_loop, args=(str(isolated_home), reader, start, str(results[-1])))
        )
    for process in processes:
        process.start()
    start.wait(timeout=600)
    for process in processes:
        process.join(timeout=duration_s() + 300)
        assert process.exitcode == 0, f"a worker died with status {process.exitcode}"

    outcomes = [json.loads(path.read_text()) for path in results]
    errors = [error for outcome in outcomes for error in outcome["errors"]]
    assert not errors, f"{len(errors)} errors; the first:\n{errors[0]}"
    writes = sum(
        outcome["counts"].get(name, 0) for outcome in outcomes for name in ("sync", "upsert", "delete")
    )
    reads = sum(outcome["counts"].get(name, 0) for outcome in outcomes for name in ("search", "ask"))
    busy = sum(outcome["counts"].get("busy", 0) for outcome in outcomes)
    print(f"\nconcurrency: {duration_s():g} s, {writes} writes, {busy} busy, {reads} reads")
    assert writes >= WRITERS and reads >= READERS
    with AgentKit(home=isolated_home) as kit:
        assert kit.get_agent("docs").doctor().healthy
