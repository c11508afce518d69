"""`agentkit stats`: every figure on a scripted log, the JSON and text output, gaps, the HTML report.

The log is written row by row with known dates, latencies, channels, citations and feedback,
so each figure is checked against a value worked out by hand (see the comments).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agentkit import AgentKit
from agentkit.cli.app import cli
from agentkit.improve.gaps import (
    UnansweredQuestion,
    cluster,
    common_words,
    find_gaps,
    label_terms,
    without_words,
)
from agentkit.improve.report import render_report
from agentkit.improve.stats import compute_stats, percentile
from agentkit.store.models import (
    ConversationRow,
    CuratedAnswerRow,
    FeedbackRow,
    MessageRow,
    QuestionLogRow,
    utc_now,
)
from tests.fakes import FakeEmbedder, ScriptedGenerator

SINCE = datetime(2026, 11, 7, tzinfo=UTC)
UNTIL = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
INSTALL = {"n": 1, "title": "Install guide", "uri": "docs/install.md", "page": None}
FAQ = {"n": 2, "title": "FAQ", "uri": "docs/faq.md", "page": None}
SCRIPT = "<script>alert(1)</script> how do I get a refund?"
IMG_TITLE = '<img src=x onerror=alert(1)> "Refunds" & more'


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def scripted_log(kit: AgentKit, agent_id: int, other_agent_id: int) -> dict[str, int]:
    """The log of the figures test; returns the ids of the rows the test names."""

    with kit.sessions() as session, session.begin():
        conversation = ConversationRow(agent_id=agent_id, title="chat")
        session.add(conversation)
        session.flush()
        message = MessageRow(conversation_id=conversation.id, role="assistant", content="42")
        curated = CuratedAnswerRow(
            agent_id=agent_id, question="refund?", answer="Within 30 days.", source="https://x.test/refund"
        )
        session.add_all([message, curated])
        session.flush()

        def row(asked_at: datetime, channel: str, latency: int, **fields: object) -> QuestionLogRow:
            entry = QuestionLogRow(
                agent_id=fields.pop("agent", agent_id),
                asked_at=asked_at,
                channel=channel,
                question=fields.pop("question", f"question at {asked_at:%d %H:%M}"),
                latency_ms=latency,
                **fields,
            )
            session.add(entry)
            session.flush()
            return entry

        row(at(6, 23), "cli", 9999, abstained=True)  # before SINCE: not counted
        row(at(7, 9), "cli", 100, citations=[INSTALL, INSTALL, FAQ])  # install once, faq once
        abstained = row(at(7, 10), "widget", 300, abstained=True, citations=[FAQ])  # no documents
        down = row(at(8, 8), "widget", 200, citations=[{**INSTALL, "uri": "docs/install.md#ports"}])
        up = row(at(8, 9), "server", 400, citations=[INSTALL])
        row(
            at(10, 11),
            "widget",
            50,
            curated_answer_id=curated.id,
            citations=[{"n": 1, "title": "curated answer", "uri": "https://x.test/refund"}],
        )
        rated_by_message = row(
            at(10, 11, 30),
            "chat",
            5000,
            citations=[INSTALL],
            message_id=message.id,
            conversation_id=conversation.id,
        )
        row(at(10, 12, 30), "cli", 7, abstained=True)  # at/after UNTIL: not counted
        row(at(8, 12), "cli", 1, abstained=True, agent=other_agent_id)  # another agent's
        session.add_all(
            [
                FeedbackRow(agent_id=agent_id, log_id=down.id, rating=-1, comment="wrong version"),
                FeedbackRow(agent_id=agent_id, log_id=up.id, rating=1),
                FeedbackRow(agent_id=agent_id, log_id=None, message_id=message.id, rating=-1),
            ]
        )
        return {"abstained": abstained.id, "down": down.id, "by_message": rated_by_message.id}


@pytest.fixture
def any_database_kit(tmp_path: Path, database_url: str) -> Iterator[AgentKit]:
    """A kit with the fake models on SQLite and, where a server is configured, PostgreSQL."""
    with AgentKit(
        home=tmp_path / "home",
        database_url=database_url,
        embedder=FakeEmbedder(),
        generator=ScriptedGenerator(),
    ) as opened:
        yield opened


def test_every_figure_of_a_scripted_log(any_database_kit: AgentKit) -> None:
    kit = any_database_kit
    agent = kit.create_agent("helpdesk")
    other = kit.create_agent("other")
    ids = scripted_log(kit, agent.id, other.id)
    with kit.sessions() as session:
        stats = compute_stats(session, agent_id=agent.id, agent_name="helpdesk", since=SINCE, until=UNTIL)

    assert stats.questions == 6
    assert stats.abstained == 1 and stats.abstained_share == pytest.approx(1 / 6)
    # rated down: one by its log id, one through the answer message it links
    assert stats.rated_down == 2 and stats.rated_down_share == pytest.approx(2 / 6)
    assert stats.rated_up == 1
    assert stats.curated_hits == 1
    # latencies 50 100 200 300 400 5000: nearest rank ceil(.5*6)=3rd, ceil(.95*6)=6th
    assert (stats.latency_p50_ms, stats.latency_p95_ms) == (200, 5000)
    assert [(d.day, d.questions, d.abstained, d.rated_down) for d in stats.per_day] == [
        (date(2026, 11, 7), 2, 1, 0),
        (date(2026, 11, 8), 2, 0, 1),
        (date(2026, 11, 9), 0, 0, 0),
        (date(2026, 11, 10), 2, 0, 1),
    ]
    assert list(stats.channels.items()) == [("widget", 3), ("chat", 1), ("cli", 1), ("server", 1)]
    # install (any section): the cli, widget, server and chat answers; faq: the cli answer (the abstention's
    # citation and the curated answer's source do not count)
    assert [(d.title, d.uri, d.answers) for d in stats.top_documents] == [
        ("Install guide", "docs/install.md", 4),
        ("FAQ", "docs/faq.md", 1),
    ]
    # <=250: 50 100 200; <=500: 300 400; <=8000: 5000; no empty bars past the slowest
    assert [(b.above_ms, b.up_to_ms, b.questions) for b in stats.latency_buckets] == [
        (0, 250, 3),
        (250, 500, 2),
        (500, 1000, 0),
        (1000, 2000, 0),
        (2000, 4000, 0),
        (4000, 8000, 1),
    ]
    assert stats.unanswered == 3  # the abstention and the two rated down
    assert stats.gaps == []  # no embedder given

    figures = stats.to_dict()
    assert figures["abstained_share"] == 0.1667 and figures["rated_down_share"] == 0.3333
    assert figures["per_day"][2] == {"day": "2026-11-09", "questions": 0, "abstained": 0, "rated_down": 0}
    assert figures["since"] == "2026-11-07T00:00:00+00:00"
    json.dumps(figures)

    with kit.sessions() as session:
        stats = compute_stats(
            session, agent_id=agent.id, agent_name="helpdesk", since=SINCE, until=UNTIL, embed=_embed_fake
        )
    assert sorted(log_id for gap in stats.gaps for log_id in gap.log_ids) == sorted(ids.values())


def test_an_empty_log_has_no_figures(kit: AgentKit) -> None:
    agent = kit.create_agent("quiet")
    stats = agent.stats(since="7d")
    assert stats.questions == 0 and stats.abstained_share is None
    assert stats.latency_p50_ms is None and stats.latency_buckets == [] and stats.top_documents == []
    assert len(stats.per_day) in (7, 8)  # every day of the window, today included
    html = render_report(stats)
    assert "No questions in this period." in html


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile(list(range(1, 101)), 50) == 50
    assert percentile([1, 2], 50) == 1


# ----- gaps ------------------------------------------------------------------------------

TOPIC_AXIS = {"password": 0, "shipping": 1, "hours": 2, "refund": 3}


def _embed_fake(texts: Sequence[str]) -> np.ndarray:
    """Each text points along its topic's axis (by keyword), a little off it by its length."""

    vectors = np.zeros((len(texts), 6), dtype=np.float32)
    for row, text in enumerate(texts):
        axis = next((index for word, index in TOPIC_AXIS.items() if word in text.lower()), 4)
        vectors[row, axis] = 1.0
        vectors[row, 5] = (len(text) % 7) / 20
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_gaps_group_by_topic_largest_first_with_repeats_counted() -> None:
    questions = [
        UnansweredQuestion("How much is shipping to Canada?", 1),
        UnansweredQuestion("How do I reset my password?", 2),
        UnansweredQuestion("Password reset email never came", 3),
        UnansweredQuestion("how do i reset my password", 4),  # a repeat of 2
        UnansweredQuestion("Is shipping free?", 5),
        UnansweredQuestion("Can I change my password in the app?", 6),
        UnansweredQuestion("What are your opening hours?", 7),
    ]
    gaps = find_gaps(questions, _embed_fake)
    assert [(gap.questions, gap.log_ids) for gap in gaps] == [(4, [2, 3, 4, 6]), (2, [1, 5]), (1, [7])]
    password = gaps[0]
    assert password.terms[0] == "password" and password.label.startswith("password")
    # the most asked first (the repeat), then closest to the topic's centre; at most three
    assert password.examples[0] == "How do I reset my password?" and len(password.examples) == 3
    assert gaps == find_gaps(questions, _embed_fake)  # deterministic
    assert find_gaps([], _embed_fake) == []
    assert find_gaps(["  "], _embed_fake) == []


def test_clustering_stops_at_the_threshold() -> None:
    # rows 0 and 1 are 0.6 alike, row 2 is 0.3 alike to both: at 0.4 two groups, at 0.25 one
    vectors = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.3, 0.0, 0.0]])
    vectors[2] = [0.3, 0.3 * (1 - 0.6) / 0.8, 0.0]
    vectors[2, 2] = np.sqrt(1 - vectors[2, 0] ** 2 - vectors[2, 1] ** 2)
    assert cluster(vectors, [1, 1, 1], threshold=0.4) == [[0, 1], [2]]
    assert cluster(vectors, [1, 1, 1], threshold=0.25) == [[0, 1, 2]]
    assert cluster(vectors, [1, 1, 1], threshold=0.95) == [[0], [1], [2]]
    assert cluster(np.zeros((0, 3)), [], threshold=0.4) == []


def test_label_terms_skip_question_words() -> None:
    assert label_terms(["How do I reset my password?", "Where can I reset the password?"]) == [
        "reset",
        "password",
    ]


def test_words_every_topic_shares_are_left_out() -> None:
    topics = ("install", "upgrade", "backup", "export", "license")
    asked = [f"How do I {topic} Quillstack on server {n}?" for topic in topics for n in range(5)]
    assert common_words(asked) == {"quillstack", "server"}  # in 25 of 25; each topic in 5 (20%)
    assert common_words(asked[:10]) == frozenset()  # too few questions to tell
    common = frozenset({"quillstack"})
    assert without_words("Does Quillstack run on a Raspberry Pi?", common) == "Does run on a Raspberry Pi?"
    assert without_words("What is Quillstack?", common) == "What is Quillstack?"  # nothing else would remain
    seen: list[str] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        seen.extend(texts)
        return _embed_fake(texts)

    gaps = find_gaps(["Quillstack password reset?", "Reset the Quillstack password"], embed, common=common)
    assert seen == ["password reset?", "Reset the password"]
    assert "quillstack" not in gaps[0].terms and gaps[0].examples[0] == "Quillstack password reset?"


@pytest.mark.slow
@pytest.mark.parametrize("embedder", ["default", "onnx-int8:default"])
def test_real_embedder_finds_three_clear_topics(embedder: str) -> None:
    """The real MiniLM embedder (PyTorch, and the int8 ONNX one new agents get) at the default
    threshold: three topics, three groups."""

    from agentkit.models.registry import load_embedder

    topics = {
        "password": [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "The password reset email never arrived",
            "Can I change my login password from the mobile app?",
        ],
        "hours": [
            "What are your opening hours on Sunday?",
            "When does the shop open on weekends?",
            "Are you open on public holidays?",
            "What time do you close on Fridays?",
        ],
        "shipping": [
            "Do you ship to Canada?",
            "How long does international shipping take?",
            "What does delivery to Germany cost?",
            "Can I get express shipping for my order?",
        ],
    }
    truth = {question: topic for topic, questions in topics.items() for question in questions}
    questions = list(truth)
    random.Random(3).shuffle(questions)
    gaps = find_gaps(questions, load_embedder(embedder).embed)
    groups = sorted(sorted(truth[example] for example in gap.examples) for gap in gaps)
    assert len(gaps) == 3, [gap.to_dict() for gap in gaps]
    assert [gap.questions for gap in gaps] == [4, 4, 4]
    assert all(len(set(group)) == 1 for group in groups), groups


# ----- the command -----------------------------------------------------------------------


