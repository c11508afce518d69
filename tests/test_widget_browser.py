"""The chat widget in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven by Selenium against the server on 127.0.0.1.

A second loopback HTTP server plays the customer's web site: it serves a page with the widget's
script tag (on two ports: one origin the key lists, one it does not) and the docs page the agent
learned from, so the answer's source link can be followed. The screenshot of the open widget
that the README shows is written to docs/widget-screenshot.png.

CI installs chromium through .ci/run; where it is missing this fails with a message saying what
to install rather than skipping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentkit import AgentKit
from agentkit.server.keys import create_key
from agentkit.server.testing import running_server
from tests.chromium import headless_chromium
from tests.conftest import REPO_ROOT
from tests.fakes import ScriptedGenerator

SCREENSHOT = REPO_ROOT / "docs" / "widget-screenshot.png"
AGENT = "quillstack"
QUESTION = "How many requests per minute may each API token make?"
ANSWER = "Each API token may make 600 requests per minute, with bursts of up to 50 requests."
SHOWN = ANSWER.rstrip(".") + " [1]."  # grounding puts the citation mark inside the sentence
DOC = (
    "# API rate limits\n\nEach API token may make 600 requests per minute, with bursts of up to 50 "
    "requests. Over the limit the API answers 429 Too Many Requests with a Retry-After header.\n"
)
POISON = (
    "The escalation desk notes say <img src=x onerror=alert(1)> and <script>alert(1)</script> "
    "and [link](javascript:alert(1)) are part of the escalation desk procedure."
)
WAIT_S = 30

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Quillstack Help Center</title>
<style>
  body {{ margin: 0; font: 16px/1.5 Georgia, serif; color: #222; background: #fbfaf7; }}
  header {{ background: #1c2b39; color: #fff; padding: 18px 40px; font: 600 20px system-ui, sans-serif; }}
  main {{ max-width: 620px; padding: 24px 40px; }}
</style>
<script>
  window.__alerts = 0;
  window.alert = function () {{ window.__alerts += 1; }};
</script>
</head><body>
<header>Quillstack Help Center</header>
<main>
  <h1>Using the REST API</h1>
  <p>Quillstack has a JSON REST API for scripts and integrations. Tokens are created in the web app
  under Settings, API tokens. Questions? Ask the assistant in the corner.</p>
  <p>The assistant answers from our documentation only, and cites the pages it used.</p>
</main>
<script src="{api}/widget.js" data-agent="{agent}" data-key="{key}" data-title="Quillstack help"></script>
</body></html>
"""


class SiteHandler(BaseHTTPRequestHandler):
    """The customer's site: `/` is the page with the widget, `/docs/rate-limits.md` the doc it cites."""

    server: SiteServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.startswith("/docs/rate-limits.md"):
            body, kind = DOC.encode(), "text/markdown; charset=utf-8"
        elif self.path == "/robots.txt":
            body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
        elif self.path == "/" or self.path.startswith("/?"):
            body, kind = self.server.page().encode(), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, page: Callable[[], str]) -> None:
        super().__init__(("127.0.0.1", 0), SiteHandler)
        self.page = page

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@dataclass
class ApiServer:
    url: str
    key: str
    generator: ScriptedGenerator


@dataclass
class Site:
    allowed: SiteServer
    other: SiteServer
    api: ApiServer


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def site(isolated_home: Path, local_model_is: Callable[[ScriptedGenerator], None]) -> Iterator[Site]:
    generator = ScriptedGenerator()
    local_model_is(generator)
    holder: dict[str, str] = {}

    def page() -> str:
        return HOST_PAGE.format(api=holder["api"], agent=AGENT, key=holder["key"])

    allowed, other = SiteServer(page), SiteServer(page)
    _serve(allowed)
    _serve(other)
    try:
        with AgentKit(home=isolated_home) as kit:
            agent = kit.create_agent(AGENT, embedder="hashing:256")
            report = agent.add_source(
                allowed.url + "/docs/rate-limits.md", options={"allow_private_network": True}
            )
            assert report.error is None, report.error
            agent.upsert_records(
                [{"id": "poison", "title": "<img src=x onerror=alert(1)> Escalation", "text": POISON}],
                title_field="title",
            )
            _, key = create_key(kit, scope="chat", agent=AGENT, origins=[allowed.url])
            with running_server(kit) as server:
                holder.update(api=server.url, key=key)
                yield Site(allowed=allowed, other=other, api=ApiServer(server.url, key, generator))
    finally:
        allowed.shutdown()
        other.shutdown()


@pytest.fixture
def browser() -> Iterator[object]:
    with headless_chromium(
        purpose="widget", window_size="1100,760", extra_arguments=(), capabilities={"unhandledPromptBehavior": "ignore"}
    ) as driver:
        yield driver


# ---- helpers over the widget's shadow root ----


def _widget(driver):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    host = WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-agentkit-widget]")
    )
    return host.shadow_root


