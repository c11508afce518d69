"""Hostile web routes for the web connector's hostile-input tests and benchmark.

Each route is one attack a web site can make on a crawler: oversize pages, deep nesting,
entity floods, entity-expanding and looping sitemaps, redirect loops, slow drips, lying
`Content-Length`s and compression bombs. `hostile_site` puts all of them on one `SiteServer`
beside ordinary pages, linked from its home page, so a crawl meets every attack and must still
ingest the ordinary pages. Bodies are generated in chunks so that the server itself stays small.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Iterator

from tests.web_test_site import Route, SiteHandler, SiteServer, loop_redirect, static

MB = 1_000_000
MAX_ENDLESS = 100
GOOD_PAGES = {
    "/good-1.html": "<title>Good one</title><p>The harbour opens at six in the morning.</p>",
    "/good-2.html": "<title>Good two</title><p>Ferries leave every forty minutes.</p>",
    "/sitemap-good.html": "<title>Listed</title><p>Only the sitemap lists this page.</p>",
}


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    """Gzip data that inflates to `size` bytes of `0` characters (a compression bomb)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"0" * MB
    parts = [compressor.compress(block) for _ in range(size // MB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def streamed(chunks: Iterator[bytes], *, content_type: str = "text/html; charset=utf-8") -> Route:
    """A route that streams `chunks` (made afresh per request) with no Content-Length."""

    def route(handler: SiteHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        try:
            for chunk in chunks:
                handler.wfile.write(chunk)
        except OSError:
            pass  # the crawler stopped reading, as it should

    return route


def huge_page(size: int) -> Route:
    def route(handler: SiteHandler) -> None:
        def chunks() -> Iterator[bytes]:
            yield b"<html><body>"
            for _ in range(size // MB):
                yield b"<p>" + b"word " * (MB // 5 - 2) + b"</p>"

        streamed(chunks())(handler)

    return route


def drip(*, interval_s: float, header_drip: bool = False) -> Route:
    """Slowloris: a byte every `interval_s`, of the body (or, with `header_drip`, of a header)."""

    def route(handler: SiteHandler) -> None:
        try:
            if header_drip:
                handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(100_000):
                    handler.wfile.write(b"a")
                    handler.wfile.flush()
                    time.sleep(interval_s)
                return
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", "100000")
            handler.end_headers()
            for _ in range(100_000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(interval_s)
        except OSError:
            pass

    return route


def lying_length(*, declared: int, sent: bytes, hang_s: float = 0.0) -> Route:
    """A response whose Content-Length is `declared` but whose body is `sent` (then a close)."""

    def route(handler: SiteHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        try:
            handler.wfile.write(sent)
            handler.wfile.flush()
            time.sleep(hang_s)
        except OSError:
            pass
        handler.close_connection = True

    return route


BILLION_LAUGHS = (
    b"""<?xml version="1.0"?>
<!-- a long comment pushes the DOCTYPE away from the start: """
    + b"-" * 8000
    + b""" -->
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<urlset><url><loc>&lol9;</loc></url></urlset>"""
)


def sitemap_index(*locations: str) -> str:
    entries = "".join(f"<sitemap><loc>{location}</loc></sitemap>" for location in locations)
    return f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'


def endless_index(handler: SiteHandler) -> None:
    """A sitemap index whose every file points to a new one: /maps/endless-N.xml -> N+1."""
    step = int(handler.path.rsplit("-", 1)[1].split(".")[0])
    body = sitemap_index(f"{handler.server.url}/maps/endless-{step + 1}.xml")
    handler.send_body(200, body.encode(), content_type="application/xml")


def hostile_routes(server: SiteServer, *, drip_interval_s: float) -> dict[str, Route]:
    url = server.url
    entity_flood = b"<html><body><p>" + b"&amp;" * 10_000_000 + b"</p></body></html>"
    return {
        "/huge.html": huge_page(50 * MB),
        "/huge-declared.html": static(b"<p>" + b"z" * (50 * MB) + b"</p>"),
        "/nested.html": static(
            b"<html><body>" + b"<div>" * 100_000 + b"Deep text." + b"</div>" * 100_000 + b"</body></html>"
        ),
        "/many-elements.html": static(b"<html><body>" + b"<p>x</p>" * 1_240_000 + b"</body></html>"),
        "/entities.html": static(entity_flood),
        "/entities-gzip.html": static(zlib.compress(entity_flood), headers={"Content-Encoding": "deflate"}),
        "/loop/0": loop_redirect,
        "/slow-body.html": drip(interval_s=drip_interval_s),
        "/slow-headers.html": drip(interval_s=drip_interval_s, header_drip=True),
        "/short-body.html": lying_length(declared=10_000, sent=b"<p>only this</p>"),
        "/short-body-hang.html": lying_length(declared=10_000, sent=b"<p>then silence</p>", hang_s=30),
        "/huge-length.html": lying_length(declared=10**12, sent=b"<p>small</p>"),
        "/gzip-bomb.html": static(gzip_of_zeros(1000 * MB), headers={"Content-Encoding": "gzip"}),
        "/sitemap.xml": static(
            sitemap_index(
                f"{url}/maps/laughs.xml",
                f"{url}/maps/bomb.xml.gz",
                f"{url}/sitemap.xml",
                f"{url}/maps/pages.xml",
                f"{url}/maps/endless-0.xml",
            ),
            content_type="application/xml",
        ),
        "/maps/laughs.xml": static(BILLION_LAUGHS, content_type="application/xml"),
        "/maps/bomb.xml.gz": static(gzip_of_zeros(1000 * MB), content_type="application/gzip"),
        "/maps/pages.xml": static(
            f"<urlset><url><loc>{url}/sitemap-good.html</loc></url></urlset>", content_type="application/xml"
        ),
    }


def hostile_site(server: SiteServer, *, drip_interval_s: float) -> list[str]:
    """Fill `server` with the attacks and the good pages; return the attack paths linked."""
    routes = hostile_routes(server, drip_interval_s=drip_interval_s)
    attacks = [path for path in routes if not path.startswith(("/sitemap", "/maps/"))]
    links = "".join(f'<a href="{path}">{path}</a> ' for path in [*attacks, *GOOD_PAGES])
    server.routes.update(routes)
    server.routes.update({path: static(body) for path, body in GOOD_PAGES.items()})
    server.routes["/"] = static(f"<title>Hostile home</title><p>Home of the hostile site.</p>{links}")
    for step in range(1, 20):
        server.routes[f"/loop/{step}"] = loop_redirect
    for step in range(MAX_ENDLESS):
        server.routes[f"/maps/endless-{step}.xml"] = endless_index
    return attacks
