"""Conversation: a chat with an agent whose history lives in SQL.

Each `ask` turns a follow-up ("and how long does that take?") into a standalone question
for retrieval, passes the recent history to the model (the prompt builder trims it to the
context budget), and stores both turns with the answer's citations and whether it abstained
(a follow-up takes no names from an abstention, whatever its message says). Each question
also goes into the agent's question log under the conversation's channel, with the id of the
stored answer message (what feedback names).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from agentkit.answering.followup import Turn, standalone_question, turns_from
from agentkit.answering.pipeline import AnswerPieces, AnswerStream
from agentkit.errors import ConversationNotFoundError
from agentkit.improve.log import LoggedStream
from agentkit.models.generators import ChatMessage
from agentkit.results import Answer
from agentkit.store.models import ConversationRow, MessageRow

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.kit import AgentKit

HISTORY_TURNS = 6


class Conversation:
    """A stored conversation with one agent."""

    def __init__(
        self,
        kit: AgentKit,
        agent: Agent,
        *,
        conversation_id: int | None = None,
        channel: str = "python",
        api_key_id: int | None = None,
    ) -> None:
        self._kit = kit
        self.agent = agent
        self.channel = channel
        self.api_key_id = api_key_id  # the server's key that asks, for the question log
        with kit.sessions() as session, session.begin():
            if conversation_id is None:
                row = ConversationRow(agent_id=agent.id, title="")
                session.add(row)
                session.flush()
            else:
                found = session.get(ConversationRow, conversation_id)
                if found is None or found.agent_id != agent.id:
                    raise ConversationNotFoundError(
                        f"agent {agent.name!r} has no conversation {conversation_id}"
                    )
                row = found
            self.id = row.id
        self.last_answer: Answer | None = None
        self.last_message_id: int | None = None  # the stored message of the last answer
        self.last_log_id: int | None = None  # its question log id (None when the log is off)

    def history(self) -> list[ChatMessage]:
        """The recent messages, oldest first (at most `HISTORY_TURNS` questions and answers)."""
        return [ChatMessage(row.role, row.content) for row in self._recent_messages()]

    def stream(self, question: str) -> LoggedStream:
        """Stream the reply; the turn is stored (and logged) once the stream has been consumed."""
        messages = self._recent_messages()
        history = [ChatMessage(row.role, row.content) for row in messages]
        search_query = standalone_question(question, _turns(messages))
        inner = self.agent.answer_stream(question, history=history, search_query=search_query)

        def pieces() -> AnswerPieces:
            yield from inner
            answer = inner.finish()
            self.last_message_id = self._store_turn(question, answer)
            self.last_answer = answer
            return answer

        stored = self.agent.question_log.logged(
            AnswerStream(pieces(), inner.trace),
            question=question,
            channel=self.channel,
            conversation_id=self.id,
            message_id=lambda: self.last_message_id,
            api_key_id=self.api_key_id,
        )

        def logged_pieces() -> AnswerPieces:
            yield from stored
            answer = stored.finish()
            self.last_log_id = outer.log_id = stored.log_id
            return answer

        outer = LoggedStream(logged_pieces(), inner.trace)
        return outer

    def ask(self, question: str) -> Answer:
        return self.stream(question).finish()

    def _recent_messages(self) -> list[MessageRow]:
        with self._kit.sessions() as session:
            rows = session.scalars(
                select(MessageRow)
                .where(MessageRow.conversation_id == self.id)
                .order_by(MessageRow.id.desc())
                .limit(HISTORY_TURNS * 2)
            ).all()
        return list(reversed(rows))

    def _store_turn(self, question: str, answer: Answer) -> int:
        """Store the question and the answer; the answer message's id."""
        with self._kit.sessions() as session, session.begin():
            conversation = session.get(ConversationRow, self.id)
            if conversation is not None and not conversation.title:
                conversation.title = question[:200]
            session.add(MessageRow(conversation_id=self.id, role="user", content=question, citations=[]))
            reply = MessageRow(
                conversation_id=self.id,
                role="assistant",
                content=answer.text,
                citations=[citation.to_dict() for citation in answer.citations],
                abstained=answer.abstained,
            )
            session.add(reply)
            session.flush()
            return reply.id


def _turns(messages: Sequence[MessageRow]) -> list[Turn]:
    """Questions paired with the answers that followed them, with each answer's stored flag."""
    return turns_from((message.role, message.content, message.abstained) for message in messages)
