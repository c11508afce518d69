"""The real server on 127.0.0.1 with the official openai client: completions, streams,
follow-ups, models, and the error a bad key raises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from agentkit import AgentKit
from agentkit.server.testing import RunningServer, running_server
from tests.fakes import ScriptedGenerator
from tests.server_helpers import kettle_agent, secret


@pytest.fixture
def server(kit: AgentKit, tmp_path: Path) -> Iterator[RunningServer]:
    kettle_agent(kit, tmp_path)
    kettle_agent(kit, tmp_path, name="other")
    with running_server(kit) as running:
        yield running


def client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def test_a_plain_completion_is_the_grounded_answer_with_citations(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    scripted_generator.enqueue("The Lumo kettle boils 4 litres in 6 minutes [1].")
    completion = client(server, secret(kit, "chat", agent="helpdesk")).chat.completions.create(
        model="helpdesk",
        messages=[{"role": "user", "content": "How fast does the Lumo kettle boil?"}],
        max_tokens=100,
        temperature=0.2,
    )
    assert completion.choices[0].message.content == "The Lumo kettle boils 4 litres in 6 minutes [1]."
    assert completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra["agentkit"]  # type: ignore[index]
    assert extra["abstained"] is False
    assert extra["citations"][0]["n"] == 1 and extra["citations"][0]["title"]
    assert extra["citations"][0]["uri"].split("#")[0].endswith("brew.md")


def test_a_streamed_completion_ends_with_the_citations(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    scripted_generator.enqueue("The Lumo kettle boils 4 litres in 6 minutes [1].")
    stream = client(server, secret(kit, "chat")).chat.completions.create(
        model="helpdesk",
        messages=[{"role": "user", "content": "How fast does the Lumo kettle boil?"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "The Lumo kettle boils 4 litres in 6 minutes [1]."
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert final.model_extra["agentkit"]["citations"][0]["n"] == 1  # type: ignore[index]
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])


def test_an_abstention_says_so(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    completion = client(server, secret(kit, "chat")).chat.completions.create(
        model="helpdesk", messages=[{"role": "user", "content": "What is the capital of Australia?"}]
    )
    assert completion.model_extra["agentkit"]["abstained"] is True  # type: ignore[index]
    assert scripted_generator.prompts == []


def test_a_follow_up_uses_the_history(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    scripted_generator.enqueue("The Lumo kettle has a warranty of 3 years from the date of purchase [1].")
    completion = client(server, secret(kit, "chat")).chat.completions.create(
        model="helpdesk",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What warranty does the Lumo kettle have?"},
            {"role": "assistant", "content": "The Lumo kettle has a warranty of 3 years [1]."},
            {"role": "user", "content": "and how long is it?"},
        ],
    )
    extra = completion.model_extra["agentkit"]  # type: ignore[index]
    assert extra["citations"][0]["uri"].split("#")[0].endswith("warranty.md"), extra
    prompt = scripted_generator.prompts[-1]
    assert any(message.role == "assistant" and "3 years" in message.content for message in prompt)
    assert all("Be brief" not in message.content for message in prompt)


def test_models_lists_the_agents_the_key_may_use(kit: AgentKit, server: RunningServer) -> None:
    assert [model.id for model in client(server, secret(kit, "chat")).models.list()] == ["helpdesk", "other"]
    bound = client(server, secret(kit, "chat", agent="other"))
    assert [model.id for model in bound.models.list()] == ["other"]


def test_a_bad_key_raises_authentication_error(kit: AgentKit, server: RunningServer) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        client(server, "ak_000000000000_" + "x" * 43).chat.completions.create(
            model="helpdesk", messages=[{"role": "user", "content": "How fast does the kettle boil?"}]
        )
    assert raised.value.status_code == 401
    with pytest.raises(openai.PermissionDeniedError):
        client(server, secret(kit, "chat", agent="other")).chat.completions.create(
            model="helpdesk", messages=[{"role": "user", "content": "How fast does the kettle boil?"}]
        )
    with pytest.raises(openai.NotFoundError):
        client(server, secret(kit, "chat")).chat.completions.create(
            model="nobody", messages=[{"role": "user", "content": "How fast does the kettle boil?"}]
        )
