"""Reads sitemap files (`urlset` and `sitemapindex`, plain or gzip-compressed).

The web connector uses sitemaps only to seed its crawl; every URL found here is still
filtered by host, path prefix and globs. Sitemaps are XML from the network, so documents
with a DOCTYPE (the way to entity-expansion attacks) are refused, and gzip is inflated only
up to a byte cap.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from xml.etree import ElementTree

_GZIP_MAGIC = b"\x1f\x8b"
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class UnreadableSitemapError(Exception):
    """A sitemap that is not a sitemap (bad XML, too large, DTD); the message says which."""


@dataclass
class SitemapContents:
    """Page URLs listed by a sitemap, and the further sitemaps a sitemap index points to."""

    page_urls: list[str] = field(default_factory=list)
    sitemap_urls: list[str] = field(default_factory=list)


def inflate_gzip(content: bytes, *, max_bytes: int, name: str) -> bytes:
    """Decompress gzip data, refusing output past `max_bytes` (a compression bomb)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        output = inflater.decompress(content, max_bytes + 1)
    except zlib.error as error:
        raise UnreadableSitemapError(f"{name}: broken gzip data ({error})") from None
    if len(output) > max_bytes or inflater.unconsumed_tail:
        raise UnreadableSitemapError(f"{name}: decompresses to more than {max_bytes} bytes")
    return output


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def parse_sitemap(content: bytes, *, name: str, max_bytes: int) -> SitemapContents:
    """The URLs of a sitemap file; `name` (its URL) is used in error messages."""
    if content.startswith(_GZIP_MAGIC):
        content = inflate_gzip(content, max_bytes=max_bytes, name=name)
    if _DOCTYPE.search(content):  # anywhere: a prolog can hide it behind any number of comments
        raise UnreadableSitemapError(f"{name}: sitemaps with a DOCTYPE or entities are refused")
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as error:
        raise UnreadableSitemapError(f"{name}: not a readable XML sitemap ({error})") from None
    contents = SitemapContents()
    kind = _local_name(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise UnreadableSitemapError(
            f"{name}: not a sitemap (its root element is <{kind}>, not <urlset> or <sitemapindex>)"
        )
    for entry in root:
        for child in entry:
            if _local_name(child.tag) == "loc" and child.text and child.text.strip():
                location = child.text.strip()
                if kind == "urlset":
                    contents.page_urls.append(location)
                else:
                    contents.sitemap_urls.append(location)
    return contents
