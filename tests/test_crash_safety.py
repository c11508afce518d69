"""Crash safety and concurrency: SIGKILL during `add`/`sync`, two writers, readers during a write.

The corpus has stable documents (never change) and varying ones whose every chunk carries
the marker of the state it belongs to (`marker-A` / `marker-B`). State B edits some
varying documents, deletes others and adds new ones, so a mix of old and new shows up as
a set of (document, marker) pairs that is neither state.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select

from agentkit import AgentKit
from agentkit.agent import Agent
from agentkit.index.files import AgentIndexFiles
from agentkit.index.locking import agent_write_lock
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow
from tests.fakes import FakeEmbedder, ScriptedGenerator

STABLE = range(0, 20)
STATE_FILES = {"A": list(range(20, 100)), "B": list(range(20, 80)) + list(range(100, 120))}
KILL_POINTS = 20
ADD_KILL_POINTS = 4
SEED = 20240611


def write_state(folder: Path, state: str) -> None:
    """Make `folder` hold exactly the files of `state` (stable files are never rewritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"doc_{i:03}.md" for i in (*STABLE, *STATE_FILES[state])}
    for path in folder.iterdir():
        if path.name not in wanted:
            path.unlink()
    for i in STABLE:
        path = folder / f"doc_{i:03}.md"
        if not path.exists():
            path.write_text(f"# Stable {i}\n\nStable note {i} about lighthouses marker-stable.\n")
    for i in STATE_FILES[state]:
        (folder / f"doc_{i:03}.md").write_text(
            f"# Item {i}\n\nItem {i} of the catalogue, marker-{state}, describes widget {i} in state {state}.\n"
        )


def expected_state(state: str) -> dict[str, str]:
    names = {f"doc_{i:03}.md": "stable" for i in STABLE}
    names.update({f"doc_{i:03}.md": state for i in STATE_FILES[state]})
    return names


def marker_of(text: str) -> str:
    for marker in ("stable", "A", "B"):
        if f"marker-{marker}" in text:
            return marker
    raise AssertionError(f"chunk without a marker: {text!r}")


def sql_state(kit: AgentKit, agent_id: int) -> tuple[dict[str, str], set[int]]:
    """({file name: marker}, chunk ids) as committed in SQL; asserts one marker per document."""
    with kit.sessions() as session:
        rows = session.execute(
            select(DocumentRow.uri, ChunkRow.id, ChunkRow.text)
            .join(ChunkRow, ChunkRow.document_id == DocumentRow.id)
            .join(SourceRow, DocumentRow.source_id == SourceRow.id)
            .where(SourceRow.agent_id == agent_id)
        ).all()
    markers: dict[str, str] = {}
    for uri, _, text in rows:
        name = Path(uri).name
        assert markers.setdefault(name, marker_of(text)) == marker_of(text), f"{name} mixes states"
    return markers, {row[1] for row in rows}


def searched_state(agent: Agent, total: int) -> tuple[set[str], set[int]]:
    """Markers and chunk ids of everything a dense search over all chunks returns."""
    hits = agent.search("item catalogue widget state marker lighthouses", k=max(total, 1) + 10, mode="dense")
    return {marker_of(hit.text) for hit in hits}, {hit.chunk_id for hit in hits}


def assert_consistent(kit: AgentKit, name: str, allowed: dict[str, dict[str, str]]) -> str:
    """The agent is exactly in one allowed state, in SQL and for searches; returns which.

    The SQL read and the search are two transactions; a writer may commit between them, so
    the pair is compared only when the index version did not move in between.
    """
    agent = kit.get_agent(name)  # a fresh handle reads like a new process
    for _ in range(20):
        version = index_version(kit, agent.id)
        markers, chunk_ids = sql_state(kit, agent.id)
        matches = [label for label, state in allowed.items() if markers == state]
        assert matches, f"agent {name} is in a mixed state: {sorted(set(markers.values()))}"
        found_markers, found_ids = searched_state(agent, len(chunk_ids))
        assert found_markers <= _all_markers(allowed), "a search returned a chunk of no allowed state"
        if index_version(kit, agent.id) != version:
            continue  # a commit landed between the two reads: look again
        assert found_ids == chunk_ids, "the index a reader loads does not hold exactly the SQL chunks"
        assert found_markers == set(markers.values())
        return matches[0]
    raise AssertionError("the agent kept changing; no two consistent reads")


