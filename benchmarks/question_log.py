"""What logging a question costs: `record_question` (one SQL transaction that also purges the
agent's rows past its retention) against the size of the log, on SQLite.

For each log size it fills the agent's log with that many rows, half of them older than 30 days;
times 200 writes with keep-log forever, then switches to 30d and times the first write (which
purges the old half) and 200 more, then one `list_questions(limit=50)` and one
`list_questions(unanswered=True)`.

    .venv/bin/python benchmarks/question_log.py                 # 1k, 10k, 100k rows
    .venv/bin/python benchmarks/question_log.py --sizes 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, update

from agentkit import AgentKit
from agentkit.improve.log import list_questions, record_question
from agentkit.models.embedders import HashingEmbedder
from agentkit.results import Answer, Citation
from agentkit.store.models import AgentRow, QuestionLogRow, utc_now

WRITES = 200
ANSWER = Answer(
    text="The Lumo kettle boils 4 litres in 6 minutes [1].",
    citations=[
        Citation(n=1, title="Brewing", uri="docs/brew.md#brewing", page=None, chunk_id=1, score=0.9, text="")
    ],
)


def fill(kit: AgentKit, agent_id: int, rows: int) -> None:
    now = utc_now()
    batch = [
        {
            "agent_id": agent_id,
            "asked_at": now - timedelta(days=60 if n % 2 else 1, seconds=n),
            "channel": "widget",
            "question": f"question number {n} about the kettle?",
            "answer": ANSWER.text,
            "abstained": n % 5 == 0,
            "citations": [],
            "decision": "gate: retrieval evidence is sufficient",
            "latency_ms": 120,
        }
        for n in range(rows)
    ]
    with kit.sessions() as session, session.begin():
        for start in range(0, len(batch), 5000):
            session.execute(insert(QuestionLogRow), batch[start : start + 5000])


def time_writes(kit: AgentKit, agent_id: int) -> list[float]:
    timings = []
    for n in range(WRITES):
        started = time.perf_counter()
        with kit.sessions() as session, session.begin():
            record_question(
                session,
                agent_id=agent_id,
                channel="python",
                question=f"benchmark question {n}?",
                answer=ANSWER,
                decision="gate: retrieval evidence is sufficient",
                latency_ms=100,
            )
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def listing_ms(kit: AgentKit, agent_id: int, *, unanswered: bool) -> float:
    started = time.perf_counter()
    with kit.sessions() as session:
        list_questions(session, agent_id, unanswered=unanswered, limit=None if unanswered else 50)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    print(
        f"{'log rows':>9} | {'first 30d write ms':>18} | {'30d p50 ms':>10} | {'30d p95 ms':>10} | "
        f"{'forever p50 ms':>14} | {'list 50 ms':>10} | {'unanswered ms':>13}"
    )
    for size in args.sizes:
        with (
            tempfile.TemporaryDirectory() as home,
            AgentKit(home=Path(home), embedder=HashingEmbedder(64)) as kit,
        ):
            agent = kit.create_agent("bench", embedder="hashing-64")
            fill(kit, agent.id, size)
            forever = time_writes(kit, agent.id)  # keep-log forever: nothing to purge
            with kit.sessions() as session, session.begin():  # not agent.set: that would purge now
                session.execute(update(AgentRow).where(AgentRow.id == agent.id).values(keep_log="30d"))
            first = time_writes_once(kit, agent.id)  # purges the half older than 30 days
            windowed = time_writes(kit, agent.id)
            list_ms = listing_ms(kit, agent.id, unanswered=False)
            unanswered_ms = listing_ms(kit, agent.id, unanswered=True)
            print(
                f"{size:>9} | {first:>18.2f} | {statistics.median(windowed):>10.2f} | "
                f"{statistics.quantiles(windowed, n=20)[18]:>10.2f} | {statistics.median(forever):>14.2f} | "
                f"{list_ms:>10.2f} | {unanswered_ms:>13.2f}"
            )


def time_writes_once(kit: AgentKit, agent_id: int) -> float:
    started = time.perf_counter()
    with kit.sessions() as session, session.begin():
        record_question(
            session,
            agent_id=agent_id,
            channel="python",
            question="first",
            answer=ANSWER,
            decision="",
            latency_ms=1,
        )
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
