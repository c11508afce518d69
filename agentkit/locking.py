"""One writer per agent: an exclusive lock file held for the whole of an `add` or `sync`.

The lock is an `flock` on a file in the home's `locks/` folder, so it is released by the
operating system when the process dies, even by SIGKILL. A second writer waits up to
`timeout_s` and then fails with a message naming the agent and the holder's pid.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AgentBusyError(Exception):
    """Another process is writing to the same agent."""


@contextmanager
def agent_write_lock(lock_path: Path, *, agent_name: str, timeout_s: float) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise AgentBusyError(
                        f"agent {agent_name!r} is being changed by another process (pid "
                        f"{holder}); wait for it to finish and try again"
                    ) from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock
