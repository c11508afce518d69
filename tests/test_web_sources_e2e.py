"""End-to-end tests: web sites added through the CLI and the Python API like file sources.

A small documentation site is served on 127.0.0.1 by the test (with `tests.web_test_site`):
`agentkit add NAME URL --crawl` stores its pages as documents of a "web" source, search hits
cite the page URL with the `#anchor` of the nearest heading, a 404 link is reported as skipped
without failing the command, the SSRF guard refuses the local server unless the source is
added with `--allow-private-network` (and refuses cloud metadata addresses even then), and
adding the same site again is a sync answered with 304s that embeds nothing.

The real python-markdown documentation site in ../shared/data is crawled through the CLI when
present: 42 pages are reachable from index.html. The data README mentions "one real broken
link": the only link to a missing page (``features.html?highlight=feature``) sits inside an
HTML comment in search.html, so no browser (and no crawler reading the page as a browser
does) can follow it; the crawl therefore reports no broken link, and this test does not
assert one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from agentkit import AgentKit
from agentkit.cli.app import cli
from tests.fakes import ScriptedGenerator
from tests.web_test_site import SiteServer, redirect, serving, static

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DOC_SITE = SHARED_DATA / "html_sites" / "python-markdown-doc_3.4.1-2+deb12u1" / "docs"
EMBEDDER = "hashing-128"

INDEX = """<!DOCTYPE html><html><head><title>Lumo Kettle Docs</title>
<script>var tracking = "script words";</script></head>
<body><nav><a href="/guide/setup.html">Setup</a> <a href="/guide/cleaning.html">Cleaning</a></nav>
<main><h1 id="welcome">Welcome</h1><p>The manual of the Lumo kettle.</p>
<ul><li><a href="/faq.html">Questions</a></li><li><a href="/missing.html">Old page</a></li></ul>
</main><footer>Copyright footer words</footer></body></html>"""

SETUP = """<html><head><title>Setting up the kettle</title></head><body><main>
<h1 id="setup">Setup</h1><p>Unpack the kettle and place it on a flat surface.</p>
<h2 id="filling">Filling</h2><p>Fill the kettle with fresh water up to the maximum line.</p>
<h2 id="boiling">Boiling time</h2>
<p>The Lumo kettle boils a full tank of water in three minutes and forty seconds.</p>
</main></body></html>"""

CLEANING = """<html><head><title>Cleaning the kettle</title></head><body><main>
<h1 id="cleaning">Cleaning</h1><p>Wipe the outside with a damp cloth.</p>
<h2 id="descaling">Descaling</h2>
<p>Descale the heating plate every month with citric acid dissolved in warm water.</p>
</main></body></html>"""

FAQ = """<html><head><title>Questions</title></head><body><main>
<h1 id="faq">Questions</h1><p>Answers to common questions about warranty.</p>
<a href="/guide/deep/warranty.html">Warranty</a></main></body></html>"""

WARRANTY = """<html><head><title>Warranty</title></head><body><main>
<h1 id="warranty">Warranty</h1><p>The warranty lasts two years from purchase.</p>
<a href="/guide/deep/too-deep.html">Fine print</a></main></body></html>"""

TOO_DEEP = "<html><head><title>Fine print</title></head><body><p>Three links away.</p></body></html>"

# Reached within --depth 2: index (0), setup, cleaning, faq (1), warranty (2).
EXPECTED_PAGES = ["/", "/guide/setup.html", "/guide/cleaning.html", "/faq.html", "/guide/deep/warranty.html"]


def kettle_site(server: SiteServer) -> None:
    server.routes.update(
        {
            "/": static(INDEX),
            "/guide/setup.html": static(SETUP),
            "/guide/cleaning.html": static(CLEANING),
            "/faq.html": static(FAQ),
            "/guide/deep/warranty.html": static(WARRANTY),
            "/guide/deep/too-deep.html": static(TOO_DEEP),
        }
    )


@pytest.fixture
def site() -> Iterator[SiteServer]:
    server = SiteServer()
    kettle_site(server)
    with serving(server):
        yield server


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def create_agent(name: str = "docs") -> None:
    result = run_cli("create", name, "--embedder", EMBEDDER)
    assert result.exit_code == 0, result.output


def crawl_args(name: str, url: str, *extra: str) -> list[str]:
    return ["add", name, url, "--crawl", "--depth", "2", "--max-pages", "50", *extra]


# -- through the CLI ---------------------------------------------------------------------------


def test_cli_crawl_stores_pages_and_reports_the_broken_link(site: SiteServer) -> None:
    create_agent()
    result = run_cli(*crawl_args("docs", site.url + "/", "--allow-private-network"))

    assert result.exit_code == 0, result.output
    assert f"skipped {site.url}/missing.html" in result.stderr
    assert "404" in result.stderr and "the link is broken" in result.stderr
    assert f"{site.url}/: 5 documents" in result.stdout
    assert "/guide/deep/too-deep.html" not in site.requested_paths()

    sources = json_of(run_cli("sources", "docs", "--json"))
    assert len(sources) == 1
    source = sources[0]
    assert (source["kind"], source["uri"], source["documents"]) == ("web", site.url + "/", 5)
    assert source["options"] == {"crawl": True, "depth": 2, "max_pages": 50, "allow_private_network": True}
    assert source["status"] == "ready"
    assert "missing.html" in (source["error"] or "")  # the skip is remembered on the source


def test_cli_search_hits_cite_the_page_url_with_the_heading_anchor(site: SiteServer) -> None:
    create_agent()
    assert run_cli(*crawl_args("docs", site.url + "/", "--allow-private-network")).exit_code == 0

    hits = json_of(run_cli("search", "docs", "descale the heating plate with citric acid", "--json"))
    top = hits[0]
    assert top["uri"] == f"{site.url}/guide/cleaning.html"
    assert top["anchor"] == "descaling"
    assert top["location"] == f"{site.url}/guide/cleaning.html#descaling"
    assert top["title"] == "Cleaning the kettle"
    assert "citric acid" in top["text"]

    hits = json_of(
        run_cli("search", "docs", "boils a full tank in three minutes and forty seconds", "--json")
    )
    assert hits[0]["location"] == f"{site.url}/guide/setup.html#boiling"
    every_text = " ".join(hit["text"] for hit in hits)
    assert "script words" not in every_text and "Copyright footer" not in every_text
    assert all(hit["uri"].startswith(site.url + "/") for hit in hits)


def test_cli_refuses_a_private_address_without_the_flag_and_stores_nothing(site: SiteServer) -> None:
    create_agent()
    url = site.url + "/"
    result = run_cli(*crawl_args("docs", url))

    assert result.exit_code == 1
    assert url in result.stderr
    assert "loopback address" in result.stderr and "--allow-private-network" in result.stderr
    assert site.requests == []  # refused before any connection
    assert json_of(run_cli("sources", "docs", "--json")) == []
    assert json_of(run_cli("show", "docs", "--json"))["documents"] == 0


def test_cli_re_adding_a_site_is_a_sync_answered_with_304s(site: SiteServer) -> None:
    create_agent()
    args = crawl_args("docs", site.url + "/", "--allow-private-network", "--json")
    first = json_of(run_cli(*args))
    assert (first["added"], first["documents"]) == (5, 5)
    assert first["chunks_embedded"] > 0
    chunks = first["chunks"]
    site.requests.clear()

    again = json_of(run_cli(*args))
    assert (again["added"], again["updated"], again["removed"]) == (0, 0, 0)
    assert again["unchanged"] == 5
    assert again["chunks_embedded"] == 0
    assert (again["documents"], again["chunks"]) == (5, chunks)
    assert [item["uri"] for item in again["failed"]] == [f"{site.url}/missing.html"]
    conditional = [request for request in site.requests if "if-none-match" in request.headers]
    assert {request.path for request in conditional} == set(EXPECTED_PAGES)
    assert len(json_of(run_cli("sources", "docs", "--json"))) == 1


def test_cli_a_redirect_to_cloud_metadata_is_refused_even_with_the_flag(site: SiteServer) -> None:
    site.routes["/faq.html"] = static('<p>Moved.</p><a href="/cloud">Cloud</a>')
    site.routes["/cloud"] = redirect("http://169.254.169.254/latest/meta-data/iam/")
    create_agent()
    result = run_cli(*crawl_args("docs", site.url + "/", "--allow-private-network"))

    assert result.exit_code == 0, result.output
    assert f"skipped {site.url}/cloud" in result.stderr
    assert "169.254.169.254" in result.stderr and "cloud metadata service" in result.stderr
    assert "even with allow_private_network" in result.stderr


def test_cli_metadata_start_url_is_refused_even_with_the_flag() -> None:
    create_agent()
    url = "http://169.254.169.254/latest/meta-data/"
    result = run_cli("add", "docs", url, "--allow-private-network")
    assert result.exit_code == 1
    assert url in result.stderr and "cloud metadata service" in result.stderr
    assert json_of(run_cli("sources", "docs", "--json")) == []


# -- through the Python API --------------------------------------------------------------------


def test_api_add_source_crawls_searches_and_cites_urls(site: SiteServer, isolated_home: Path) -> None:
    with AgentKit(home=isolated_home, generator=ScriptedGenerator()) as kit:
        agent = kit.create_agent("docs", embedder=EMBEDDER)
        options = {"crawl": True, "depth": 2, "max_pages": 50, "allow_private_network": True}
        report = agent.add_source(site.url + "/", options=options)
        assert report.error is None
        assert (report.kind, report.documents, report.added) == ("web", 5, 5)
        assert [item.uri for item in report.failed] == [f"{site.url}/missing.html"]

        hits = agent.search("warranty lasts two years", k=3)
        assert hits[0].uri == f"{site.url}/guide/deep/warranty.html"
        assert hits[0].location == f"{site.url}/guide/deep/warranty.html#warranty"

        answer = agent.ask("How long does the warranty last?")
        assert answer.citations, answer
        assert answer.citations[0].uri == f"{site.url}/guide/deep/warranty.html#warranty"
        assert all(citation.uri.startswith(site.url + "/") for citation in answer.citations)

        again = agent.add_source(site.url + "/", options=options)
        assert (again.unchanged, again.chunks_embedded, again.documents) == (5, 0, 5)
        assert [info.kind for info in agent.sources()] == ["web"]


def test_api_refused_url_leaves_nothing_stored(site: SiteServer, isolated_home: Path) -> None:
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("docs", embedder=EMBEDDER)
        report = agent.add_source(site.url + "/", options={"crawl": True})
        assert report.error is not None and site.url in report.error
        assert "allow_private_network" in report.error
        assert agent.sources() == []
    assert site.requests == []


# -- the real documentation site -----------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep test output clean."""


@pytest.fixture
def doc_site_url() -> Iterator[str]:
    if not DOC_SITE.is_dir():
        pytest.skip(f"{DOC_SITE} is not present")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(DOC_SITE)))
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


def test_real_doc_site_crawl_through_the_cli(doc_site_url: str) -> None:
    create_agent("markdown")
    start = doc_site_url + "/index.html"
    report = json_of(run_cli(*crawl_args("markdown", start, "--allow-private-network", "--json")))
    assert report["documents"] == 42, report["failed"]
    assert report["failed"] == []  # the one dead link is inside an HTML comment (see above)

    sources = json_of(run_cli("sources", "markdown", "--json"))
    assert [(source["kind"], source["documents"]) for source in sources] == [("web", 42)]
    hits = json_of(run_cli("search", "markdown", "table of contents extension toc marker", "--json"))
    assert hits and all(hit["uri"].startswith(doc_site_url + "/") for hit in hits)
    assert any(hit["anchor"] for hit in hits)

    again = json_of(run_cli(*crawl_args("markdown", start, "--allow-private-network", "--json")))
    assert (again["unchanged"], again["chunks_embedded"]) == (42, 0)
