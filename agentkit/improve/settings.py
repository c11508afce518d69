"""The settings `agentkit set` changes: persona (greeting, style, answer length, abstention
message), question log retention, grounding and system prompt, checked and stored.

`AgentSettingChanges` holds what was given (None: unchanged); `store_changes` checks every
value, writes them in one transaction (a new retention purges at once, so a user's question
never pays for a backlog) and returns the values as stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from agentkit.answering import persona
from agentkit.answering.grounding import GROUNDING_MODES
from agentkit.errors import AgentNotFoundError, InvalidSettingError
from agentkit.improve.log import normalize_retention, purge_expired
from agentkit.store.models import AgentRow


@dataclass(frozen=True)
class AgentSettingChanges:
    """What to change; None leaves a setting as it is, "" clears a text to none / the default."""

    keep_log: str | None = None
    greeting: str | None = None
    style: str | None = None
    answer_length: str | None = None
    abstention_message: str | None = None
    grounding: str | None = None
    system_prompt: str | None = None

    def checked(self) -> dict[str, Any]:
        """The given settings as they are stored; raises `InvalidSettingError` naming a bad one."""
        changes: dict[str, Any] = {}
        if self.keep_log is not None:
            changes["keep_log"] = normalize_retention(self.keep_log)
        if self.style is not None:
            changes["style"] = persona.check_style(self.style)
        if self.answer_length is not None:
            changes["answer_length"] = persona.check_answer_length(self.answer_length)
        if self.grounding is not None:
            if self.grounding not in GROUNDING_MODES:
                raise InvalidSettingError(f"grounding must be one of {', '.join(GROUNDING_MODES)}")
            changes["grounding"] = self.grounding
        for name in ("greeting", "abstention_message"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value.strip() or None
        if self.system_prompt is not None:
            changes["system_prompt"] = self.system_prompt.strip()
        return changes



def store_changes(
    sessions: Callable[[], Session], agent_id: int, agent_name: str, changes: AgentSettingChanges
) -> dict[str, Any]:
    """Check and store `changes` of the agent; the stored values of those given."""
    values = changes.checked()
    if not values:
        return values
    with sessions() as session, session.begin():
        row = session.get(AgentRow, agent_id)
        if row is None:
            raise AgentNotFoundError(f"agent {agent_name!r} no longer exists")
        for name, value in values.items():
            setattr(row, name, value)
        if "keep_log" in values:
            purge_expired(session, agent_id, values["keep_log"])
    return values
