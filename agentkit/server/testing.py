"""A real uvicorn server on 127.0.0.1 in a background thread, for tests and benchmarks.

with running_server(kit, settings=ServerSettings()) as server:
    openai.OpenAI(base_url=server.url + "/v1", api_key=secret)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agentkit.kit import AgentKit
from agentkit.server.app import create_app
from agentkit.server.settings import ServerSettings


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(
    kit: AgentKit, *, settings: ServerSettings | None = None, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[RunningServer]:
    """Serve `create_app(kit)` with uvicorn until the block ends (then shut down gracefully)."""
    import uvicorn

    port = port or free_port(host)
    config = uvicorn.Config(
        create_app(kit, settings=settings or ServerSettings()),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"agentkit-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on {host}:{port} did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(host, port)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
