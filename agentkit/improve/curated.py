"""Curated answers: answers the owner wrote, which a question meaning the same gets instead of
the model's (see `agentkit.improve.matching` for what "meaning the same" is).

`CuratedAnswers` (an agent's `agent.curated`) adds, lists, revises and removes them, imports and
exports CSV, and reads their history. They live in SQL and are versioned: every add, revision
and removal bumps the answer's `version` and writes a `curated_answer_versions` row saying who
made the change and when; a removed answer keeps its row (`removed_at`), so its history stays.
Every change commits at once and takes effect on the next question in every process.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agentkit.errors import AgentkitError
from agentkit.improve.curated_csv import (
    CSV_COLUMNS,
    CuratedAnswersFileError,
    CuratedEntry,
    InvalidCuratedAnswerError,
    checked_entry,
    read_csv,
    same_words,
    write_csv,
)
from agentkit.improve.matching import CuratedReply, matcher_for
from agentkit.ingest.refresh import as_utc
from agentkit.store.models import (
    CuratedAnswerRow,
    CuratedAnswerVersionRow,
    QuestionLogRow,
    utc_now,
)

if TYPE_CHECKING:
    from agentkit.models.embedders import Embedder

__all__ = [
    "CSV_COLUMNS",
    "CuratedAnswer",
    "CuratedAnswerExistsError",
    "CuratedAnswerNotFoundError",
    "CuratedAnswerVersion",
    "CuratedAnswers",
    "CuratedAnswersFileError",
    "ImportReport",
    "InvalidCuratedAnswerError",
    "current_user",
]


class CuratedAnswerNotFoundError(AgentkitError):
    """No active curated answer (or logged question) with that id belongs to the agent."""


class CuratedAnswerExistsError(AgentkitError):
    """The question is a curated question already (same words); revise that answer instead."""

    def __init__(self, message: str, answer_id: int) -> None:
        super().__init__(message)
        self.answer_id = answer_id


def current_user() -> str:
    """Who makes a change from this machine: the OS user name, or "unknown"."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no user name in the environment or the password database
        return "unknown"


@dataclass(frozen=True)
class CuratedAnswer:
    """A curated answer as listed (the current version)."""

    id: int
    question: str
    answer: str
    source: str | None
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    removed_at: datetime | None

    @classmethod
    def from_row(cls, row: CuratedAnswerRow) -> CuratedAnswer:
        return cls(
            id=row.id,
            question=row.question,
            answer=row.answer,
            source=row.source,
            version=row.version,
            created_by=row.created_by,
            created_at=as_utc(row.created_at),
            updated_by=row.updated_by,
            updated_at=as_utc(row.updated_at),
            removed_at=as_utc(row.removed_at) if row.removed_at is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "source": self.source,
            "version": self.version,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat(),
            "removed_at": self.removed_at.isoformat() if self.removed_at else None,
        }


@dataclass(frozen=True)
class CuratedAnswerVersion:
    """One change to a curated answer: what it said after the change, who, when."""

    curated_answer_id: int
    version: int
    action: str  # add | revise | remove
    question: str
    answer: str
    source: str | None
    changed_by: str
    changed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "curated_answer_id": self.curated_answer_id,
            "version": self.version,
            "action": self.action,
            "question": self.question,
            "answer": self.answer,
            "source": self.source,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat(),
        }


_Answers = list[CuratedAnswer]  # `CuratedAnswers.list` hides the builtin in the class body
_Versions = list[CuratedAnswerVersion]


@dataclass
class ImportReport:
    """What `import_csv` did: answers added, answers revised (same question, new text), and
    rows that matched a curated answer exactly."""

    added: list[CuratedAnswer] = field(default_factory=list)
    revised: list[CuratedAnswer] = field(default_factory=list)
    unchanged: list[CuratedAnswer] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [item.to_dict() for item in self.added],
            "revised": [item.to_dict() for item in self.revised],
            "unchanged": [item.to_dict() for item in self.unchanged],
        }


