"""`agentkit serve` as users run it: its own process, settings from the command line, a clean
stop on SIGTERM; `--help` does not load the web framework."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agentkit import AgentKit
from agentkit.server.keys import create_key
from agentkit.server.testing import free_port


def test_agentkit_serve_answers_searches_and_stops_on_sigterm(isolated_home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hours.md").write_text("# Hours\n\nThe Marrowby shop opens at 9 o'clock.\n")
    with AgentKit(home=isolated_home) as kit:
        kit.create_agent("shop", embedder="hashing-128").add_source(str(docs))
        _, secret = create_key(kit, scope="chat", agent="shop")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentkit",
            "serve",
            "--port",
            str(port),
            "--concurrency",
            "2",
            "--queue",
            "3",
        ],
        env={**os.environ, "AGENTKIT_HOME": str(isolated_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                ready = httpx.get(url + "/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert ready.json()["capacity"] == 5
        hits = httpx.get(
            url + "/api/agents/shop/search",
            params={"q": "when does the shop open"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        ).json()
        assert "9 o'clock" in hits[0]["text"]
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0].decode()
    # uvicorn shuts down, then re-raises the signal it caught (exit status -SIGTERM).
    assert server.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in output, output
    assert '"path": "/api/agents/shop/search"' in output and "when does the shop open" not in output


def test_help_does_not_import_the_web_framework() -> None:
    code = "import sys; from agentkit.cli.app import cli; print(any(m.split('.')[0] in ('fastapi', 'uvicorn', 'starlette') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
