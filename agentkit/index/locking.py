"""One writer per agent: an exclusive lock file held for the whole of an `add` or `sync`.

The lock is an `flock` on a file in the home's `locks/` folder, so it is released by the
operating system when the process dies, even by SIGKILL. A second writer waits up to
`timeout_s` and then fails with a message naming the agent and the holder's pid.

How long a writer waits is `write_lock_timeout_s()`: 10 seconds, or the number of seconds
in the environment variable `AGENTKIT_LOCK_TIMEOUT_S`.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentkit.errors import AgentBusyError, InvalidSettingError

DEFAULT_WRITE_LOCK_TIMEOUT_S = 10.0
LOCK_TIMEOUT_VARIABLE = "AGENTKIT_LOCK_TIMEOUT_S"


def write_lock_timeout_s() -> float:
    """Seconds a writer waits for another writer of the same agent to finish."""
    text = os.environ.get(LOCK_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_WRITE_LOCK_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise InvalidSettingError(
            f"{LOCK_TIMEOUT_VARIABLE}={text!r} is not a number of seconds; set it to a value "
            f"such as 30, or unset it for the default of {DEFAULT_WRITE_LOCK_TIMEOUT_S:g}"
        )
    return value


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
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())) or 0.01)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock
