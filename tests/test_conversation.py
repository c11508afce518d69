"""Conversations: the streamed answer's trace, stored abstentions in history, partial streams."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agentkit import AgentKit
from agentkit.store.models import MessageRow
from tests.fakes import ScriptedGenerator

CUSTOM_ABSTENTION = "Please ask Mrs Hudson in Accounts."


def _kettle_agent(kit: AgentKit, tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "brew.md").write_text("# Brewing\n\nThe Lumo kettle boils 4 litres in 6 minutes.\n")
    (docs / "descale.md").write_text("# Descaling\n\nDescale the Lumo kettle with citric acid every month.\n")
    agent = kit.create_agent("brew", **settings)  # type: ignore[arg-type]
    agent.add_source(str(docs))
    return agent


def test_a_streamed_conversation_answer_carries_its_trace(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    conversation = _kettle_agent(kit, tmp_path).chat()
    scripted_generator.enqueue("The Lumo kettle boils 4 litres in 6 minutes [1].")
    stream = conversation.stream("How fast does the Lumo kettle boil?")
    shown = "".join(stream)
    answer = stream.finish()
    assert not answer.abstained and shown == answer.text
    assert stream.trace.hits and stream.trace.gate is not None and stream.trace.gate.answer
    assert stream.trace.raw_reply == "The Lumo kettle boils 4 litres in 6 minutes [1]."
    assert stream.trace.grounded is not None and stream.trace.grounded.reason == "every sentence is supported"
    assert conversation.last_answer == answer


def test_a_custom_abstention_message_counts_as_an_abstention_in_history(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path, abstention_message=CUSTOM_ABSTENTION)
    conversation = agent.chat()
    first = conversation.ask("What is the capital of Australia?")
    assert first.abstained and first.text == CUSTOM_ABSTENTION
    assert scripted_generator.prompts == []  # the gate stopped it
    with kit.sessions() as session:
        stored = session.scalars(select(MessageRow).where(MessageRow.conversation_id == conversation.id)).all()
    assert [(row.role, row.abstained) for row in stored] == [("user", False), ("assistant", True)]
    # The follow-up keeps the earlier question's topic but takes no names from the message,
    # which says nothing like "I don't know".
    second = agent.chat(conversation_id=conversation.id).ask("and who founded it?")
    assert "Australia" in second.search_query
    assert "Hudson" not in second.search_query and "Accounts" not in second.search_query


def test_an_answer_takes_its_names_into_the_next_search(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    conversation = _kettle_agent(kit, tmp_path).chat()
    scripted_generator.enqueue("The Lumo kettle boils 4 litres in 6 minutes [1].")
    conversation.ask("Which kettle boils 4 litres?")
    second = conversation.ask("and how do I descale it?")
    assert "Lumo" in second.search_query


def test_a_stream_left_early_can_still_be_finished(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    conversation = _kettle_agent(kit, tmp_path).chat()
    scripted_generator.enqueue(
        "The Lumo kettle boils 4 litres in 6 minutes. Descale the Lumo kettle with citric acid every month."
    )
    stream = conversation.stream("How fast does the Lumo kettle boil?")
    first_piece = next(iter(stream))
    answer = stream.finish()
    assert answer.text.startswith(first_piece) and len(answer.text) > len(first_piece)
    assert len(conversation.history()) == 2  # the turn was stored
