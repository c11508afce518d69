"""The question log: every question asked of an agent, from every channel, with its answer.

`record_question` writes one row (and, in the same transaction, removes the agent's rows past
its retention); `list_questions` reads them back with their feedback; `parse_retention`
understands the agent's `keep_log` setting ("30d", "forever", "off") and `purge_expired`
applies it. Nothing is written while `keep_log` is "off".

`logged` wraps an `AnswerStream` so that the question is recorded once the answer is final:
a failure to log is a warning, never a lost answer. `write_without_blocking` runs that write so
that an answer never waits on another writer: on SQLite a sync that is committing holds the
database's one write lock, and the question is then written by a background thread when the
lock is free (the answer goes out without its log id).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from agentkit.answering.pipeline import AnswerPieces, AnswerStream, AnswerTrace
from agentkit.errors import InvalidSettingError
from agentkit.ingest.refresh import as_utc
from agentkit.results import Answer
from agentkit.store.models import AgentRow, FeedbackRow, QuestionLogRow, utc_now

logger = logging.getLogger("agentkit.improve.log")

CHANNELS = ("cli", "python", "chat", "server", "openai", "widget")
RETENTION_FOREVER = "forever"
RETENTION_OFF = "off"
MAX_RETENTION_DAYS = 36500
_DAYS = re.compile(r"^\s*(\d+)\s*d\s*$", re.IGNORECASE)
_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# Citation fields worth keeping in the log (the chunk's text is in SQL already).
_CITATION_FIELDS = ("n", "title", "uri", "page", "chunk_id", "score", "record_id")


def check_channel(channel: str) -> str:
    """`channel` when it is one of `CHANNELS`; otherwise an error listing them."""
    if channel not in CHANNELS:
        raise InvalidSettingError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    return channel


def parse_retention(text: str) -> int | None | Literal["off"]:
    """Days to keep the log (`30d` -> 30), None for "forever", or "off" (log nothing)."""
    value = (text or "").strip().lower()
    if value == RETENTION_FOREVER:
        return None
    if value == RETENTION_OFF:
        return "off"
    match = _DAYS.match(value)
    if not match or not 1 <= int(match.group(1)) <= MAX_RETENTION_DAYS:
        raise InvalidSettingError(
            f"keep-log {text!r} is not understood; write a number of days such as 30d "
            f"(1d to {MAX_RETENTION_DAYS}d), 'forever' or 'off'"
        )
    return int(match.group(1))


def normalize_retention(text: str) -> str:
    """The stored form of a retention setting: `30d`, `forever` or `off` (raises when invalid)."""
    parsed = parse_retention(text)
    if parsed is None:
        return RETENTION_FOREVER
    if parsed == "off":
        return RETENTION_OFF
    return f"{parsed}d"


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """The moment `7d` (or `90m`, `12h`, `2w`) ago, in UTC."""
    match = _SINCE.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise InvalidSettingError(
            f"--since {text!r} is not understood; write a whole number and a unit: "
            "90m (minutes), 12h (hours), 7d (days) or 2w (weeks)"
        )
    span = _UNIT[match.group(2).lower()] * int(match.group(1))
    return (now or utc_now()) - min(span, timedelta(days=MAX_RETENTION_DAYS))


def purge_expired(session: Session, agent_id: int, keep_log: str) -> int:
    """Delete the agent's log rows older than its retention; how many went.

    "forever" and "off" remove nothing: switching the log off stops new writes and leaves what
    is there (`purge_all` empties it).
    """
    days = parse_retention(keep_log)
    if days is None or days == "off":
        return 0
    cutoff = utc_now() - timedelta(days=days)
    return _delete(session, agent_id, QuestionLogRow.asked_at < cutoff)


def purge_all(session: Session, agent_id: int) -> int:
    """Delete every logged question of the agent (their feedback goes with them); how many went."""
    return _delete(session, agent_id)


def _delete(session: Session, agent_id: int, *conditions: ColumnElement[bool]) -> int:
    result = session.execute(
        delete(QuestionLogRow)
        .where(QuestionLogRow.agent_id == agent_id, *conditions)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def citation_records(answer: Answer) -> list[dict[str, Any]]:
    """The answer's citations as the log stores them (without the chunk text)."""
    return [{name: citation.to_dict()[name] for name in _CITATION_FIELDS} for citation in answer.citations]


def record_question(
    session: Session,
    *,
    agent_id: int,
    channel: str,
    question: str,
    answer: Answer,
    decision: str,
    latency_ms: int,
    conversation_id: int | None = None,
    message_id: int | None = None,
    api_key_id: int | None = None,
    curated_answer_id: int | None = None,
) -> int | None:
    """Log one question; its id, or None when the agent's `keep_log` is "off".

    Expired rows of the agent are purged in the same transaction (the caller commits).
    """
    check_channel(channel)
    keep_log = session.scalar(select(AgentRow.keep_log).where(AgentRow.id == agent_id))
    if keep_log is None or parse_retention(keep_log) == "off":
        return None
    purge_expired(session, agent_id, keep_log)
    row = QuestionLogRow(
        agent_id=agent_id,
        asked_at=utc_now(),
        channel=channel,
        conversation_id=conversation_id,
        message_id=message_id,
        question=question,
        answer=answer.text,
        abstained=answer.abstained,
        citations=citation_records(answer),
        decision=decision[:200],
        latency_ms=max(0, int(latency_ms)),
        api_key_id=api_key_id,
        curated_answer_id=curated_answer_id,
    )
    session.add(row)
    session.flush()
    return row.id


@dataclass(frozen=True)
class LogEntry:
    """One logged question as `agentkit log` shows it; `feedback` holds (rating, comment) pairs."""

    id: int
    asked_at: datetime
    channel: str
    conversation_id: int | None
    message_id: int | None
    question: str
    answer: str
    abstained: bool
    citations: list[dict[str, Any]]
    decision: str
    latency_ms: int
    api_key_id: int | None
    curated_answer_id: int | None
    feedback: list[tuple[int, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "asked_at": self.asked_at.isoformat(),
            "channel": self.channel,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": self.citations,
            "decision": self.decision,
            "latency_ms": self.latency_ms,
            "api_key_id": self.api_key_id,
            "curated_answer_id": self.curated_answer_id,
            "feedback": [{"rating": rating, "comment": comment} for rating, comment in self.feedback],
        }


def list_questions(
    session: Session,
    agent_id: int,
    *,
    since: datetime | None = None,
    unanswered: bool = False,
    channel: str | None = None,
    limit: int | None = None,
) -> list[LogEntry]:
    """The agent's logged questions, newest first, with their feedback.

    `unanswered` keeps the abstentions; `channel` one channel; `limit` the newest N.
    """
    query = select(QuestionLogRow).where(QuestionLogRow.agent_id == agent_id)
    if since is not None:
        query = query.where(QuestionLogRow.asked_at >= since)
    if unanswered:
        query = query.where(QuestionLogRow.abstained.is_(True))
    if channel is not None:
        query = query.where(QuestionLogRow.channel == channel)
    query = query.order_by(QuestionLogRow.asked_at.desc(), QuestionLogRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = session.scalars(query).all()
    feedback: dict[int, list[tuple[int, str]]] = {}
    if rows:
        found = session.execute(
            select(FeedbackRow.log_id, FeedbackRow.rating, FeedbackRow.comment)
            .where(FeedbackRow.log_id.in_([row.id for row in rows]))
            .order_by(FeedbackRow.id)
        ).all()
        for log_id, rating, comment in found:
            feedback.setdefault(log_id, []).append((rating, comment))
    return [
        LogEntry(
            id=row.id,
            asked_at=as_utc(row.asked_at),
            channel=row.channel,
            conversation_id=row.conversation_id,
            message_id=row.message_id,
            question=row.question,
            answer=row.answer,
            abstained=row.abstained,
            citations=list(row.citations or []),
            decision=row.decision,
            latency_ms=row.latency_ms,
            api_key_id=row.api_key_id,
            curated_answer_id=row.curated_answer_id,
            feedback=feedback.get(row.id, []),
        )
        for row in rows
    ]


# The callback `logged` hands the final answer to: (answer, trace, latency in ms) -> log id.
RecordAnswer = Callable[[Answer, AnswerTrace, int], "int | None"]


class LoggedStream(AnswerStream):
    """An `AnswerStream` that records its question once the answer is final; `log_id` is then set."""

    log_id: int | None = None


def logged(stream: AnswerStream, record: RecordAnswer) -> LoggedStream:
    """`stream`, recording the answer with `record` when it is complete.

    Latency runs from this call to the final answer. An exception from `record` is logged as a
    warning: the answer is returned all the same.
    """
    started = time.monotonic()
    wrapper: LoggedStream

    def pieces() -> AnswerPieces:
        yield from stream
        answer = stream.finish()
        latency_ms = round((time.monotonic() - started) * 1000)
        try:
            wrapper.log_id = record(answer, stream.trace, latency_ms)
        except Exception as error:  # the owner's log must never cost the user the answer
            logger.warning("could not log the question %r: %s", answer.question[:200], error)
        return answer

    wrapper = LoggedStream(pieces(), stream.trace)
    return wrapper


# How long an answer may wait for SQLite's write lock before its log row is written later.
LOCK_WAIT_S = 1.0
_LATER_ATTEMPTS = 3


def write_without_blocking(
    sessions: Callable[[], Session], write: Callable[[Session], int | None]
) -> int | None:
    """Run `write` (a log write) in a transaction of its own; its result.

    On SQLite it waits at most `LOCK_WAIT_S` for the write lock; when another writer holds it
    longer, the write is retried on a background thread and None is returned at once.
    """
    try:
        with sessions() as session, session.begin(), _lock_wait(session, LOCK_WAIT_S):
            return write(session)
    except OperationalError as error:
        if not _is_locked(error):
            raise
    threading.Thread(target=_write_later, args=(sessions, write), name="agentkit-question-log").start()
    return None


def _write_later(sessions: Callable[[], Session], write: Callable[[Session], int | None]) -> None:
    for attempt in range(_LATER_ATTEMPTS):
        try:
            with sessions() as session, session.begin():
                write(session)
            return
        except OperationalError as error:
            if not _is_locked(error) or attempt == _LATER_ATTEMPTS - 1:
                logger.warning("could not log a question: %s", error)
                return
        except Exception as error:  # a background thread has no caller to hand it to
            logger.warning("could not log a question: %s", error)
            return


@contextmanager
def _lock_wait(session: Session, seconds: float) -> Iterator[None]:
    """SQLite only: wait at most `seconds` for the write lock inside this block."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = session.connection()
    previous = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
    connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield  # in WAL mode the write lock, once taken, is all the commit after this needs
    finally:
        try:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {previous}")
        except Exception:  # never hand a connection with the short wait back to the pool
            connection.invalidate()


def _is_locked(error: OperationalError) -> bool:
    return "locked" in str(error.orig).lower() or "busy" in str(error.orig).lower()


def curated_answer_id(trace: AnswerTrace) -> int | None:
    """The curated answer that replied, when one did."""
    return trace.curated_answer_id


class AgentQuestionLog:
    """One agent's question log: what its channels record into and its owner reads."""

    def __init__(self, sessions: sessionmaker[Session], agent_id: int) -> None:
        self._sessions = sessions
        self.agent_id = agent_id

    def logged(
        self,
        stream: AnswerStream,
        *,
        question: str,
        channel: str,
        conversation_id: int | None = None,
        message_id: Callable[[], int | None] | None = None,
        api_key_id: int | None = None,
    ) -> LoggedStream:
        """`stream`, recorded in the log once its answer is final.

        `message_id`, when given, is called then for the id of the stored answer message.
        """
        check_channel(channel)  # a wrong name is the caller's error, not a lost log

        def record(answer: Answer, trace: AnswerTrace, latency_ms: int) -> int | None:
            return self.record(
                question,
                answer,
                trace=trace,
                channel=channel,
                latency_ms=latency_ms,
                conversation_id=conversation_id,
                message_id=message_id() if message_id is not None else None,
                api_key_id=api_key_id,
            )

        return logged(stream, record)

    def record(
        self,
        question: str,
        answer: Answer,
        *,
        trace: AnswerTrace,
        channel: str,
        latency_ms: int,
        conversation_id: int | None = None,
        message_id: int | None = None,
        api_key_id: int | None = None,
    ) -> int | None:
        """Log one answered question; its log id (None when the log is off, or when the row is
        written a moment later because a sync holds SQLite's write lock)."""

        def write(session: Session) -> int | None:
            return record_question(
                session,
                agent_id=self.agent_id,
                channel=channel,
                question=question,
                answer=answer,
                decision=trace.decision(),
                latency_ms=latency_ms,
                conversation_id=conversation_id,
                message_id=message_id,
                api_key_id=api_key_id,
                curated_answer_id=curated_answer_id(trace),
            )

        return write_without_blocking(self._sessions, write)

    def entries(
        self, *, since: datetime | str | None, unanswered: bool, channel: str | None, limit: int | None
    ) -> list[LogEntry]:
        """The logged questions, newest first, with their feedback (see `Agent.log`)."""
        if isinstance(since, str):
            since = parse_since(since)
        if channel is not None:
            check_channel(channel)
        if limit is not None and limit < 1:
            raise InvalidSettingError(f"limit {limit} must be at least 1")
        with self._sessions() as session:
            return list_questions(
                session, self.agent_id, since=since, unanswered=unanswered, channel=channel, limit=limit
            )

    def purge(self, *, everything: bool = False) -> int:
        """Remove the rows past the agent's retention (with `everything`, all); how many went."""
        with self._sessions() as session, session.begin():
            if everything:
                return purge_all(session, self.agent_id)
            keep_log = session.scalar(select(AgentRow.keep_log).where(AgentRow.id == self.agent_id))
            return purge_expired(session, self.agent_id, keep_log or RETENTION_FOREVER)