def test_stats_command_json_text_and_html(isolated_home: Path, tmp_path: Path) -> None:
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("helpdesk", embedder="hashing-128")
        now = utc_now()
        with kit.sessions() as session, session.begin():
            for hours, abstained, latency, question in (
                (30, False, 300, "How do I install it?"),
                (5, True, 900, "How do I reset my password?"),
                (4, True, 700, "Password reset email never came"),
                (2, False, 100, "What is the rate limit?"),
                (24 * 10, True, 50, "an old question outside the window"),
            ):
                session.add(
                    QuestionLogRow(
                        agent_id=agent.id,
                        asked_at=now - timedelta(hours=hours),
                        channel="widget",
                        question=question,
                        abstained=abstained,
                        latency_ms=latency,
                        citations=[] if abstained else [INSTALL],
                    )
                )
    runner = CliRunner()
    result = runner.invoke(cli, ["stats", "helpdesk", "--since", "7d", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["questions"] == 4 and figures["abstained"] == 2 and figures["abstained_share"] == 0.5
    assert figures["latency_p50_ms"] == 300 and figures["latency_p95_ms"] == 900
    assert figures["channels"] == {"widget": 4}
    assert figures["top_documents"] == [{"title": "Install guide", "uri": "docs/install.md", "answers": 2}]
    assert figures["unanswered"] == 2 and sum(gap["questions"] for gap in figures["gaps"]) == 2
    assert sum(day["questions"] for day in figures["per_day"]) == 4

    report = tmp_path / "report.html"
    result = runner.invoke(
        cli, ["stats", "helpdesk", "--since", "7d", "--html", str(report)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "helpdesk: 4 questions since" in result.output
    assert "abstained:       2 (50.0%)" in result.output
    assert "Gaps: 2 unanswered questions" in result.output
    assert f"Report: {report}" in result.output
    page = report.read_text()
    assert page.startswith("<!doctype html>") and 'id="per-day"' in page

    result = runner.invoke(cli, ["stats", "helpdesk", "--since", "all", "--json"], catch_exceptions=False)
    assert json.loads(result.output)["questions"] == 5
    result = runner.invoke(cli, ["stats", "helpdesk", "--since", "soon"])
    assert result.exit_code == 1 and "--since 'soon' is not understood" in result.output
    result = runner.invoke(cli, ["stats", "nobody"])
    assert result.exit_code == 1 and "no agent named 'nobody'" in result.output


# ----- the report ------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.event_attributes: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.event_attributes.append(f"{tag} {name}")
            if name in ("href", "src", "xlink:href"):
                self.urls.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_escapes_every_text_from_the_log(kit: AgentKit) -> None:
    agent = kit.create_agent("helpdesk")
    with kit.sessions() as session, session.begin():
        for hours, question, abstained in ((3, SCRIPT, True), (2, SCRIPT, True), (1, "fine", False)):
            session.add(
                QuestionLogRow(
                    agent_id=agent.id,
                    asked_at=utc_now() - timedelta(hours=hours),
                    channel="widget",
                    question=question,
                    abstained=abstained,
                    latency_ms=120,
                    citations=[{"n": 1, "title": IMG_TITLE, "uri": "javascript:alert(1)"}],
                )
            )
    stats = agent.stats(since="1d")
    assert stats.gaps and stats.gaps[0].examples == [SCRIPT]
    page = render_report(stats)
    parsed = _Tags()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert parsed.event_attributes == [] and parsed.urls == []
    text = "".join(parsed.text)
    assert SCRIPT in text and IMG_TITLE in text  # shown as text, as written
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # and the page forbids scripts and fetches anyway
    for chart in ("per-day", "shares", "latency", "documents", "channels"):
        assert f'<svg id="{chart}"' in page
    assert '<table id="gaps">' in page


def test_text_output_lists_the_ten_largest_gaps(kit: AgentKit, capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import replace

    from agentkit.cli.stats import print_stats
    from agentkit.improve.gaps import Gap

    stats = kit.create_agent("helpdesk").stats(since="1d")
    gaps = [Gap(label=f"topic {n}", questions=20 - n, examples=[f"question {n}?"]) for n in range(12)]
    print_stats(replace(stats, questions=1, gaps=gaps, unanswered=sum(gap.questions for gap in gaps)))
    shown = capsys.readouterr().out
    assert "  10. topic 9 (11 questions)\n     - question 9?" in shown and "topic 10" not in shown
    assert "... and 2 smaller topics (--json or --html lists them all)" in shown
