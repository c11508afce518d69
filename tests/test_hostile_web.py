"""Hostile web sites: every attack ends in a skipped page with a clear reason, and the rest of
the site is still ingested.

The attacks (`tests.hostile_site`): a 50 MB page (streamed, and declared), 100,000 nested
elements, 10 million entities (plain and compressed), a billion-laughs sitemap, a looping and a
never-ending sitemap index, a redirect loop, slowloris drips of the body and of the headers,
lying `Content-Length`s, and gzip bombs in a page and in `sitemap.xml.gz`. Time and peak
memory per attack are measured by `benchmarks/hostile_inputs_web.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.base import Document, SkippedItem
from connectors.readers.html import MAX_DEPTH, MAX_ELEMENTS, read_html
from connectors.web.connector import MAX_SITEMAP_FILES, WebConnector
from connectors.web.sitemap import UnreadableSitemapError, parse_sitemap
from tests.hostile_site import BILLION_LAUGHS, GOOD_PAGES, MB, gzip_of_zeros, hostile_site
from tests.web_test_site import SiteServer, serving

# -- the reader on its own (fast) -----------------------------------------------------------


def test_deeply_nested_page_is_read_as_text_without_recursion() -> None:
    depth = 100_000
    markup = (
        b"<html><body>"
        + b"<div>" * depth
        + b"Deep text."
        + b"</div>" * depth
        + b"<p>After.</p></body></html>"
    )
    page = read_html(markup, name="nested.html")
    assert [block.text for block in page.blocks] == ["Deep text.", "After."]


def test_deeply_nested_noise_does_not_take_quadratic_time() -> None:
    depth = 20_000
    markup = (
        b"<body>"
        + b"<div class='sidebar'>" * depth
        + b"<h1>Title</h1>"
        + b"</div>" * depth
        + b"<p>Kept.</p></body>"
    )
    page = read_html(markup, name="nested-sidebars.html")
    assert page.blocks[-1].text == "Kept."
    assert MAX_DEPTH < depth


def test_page_with_too_many_elements_is_refused_before_parsing() -> None:
    from connectors.base import UnreadableItemError

    markup = b"<body>" + b"<p>x</p>" * (MAX_ELEMENTS + 1) + b"</body>"
    with pytest.raises(UnreadableItemError, match="more than 250,000 HTML elements"):
        read_html(markup, name="many.html")


def test_an_entity_flood_within_the_size_cap_is_read() -> None:
    page = read_html(b"<p>" + b"&amp;" * 1_000_000 + b"</p>", name="entities.html")
    assert page.blocks[0].text == "&" * 1_000_000


def test_billion_laughs_sitemap_is_refused_even_with_the_doctype_far_from_the_start() -> None:
    with pytest.raises(UnreadableSitemapError, match="DOCTYPE or entities are refused"):
        parse_sitemap(BILLION_LAUGHS, name="laughs.xml", max_bytes=10 * MB)


def test_gzip_bomb_sitemap_is_refused() -> None:
    with pytest.raises(UnreadableSitemapError, match="decompresses to more than"):
        parse_sitemap(gzip_of_zeros(1000 * MB), name="bomb.xml.gz", max_bytes=10 * MB)


# -- a crawl of the hostile site (slow: drips and a 1 GB bomb) -------------------------------


@pytest.fixture(scope="module")
def hostile() -> Iterator[SiteServer]:
    server = SiteServer()
    hostile_site(server, drip_interval_s=0.2)
    with serving(server):
        yield server


def _crawl(server: SiteServer) -> tuple[dict[str, Document], dict[str, SkippedItem]]:
    connector = WebConnector(
        server.url + "/", crawl=True, depth=3, allow_private_network=True, timeout_s=0.5, max_pages=100
    )
    items = list(connector.fetch({}))
    documents = {item.uri: item for item in items if isinstance(item, Document)}
    skipped = {item.uri.removeprefix(server.url): item for item in items if isinstance(item, SkippedItem)}
    return documents, skipped


@pytest.mark.slow
def test_every_attack_is_skipped_with_its_reason_and_the_good_pages_are_ingested(hostile: SiteServer) -> None:
    documents, skipped = _crawl(hostile)
    url = hostile.url

    for path in GOOD_PAGES:
        assert url + path in documents, f"{path} was not ingested"
    assert "Deep text." in documents[url + "/nested.html"].text

    def reason(path: str) -> str:
        assert path in skipped, f"{path} was neither skipped nor reported: {sorted(skipped)}"
        return skipped[path].reason

    assert "larger than max_bytes=10000000" in reason("/huge.html")
    assert "more than max_bytes=10000000" in reason("/huge-declared.html")
    assert "more than 250,000 HTML elements" in reason("/many-elements.html")
    assert "more than max_bytes=10000000" in reason("/entities.html")
    assert "decompresses to more than max_bytes" in reason("/entities-gzip.html")
    assert "decompresses to more than max_bytes" in reason("/gzip-bomb.html")
    assert "more than 10 redirects (a redirect loop?)" in reason("/loop/0")
    assert "took longer than 3s in all" in reason("/slow-body.html")
    assert "took longer than 3s in all" in reason("/slow-headers.html")
    assert "after 16 of the 10000 bytes its Content-Length announced" in reason("/short-body.html")
    assert "timed out" in reason("/short-body-hang.html")
    assert "more than max_bytes" in reason("/huge-length.html")

    assert "DOCTYPE or entities are refused" in reason("/maps/laughs.xml")
    assert "decompresses to more than" in reason("/maps/bomb.xml.gz")
    assert "lists it again (a loop)" in reason("/sitemap.xml")
    endless = [path for path in skipped if path.startswith("/maps/endless-")]
    assert len(endless) == 1
    assert f"at most {MAX_SITEMAP_FILES} sitemap files" in reason(endless[0])
