"""Tests for the web connector against sites served by the test on 127.0.0.1.

A small synthetic site covers boilerplate, broken links, redirects (chain, loop, to private
addresses), size caps, timeouts, robots.txt, sitemaps, PDF and conditional requests; the
real documentation site from ../shared/data checks completeness and measures crawl speed.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit

import pytest

from connectors.base import (
    ConnectorError,
    Document,
    FetchedItem,
    PreviousFetch,
    SkippedItem,
    UnchangedItem,
)
from connectors.web import url_safety
from connectors.web.connector import WebConnector
from connectors.web.url_safety import UnsafeUrlError
from connectors.web.urls import normalize_url
from tests.web_test_site import (
    NOTES_DATE,
    RecordedRequest,
    SiteServer,
    redirect,
    serving,
    slow_page,
    standard_site,
    static,
    tiny_pdf,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DOC_SITE = SHARED_DATA / "html_sites" / "python-markdown-doc_3.4.1-2+deb12u1" / "docs"


@pytest.fixture
def site() -> Iterator[SiteServer]:
    server = SiteServer()
    with serving(server):
        yield server


@dataclass
class CrawledSite:
    """The standard site after one crawl, shared by the tests that only read the result."""

    server: SiteServer
    items: list[FetchedItem]
    requests: list[RecordedRequest]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def crawled_site() -> Iterator[CrawledSite]:
    server = SiteServer()
    with serving(server):
        standard_site(server)
        items = crawl(server)
        yield CrawledSite(server, items, list(server.requests))


def crawl(
    server: SiteServer,
    previous: dict[str, PreviousFetch] | None = None,
    *,
    options: dict[str, object] | None = None,
) -> list[FetchedItem]:
    """Crawl the served site from / with test-sized limits, `options` overriding them."""
    settings: dict[str, object] = {
        "crawl": True,
        "allow_private_network": True,
        "timeout_s": 0.5,
        "max_bytes": 20_000,
    }
    settings.update(options or {})
    connector = WebConnector.from_options(server.url + "/", settings)
    return list(connector.fetch(previous or {}))


ItemKind = TypeVar("ItemKind", Document, SkippedItem, UnchangedItem)


def by_uri(items: list[FetchedItem], kind: type[ItemKind]) -> dict[str, ItemKind]:
    return {item.uri: item for item in items if isinstance(item, kind)}


# -- crawling the synthetic site -------------------------------------------------------------


def test_crawl_reads_pages_and_reports_what_it_skipped(crawled_site: CrawledSite) -> None:
    site = crawled_site
    items = site.items
    documents = by_uri(items, Document)
    skipped = by_uri(items, SkippedItem)
    base = site.url
    expected_documents = {
        f"{base}/",
        f"{base}/about.html",
        f"{base}/dir/",
        f"{base}/final.html",
        f"{base}/notes.txt",
        f"{base}/gzipped.html",
        f"{base}/sitemap-only.html",
        f"{base}/deep.html",
    }
    pdf_readable = _pdf_reader_available()
    if pdf_readable:
        expected_documents.add(f"{base}/manual.pdf")
    assert set(documents) == expected_documents
    assert f"{base}/deeper.html" not in documents  # three links away, beyond depth 2

    def reason(path: str) -> str:
        return skipped[f"{base}{path}"].reason

    assert "404" in reason("/missing.html") and "broken" in reason("/missing.html")
    assert f"linked from {base}/" in reason("/missing.html")
    assert "redirects" in reason("/loop/0")
    assert "max_bytes" in reason("/big.html")
    assert "max_bytes" in reason("/big-stream.html")
    assert "decompresses" in reason("/bomb.html")
    assert "timed out" in reason("/slow.html")
    assert "robots.txt" in reason("/private/secret.html")
    assert "robots.txt" in reason("/private/listed.html")
    assert "binary content type image/png" in reason("/logo.png")
    # Nothing fetched twice, nothing off-site, nothing the robots.txt forbids.
    paths = [request.path for request in site.requests if not request.path.startswith("/loop/")]
    assert len(paths) == len(set(paths))
    assert "/dir/index.html" not in paths and "/private/secret.html" not in paths
    assert all(
        request.headers["host"] == f"127.0.0.1:{site.server.server_address[1]}" for request in site.requests
    )
    assert all(request.headers["user-agent"].startswith("agentkit/") for request in site.requests)


def _pdf_reader_available() -> bool:
    try:
        from connectors.readers.pdf import read_pdf  # noqa: F401
    except ImportError:
        return False
    return True


def test_documents_hold_main_content_anchors_and_metadata(crawled_site: CrawledSite) -> None:
    site = crawled_site
    documents = by_uri(site.items, Document)
    home = documents[f"{site.url}/"]
    assert home.title == "Test Site Home"
    assert "Home page text." in home.text
    for boilerplate in ("Site header text", "Footer text", "script text", "color: red"):
        assert boilerplate not in home.text
    assert home.blocks[0].anchor == "welcome"
    assert home.metadata["url"] == f"{site.url}/"
    assert home.metadata["status"] == 200
    assert home.metadata["content_type"] == "text/html"
    assert str(home.metadata["etag"]).startswith('"')
    links = json.loads(str(home.metadata["links"]))
    assert f"{site.url}/about.html" in links and "http://example.com/elsewhere" not in links
    about = documents[f"{site.url}/about.html"]
    team = [block for block in about.blocks if block.text == "Team text."][0]
    assert (team.heading_path, team.anchor) == (("About", "Team"), "team")
    notes = documents[f"{site.url}/notes.txt"]
    assert [block.text for block in notes.blocks] == ["First note.", "Second note."]
    assert notes.metadata["last_modified"] == NOTES_DATE
    assert documents[f"{site.url}/gzipped.html"].text == "Compressed text."
    assert documents[f"{site.url}/final.html"].title == "Final"


def test_pdf_links_are_read_with_the_pdf_reader(crawled_site: CrawledSite) -> None:
    pytest.importorskip("connectors.readers.pdf")
    pytest.importorskip("pypdf")
    documents = by_uri(crawled_site.items, Document)
    manual = documents[f"{crawled_site.url}/manual.pdf"]
    assert "Manual text inside the PDF" in manual.text
    assert manual.metadata["content_type"] == "application/pdf"


def test_recrawl_uses_conditional_requests_and_stored_links(crawled_site: CrawledSite) -> None:
    site = crawled_site.server
    first = by_uri(crawled_site.items, Document)
    previous = {
        uri: PreviousFetch(content_hash=document.content_hash, metadata=document.metadata)
        for uri, document in first.items()
    }
    site.requests.clear()
    second = crawl(site, previous)
    unchanged = set(by_uri(second, UnchangedItem))
    changed = set(by_uri(second, Document))
    # Every page with a validator answers 304; deep.html is reached only through the stored
    # links of about.html, which was not downloaded again.
    assert f"{site.url}/about.html" in unchanged and f"{site.url}/deep.html" in unchanged
    assert f"{site.url}/notes.txt" in unchanged
    assert unchanged | changed == set(first)
    assert changed <= {f"{site.url}/final.html"}  # reached through a redirect, fetched in full
    about_request = [request for request in site.requests if request.path == "/about.html"][0]
    assert about_request.headers["if-none-match"] == first[f"{site.url}/about.html"].metadata["etag"]
    notes_request = [request for request in site.requests if request.path == "/notes.txt"][0]
    assert notes_request.headers["if-modified-since"] == NOTES_DATE


def test_a_stored_page_that_is_now_gone_is_not_yielded(site: SiteServer) -> None:
    site.routes["/"] = static('<p>Home.</p><a href="/gone.html">Gone</a> <a href="/never.html">Never</a>')
    previous = {f"{site.url}/gone.html": PreviousFetch(content_hash="old", metadata={"links": "[]"})}
    items = crawl(site, previous)
    uris = {item.uri for item in items}
    assert f"{site.url}/gone.html" not in uris  # the ingest removes it as vanished
    assert isinstance(by_uri(items, SkippedItem)[f"{site.url}/never.html"], SkippedItem)


def test_depth_max_pages_and_globs_limit_the_crawl(site: SiteServer) -> None:
    standard_site(site)
    only_start = crawl(site, options={"depth": 0, "use_sitemap": False})
    assert set(by_uri(only_start, Document)) == {f"{site.url}/"}
    capped = crawl(site, options={"max_pages": 3, "use_sitemap": False})
    assert len([item for item in capped if not isinstance(item, SkippedItem)]) <= 3
    assert "max_pages=3" in [item for item in capped if isinstance(item, SkippedItem)][-1].reason
    site.requests.clear()
    filtered = crawl(
        site,
        options={"include": ["/", "/dir/*", "/about*"], "exclude": ["/about.html"], "use_sitemap": False},
    )
    assert set(by_uri(filtered, Document)) == {f"{site.url}/", f"{site.url}/dir/"}
    prefixed = crawl(site, options={"path_prefix": "/dir/", "use_sitemap": False})
    assert set(by_uri(prefixed, Document)) == {f"{site.url}/", f"{site.url}/dir/"}


def test_sitemap_seeds_pages_no_link_reaches(site: SiteServer) -> None:
    standard_site(site)
    without = by_uri(crawl(site, options={"use_sitemap": False}), Document)
    assert f"{site.url}/sitemap-only.html" not in without
    site.routes["/robots.txt"] = static(f"User-agent: *\nAllow: /\nSitemap: {site.url}/maps/index.xml\n")
    site.routes["/sitemap.xml"] = static("", content_type="application/xml")
    index = f"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>{site.url}/maps/pages.xml.gz</loc></sitemap></sitemapindex>"""
    pages = f"""<urlset><url><loc>{site.url}/sitemap-only.html</loc></url></urlset>"""
    site.routes["/maps/index.xml"] = static(index, content_type="application/xml")
    site.routes["/maps/pages.xml.gz"] = static(gzip.compress(pages.encode()), content_type="application/gzip")
    with_index = by_uri(crawl(site, options={"depth": 0}), Document)
    assert set(with_index) == {f"{site.url}/", f"{site.url}/sitemap-only.html"}


def test_single_page_mode_fetches_one_page(site: SiteServer) -> None:
    standard_site(site)
    connector = WebConnector(site.url + "/about.html", allow_private_network=True)
    items = list(connector.fetch({}))
    assert [item.uri for item in items] == [f"{site.url}/about.html"]
    assert isinstance(items[0], Document) and "links" not in items[0].metadata
    assert site.requested_paths() == ["/about.html"]
    previous = {items[0].uri: PreviousFetch(items[0].content_hash, items[0].metadata)}
    assert list(connector.fetch(previous)) == [UnchangedItem(f"{site.url}/about.html")]


# -- safety and failures of the whole source -------------------------------------------------


def test_local_addresses_are_refused_by_default(site: SiteServer) -> None:
    standard_site(site)
    with pytest.raises(UnsafeUrlError, match="allow_private_network"):
        WebConnector(site.url + "/", crawl=True)
    with pytest.raises(UnsafeUrlError):
        WebConnector(f"http://localhost:{site.server_address[1]}/")
    assert site.requests == []


def test_a_host_name_resolving_to_a_local_address_is_refused(
    site: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    standard_site(site)
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host == "intranet.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    connector = WebConnector(f"http://intranet.test:{site.server_address[1]}/")
    with pytest.raises(ConnectorError, match="127.0.0.1"):
        list(connector.fetch({}))
    assert site.requests == []
    allowed = WebConnector(f"http://intranet.test:{site.server_address[1]}/", allow_private_network=True)
    document = list(allowed.fetch({}))[0]
    assert isinstance(document, Document)
    assert site.requests[0].headers["host"] == f"intranet.test:{site.server_address[1]}"


def test_redirects_to_private_addresses_are_refused(
    site: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only 127.0.0.1 treated as public, redirects elsewhere inside must not be followed."""
    real_reason = url_safety.refusal_reason

    def only_test_server_is_public(address: url_safety.IPAddress) -> str | None:
        return None if str(address) == "127.0.0.1" else real_reason(address)

    monkeypatch.setattr(url_safety, "refusal_reason", only_test_server_is_public)
    port = site.server_address[1]
    site.routes.update(
        {
            "/": static(
                '<p>Start.</p><a href="/to-loopback">a</a> <a href="/to-metadata">b</a> '
                '<a href="/to-localhost">c</a> <a href="/to-file">d</a>'
            ),
            "/to-loopback": redirect(f"http://127.0.0.2:{port}/inside"),
            "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
            "/to-localhost": redirect(f"http://localhost:{port}/"),
            "/to-file": redirect("file:///etc/passwd"),
        }
    )
    items = crawl(site, options={"allow_private_network": False})
    skipped = by_uri(items, SkippedItem)
    assert "loopback" in skipped[f"{site.url}/to-loopback"].reason
    assert "metadata" in skipped[f"{site.url}/to-metadata"].reason
    assert "this machine" in skipped[f"{site.url}/to-localhost"].reason
    assert "not an http(s) URL" in skipped[f"{site.url}/to-file"].reason
    assert "/inside" not in site.requested_paths()


def test_a_start_url_that_cannot_be_fetched_fails_the_source(
    site: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = WebConnector(f"http://127.0.0.1:{closed_port}/", crawl=True, allow_private_network=True)
    with pytest.raises(ConnectorError, match="could not connect"):
        list(refused.fetch({}))
    with pytest.raises(ConnectorError, match="404"):
        list(WebConnector(site.url + "/nothing-here", allow_private_network=True).fetch({}))
    site.routes["/"] = slow_page
    with pytest.raises(ConnectorError, match="timed out"):
        list(WebConnector(site.url + "/", timeout_s=0.3, allow_private_network=True).fetch({}))

    def no_such_host(*_: object, **__: object) -> list:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(ConnectorError, match="could not be resolved"):
        list(WebConnector("https://no-such-host.test/", crawl=True).fetch({}))


def test_robots_txt_forbidding_the_start_page_fails_the_crawl(site: SiteServer) -> None:
    site.routes["/"] = static("<p>Home</p>")
    site.routes["/robots.txt"] = static("User-agent: agentkit\nDisallow: /\n", content_type="text/plain")
    with pytest.raises(ConnectorError, match="robots.txt"):
        crawl(site)


def test_robots_txt_wildcards_and_allow_precedence(site: SiteServer) -> None:
    """`*` and a final `$` are wildcards, the longest rule wins and Allow wins a tie."""
    pages = [
        "/guide.pdf",
        "/guide.pdf?v=2",
        "/guide.pdfx.html",
        "/private-notes.html",
        "/private/secret.html",
        "/private/public/open.html",
        "/tie.html",
        "/open.html",
    ]
    site.routes["/"] = static("".join(f'<a href="{page}">{page}</a>' for page in pages))
    site.routes["/robots.txt"] = static(
        "User-agent: *\nDisallow: /*.pdf$\nDisallow: /private*\nAllow: /private/public/\n"
        "Disallow: /tie.html\nAllow: /tie.html\n",
        content_type="text/plain",
    )
    for page in pages:
        if page.endswith(".pdf") or "?" in page:
            site.routes[page] = static(tiny_pdf("Guide"), content_type="application/pdf")
        else:
            site.routes[page] = static(f"<title>{page}</title><p>Text of {page}.</p>")
    items = crawl(site, options={"use_sitemap": False})
    refused = {
        uri.removeprefix(site.url)
        for uri, item in by_uri(items, SkippedItem).items()
        if "robots.txt does not allow" in item.reason
    }
    fetched = {uri.removeprefix(site.url) for uri in by_uri(items, Document)}
    assert refused == {"/guide.pdf", "/private-notes.html", "/private/secret.html"}
    assert fetched == {
        "/",
        "/guide.pdf?v=2",
        "/guide.pdfx.html",
        "/private/public/open.html",
        "/tie.html",
        "/open.html",
    }
    assert not refused & set(site.requested_paths())


def test_robots_txt_rules_for_agentkit_win_over_the_wildcard_group(site: SiteServer) -> None:
    site.routes["/"] = static('<a href="/a.html">a</a><a href="/b.html">b</a>')
    site.routes["/a.html"] = static("<p>A text.</p>")
    site.routes["/b.html"] = static("<p>B text.</p>")
    site.routes["/robots.txt"] = static(
        "User-agent: *\nDisallow: /\n\nUser-agent: agentkit\nDisallow: /b.html\n", content_type="text/plain"
    )
    items = crawl(site, options={"use_sitemap": False})
    assert set(by_uri(items, Document)) == {f"{site.url}/", f"{site.url}/a.html"}
    assert "robots.txt" in by_uri(items, SkippedItem)[f"{site.url}/b.html"].reason


@pytest.mark.parametrize("media_type", ["text/markdown", "text/x-markdown"])
def test_markdown_responses_keep_their_headings(site: SiteServer, media_type: str) -> None:
    site.routes["/guide.md"] = static(
        "# Zorblat guide\n\nIntro text.\n\n## Install\n\nRun `zorblat install`.\n\n"
        "### On Linux\n\nUse the package.\n",
        content_type=f"{media_type}; charset=utf-8",
    )
    (document,) = list(WebConnector(site.url + "/guide.md", allow_private_network=True).fetch({}))
    assert isinstance(document, Document)
    assert document.title == "Zorblat guide"
    assert [(block.text, block.heading_path, block.anchor) for block in document.blocks] == [
        ("Intro text.", ("Zorblat guide",), "zorblat-guide"),
        ("Run `zorblat install`.", ("Zorblat guide", "Install"), "install"),
        ("Use the package.", ("Zorblat guide", "Install", "On Linux"), "on-linux"),
    ]
    assert document.metadata["content_type"] == media_type


def test_plain_text_responses_stay_paragraphs(site: SiteServer) -> None:
    site.routes["/notes.txt"] = static("# not a heading\n\nSecond paragraph.\n", content_type="text/plain")
    (document,) = list(WebConnector(site.url + "/notes.txt", allow_private_network=True).fetch({}))
    assert isinstance(document, Document) and document.title == "notes.txt"
    assert [(block.text, block.heading_path) for block in document.blocks] == [
        ("# not a heading", ()),
        ("Second paragraph.", ()),
    ]


# -- options, URL normalization, sitemaps ----------------------------------------------------


def test_from_options_checks_names_and_values() -> None:
    connector = WebConnector.from_options(
        "https://Example.COM:443/docs/index.html#top",
        {"crawl": True, "depth": 3, "include": ["/docs/*"], "timeout_s": 5, "path_prefix": "/docs/"},
    )
    assert connector.start_url == "https://example.com/docs/"
    assert (connector.crawl, connector.depth, connector.include, connector.timeout_s) == (
        True,
        3,
        ("/docs/*",),
        5.0,
    )
    with pytest.raises(ConnectorError, match="unknown option.*'max_depth' for a web source"):
        WebConnector.from_options("https://example.com/", {"max_depth": 2})
    for name, bad_value in [
        ("crawl", "yes"),
        ("depth", 2.5),
        ("depth", True),
        ("include", "/docs/*"),
        ("include", [1]),
        ("timeout_s", "10"),
        ("path_prefix", 3),
        ("max_bytes", None),
    ]:
        with pytest.raises(ConnectorError, match=f"option {name} must be"):
            WebConnector.from_options("https://example.com/", {name: bad_value})
    invalid: list[dict[str, object]] = [
        {"depth": -1},
        {"max_pages": 0},
        {"timeout_s": 0},
        {"path_prefix": "docs"},
    ]
    for options in invalid:
        with pytest.raises(ConnectorError):
            WebConnector.from_options("https://example.com/", options)
    with pytest.raises(ConnectorError, match="only http"):
        WebConnector.from_options("ftp://example.com/", {})


# -- the real documentation site -------------------------------------------------------------


class DocSiteHandler(SimpleHTTPRequestHandler):
    """Serves the shared documentation site, with sitemaps rewritten to this server's host."""

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path in ("/sitemap.xml", "/sitemap.xml.gz"):
            raw = (DOC_SITE / path.lstrip("/")).read_bytes()
            text = (gzip.decompress(raw) if path.endswith(".gz") else raw).decode("utf-8")
            host = f"http://127.0.0.1:{cast(ThreadingHTTPServer, self.server).server_port}/"
            body = text.replace("https://Python-Markdown.github.io/", host).encode("utf-8")
            body = gzip.compress(body) if path.endswith(".gz") else body
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep test output clean."""


@dataclass
class DocSite:
    url: str
    expected_pages: set[str] = field(default_factory=set)
    sitemap_pages: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def doc_site() -> Iterator[DocSite]:
    if not DOC_SITE.is_dir():
        pytest.skip(f"{DOC_SITE} is not available")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(DocSiteHandler, directory=str(DOC_SITE)))
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pages = {
        normalize_url(f"{url}/{path.relative_to(DOC_SITE).as_posix()}") or ""
        for path in DOC_SITE.rglob("*.html")
        if path.name != "404.html"  # the server's error page; no page links to it
    }
    listed = (DOC_SITE / "sitemap.xml").read_text(encoding="utf-8")
    sitemap_pages = {
        normalize_url(location.split("</loc>")[0].replace("https://Python-Markdown.github.io", url)) or ""
        for location in listed.split("<loc>")[1:]
    }
    with serving(server):
        yield DocSite(url=url, expected_pages=pages, sitemap_pages=sitemap_pages)


@dataclass
class DocSiteCrawl:
    items: list[FetchedItem]
    seconds: float


@pytest.fixture(scope="module")
def doc_site_crawl(doc_site: DocSite) -> DocSiteCrawl:
    """A crawl from index.html following links only (default depth 2), timed."""
    connector = WebConnector(
        doc_site.url + "/index.html", crawl=True, use_sitemap=False, allow_private_network=True
    )
    started = time.perf_counter()
    items = list(connector.fetch({}))
    return DocSiteCrawl(items=items, seconds=time.perf_counter() - started)


def test_real_site_crawl_reaches_every_page(doc_site: DocSite, doc_site_crawl: DocSiteCrawl) -> None:
    items = doc_site_crawl.items
    documents = by_uri(items, Document)
    assert len(doc_site.expected_pages) == 42
    assert set(documents) == doc_site.expected_pages
    # The only same-site link to a missing page sits inside an HTML comment on search.html,
    # where no browser can follow it; the crawler must not report it either.
    assert by_uri(items, SkippedItem) == {}
    assert all(document.blocks and document.title for document in documents.values())
    rate = len(documents) / doc_site_crawl.seconds
    print(f"\ncrawled {len(documents)} pages in {doc_site_crawl.seconds:.2f}s: {rate:.1f} pages/s")


def test_real_site_sitemap_crawl_gives_the_same_pages(doc_site: DocSite) -> None:
    sitemap_only = WebConnector(doc_site.url + "/", crawl=True, depth=0, allow_private_network=True)
    seeded = by_uri(list(sitemap_only.fetch({})), Document)
    assert len(doc_site.sitemap_pages) == 40
    assert set(seeded) == doc_site.sitemap_pages
    full = WebConnector(doc_site.url + "/", crawl=True, depth=1, allow_private_network=True)
    assert set(by_uri(list(full.fetch({})), Document)) == doc_site.expected_pages


def test_real_site_recrawl_is_all_unchanged(doc_site: DocSite, doc_site_crawl: DocSiteCrawl) -> None:
    first = by_uri(doc_site_crawl.items, Document)
    previous = {uri: PreviousFetch(doc.content_hash, doc.metadata) for uri, doc in first.items()}
    connector = WebConnector(
        doc_site.url + "/index.html", crawl=True, use_sitemap=False, allow_private_network=True
    )
    second = list(connector.fetch(previous))
    assert all(isinstance(item, UnchangedItem) for item in second)
    assert {item.uri for item in second} == doc_site.expected_pages
