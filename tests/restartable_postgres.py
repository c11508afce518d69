"""A throwaway PostgreSQL server that a test can restart, from Debian's binaries.

`restartable_postgres()` runs `initdb` in a temporary folder and starts the server on a free
port of 127.0.0.1; `restart()` stops it (fast shutdown: every open connection is dropped, as in
a real restart) and starts it again on the same data and port. PostgreSQL refuses to run as
root and CI runs as root: there, the server runs as `nobody` (the cluster is made by
`tests.pg_server.new_cluster`). The binaries come from
`/usr/lib/postgresql/*/bin` (the `postgresql` package, which CI installs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.pg_server import free_port, new_cluster


def debian_binaries() -> Path | None:
    """The newest `/usr/lib/postgresql/N/bin` holding `initdb` and `pg_ctl`, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


class RestartablePostgres:
    def __init__(self, binaries: Path, folder: Path, port: int, user: str, drop: Callable[[], None] | None):
        self.binaries = binaries
        self.folder = folder
        self.port = port
        self.user = user
        self._drop = drop

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.binaries / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "60", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=self._drop,
            env={**os.environ, "LC_ALL": "C", "HOME": str(self.folder)},
            cwd=self.folder,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c max_connections=100"
        self._pg_ctl("-l", str(self.folder / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """Stop (dropping every connection) and start again; returns once it accepts connections."""
        started = time.monotonic()
        self.stop()
        self.start()
        self.last_restart_s = time.monotonic() - started


@contextmanager
def restartable_postgres() -> Iterator[RestartablePostgres]:
    binaries = debian_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL in /usr/lib/postgresql; install Debian's postgresql package")
    cluster = new_cluster(binaries, prefix="agentkit-restart-pg-")
    folder = cluster.folder
    server = RestartablePostgres(binaries, folder, free_port(), cluster.user, cluster.preexec)
    server.start()
    try:
        yield server
    finally:
        try:
            server._pg_ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(folder, ignore_errors=True)
