"""The stdin chat loop with StringIO: commands, piped answers, streaming on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

from agentkit import AgentKit
from agentkit.cli.chat import run_chat
from tests.fakes import ScriptedGenerator


def prepared(kit: AgentKit, tmp_path: Path):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "brew.md").write_text("# Brewing\n\nThe Lumo kettle boils 4 litres in 6 minutes.\n")
    agent = kit.create_agent("brew")
    agent.add_source(str(docs))
    return agent


def test_piped_questions_each_get_an_answer_with_sources(kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator) -> None:
    agent = prepared(kit, tmp_path)
    scripted_generator.enqueue("It boils 4 litres in 6 minutes [1].")
    output = io.StringIO()
    status = run_chat(agent.chat(), io.StringIO("How fast does the Lumo kettle boil?\n"), output, interactive=False)
    text = output.getvalue()
    assert status == 0
    assert "Q: How fast does the Lumo kettle boil?" in text
    assert "6 minutes" in text and "Sources:" in text and "brew.md" in text


def test_commands_sources_help_quit(kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator) -> None:
    agent = prepared(kit, tmp_path)
    output = io.StringIO()
    script = "/sources\n/help\nHow fast does the Lumo kettle boil?\n/sources\n/bogus\n/quit\nnever asked\n"
    run_chat(agent.chat(), io.StringIO(script), output, interactive=False)
    text = output.getvalue()
    assert "No answer yet." in text
    assert "/quit" in text  # help text
    assert "Unknown command /bogus" in text
    assert "never asked" not in text
    assert len(scripted_generator.prompts) == 1


def test_terminal_mode_prompts_and_streams(kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator) -> None:
    agent = prepared(kit, tmp_path)
    scripted_generator.enqueue("Six minutes for 4 litres [1].")
    output = io.StringIO()
    run_chat(agent.chat(), io.StringIO("How fast does the Lumo kettle boil?\n"), output, interactive=True)
    text = output.getvalue()
    assert "you> " in text and "agent> " in text and "Six minutes" in text


def test_follow_up_uses_history(kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator) -> None:
    agent = prepared(kit, tmp_path)
    conversation = agent.chat()
    scripted_generator.enqueue("It boils 4 litres in 6 minutes [1].", "About 6 minutes [1].")
    conversation.ask("How fast does the Lumo kettle boil?")
    conversation.ask("and how long does that take?")
    second_prompt = scripted_generator.prompts[-1]
    roles = [message.role for message in second_prompt]
    assert roles == ["system", "user", "assistant", "user"]
    assert "Lumo kettle" in second_prompt[1].content
