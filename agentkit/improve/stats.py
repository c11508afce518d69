"""Figures of an agent's question log: what `agentkit stats` prints and the HTML report draws.

From the log rows (and their feedback) of one agent since a moment: questions per day (UTC),
the share abstained, the share rated down, latency percentiles, the most-cited documents,
questions by channel, curated-answer hits, and the gaps (the unanswered questions grouped into
topics, `agentkit.improve.gaps`).

Definitions, so the figures can be checked by hand:
- a question is *rated down* when any feedback on it is -1 (feedback names the log row, or the
  answer message the row links);
- *unanswered* means abstained or rated down: those are the gaps;
- latency percentiles are nearest-rank: p95 is the smallest latency that at least 95% of the
  questions took no longer than, so it is always a latency that was measured;
- documents are counted once per answer that cited them; abstentions are left out (their
  citations are the closest sources found, not sources used) and so are curated answers (not
  from the documents); a document is its URI without the #section;
- a curated hit is a question answered with a curated answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from agentkit.improve.gaps import Gap, UnansweredQuestion, common_words, find_gaps
from agentkit.ingest.refresh import as_utc
from agentkit.store.models import FeedbackRow, QuestionLogRow, utc_now

if TYPE_CHECKING:
    import numpy as np

TOP_DOCUMENTS = 10
_COLUMNS = (
    QuestionLogRow.id,
    QuestionLogRow.asked_at,
    QuestionLogRow.channel,
    QuestionLogRow.question,
    QuestionLogRow.abstained,
    QuestionLogRow.citations,
    QuestionLogRow.latency_ms,
    QuestionLogRow.message_id,
    QuestionLogRow.curated_answer_id,
)
# Upper bounds (ms) of the latency histogram's bars; the last bar holds everything slower.
LATENCY_BUCKETS_MS = (250, 500, 1000, 2000, 4000, 8000, 16000)


@dataclass(frozen=True)
class DayFigures:
    """One UTC day: questions asked, how many abstained, how many were rated down."""

    day: date
    questions: int
    abstained: int
    rated_down: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "questions": self.questions,
            "abstained": self.abstained,
            "rated_down": self.rated_down,
        }


@dataclass(frozen=True)
class CitedDocument:
    """A document and how many answers cited it."""

    title: str
    uri: str
    answers: int

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "uri": self.uri, "answers": self.answers}


@dataclass(frozen=True)
class LatencyBucket:
    """Questions whose latency was above `above_ms` and at most `up_to_ms` (None: no bound)."""

    above_ms: int
    up_to_ms: int | None
    questions: int

    @property
    def label(self) -> str:
        if self.up_to_ms is None:
            return f"> {_seconds(self.above_ms)}"
        return f"≤ {_seconds(self.up_to_ms)}"

    def to_dict(self) -> dict[str, Any]:
        return {"above_ms": self.above_ms, "up_to_ms": self.up_to_ms, "questions": self.questions}


@dataclass(frozen=True)
class Stats:
    """What an agent was asked and how it did, from `since` (None: the whole log) to `until`."""

    agent: str
    since: datetime | None
    until: datetime
    questions: int
    abstained: int
    rated_down: int
    rated_up: int
    curated_hits: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    per_day: list[DayFigures]
    channels: dict[str, int]
    top_documents: list[CitedDocument]
    latency_buckets: list[LatencyBucket]
    unanswered: int
    gaps: list[Gap] = field(default_factory=list)

    @property
    def abstained_share(self) -> float | None:
        return self.abstained / self.questions if self.questions else None

    @property
    def rated_down_share(self) -> float | None:
        return self.rated_down / self.questions if self.questions else None

    @property
    def curated_share(self) -> float | None:
        return self.curated_hits / self.questions if self.questions else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "questions": self.questions,
            "abstained": self.abstained,
            "abstained_share": _rounded(self.abstained_share),
            "rated_down": self.rated_down,
            "rated_down_share": _rounded(self.rated_down_share),
            "rated_up": self.rated_up,
            "curated_hits": self.curated_hits,
            "curated_share": _rounded(self.curated_share),
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "per_day": [day.to_dict() for day in self.per_day],
            "channels": dict(self.channels),
            "top_documents": [document.to_dict() for document in self.top_documents],
            "latency_buckets": [bucket.to_dict() for bucket in self.latency_buckets],
            "unanswered": self.unanswered,
            "gaps": [gap.to_dict() for gap in self.gaps],
        }


def compute_stats(
    session: Session,
    *,
    agent_id: int,
    agent_name: str,
    since: datetime | None,
    until: datetime | None = None,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    top_documents: int = TOP_DOCUMENTS,
) -> Stats:
    """The figures of the agent's log rows asked at or after `since` (and before `until`).

    With `embed` (an embedder's `embed`), the unanswered questions are grouped into gaps;
    without it `gaps` is empty.
    """

    until = _utc(until) if until is not None else utc_now()
    # Plain rows of the columns used, not ORM objects: five times faster on a large log.
    query = select(*_COLUMNS).where(QuestionLogRow.agent_id == agent_id, QuestionLogRow.asked_at < until)
    if since is not None:
        since = _utc(since)
        query = query.where(QuestionLogRow.asked_at >= since)
    rows = session.execute(query.order_by(QuestionLogRow.asked_at, QuestionLogRow.id)).all()
    ratings = _ratings(session, agent_id, rows)

    rated_down_ids = {row.id for row in rows if -1 in ratings.get(row.id, ())}
    rated_up = sum(1 for row in rows if 1 in ratings.get(row.id, ()))
    unanswered = [row for row in rows if row.abstained or row.id in rated_down_ids]
    latencies = sorted(max(0, int(row.latency_ms or 0)) for row in rows)
    gaps: list[Gap] = []
    if embed is not None and unanswered:
        gaps = find_gaps(
            [UnansweredQuestion(row.question, row.id) for row in unanswered],
            embed,
            common=common_words([row.question for row in rows]),
        )

    first_day = since.date() if since is not None else (_utc(rows[0].asked_at).date() if rows else None)
    return Stats(
        agent=agent_name,
        since=since,
        until=until,
        questions=len(rows),
        abstained=sum(1 for row in rows if row.abstained),
        rated_down=len(rated_down_ids),
        rated_up=rated_up,
        curated_hits=sum(1 for row in rows if row.curated_answer_id is not None),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        per_day=_per_day(rows, rated_down_ids, first_day, until),
        channels=dict(sorted(Counter(row.channel for row in rows).items(), key=lambda kv: (-kv[1], kv[0]))),
        top_documents=_cited_documents(rows, top_documents),
        latency_buckets=_latency_buckets(latencies),
        unanswered=len(unanswered),
        gaps=gaps,
    )


def percentile(sorted_values: Sequence[int], percent: float) -> int | None:
    """Nearest-rank percentile of ascending values (None when there are none)."""

    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _ratings(session: Session, agent_id: int, rows: Sequence[Row[Any]]) -> dict[int, set[int]]:
    """Log id -> the ratings given to it (directly, or to the answer message it links).

    Reads all the agent's feedback in one query: ratings are far fewer than questions.
    """

    if not rows:
        return {}
    log_ids = {row.id for row in rows}
    by_message = {row.message_id: row.id for row in rows if row.message_id is not None}
    found: dict[int, set[int]] = {}
    for log_id, message_id, rating in session.execute(
        select(FeedbackRow.log_id, FeedbackRow.message_id, FeedbackRow.rating).where(
            FeedbackRow.agent_id == agent_id
        )
    ):
        target = log_id if log_id in log_ids else by_message.get(message_id) if log_id is None else None
        if target is not None:
            found.setdefault(target, set()).add(int(rating))
    return found


def _per_day(
    rows: Sequence[Row[Any]], rated_down_ids: set[int], first_day: date | None, until: datetime
) -> list[DayFigures]:
    """Every UTC day from `first_day` to the day of `until`, days without questions included."""

    if first_day is None:
        return []
    last_day = (until - timedelta(microseconds=1)).date()
    counts: dict[date, list[int]] = {}
    for row in rows:
        figures = counts.setdefault(_utc(row.asked_at).date(), [0, 0, 0])
        figures[0] += 1
        figures[1] += int(row.abstained)
        figures[2] += int(row.id in rated_down_ids)
    days = []
    day = first_day
    while day <= last_day:
        questions, abstained, rated_down = counts.get(day, (0, 0, 0))
        days.append(DayFigures(day, questions, abstained, rated_down))
        day += timedelta(days=1)
    return days


def _cited_documents(rows: Sequence[Row[Any]], limit: int) -> list[CitedDocument]:
    counts: Counter[str] = Counter()
    titles: dict[str, str] = {}
    for row in rows:
        if row.abstained or row.curated_answer_id is not None:
            continue
        cited: dict[str, str] = {}
        for citation in row.citations or []:
            if not isinstance(citation, dict):
                continue
            # One document whichever of its sections was cited: the URI without its #fragment.
            uri = str(citation.get("uri") or citation.get("title") or "").split("#", 1)[0]
            if uri:
                cited.setdefault(uri, str(citation.get("title") or uri))
        for uri, title in cited.items():
            counts[uri] += 1
            titles.setdefault(uri, title)
    ranked = sorted(counts, key=lambda uri: (-counts[uri], titles[uri].lower(), uri))
    return [CitedDocument(titles[uri], uri, counts[uri]) for uri in ranked[:limit]]


def _latency_buckets(sorted_latencies: Sequence[int]) -> list[LatencyBucket]:
    if not sorted_latencies:
        return []
    buckets = []
    lower = 0
    for upper in (*LATENCY_BUCKETS_MS, None):
        count = sum(
            1
            for value in sorted_latencies
            if (value > lower or lower == 0) and (upper is None or value <= upper)
        )
        buckets.append(LatencyBucket(lower, upper, count))
        if upper is not None:
            lower = upper
    while len(buckets) > 1 and buckets[-1].questions == 0:  # no empty bars past the slowest
        buckets.pop()
    return buckets


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC: naive ones (SQLite) are UTC already; PostgreSQL hands back its session's zone."""
    return as_utc(moment).astimezone(UTC)


def _seconds(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:g} s"


def _rounded(share: float | None) -> float | None:
    return round(share, 4) if share is not None else None
