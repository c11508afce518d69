"""Helpers for server tests: a demo agent with a few documents, and keys for it."""

from __future__ import annotations

from pathlib import Path

from agentkit import Agent, AgentKit
from agentkit.server.keys import create_key

KETTLE_DOCS = {
    "brew.md": "# Brewing\n\nThe Lumo kettle boils 4 litres in 6 minutes.\n",
    "descale.md": "# Descaling\n\nDescale the Lumo kettle with citric acid every month.\n",
    "warranty.md": "# Warranty\n\nThe Lumo kettle has a warranty of 3 years from the date of purchase.\n",
}


def kettle_agent(kit: AgentKit, tmp_path: Path, name: str = "helpdesk") -> Agent:
    docs = tmp_path / f"docs-{name}"
    docs.mkdir(exist_ok=True)
    for file_name, text in KETTLE_DOCS.items():
        (docs / file_name).write_text(text)
    agent = kit.create_agent(name)
    agent.add_source(str(docs))
    return agent


def secret(kit: AgentKit, scope: str, **options: object) -> str:
    return create_key(kit, scope=scope, **options)[1]  # type: ignore[arg-type]
