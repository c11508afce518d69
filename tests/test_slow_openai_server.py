"""The OpenAI-compatible generator against a real server: llama-cpp-python's own
`llama_cpp.server` on 127.0.0.1, serving the bundled SmolLM2 GGUF.

Marked slow: it starts a server process and loads the real model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentkit import AgentKit
from agentkit.errors import GeneratorError
from agentkit.evaluation import check_citations
from agentkit.models.generators import ChatMessage, GenerationSettings
from agentkit.models.llama_cpp import default_model_path
from agentkit.models.registry import load_generator

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "data" / "quillstack"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", default_model_path(),
        "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ))
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_streams_from_the_real_server(model_server: str) -> None:
    generator = load_generator(f"openai:{model_server}#smollm2", GenerationSettings())
    pieces = list(
        generator.stream(
            [ChatMessage("user", "Say hello in one short sentence.")], max_tokens=24, temperature=0.0
        )
    )
    assert len(pieces) >= 2 and "".join(pieces).strip()


def test_agent_answers_grounded_through_the_real_server(
    model_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with AgentKit(home=tmp_path_factory.mktemp("remote-home")) as kit:
        agent = kit.create_agent("remote", model=f"openai:{model_server}#smollm2")
        report = agent.add_source(str(DEMO))
        assert report.error is None
        answer = agent.ask("What is the default port of the Quillstack web app and REST API?")
        assert not answer.abstained and "7431" in answer.text
        marks, supported = check_citations(answer)
        assert marks >= 1 and supported == marks
        declined = agent.ask("What is the capital of Australia?")
        assert declined.abstained


def test_a_stopped_server_is_a_clear_error(model_server: str) -> None:
    port = free_port()
    generator = load_generator(f"openai:http://127.0.0.1:{port}/v1#smollm2", GenerationSettings())
    with pytest.raises(GeneratorError, match=f"127.0.0.1:{port}"):
        list(generator.stream([ChatMessage("user", "hi")], max_tokens=4, temperature=0.0))
