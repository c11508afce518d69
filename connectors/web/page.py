"""Turns one fetched web response into page content: a title, text blocks and links.

HTML goes through `connectors.readers.html` (links resolved against the page or its
`<base href>`, normalized, kept when on the page's own site), PDF through
`connectors.readers.pdf`, Markdown (``text/markdown``, ``text/x-markdown``) through
`connectors.readers.markdown`, so its headings become the heading path of its blocks, and
plain text becomes one block per paragraph. Anything that cannot be read raises
`UnreadableItemError`, which the web connector records as a `SkippedItem`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from connectors.base import Block, UnreadableItemError
from connectors.readers.html import read_html
from connectors.readers.markdown import read_markdown
from connectors.readers.pdf import read_pdf
from connectors.web.fetch import FetchedResponse
from connectors.web.urls import normalize_url, origin_of

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
TEXT_TYPES = frozenset({"text/plain"}) | MARKDOWN_TYPES
PDF_TYPE = "application/pdf"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def is_readable_type(media_type: str) -> bool:
    """Whether a response of this media type is worth downloading (unknown types are tried)."""
    return media_type in HTML_TYPES or media_type in TEXT_TYPES or media_type == PDF_TYPE or not media_type


@dataclass
class PageContent:
    """What a page says: its title, its text blocks, and its same-site links (normalized)."""

    title: str
    blocks: list[Block]
    links: list[str]


def read_page_content(url: str, response: FetchedResponse) -> PageContent:
    """Read a 200 response for `url` by its media type; raise `UnreadableItemError` if unreadable."""
    media_type = response.media_type
    if media_type == PDF_TYPE or (not media_type and response.body.startswith(b"%PDF-")):
        return PageContent(title=_title_from_url(url), blocks=_read_pdf(url, response.body), links=[])
    if media_type in TEXT_TYPES:
        text = response.body.decode(_text_encoding(response.charset), errors="replace")
        if media_type in MARKDOWN_TYPES:
            title, blocks = read_markdown(text, name=url)
            return PageContent(title=title or _title_from_url(url), blocks=blocks, links=[])
        return PageContent(title=_title_from_url(url), blocks=_text_blocks(text), links=[])

    page = read_html(response.body, name=url, declared_encoding=response.charset)
    base = urljoin(url, page.base_href) if page.base_href else url
    links = [link for link in resolved_links(page.links, base) if origin_of(link) == origin_of(url)]
    return PageContent(title=page.title or _title_from_url(url), blocks=page.blocks, links=links)


def resolved_links(links: list[str], base: str) -> list[str]:
    """Absolute, normalized http(s) links in first-seen order, without repeats."""
    resolved: list[str] = []
    seen: set[str] = set()
    for link in links:
        if not link or link.startswith("#"):
            continue
        normalized = normalize_url(link, base=base)
        if normalized is not None and normalized not in seen:
            seen.add(normalized)
            resolved.append(normalized)
    return resolved


def _read_pdf(url: str, content: bytes) -> list[Block]:
    try:
        return read_pdf(content, name=url)
    except UnreadableItemError:
        raise
    except Exception as error:  # a reader bug on one PDF must not end the whole crawl
        raise UnreadableItemError(
            f"{url}: the PDF could not be read ({type(error).__name__}: {error})"
        ) from error


def _text_encoding(charset: str | None) -> str:
    try:
        return codecs.lookup(charset or "utf-8").name
    except LookupError:
        return "utf-8"


def _title_from_url(url: str) -> str:
    """A readable title for a page that has none: its file name, else the URL."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return name or url


def _text_blocks(text: str) -> list[Block]:
    return [Block(text=part.strip()) for part in _PARAGRAPH_BREAK.split(text) if part.strip()]