def _ask(driver, question: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    root = _widget(driver)
    panel = root.find_element(By.CSS_SELECTOR, ".ak-panel")
    if not panel.is_displayed():
        root.find_element(By.CSS_SELECTOR, ".ak-bubble").click()
    box = root.find_element(By.CSS_SELECTOR, ".ak-input")
    assert driver.execute_script(
        "return arguments[0].shadowRoot.activeElement === arguments[1]",
        driver.find_element(By.CSS_SELECTOR, "[data-agentkit-widget]"),
        box,
    )
    box.send_keys(question)
    box.send_keys(Keys.ENTER)


def _wait_for_reply(driver):  # type: ignore[no-untyped-def]
    """The last assistant or error bubble once the answer has finished streaming."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root = _widget(driver)

    def finished(_driver):  # type: ignore[no-untyped-def]
        if root.find_element(By.CSS_SELECTOR, ".ak-log").get_attribute("aria-busy") == "true":
            return False
        replies = root.find_elements(By.CSS_SELECTOR, ".ak-assistant, .ak-error")
        return replies[-1] if replies else False

    return WebDriverWait(driver, WAIT_S).until(finished)


DOM_AUDIT = """
const seen = {img: 0, script: 0, javascriptHrefs: [], links: []};
function walk(root) {
  for (const node of root.querySelectorAll('*')) {
    const tag = node.tagName.toLowerCase();
    if (tag === 'img') seen.img += 1;
    if (tag === 'script' && root !== document) seen.script += 1;
    for (const attr of node.getAttributeNames()) {
      const value = node.getAttribute(attr) || '';
      if (/^\\s*javascript:/i.test(value)) seen.javascriptHrefs.push(tag + ' ' + attr + '=' + value);
      if (attr.startsWith('on')) seen.javascriptHrefs.push(tag + ' ' + attr);
    }
    if (tag === 'a') seen.links.push(node.href);
    if (node.shadowRoot) walk(node.shadowRoot);
  }
}
walk(document);
seen.alerts = window.__alerts;
return seen;
"""


def test_widget_streams_a_cited_answer_on_an_allowed_origin(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    site.api.generator.enqueue(f"{ANSWER} [1]")
    browser.get(site.allowed.url + "/")
    root = _widget(browser)
    bubble = root.find_element(By.CSS_SELECTOR, ".ak-bubble")
    assert bubble.get_attribute("aria-expanded") == "false"
    assert root.find_element(By.CSS_SELECTOR, "[role=dialog]").get_attribute("aria-labelledby") == "ak-title"

    _ask(browser, QUESTION)
    reply = _wait_for_reply(browser)
    assert "ak-error" not in reply.get_attribute("class"), reply.text
    assert reply.find_element(By.CSS_SELECTOR, ".ak-text").text == SHOWN
    link = reply.find_element(By.CSS_SELECTOR, ".ak-sources a")
    assert link.get_attribute("href").startswith(site.allowed.url + "/docs/rate-limits.md")
    assert link.get_attribute("rel") == "noopener noreferrer" and link.get_attribute("target") == "_blank"
    assert reply.find_element(By.CSS_SELECTOR, ".ak-sources li").text.startswith("[1] ")
    assert root.find_element(By.CSS_SELECTOR, "[role=status]").get_attribute("textContent") == SHOWN
    assert bubble.get_attribute("aria-expanded") == "true"

    # A hidden caret keeps the screenshot the same from run to run (it blinks).
    browser.execute_script(
        "const style = document.createElement('style'); style.textContent = '* { caret-color: transparent; }';"
        "arguments[0].shadowRoot.appendChild(style);",
        browser.find_element(By.CSS_SELECTOR, "[data-agentkit-widget]"),
    )
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    # The source link works: it opens the cited page in a new tab.
    first_tab = browser.current_window_handle
    link.click()
    browser.switch_to.window([handle for handle in browser.window_handles if handle != first_tab][0])
    assert "600 requests per minute" in browser.find_element(By.TAG_NAME, "body").text
    browser.close()
    browser.switch_to.window(first_tab)

    # The conversation is kept for the tab: a reload shows it, and a follow-up sends every turn.
    browser.refresh()
    root = _widget(browser)
    root.find_element(By.CSS_SELECTOR, ".ak-bubble").click()
    kept = [message.text for message in root.find_elements(By.CSS_SELECTOR, ".ak-msg")]
    assert len(kept) == 2 and kept[0] == QUESTION and kept[1].startswith(SHOWN), kept
    site.api.generator.enqueue(f"{ANSWER} [1]")
    _ask(browser, "And how many requests may each API token make in a burst?")
    assert "ak-error" not in _wait_for_reply(browser).get_attribute("class")
    history = site.api.generator.prompts[-1]
    assert any(QUESTION in message.content for message in history[:-1]), "the first turn was not sent"

    # Esc closes the panel and gives focus back to the bubble.
    root.find_element(By.CSS_SELECTOR, ".ak-input").send_keys(Keys.ESCAPE)
    assert not root.find_element(By.CSS_SELECTOR, ".ak-panel").is_displayed()
    assert (
        browser.execute_script(
            "return arguments[0].shadowRoot.activeElement.className",
            browser.find_element(By.CSS_SELECTOR, "[data-agentkit-widget]"),
        )
        == "ak-bubble"
    )


def test_widget_on_an_origin_the_key_does_not_list_gets_nothing(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    asked_before = len(site.api.generator.prompts)
    browser.get(site.other.url + "/")
    _ask(browser, QUESTION)
    reply = _wait_for_reply(browser)
    assert "ak-error" in reply.get_attribute("class")
    assert reply.get_attribute("role") == "alert"
    assert "not be allowed on this site" in reply.text
    assert "600 requests" not in _widget(browser).find_element(By.CSS_SELECTOR, ".ak-log").text
    assert len(site.api.generator.prompts) == asked_before, "the model was asked for a refused origin"


def test_poisoned_source_shows_as_inert_text(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    site.api.generator.enqueue(POISON + " [1]")
    browser.get(site.allowed.url + "/")
    _ask(browser, "What do the escalation desk notes say about the escalation desk procedure?")
    reply = _wait_for_reply(browser)
    text = reply.find_element(By.CSS_SELECTOR, ".ak-text").text
    assert "<img src=x onerror=alert(1)>" in text
    assert "<script>alert(1)</script>" in text
    assert "[link](javascript:alert(1))" in text
    source = reply.find_element(By.CSS_SELECTOR, ".ak-sources li")
    assert "<img src=x onerror=alert(1)> Escalation" in source.text
    assert source.find_elements(By.TAG_NAME, "a") == [], "a records:// source is not a link"
    audit = browser.execute_script(DOM_AUDIT)
    assert audit["img"] == 0 and audit["script"] == 0, audit
    assert audit["javascriptHrefs"] == [], audit
    assert audit["alerts"] == 0
    assert all(href.startswith("http") for href in audit["links"]), audit


def test_full_page_chat_takes_a_typed_key(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{site.api.url}/agents/{AGENT}/chat")
    root = _widget(browser)
    assert root.find_elements(By.CSS_SELECTOR, ".ak-bubble") == []
    assert not root.find_element(By.CSS_SELECTOR, ".ak-ask-form").is_displayed()
    key_input = root.find_element(By.CSS_SELECTOR, "#ak-key")
    key_input.send_keys(site.api.key)
    key_input.send_keys(Keys.ENTER)
    site.api.generator.enqueue(f"{ANSWER} [1]")
    _ask(browser, QUESTION)
    reply = _wait_for_reply(browser)
    assert reply.find_element(By.CSS_SELECTOR, ".ak-text").text == SHOWN
    assert browser.execute_script(DOM_AUDIT)["img"] == 0


def test_widget_greets_and_a_thumb_lands_in_the_feedback_table(  # type: ignore[no-untyped-def]
    site: Site, browser, isolated_home: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from sqlalchemy import select

    from agentkit.store.models import FeedbackRow, QuestionLogRow

    greeting = "Hi! Ask me anything about the Quillstack API."
    with AgentKit(home=isolated_home) as kit:  # another process's `agentkit set`, server running
        kit.get_agent(AGENT).set(greeting=greeting)
    site.api.generator.enqueue(f"{ANSWER} [1]")
    browser.get(site.allowed.url + "/")
    root = _widget(browser)
    root.find_element(By.CSS_SELECTOR, ".ak-bubble").click()
    shown = WebDriverWait(browser, WAIT_S).until(lambda d: root.find_elements(By.CSS_SELECTOR, ".ak-greeting"))
    assert shown[0].text == greeting

    _ask(browser, QUESTION)
    reply = _wait_for_reply(browser)
    assert reply.find_element(By.CSS_SELECTOR, ".ak-text").text == SHOWN
    down = reply.find_element(By.CSS_SELECTOR, ".ak-thumb-down")
    assert down.get_attribute("aria-label") == "This answer was not helpful"
    down.click()
    WebDriverWait(browser, WAIT_S).until(lambda d: root.find_elements(By.CSS_SELECTOR, ".ak-feedback-done"))

    with AgentKit(home=isolated_home) as kit, kit.sessions() as session:
        (logged,) = session.scalars(select(QuestionLogRow)).all()
        (feedback,) = session.scalars(select(FeedbackRow)).all()
    assert (logged.channel, logged.question) == ("widget", QUESTION)
    assert (feedback.log_id, feedback.rating, feedback.channel) == (logged.id, -1, "widget")

    # The rating is kept with the conversation: after a reload the answer shows it was rated.
    browser.refresh()
    root = _widget(browser)
    root.find_element(By.CSS_SELECTOR, ".ak-bubble").click()
    assert root.find_elements(By.CSS_SELECTOR, ".ak-thumb-down") == []
    assert root.find_element(By.CSS_SELECTOR, ".ak-feedback-done").text == "Thanks for your feedback."
