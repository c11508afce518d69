"""Feedback: a thumbs up (+1) or down (-1) on one answer, with an optional comment.

An answer is named by its question log id or by the id of its message in a stored
conversation (what the native API and the widget hand out). `find_target` resolves either to
the agent, log row, message and conversation it belongs to (the server checks the caller may
rate it); `record_feedback` stores the rating.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentkit.errors import FeedbackTargetNotFoundError, InvalidSettingError
from agentkit.store.models import ConversationRow, FeedbackRow, MessageRow, QuestionLogRow

RATINGS = {"up": 1, "down": -1}
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class FeedbackTarget:
    """The answer a rating is about: whose it is and where it was given."""

    agent_id: int
    log_id: int | None
    message_id: int | None
    conversation_id: int | None
    api_key_id: int | None  # the key that asked, for answers given outside a stored conversation


def check_rating(rating: int | str) -> int:
    """+1 or -1 (also from "up" / "down"); anything else is an error."""
    if isinstance(rating, str) and rating.strip().lower() in RATINGS:
        return RATINGS[rating.strip().lower()]
    if isinstance(rating, int) and not isinstance(rating, bool) and rating in (1, -1):
        return rating
    raise InvalidSettingError(f"rating {rating!r} must be +1 or -1 ('up' or 'down')")


def find_target(
    session: Session, *, log_id: int | None = None, message_id: int | None = None, agent_id: int | None = None
) -> FeedbackTarget:
    """The answer named by `log_id` or `message_id` (of `agent_id`, when given).

    Raises `FeedbackTargetNotFoundError` when there is none, or when both ids are given and
    name different answers.
    """
    if log_id is None and message_id is None:
        raise InvalidSettingError("name the answer to rate: a log id or a message id")
    log_row = session.get(QuestionLogRow, log_id) if log_id is not None else None
    if log_id is not None and log_row is None:
        raise FeedbackTargetNotFoundError(f"no logged question {log_id}; `agentkit log NAME` lists them")
    message: MessageRow | None = None
    conversation: ConversationRow | None = None
    if message_id is None and log_row is not None:
        message_id = log_row.message_id
    if message_id is not None:
        message = session.get(MessageRow, message_id)
        if message is None or message.role != "assistant":
            raise FeedbackTargetNotFoundError(f"no answer message {message_id}")
        conversation = session.get(ConversationRow, message.conversation_id)
        if log_row is None:
            log_row = session.scalar(
                select(QuestionLogRow).where(QuestionLogRow.message_id == message_id).limit(1)
            )
        elif log_row.message_id != message_id:
            raise FeedbackTargetNotFoundError(f"logged question {log_id} is not about message {message_id}")
    owner = conversation.agent_id if conversation is not None else log_row.agent_id if log_row else None
    if owner is None or (agent_id is not None and owner != agent_id):
        what = f"logged question {log_id}" if log_id is not None else f"answer message {message_id}"
        raise FeedbackTargetNotFoundError(f"no {what} for this agent")
    return FeedbackTarget(
        agent_id=owner,
        log_id=log_row.id if log_row is not None else None,
        message_id=message.id if message is not None else None,
        conversation_id=conversation.id if conversation is not None else None,
        api_key_id=log_row.api_key_id if log_row is not None else None,
    )


def record_feedback(
    session: Session,
    target: FeedbackTarget,
    *,
    rating: int | str,
    comment: str = "",
    channel: str = "",
    api_key_id: int | None = None,
) -> int:
    """Store a rating of `target`; its id (the caller commits)."""
    value = check_rating(rating)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidSettingError(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
    row = FeedbackRow(
        agent_id=target.agent_id,
        log_id=target.log_id,
        message_id=target.message_id,
        rating=value,
        comment=comment,
        channel=channel[:20],
        api_key_id=api_key_id,
    )
    session.add(row)
    session.flush()
    return row.id
