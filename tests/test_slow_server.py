"""The server with the real default models (MiniLM, SmolLM2) through the official openai client.

Marked slow: it embeds the demo corpus and runs the GGUF model on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from agentkit import AgentKit
from agentkit.server.keys import create_key
from agentkit.server.testing import running_server

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "data" / "quillstack"


def test_the_demo_agent_answers_through_the_openai_client(tmp_path: Path) -> None:
    with AgentKit(home=tmp_path / "home") as kit:
        agent = kit.create_agent("quillstack")
        assert agent.add_source(str(DEMO)).error is None
        _, secret = create_key(kit, scope="chat", agent="quillstack")
        with running_server(kit) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=secret, max_retries=0, timeout=300)
            question = "What is the default port of the Quillstack web app and REST API?"
            completion = client.chat.completions.create(
                model="quillstack", messages=[{"role": "user", "content": question}]
            )
            text = completion.choices[0].message.content or ""
            extra = completion.model_extra["agentkit"]  # type: ignore[index]
            assert "7431" in text and "[1]" in text and not extra["abstained"]
            assert any("installation" in citation["uri"] for citation in extra["citations"])
            stream = client.chat.completions.create(
                model="quillstack", messages=[{"role": "user", "content": question}], stream=True
            )
            chunks = list(stream)
            assert "7431" in "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
            assert chunks[-1].model_extra["agentkit"]["citations"]  # type: ignore[index]
