"""`agentkit sync` of a web source against a local server that honours conditional requests.

Unchanged pages must come back as `304 Not Modified` (nothing downloaded, nothing embedded);
a changed page is re-embedded; a page that disappears leaves the agent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from agentkit.cli.app import cli
from tests.web_test_site import serving


class ChangingSite(ThreadingHTTPServer):
    """Pages that a test edits between syncs; records (path, status) of every answer."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ConditionalHandler)
        self.pages: dict[str, str] = {}
        self.answers: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def statuses(self, path: str) -> list[int]:
        return [status for answered, status in self.answers if answered == path]


class ConditionalHandler(BaseHTTPRequestHandler):
    server: ChangingSite

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.server.pages.get(self.path)
        if body is None:
            self._answer(404, b"not here", {})
            return
        encoded = body.encode("utf-8")
        etag = '"' + hashlib.sha256(encoded).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self._answer(304, b"", {"ETag": etag})
            return
        self._answer(200, encoded, {"ETag": etag, "Content-Type": "text/html; charset=utf-8"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.server.answers.append((self.path, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


def page(title: str, text: str, links: tuple[str, ...] = ()) -> str:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    return (
        f"<html><head><title>{title}</title></head><body><main><h1>{title}</h1>"
        f"<p>{text}</p><ul>{anchors}</ul></main></body></html>"
    )


@pytest.fixture
def site() -> Iterator[ChangingSite]:
    server = ChangingSite()
    with serving(server):
        yield server


def sync_json(runner: CliRunner) -> dict[str, object]:
    result = runner.invoke(cli, ["sync", "web", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.output)
    return report


def test_sync_of_a_site_uses_conditional_requests(site: ChangingSite) -> None:
    site.pages = {
        "/": page("Home", "The Quokka handbook lists its chapters.", ("/feeding.html", "/housing.html")),
        "/feeding.html": page("Feeding", "Quokkas eat leaves and grasses at night."),
        "/housing.html": page("Housing", "A quokka enclosure needs shade and low shrubs."),
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["create", "web", "--embedder", "hashing-128"]).exit_code == 0
    added = runner.invoke(
        cli,
        ["add", "web", f"{site.url}/", "--crawl", "--allow-private-network", "--json"],
        catch_exceptions=False,
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["added"] == 3

    site.answers.clear()
    unchanged = sync_json(runner)
    assert (unchanged["unchanged"], unchanged["chunks_embedded"], unchanged["updated"]) == (3, 0, 0)
    for path in ("/", "/feeding.html", "/housing.html"):
        assert site.statuses(path) == [304], f"{path} was downloaded again"

    site.pages["/feeding.html"] = page("Feeding", "Quokkas now get pellets twice a day.")
    site.answers.clear()
    changed = sync_json(runner)
    assert (changed["updated"], changed["unchanged"], changed["removed"]) == (1, 2, 0)
    assert changed["chunks_embedded"] == 1
    assert site.statuses("/feeding.html") == [200] and site.statuses("/housing.html") == [304]
    hits = json.loads(runner.invoke(cli, ["search", "web", "quokka pellets feeding", "--json"]).output)
    texts = " ".join(hit["text"] for hit in hits)
    assert "pellets" in texts and "leaves and grasses" not in texts
    assert all(hit["fetched_at"] for hit in hits)

    del site.pages["/housing.html"]
    site.pages["/"] = page("Home", "The Quokka handbook lists its chapters.", ("/feeding.html",))
    removed = sync_json(runner)
    assert (removed["removed"], removed["updated"], removed["unchanged"]) == (1, 1, 1)
    hits = json.loads(runner.invoke(cli, ["search", "web", "enclosure shade shrubs", "--json"]).output)
    assert all("shrubs" not in hit["text"] for hit in hits)
    doctor = runner.invoke(cli, ["doctor", "web", "--json"])
    assert doctor.exit_code == 0 and json.loads(doctor.output)["sql_chunks"] == 2