class CuratedAnswers:
    """One agent's curated answers. `by` names who makes a change (default: `current_user()`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        agent_id: int,
        agent_name: str,
        embedder: Callable[[], Embedder],
    ) -> None:
        self._sessions = sessions
        self._agent_id = agent_id
        self._agent_name = agent_name
        self._embedder = embedder

    # ----- reading -------------------------------------------------------------------------

    def list(self, *, include_removed: bool = False) -> _Answers:
        """The agent's curated answers, oldest first (removed ones too with `include_removed`)."""
        query = select(CuratedAnswerRow).where(CuratedAnswerRow.agent_id == self._agent_id)
        if not include_removed:
            query = query.where(CuratedAnswerRow.removed_at.is_(None))
        with self._sessions() as session:
            return [
                CuratedAnswer.from_row(row) for row in session.scalars(query.order_by(CuratedAnswerRow.id))
            ]

    def get(self, answer_id: int) -> CuratedAnswer:
        """One curated answer, removed or not."""
        with self._sessions() as session:
            return CuratedAnswer.from_row(self._row(session, answer_id, active=False))

    def history(self, answer_id: int | None = None) -> _Versions:
        """Every change to one curated answer (or to all of the agent's), oldest first."""
        query = (
            select(CuratedAnswerVersionRow)
            .join(CuratedAnswerRow, CuratedAnswerVersionRow.curated_answer_id == CuratedAnswerRow.id)
            .where(CuratedAnswerRow.agent_id == self._agent_id)
        )
        if answer_id is not None:
            with self._sessions() as session:
                self._row(session, answer_id, active=False)
            query = query.where(CuratedAnswerVersionRow.curated_answer_id == answer_id)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(CuratedAnswerVersionRow.id)).all()
            return [
                CuratedAnswerVersion(
                    curated_answer_id=row.curated_answer_id,
                    version=row.version,
                    action=row.action,
                    question=row.question,
                    answer=row.answer,
                    source=row.source,
                    changed_by=row.changed_by,
                    changed_at=as_utc(row.changed_at),
                )
                for row in rows
            ]

    def find(self, question: str) -> CuratedAnswer | None:
        """The active curated answer whose question is `question` word for word (any case)."""
        wanted = same_words(question)
        for item in self.list():
            if same_words(item.question) == wanted:
                return item
        return None

    def match(self, question: str) -> CuratedReply | None:
        """The curated answer `question` means, or None (what the answer path consults first)."""
        embedder = self._embedder()
        return matcher_for(
            self._sessions, agent_id=self._agent_id, embedder=self._embedder, embedder_id=embedder.embedder_id
        ).match(question)

    # ----- changes -------------------------------------------------------------------------

    def add(
        self, question: str, answer: str, *, source: str | None = None, by: str | None = None
    ) -> CuratedAnswer:
        """Store a new curated answer (its question is embedded now, with the agent's embedder).

        A question that is curated already (same words, any case or spacing) raises
        `CuratedAnswerExistsError` with that answer's id: revise it instead.
        """
        entry = checked_entry(question, answer, source)
        existing = self.find(entry.question)
        if existing is not None:
            raise CuratedAnswerExistsError(
                f"agent {self._agent_name!r} has this question as curated answer {existing.id} already; "
                "revise that one",
                existing.id,
            )
        vectors, embedder_id = self._embed([entry.question])
        with self._sessions() as session, session.begin():
            return self._insert(session, entry, vectors[0], embedder_id, by or current_user())

    def revise(
        self,
        answer_id: int,
        answer: str,
        *,
        question: str | None = None,
        source: str | None = None,
        by: str | None = None,
    ) -> CuratedAnswer:
        """Replace the answer's text (and, when given, its question or source): version + 1."""
        with self._sessions() as session, session.begin():
            row = self._row(session, answer_id, active=True)
            entry = checked_entry(
                question if question is not None else row.question, answer, source or row.source
            )
            if entry.question != row.question:
                vector, embedder_id = self._embed([entry.question])
                row.embedding, row.embedder_id = vector[0], embedder_id
            row.question, row.answer, row.source = entry.question, entry.answer, entry.source
            self._changed(session, row, "revise", by)
            return CuratedAnswer.from_row(row)

    def revise_logged(self, log_id: int, answer: str, *, by: str | None = None) -> CuratedAnswer:
        """Correct a logged answer: the curated answer that gave it is revised; otherwise the
        logged question gets a curated answer (one with the very same question is revised)."""
        with self._sessions() as session:
            logged = session.get(QuestionLogRow, log_id)
            if logged is None or logged.agent_id != self._agent_id:
                raise CuratedAnswerNotFoundError(
                    f"agent {self._agent_name!r} has no logged question {log_id}; "
                    f"`agentkit log {self._agent_name}` lists them with their ids"
                )
            question, curated_id = logged.question, logged.curated_answer_id
            if curated_id is not None:
                used = session.get(CuratedAnswerRow, curated_id)
                if used is None or used.removed_at is not None:
                    curated_id = None
        if curated_id is None:
            same = self.find(question)
            curated_id = same.id if same is not None else None
        if curated_id is not None:
            return self.revise(curated_id, answer, by=by)
        return self.add(question, answer, by=by)

    def remove(self, answer_id: int, *, by: str | None = None) -> CuratedAnswer:
        """Stop using a curated answer; its row and history stay (`removed_at` is set)."""
        with self._sessions() as session, session.begin():
            row = self._row(session, answer_id, active=True)
            row.removed_at = utc_now()
            self._changed(session, row, "remove", by)
            return CuratedAnswer.from_row(row)

    # ----- CSV -----------------------------------------------------------------------------

    def import_csv(self, path: str | Path, *, by: str | None = None) -> ImportReport:
        """Add every row of a CSV file with the header `question,answer[,source]`.

        A row whose question is already a curated question (same words, any case or spacing)
        revises that answer when its answer or source differs, so an exported file can be
        edited and imported again. All or nothing: a bad row (empty question or answer, too
        long, a missing column, a question repeated in the file) raises
        `CuratedAnswersFileError` naming the file and line, and nothing is changed.
        """
        location = Path(path)
        try:
            text = location.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CuratedAnswersFileError(f"cannot read {location}: {error}; give a UTF-8 CSV file") from None
        entries = read_csv(text, str(location))
        who = by or current_user()
        with self._sessions() as session:
            existing = {
                same_words(row.question): row.id
                for row in session.scalars(
                    select(CuratedAnswerRow).where(
                        CuratedAnswerRow.agent_id == self._agent_id, CuratedAnswerRow.removed_at.is_(None)
                    )
                )
            }
        new = [entry for entry in entries if same_words(entry.question) not in existing]
        vectors, embedder_id = self._embed([entry.question for entry in new])
        report = ImportReport()
        with self._sessions() as session, session.begin():
            for entry, vector in zip(new, vectors, strict=True):
                report.added.append(self._insert(session, entry, vector, embedder_id, who))
            for entry in entries:
                answer_id = existing.get(same_words(entry.question))
                if answer_id is None:
                    continue
                row = self._row(session, answer_id, active=True)
                if (row.answer, row.source) == (entry.answer, entry.source):
                    report.unchanged.append(CuratedAnswer.from_row(row))
                    continue
                row.answer, row.source = entry.answer, entry.source
                self._changed(session, row, "revise", who)
                report.revised.append(CuratedAnswer.from_row(row))
        return report

    def export_csv(self, target: TextIO) -> int:
        """Write the active curated answers as CSV (`question,answer,source`); returns how many."""
        return write_csv(target, ((item.question, item.answer, item.source) for item in self.list()))

    # ----- internals -----------------------------------------------------------------------

    def _insert(
        self, session: Session, entry: CuratedEntry, vector: bytes, embedder_id: str, who: str
    ) -> CuratedAnswer:
        now = utc_now()
        row = CuratedAnswerRow(
            agent_id=self._agent_id,
            question=entry.question,
            answer=entry.answer,
            source=entry.source,
            version=1,
            embedding=vector,
            embedder_id=embedder_id,
            created_by=who,
            created_at=now,
            updated_by=who,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        session.add(_version_row(row, "add", who, now))
        return CuratedAnswer.from_row(row)

    def _embed(self, questions: Sequence[str]) -> tuple[Sequence[bytes], str]:
        import numpy as np

        embedder = self._embedder()
        vectors = embedder.embed(questions)
        return [np.asarray(vector, dtype=np.float32).tobytes() for vector in vectors], embedder.embedder_id

    def _changed(self, session: Session, row: CuratedAnswerRow, action: str, by: str | None) -> None:
        now = utc_now()
        row.version += 1
        row.updated_by = by or current_user()
        row.updated_at = now
        session.add(_version_row(row, action, row.updated_by, now))

    def _row(self, session: Session, answer_id: int, *, active: bool) -> CuratedAnswerRow:
        row = session.get(CuratedAnswerRow, answer_id)
        if row is None or row.agent_id != self._agent_id or (active and row.removed_at is not None):
            state = "active " if active else ""
            raise CuratedAnswerNotFoundError(
                f"agent {self._agent_name!r} has no {state}curated answer {answer_id}; "
                f"`agentkit answers list {self._agent_name}` lists them with their ids"
            )
        return row


def _version_row(row: CuratedAnswerRow, action: str, who: str, when: datetime) -> CuratedAnswerVersionRow:
    return CuratedAnswerVersionRow(
        curated_answer_id=row.id,
        version=row.version,
        action=action,
        question=row.question,
        answer=row.answer,
        source=row.source,
        changed_by=who,
        changed_at=when,
    )
