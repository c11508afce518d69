"""The stats report in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven by Selenium opens the HTML file from disk.

The log is a month of a help desk's questions about the demo docs (data/quillstack), written row
by row with fixed dates, so the page, and the screenshot the README shows
(docs/stats-report.png), are the same on every run. Gaps are grouped by the real MiniLM
embedder, as `agentkit stats` does for an agent with the default embedder.

CI installs chromium through .ci/run; where it is missing this fails with a message saying what
to install rather than skipping.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentkit import AgentKit
from agentkit.improve.report import render_report
from agentkit.improve.stats import Stats, compute_stats
from agentkit.store.models import CuratedAnswerRow, FeedbackRow, QuestionLogRow
from tests.chromium import headless_chromium
from tests.conftest import REPO_ROOT

SCREENSHOT = REPO_ROOT / "docs" / "stats-report.png"
UNTIL = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=30)
CHARTS = ("per-day", "shares", "latency", "documents", "channels")

DOCS = {
    "installation": ("Installing Quillstack", "data/quillstack/installation.md"),
    "config": ("Configuration reference", "data/quillstack/configuration.md"),
    "faq": ("Frequently asked questions", "data/quillstack/frequently-asked-questions.txt"),
    "api": ("REST API", "data/quillstack/api.md"),
    "errors": ("Error codes", "data/quillstack/error-codes.md"),
    "backups": ("Snapshots and backups", "data/quillstack/snapshots-and-backups.md"),
    "sync": ("Sync and offline editing", "data/quillstack/sync-and-offline.md"),
    "box": ("Quillstack Box QB-200 guide", "data/quillstack/quillstack-box-qb200-guide.pdf"),
    "pricing": ("Pricing", "data/quillstack/pricing.html"),
}
# Questions the docs answer, with the documents the answer cited, and how often each is asked.
ANSWERED = [
    ("What is the default port of the Quillstack web app?", ("config", "faq"), 9),
    ("How do I install Quillstack on Debian?", ("installation",), 7),
    ("How long is the hardware warranty of the QB-200?", ("box",), 4),
    ("How do I reset the admin password?", ("faq",), 6),
    ("How many requests per minute may an API token make?", ("api",), 5),
    ("What does error Q-407 mean?", ("errors",), 5),
    ("How often are snapshots taken and how long are they kept?", ("backups", "config"), 4),
    ("Can I edit notes offline on my phone?", ("sync",), 4),
    ("How much does the Team edition cost per user?", ("pricing",), 3),
    ("Which operating systems do the desktop apps support?", ("faq", "installation"), 3),
]
# What the docs do not say: five topics the owner should write about.
UNANSWERED = [
    "Can I sign in with SAML single sign-on?",
    "Does Quillstack support SSO with Okta?",
    "How do I set up single sign-on with Azure AD?",
    "Is there SAML or OIDC login for the Team edition?",
    "Can I log in with my Google Workspace account?",
    "How do I export all my notes to PDF?",
    "Can I export a vault as a PDF file?",
    "Is there a way to print notes or save them as PDF?",
    "Do you offer a discount for nonprofits?",
    "Is there an education discount for schools?",
    "Do charities get Quillstack cheaper?",
    "Is there a dark mode in the desktop app?",
    "How do I switch the app to dark theme?",
    "Does Quillstack run on a Raspberry Pi?",
    "Can I install the server on ARM hardware like a Raspberry Pi 5?",
]
# Answered, but not well: readers rate these down (the docs are out of date on them).
RATED_DOWN = {
    "Which operating systems do the desktop apps support?",
    "How often are snapshots taken and how long are they kept?",
}
CHANNELS = ("widget",) * 6 + ("server",) * 2 + ("cli", "chat", "openai")


def demo_log(kit: AgentKit, agent_id: int) -> None:
    """A month of questions, more on weekdays, a third of them through the morning rush."""

    rng = random.Random(13)
    pool = [(question, docs) for question, docs, weight in ANSWERED for _ in range(weight)]
    with kit.sessions() as session, session.begin():
        curated = CuratedAnswerRow(
            agent_id=agent_id,
            question="What is the default port of the Quillstack web app?",
            answer="7431, set by server.listen_port in /etc/quillstack/quill.toml.",
        )
        session.add(curated)
        session.flush()
        for day in range(30):
            start = SINCE + timedelta(days=day + 1)
            weekday = start.weekday() < 5
            count = rng.randint(9, 16) if weekday else rng.randint(2, 5)
            count += day // 6  # the widget went live on more pages during the month
            for _ in range(count):
                asked_at = start.replace(hour=0, minute=0) + timedelta(minutes=rng.randint(7 * 60, 19 * 60))
                if rng.random() < 0.16:
                    question, docs, abstained = rng.choice(UNANSWERED), (), True
                else:
                    (question, docs), abstained = rng.choice(pool), False
                curated_id = curated.id if question == curated.question and rng.random() < 0.5 else None
                latency = 40 if curated_id else int(rng.lognormvariate(7.3, 0.55))
                row = QuestionLogRow(
                    agent_id=agent_id,
                    asked_at=asked_at,
                    channel=rng.choice(CHANNELS),
                    question=question,
                    answer="" if abstained else "…",
                    abstained=abstained,
                    citations=[
                        {"n": n, "title": DOCS[doc][0], "uri": DOCS[doc][1]} for n, doc in enumerate(docs, 1)
                    ],
                    decision="curated answer" if curated_id else ("abstained" if abstained else "answered"),
                    latency_ms=latency,
                    curated_answer_id=curated_id,
                )
                session.add(row)
                session.flush()
                if question in RATED_DOWN and rng.random() < 0.5:
                    session.add(FeedbackRow(agent_id=agent_id, log_id=row.id, rating=-1, channel="widget"))
                elif rng.random() < 0.1:
                    session.add(FeedbackRow(agent_id=agent_id, log_id=row.id, rating=1, channel="widget"))


@pytest.fixture
def demo_stats(isolated_home: Path) -> Iterator[Stats]:
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("quillstack")
        demo_log(kit, agent.id)
        with kit.sessions() as session:
            yield compute_stats(
                session,
                agent_id=agent.id,
                agent_name=agent.name,
                since=SINCE,
                until=UNTIL,
                embed=kit.embedder(agent.embedder_id).embed,
            )


@pytest.fixture
def browser() -> Iterator[object]:
    with headless_chromium(
        purpose="report", window_size="1240,900", extra_arguments=("--hide-scrollbars",), capabilities={"goog:loggingPrefs": {"browser": "ALL"}}
    ) as driver:
        yield driver


CHART_SIZES = """
const found = {};
for (const id of arguments[0]) {
  const svg = document.getElementById(id);
  if (!svg) { found[id] = null; continue; }
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('rect.bar, polyline.line, circle.point')];
  found[id] = {
    width: box.width, height: box.height, marks: marks.length,
    drawn: marks.filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length,
  };
}
return found;
"""


@pytest.mark.slow
def test_report_charts_render_in_chromium(demo_stats: Stats, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(render_report(demo_stats, generated_at=UNTIL), encoding="utf-8")
    browser.get(page.as_uri())

    assert browser.title == "quillstack: agentkit stats"
    sizes = browser.execute_script(CHART_SIZES, list(CHARTS))
    for chart in CHARTS:
        figures = sizes[chart]
        assert figures is not None, f"chart {chart} is missing"
        assert figures["width"] > 300 and figures["height"] > 50, (chart, figures)
        assert figures["marks"] > 0 and figures["drawn"] == figures["marks"], (chart, figures)
    assert sizes["per-day"]["marks"] >= 30  # a bar per day, two where some were abstained
    assert sizes["documents"]["marks"] == len(demo_stats.top_documents)

    gap_rows = browser.find_elements(By.CSS_SELECTOR, "#gaps tbody tr")
    assert len(gap_rows) == len(demo_stats.gaps) >= 5
    labels = [row.find_elements(By.TAG_NAME, "td")[1].text for row in gap_rows]
    assert any("sso" in label or "saml" in label or "sign" in label for label in labels), labels
    cards = browser.find_elements(By.CSS_SELECTOR, ".card .value")
    assert cards[0].text == str(demo_stats.questions)

    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    assert browser.execute_script("return document.scripts.length") == 0

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1240, height)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))


@pytest.mark.slow
def test_hostile_questions_stay_text_in_chromium(demo_stats: Stats, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from selenium.webdriver.common.by import By

    from agentkit.improve.gaps import Gap
    from agentkit.improve.stats import CitedDocument

    hostile = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\">"
    stats = replace(
        demo_stats,
        gaps=[Gap(label=hostile, questions=2, examples=[hostile, "</td></tr></table><h1>x</h1>"])],
        top_documents=[CitedDocument(hostile, "javascript:alert(1)", 3)],
    )
    page = tmp_path / "hostile.html"
    page.write_text(render_report(stats), encoding="utf-8")
    browser.get(page.as_uri())
    assert browser.title == "quillstack: agentkit stats"
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1  # the page's own heading only
    cells = browser.find_elements(By.CSS_SELECTOR, "#gaps tbody td")
    assert cells[1].text == hostile
    assert "</td></tr></table><h1>x</h1>" in cells[3].text
