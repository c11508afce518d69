"""A full disk while the database or the index is written: a clear error, the previous state
intact, and the next sync after space returns completes.

`AGENTKIT_HOME` is a small tmpfs mounted for the test (CI runs as root, which mounting needs),
so the disk is really full: SQLite fails to grow its WAL, the index writer gets ENOSPC. A filler
file takes every free byte at the chosen moment and is deleted to give the space back.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from agentkit import AgentKit
from agentkit.errors import StorageFullError
from agentkit.index.base import read_manifest
from agentkit.index.registry import index_backend
from agentkit.store.models import DocumentRow
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.slow

TMPFS_SIZE = "24m"
FIRST, SECOND = 20, 300  # documents of the source that fits and of the one that meets a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    handle.write(block)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    return filler


def write_notes(folder: Path, count: int, prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        body = " ".join(f"{prefix}{(number + i) % 89}" for i in range(400))
        (folder / f"{prefix}_{number:03}.md").write_text(f"# {prefix} {number}\n\n{body}\n")


def documents(kit: AgentKit) -> int:
    with kit.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DocumentRow)) or 0)


def assert_index_file_whole(kit: AgentKit, index_key: str, version: int) -> None:
    folder = kit.index_folder(index_key)
    manifest = read_manifest(folder)
    assert manifest is not None and manifest.index_version == version
    index_backend(manifest.backend).load(folder, manifest)  # checksum verified
    assert not [path.name for path in folder.iterdir() if path.name.endswith(".tmp")]


@pytest.fixture
def disk_kit(small_disk: Path) -> Iterator[AgentKit]:
    with AgentKit(home=small_disk / "home", embedder=FakeEmbedder()) as kit:
        yield kit


def test_database_write_on_a_full_disk(disk_kit: AgentKit, small_disk: Path, tmp_path: Path) -> None:
    kit = disk_kit
    write_notes(tmp_path / "first", FIRST, "alpha")
    write_notes(tmp_path / "second", SECOND, "beta")
    agent = kit.create_agent("docs")
    agent.add_source(str(tmp_path / "first"))
    version = _index_version(kit, agent.id)

    filler = fill(small_disk)
    with pytest.raises(StorageFullError) as raised:
        agent.add_source(str(tmp_path / "second"))
    message = str(raised.value)
    assert "agentkit.db" in message and "Free some space" in message, message
    assert documents(kit) == FIRST and len(agent.sources()) == 1  # the batch was rolled back
    assert _index_version(kit, agent.id) == version
    assert_index_file_whole(kit, agent.index_key, version)
    assert agent.search("alpha3", k=3)  # readers still work on a full disk

    filler.unlink()
    report = agent.add_source(str(tmp_path / "second"))
    assert report.error is None and report.documents == SECOND
    assert documents(kit) == FIRST + SECOND
    assert agent.doctor().healthy


def test_index_write_on_a_full_disk(disk_kit: AgentKit, small_disk: Path, tmp_path: Path) -> None:
    kit = disk_kit
    write_notes(tmp_path / "first", FIRST, "alpha")
    write_notes(tmp_path / "second", SECOND, "beta")
    agent = kit.create_agent("docs")
    agent.add_source(str(tmp_path / "first"))
    version = _index_version(kit, agent.id)

    # Fill the disk right after the first commit that stores documents: the index write fails.
    state: dict[str, object] = {"wrote": False, "filler": None}

    @event.listens_for(kit.sessions, "after_flush")
    def wrote(session, context):  # type: ignore[no-untyped-def]
        state["wrote"] = state["wrote"] or any(isinstance(row, DocumentRow) for row in session.new)

    @event.listens_for(kit.sessions, "after_commit")
    def committed(session):  # type: ignore[no-untyped-def]
        if state["wrote"] and state["filler"] is None:
            state["filler"] = fill(small_disk)

    with pytest.raises(StorageFullError) as raised:
        agent.add_source(str(tmp_path / "second"))
    event.remove(kit.sessions, "after_commit", committed)
    message = str(raised.value)
    assert "index of agent 'docs'" in message and "agentkit sync docs" in message, message
    stored = documents(kit)
    assert FIRST < stored < FIRST + SECOND  # the batch is in SQL, the source shows incomplete
    assert agent.sources()[1].status == "incomplete"
    assert_index_file_whole(kit, agent.index_key, version)  # the old file, untouched
    hits = agent.search("beta7", k=3)  # the index is rebuilt from SQL in memory: the new batch
    assert hits and "beta" in hits[0].uri

    with pytest.raises(StorageFullError, match="Free some space"):  # still full: the catch-up write fails too
        agent.sync()
    assert_index_file_whole(kit, agent.index_key, version)

    filler = state["filler"]
    assert isinstance(filler, Path)
    filler.unlink()
    report = agent.sync()
    assert report.ok
    assert documents(kit) == FIRST + SECOND
    assert agent.doctor().healthy


def _index_version(kit: AgentKit, agent_id: int) -> int:
    from agentkit.store.models import AgentRow

    with kit.sessions() as session:
        value = session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent_id))
    return int(value or 0)
