"""Two `agentkit serve` processes, as on two machines, over one PostgreSQL with pgvector.

Records pushed through one are found through the other at its next request; a writer killed
with SIGKILL in the middle of a sync leaves both serving one committed state, the same one,
with exactly one vector and one BM25 length row per chunk, and its writer lock released.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from agentkit import AgentKit
from agentkit.server.keys import create_key
from agentkit.server.testing import free_port

pytestmark = pytest.mark.slow


@contextmanager
def serving(home: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "--db", database_url, "serve", "--port", str(port)],
        env={**os.environ, "AGENTKIT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def search(url: str, secret: str, query: str) -> list[tuple[str, float]]:
    response = httpx.get(
        url + "/api/agents/shop/search",
        params={"q": query, "k": 50, "mode": "lexical"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return [(hit["record_id"], round(hit["score"], 5)) for hit in response.json()]


WRITER = textwrap.dedent(
    """
    import sys
    from agentkit import AgentKit
    with AgentKit(database_url=sys.argv[1]) as kit:
        kit.get_agent("shop").upsert_records(
            [{"id": f"kiwi-{i}", "text": f"Kiwi crate {i} sits on shelf {i % 40}."} for i in range(4000)]
        )
    """
)


def test_two_servers_share_one_postgres_and_a_killed_writer_leaves_one_state(
    tmp_path: Path, pgvector_url: str
) -> None:
    with AgentKit(home=tmp_path / "admin", database_url=pgvector_url) as kit:
        agent = kit.create_agent("shop", embedder="hashing-128")
        agent.upsert_records([{"id": "hours", "text": "The Marrowby shop opens at 9 o'clock."}])
        _, secret = create_key(kit, scope="admin")
    with (
        serving(tmp_path / "machine-a", pgvector_url) as first,
        serving(tmp_path / "machine-b", pgvector_url) as second,
    ):
        assert search(second, secret, "when does the shop open")[0][0] == "hours"
        pushed = httpx.post(
            first + "/api/agents/shop/records",
            json=[{"id": "plums", "text": "Plums from Dunmore arrive every Tuesday."}],
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        )
        assert pushed.status_code == 200, pushed.text
        assert search(second, secret, "when do the plums arrive")[0][0] == "plums"

        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, pgvector_url],
            env={**os.environ, "AGENTKIT_HOME": str(tmp_path / "writer")},
            stderr=subprocess.PIPE,
        )
        seen_during: set[int] = set()
        deadline = time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            found = search(first, secret, "kiwi crate shelf")
            seen_during.add(len(found))
            if seen_during - {0}:
                break  # a batch is committed: the writer is in the middle of the sync
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait() == -signal.SIGKILL, "the writer finished before it could be killed"
        assert search(first, secret, "kiwi crate shelf") == search(second, secret, "kiwi crate shelf")
        assert search(second, secret, "when do the plums arrive")[0][0] == "plums"
        # the killed writer's advisory lock went with its connection: the next write proceeds
        pushed = httpx.post(
            second + "/api/agents/shop/records",
            json=[{"id": "figs", "text": "Figs from Calloway come on Fridays."}],
            headers={"Authorization": f"Bearer {secret}"},
            timeout=120,
        )
        assert pushed.status_code == 200, pushed.text
        assert search(first, secret, "when do the figs come")[0][0] == "figs"

    with AgentKit(home=tmp_path / "admin", database_url=pgvector_url) as kit:
        with kit.sessions() as session:
            chunks = session.execute(text("SELECT count(*) FROM chunks")).scalar()
            agent_id = kit.get_agent("shop").id
            vectors = session.execute(text(f"SELECT count(*) FROM agentkit_vectors_{agent_id}")).scalar()
            lengths = session.execute(text("SELECT count(*) FROM agentkit_lexical_lengths")).scalar()
        assert chunks == vectors == lengths
        assert kit.get_agent("shop").doctor().healthy