def _all_markers(allowed: dict[str, dict[str, str]]) -> set[str]:
    return {marker for state in allowed.values() for marker in state.values()}


def index_version(kit: AgentKit, agent_id: int) -> int:
    with kit.sessions() as session:
        version = session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent_id))
    assert version is not None
    return int(version)


def assert_lag_only(report_problems: list[str]) -> None:
    """After a kill, the only acceptable problem is an index file behind SQL."""
    for problem in report_problems:
        assert "a write was interrupted" in problem or "no index file" in problem, problem


def agentkit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentkit", *args]


def run_agentkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(agentkit_command(*args), capture_output=True, text=True, env=env, timeout=60)


def kill_delays(rng: random.Random, seconds: float, count: int) -> list[float]:
    """`count` delays spread over [0, seconds]: one random point in each of `count` equal
    slices, shuffled, so that the last slices (after the commit) are always probed."""
    delays = [seconds * (slot + rng.random()) / count for slot in range(count)]
    rng.shuffle(delays)
    return delays


def kill_after(args: list[str], delay: float) -> None:
    process = subprocess.Popen(agentkit_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def home_kit(isolated_home: Path) -> Iterator[AgentKit]:
    with AgentKit(home=isolated_home, generator=ScriptedGenerator()) as kit:
        yield kit


def test_sigkill_during_add_and_sync_leaves_old_or_new_state(home_kit: AgentKit, tmp_path: Path) -> None:
    kit = home_kit
    rng = random.Random(SEED)
    folder = tmp_path / "corpus"
    write_state(folder, "A")
    empty: dict[str, str] = {}
    full_a = expected_state("A")

    # `add` from nothing: killed, it leaves nothing or everything; the next add completes it
    kit.create_agent("probe", embedder="hashing-128")
    started = time.perf_counter()
    assert run_agentkit("add", "probe", str(folder)).returncode == 0
    add_seconds = time.perf_counter() - started
    outcomes: dict[str, int] = {}
    for trial, delay in enumerate(kill_delays(rng, add_seconds, ADD_KILL_POINTS)):
        name = f"add{trial}"
        kit.create_agent(name, embedder="hashing-128")
        kill_after(["add", name, str(folder)], delay)
        label = assert_consistent(kit, name, {"old": empty, "new": full_a})
        outcomes[f"add-{label}"] = outcomes.get(f"add-{label}", 0) + 1
        agent = kit.get_agent(name)
        assert_lag_only(agent.doctor().problems)
        agent.add_source(str(folder))
        assert assert_consistent(kit, name, {"new": full_a}) == "new"
        assert agent.doctor().healthy

    # `sync` between states A and B, back and forth
    kit.create_agent("sync", embedder="hashing-128")
    kit.get_agent("sync").add_source(str(folder))
    stable_ids = {
        n: i for n, i in _chunk_ids_by_name(kit, "sync").items() if expected_state("A")[n] == "stable"
    }
    sync_seconds = 0.0
    for state in ("B", "A"):  # the longer of two complete runs bounds the kill delays
        write_state(folder, state)
        started = time.perf_counter()
        assert run_agentkit("sync", "sync").returncode == 0
        sync_seconds = max(sync_seconds, time.perf_counter() - started)
        assert assert_consistent(kit, "sync", {"new": expected_state(state)}) == "new"
    current = "A"
    for delay in kill_delays(rng, sync_seconds, KILL_POINTS):
        target = "A" if current == "B" else "B"
        write_state(folder, target)
        kill_after(["sync", "sync"], delay)
        allowed = {"old": expected_state(current), "new": expected_state(target)}
        label = assert_consistent(kit, "sync", allowed)
        outcomes[f"sync-{label}"] = outcomes.get(f"sync-{label}", 0) + 1
        agent = kit.get_agent("sync")
        doctor = agent.doctor()
        if not doctor.healthy:
            outcomes["sync-lagging-index"] = outcomes.get("sync-lagging-index", 0) + 1
            assert_lag_only(doctor.problems)
        answer = agent.ask("Which widget does the catalogue describe?")
        assert answer.citations and {marker_of(c.text) for c in answer.citations} <= set(
            allowed[label].values()
        )
        report = agent.sync()  # the next sync finishes the work
        assert report.ok
        assert assert_consistent(kit, "sync", {"new": expected_state(target)}) == "new"
        assert agent.doctor().healthy
        current = target
    # stable documents were never re-chunked, whatever was killed
    assert {n: i for n, i in _chunk_ids_by_name(kit, "sync").items() if n in stable_ids} == stable_ids
    cli_doctor = run_agentkit("doctor", "sync", "--json")
    assert cli_doctor.returncode == 0, cli_doctor.stdout + cli_doctor.stderr
    print(f"\nadd {add_seconds:.2f} s, sync {sync_seconds:.2f} s, outcomes {outcomes}")
    assert outcomes.get("sync-old", 0) >= 1 and outcomes.get("sync-new", 0) >= 1


PAUSE_AT = {
    # after the SQL commit, before the index file is touched
    "before index write": ("agentkit.index.files", "AgentIndexFiles", "apply_update"),
    # the new index file is in place, its manifest still the old one
    "between index file and manifest": ("agentkit.index.base", None, "write_atomically"),
}


@pytest.mark.parametrize("moment", sorted(PAUSE_AT))
def test_sigkill_at_the_narrowest_moments(home_kit: AgentKit, tmp_path: Path, moment: str) -> None:
    """Random kill points rarely land in the few milliseconds after the commit; aim at them."""
    kit = home_kit
    folder = tmp_path / "corpus"
    write_state(folder, "A")
    kit.create_agent("docs", embedder="hashing-128").add_source(str(folder))
    write_state(folder, "B")
    reached = tmp_path / "reached"
    module, owner, attribute = PAUSE_AT[moment]
    target = f"{module}.{owner}" if owner else module
    code = "\n".join(
        [
            "import importlib, pathlib, sys, time",
            f"module = importlib.import_module({module!r})",
            f"owner = getattr(module, {owner!r}) if {owner!r} else module",
            "def pause(*args, **kwargs):",
            f"    pathlib.Path({str(reached)!r}).touch()",
            "    time.sleep(60)",
            f"setattr(owner, {attribute!r}, pause)",
            "from agentkit.cli.app import main",
            "sys.argv = ['agentkit', 'sync', 'docs']",
            "main()",
        ]
    )
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not reached.exists():
        assert process.poll() is None, f"the sync ended before {target}.{attribute}: {process.stderr}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)

    assert assert_consistent(kit, "docs", {"new": expected_state("B")}) == "new"  # committed
    agent = kit.get_agent("docs")
    doctor = agent.doctor()
    assert not doctor.healthy
    assert_lag_only(doctor.problems)
    assert agent.ask("Which widget is in the catalogue?").citations
    assert agent.sync().to_dict()["chunks_embedded"] == 0  # nothing left to embed, only the file
    assert agent.doctor().healthy
    assert assert_consistent(kit, "docs", {"new": expected_state("B")}) == "new"


def _chunk_ids_by_name(kit: AgentKit, name: str) -> dict[str, frozenset[int]]:
    agent = kit.get_agent(name)
    with kit.sessions() as session:
        rows = session.execute(
            select(DocumentRow.uri, ChunkRow.id)
            .join(ChunkRow, ChunkRow.document_id == DocumentRow.id)
            .join(SourceRow, DocumentRow.source_id == SourceRow.id)
            .where(SourceRow.agent_id == agent.id)
        ).all()
    grouped: dict[str, set[int]] = {}
    for uri, chunk_id in rows:
        grouped.setdefault(Path(uri).name, set()).add(chunk_id)
    return {n: frozenset(ids) for n, ids in grouped.items()}


def test_second_writer_waits_then_fails_or_proceeds(home_kit: AgentKit, tmp_path: Path) -> None:
    kit = home_kit
    folder = tmp_path / "corpus"
    write_state(folder, "A")
    agent = kit.create_agent("docs", embedder="hashing-128")
    agent.add_source(str(folder))
    write_state(folder, "B")
    lock_path = kit.lock_path(agent.index_key)

    impatient = dict(os.environ, AGENTKIT_LOCK_TIMEOUT_S="0.5")
    with agent_write_lock(lock_path, agent_name="docs", timeout_s=0):
        result = run_agentkit("sync", "docs", env=impatient)
    assert result.returncode == 75  # EX_TEMPFAIL: cron may retry
    assert f"agent 'docs' is being changed by another process (pid {os.getpid()})" in result.stderr
    assert assert_consistent(kit, "docs", {"old": expected_state("A")}) == "old"

    patient = dict(os.environ, AGENTKIT_LOCK_TIMEOUT_S="30")
    with agent_write_lock(lock_path, agent_name="docs", timeout_s=0):
        process = subprocess.Popen(
            agentkit_command("sync", "docs"), env=patient, stderr=subprocess.PIPE, text=True
        )
        started = time.perf_counter()
        time.sleep(1.0)
        assert process.poll() is None  # still waiting for the lock
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert time.perf_counter() - started >= 0.9
    assert assert_consistent(kit, "docs", {"new": expected_state("B")}) == "new"

    # two real writers at once: both finish, one after the other, and the result is whole
    write_state(folder, "A")
    writers = [
        subprocess.Popen(agentkit_command("sync", "docs"), env=patient, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for writer in writers:
        assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
        if writer.stderr:
            writer.stderr.close()
    assert assert_consistent(kit, "docs", {"new": expected_state("A")}) == "new"
    assert kit.get_agent("docs").doctor().healthy


def test_search_keeps_working_while_a_sync_process_runs(home_kit: AgentKit, tmp_path: Path) -> None:
    kit = home_kit
    folder = tmp_path / "corpus"
    write_state(folder, "A")
    kit.create_agent("docs", embedder="hashing-128").add_source(str(folder))
    write_state(folder, "B")
    process = subprocess.Popen(agentkit_command("sync", "docs"), stderr=subprocess.PIPE, text=True)
    seen: dict[str, int] = {}
    while process.poll() is None or not seen:
        label = assert_consistent(kit, "docs", {"old": expected_state("A"), "new": expected_state("B")})
        seen[label] = seen.get(label, 0) + 1
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert sum(seen.values()) >= 1
    assert assert_consistent(kit, "docs", {"new": expected_state("B")}) == "new"


class HookedEmbedder(FakeEmbedder):
    """Runs `on_embed` once, in the middle of the writer's embedding step."""

    def __init__(self) -> None:
        super().__init__()
        self.on_embed: list[object] = []

    def embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        while self.on_embed:
            hook = self.on_embed.pop()
            assert callable(hook)
            hook()
        return super().embed_batch(texts)


def test_readers_see_the_old_state_until_commit_and_the_new_one_after(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search` and `ask` from another handle during each step of a sync: embed, SQL commit, index write."""
    folder = tmp_path / "corpus"
    write_state(folder, "A")
    writer_embedder = HookedEmbedder()
    writer = AgentKit(home=isolated_home, embedder=writer_embedder)
    reader = AgentKit(home=isolated_home, embedder=FakeEmbedder(), generator=ScriptedGenerator())
    try:
        writer.create_agent("docs").add_source(str(folder))
        write_state(folder, "B")
        old, new = {"old": expected_state("A")}, {"new": expected_state("B")}
        checks: list[str] = []

        def read_while(step: str, allowed: dict[str, dict[str, str]]) -> None:
            result: list[BaseException | str] = []

            def read() -> None:  # in another thread, as another process's reader would
                try:
                    result.append(assert_consistent(reader, "docs", allowed))
                    answer = reader.get_agent("docs").ask("Which widget is in the catalogue?")
                    assert answer.citations
                    result.append(marker_of(answer.citations[0].text))
                except BaseException as error:  # noqa: BLE001 - handed to the test thread
                    result.append(error)

            thread = threading.Thread(target=read)
            thread.start()
            thread.join(timeout=30)
            assert not thread.is_alive(), f"a reader blocked during {step}"
            errors = [item for item in result if isinstance(item, BaseException)]
            if errors:
                raise errors[0]
            checks.append(step)

        writer_embedder.on_embed.append(lambda: read_while("embedding", old))
        armed = {"commit": True}

        @event.listens_for(writer.engine, "commit")
        def before_commit(connection, *args):  # type: ignore[no-untyped-def]
            if armed["commit"] and checks == ["embedding"]:
                armed["commit"] = False
                read_while("commit", old)

        original_apply = AgentIndexFiles.apply_update

        def apply_update(self, session, **kwargs):  # type: ignore[no-untyped-def]
            read_while("index write", new)  # SQL committed, file not yet written: rebuilt from SQL
            return original_apply(self, session, **kwargs)

        monkeypatch.setattr(AgentIndexFiles, "apply_update", apply_update)
        report = writer.get_agent("docs").sync()
        assert report.ok and report.to_dict()["added"] == 20
        assert checks == ["embedding", "commit", "index write"]
        assert assert_consistent(reader, "docs", new) == "new"
    finally:
        writer.close()
        reader.close()
