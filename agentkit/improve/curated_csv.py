"""Curated answers as CSV: the rows of a file (`question,answer[,source]`), checked, and the
file written back. Reading is all or nothing: the first bad row raises an error naming the file
and line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from agentkit.errors import AgentkitError

__all__ = [
    "CSV_COLUMNS",
    "CuratedAnswersFileError",
    "CuratedEntry",
    "InvalidCuratedAnswerError",
    "checked_entry",
    "read_csv",
    "same_words",
    "write_csv",
]

CSV_COLUMNS = ("question", "answer", "source")
MAX_QUESTION_CHARS = 4000
MAX_SOURCE_CHARS = 2000


class InvalidCuratedAnswerError(AgentkitError, ValueError):
    """A curated answer's question, answer or source is empty or too long."""


class CuratedAnswersFileError(AgentkitError, ValueError):
    """A CSV file of curated answers cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class CuratedEntry:
    """A question and its answer (and source) as the owner gives them, checked."""

    question: str
    answer: str
    source: str | None


def checked_entry(question: str, answer: str, source: str | None, *, where: str = "") -> CuratedEntry:
    """The entry, trimmed; an empty or too long field raises `InvalidCuratedAnswerError` (or,
    with `where` naming a file and line, `CuratedAnswersFileError`)."""
    question, answer, source = (
        (question or "").strip(),
        (answer or "").strip(),
        (source or "").strip() or None,
    )
    problem = None
    if not question:
        problem = "the question is empty"
    elif len(question) > MAX_QUESTION_CHARS:
        problem = f"the question is longer than {MAX_QUESTION_CHARS} characters"
    elif not answer:
        problem = "the answer is empty"
    elif source is not None and len(source) > MAX_SOURCE_CHARS:
        problem = f"the source is longer than {MAX_SOURCE_CHARS} characters"
    if problem is None:
        return CuratedEntry(question, answer, source)
    if where:
        raise CuratedAnswersFileError(
            f"{where}: {problem}; fix the row and import the file again (nothing was added)"
        )
    raise InvalidCuratedAnswerError(f"{problem}; a curated answer needs a question and an answer")


def same_words(question: str) -> str:
    """A question as compared for "the same question": case and spacing do not count."""
    return " ".join(question.split()).casefold()


def read_csv(text: str, name: str) -> list[CuratedEntry]:
    """The entries of a CSV file's text (`name` is how errors name the file)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CuratedAnswersFileError(
            f"{name} is empty; its first line must be the header question,answer,source"
        ) from None
    except csv.Error as error:
        raise CuratedAnswersFileError(f"{name}, line 1: {error}") from None
    columns = [column.strip().lower() for column in header]
    if "question" not in columns or "answer" not in columns or set(columns) - set(CSV_COLUMNS) - {""}:
        raise CuratedAnswersFileError(
            f"{name}, line 1: the header is {','.join(header)!r}; it must name the columns "
            "question,answer and optionally source"
        )
    entries = []
    first_line: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue  # a blank line
            if len(values) > len(columns):
                raise CuratedAnswersFileError(
                    f"{name}, line {line}: {len(values)} values for {len(columns)} columns; "
                    'quote a value that holds a comma ("like, this")'
                )
            row = dict(zip(columns, values, strict=False))
            entry = checked_entry(
                row.get("question", ""),
                row.get("answer", ""),
                row.get("source"),
                where=f"{name}, line {line}",
            )
            seen = first_line.setdefault(same_words(entry.question), line)
            if seen != line:
                raise CuratedAnswersFileError(
                    f"{name}, line {line}: the question of line {seen} again; keep one of the two rows "
                    "(nothing was added)"
                )
            entries.append(entry)
    except csv.Error as error:
        raise CuratedAnswersFileError(f"{name}, line {reader.line_num}: {error}") from None
    return entries


def write_csv(target: TextIO, rows: Iterable[tuple[str, str, str | None]]) -> int:
    """Write (question, answer, source) rows under the header; returns how many."""
    writer = csv.writer(target)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for question, answer, source in rows:
        writer.writerow((question, answer, source or ""))
        count += 1
    return count
