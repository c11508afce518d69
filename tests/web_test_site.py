"""A small web site served on 127.0.0.1 for the web connector tests.

`SiteServer` records every request and answers from a table of routes; `standard_site`
fills it with pages that exercise the crawler: boilerplate, broken links, redirect chains and
loops, oversize and slow responses, robots.txt, a sitemap, PDF, text and gzip content, and
ETag/Last-Modified validators with 304 answers.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]


Route = Callable[["SiteHandler"], None]


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SiteHandler)
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def requested_paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts, size caps) are expected here; stay quiet."""


class SiteHandler(BaseHTTPRequestHandler):
    server: SiteServer

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append(RecordedRequest(self.path, headers))
        route = self.server.routes.get(self.path) or self.server.routes.get(urlsplit(self.path).path)
        if route is None:
            self.send_body(404, b"<h1>Not found</h1>")
        else:
            route(self)

    def send_body(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        with_length: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if with_length:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep test output clean."""


def static(
    body: bytes | str,
    *,
    content_type: str = "text/html; charset=utf-8",
    etag: bool = True,
    last_modified: str | None = None,
    headers: dict[str, str] | None = None,
) -> Route:
    """A route that answers `body`, and 304 to a matching conditional request."""
    payload = body.encode("utf-8") if isinstance(body, str) else body
    tag = '"' + hashlib.sha1(payload).hexdigest()[:16] + '"'

    def route(handler: SiteHandler) -> None:
        validators = dict(headers or {})
        if etag:
            validators["ETag"] = tag
        if last_modified:
            validators["Last-Modified"] = last_modified
        if etag and handler.headers.get("If-None-Match") == tag:
            handler.send_body(304, b"", headers=validators, with_length=False)
        elif last_modified and handler.headers.get("If-Modified-Since") == last_modified:
            handler.send_body(304, b"", headers=validators, with_length=False)
        else:
            handler.send_body(200, payload, content_type=content_type, headers=validators)

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(handler: SiteHandler) -> None:
        handler.send_body(status, b"", headers={"Location": location})

    return route


def loop_redirect(handler: SiteHandler) -> None:
    step = int(handler.path.rsplit("/", 1)[1])
    handler.send_body(302, b"", headers={"Location": f"/loop/{step + 1}"})


def slow_page(handler: SiteHandler) -> None:
    time.sleep(1.5)
    handler.send_body(200, b"<p>Too late</p>")


def streamed_big_page(handler: SiteHandler) -> None:
    handler.send_body(200, b"<p>" + b"x" * 50_000 + b"</p>", with_length=False)


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF whose page shows `text` in Helvetica."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    output = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(output)
    output += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    output += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    output += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return output


INDEX = """<!DOCTYPE html><html><head><title>Test Site Home</title>
<script>var leaked = "script text";</script><style>p { color: red }</style></head>
<body><header>Site header text</header>
<nav><a href="/about.html">About</a> <a href="/dir/index.html">Dir</a></nav>
<main><h1 id="welcome">Welcome</h1><p>Home page text.</p>
<ul>
  <li><a href="/about.html?utm_source=newsletter&amp;fbclid=abc#team">About again</a></li>
  <li><a href="dir/">Dir again</a> <a href="./dir/../dir/index.html">and again</a></li>
  <li><a href="/missing.html">Missing</a></li>
  <li><a href="/redirect-1">Redirect</a> <a href="/loop/0">Loop</a></li>
  <li><a href="/big.html">Big</a> <a href="/big-stream.html">Big stream</a> <a href="/bomb.html">Bomb</a></li>
  <li><a href="/slow.html">Slow</a> <a href="/private/secret.html">Secret</a></li>
  <li><a href="/manual.pdf">Manual</a> <a href="/logo.png">Logo</a> <a href="/notes.txt">Notes</a></li>
  <li><a href="/gzipped.html">Gzipped</a></li>
  <li><a href="http://example.com/elsewhere">External</a> <a href="mailto:a@example.com">Mail</a></li>
</ul></main>
<footer>Footer text</footer></body></html>"""

ABOUT = """<html><head><title>About us</title></head><body><main>
<h1 id="about">About</h1><p>About text.</p>
<h2 id="team">Team</h2><p>Team text.</p><a href="deep.html">Deep</a></main></body></html>"""

ROBOTS = "User-agent: agentkit\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"
NOTES_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


def standard_site(server: SiteServer) -> None:
    sitemap = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{server.url}/sitemap-only.html</loc></url>
  <url><loc>{server.url}/private/listed.html</loc></url>
  <url><loc>http://example.com/other-site.html</loc></url>
</urlset>"""
    server.routes.update(
        {
            "/": static(INDEX),
            "/robots.txt": static(ROBOTS, content_type="text/plain"),
            "/sitemap.xml": static(sitemap, content_type="application/xml"),
            "/about.html": static(ABOUT),
            "/deep.html": static('<p>Deep text.</p><a href="/deeper.html">Deeper</a>'),
            "/deeper.html": static("<p>Deeper text.</p>"),
            "/dir/": static("<title>Dir</title><p>Dir text.</p>"),
            "/dir/index.html": static("<title>Dir</title><p>Dir text.</p>"),
            "/redirect-1": redirect("/redirect-2"),
            "/redirect-2": redirect("final.html", status=301),
            "/final.html": static("<title>Final</title><p>Final text.</p>"),
            "/big.html": static("<p>" + "y" * 50_000 + "</p>"),
            "/big-stream.html": streamed_big_page,
            "/bomb.html": static(
                gzip.compress(b"<p>" + b"0" * 1_000_000), headers={"Content-Encoding": "gzip"}
            ),
            "/slow.html": slow_page,
            "/private/secret.html": static("<p>Secret</p>"),
            "/private/listed.html": static("<p>Listed secret</p>"),
            "/manual.pdf": static(tiny_pdf("Manual text inside the PDF"), content_type="application/pdf"),
            "/logo.png": static(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, content_type="image/png"),
            "/notes.txt": static(
                "First note.\n\nSecond note.\n",
                content_type="text/plain; charset=utf-8",
                etag=False,
                last_modified=NOTES_DATE,
            ),
            "/gzipped.html": static(
                gzip.compress(b"<title>Zipped</title><p>Compressed text.</p>"),
                headers={"Content-Encoding": "gzip"},
            ),
            "/sitemap-only.html": static("<title>Hidden gem</title><p>Sitemap only text.</p>"),
        }
    )
    server.routes["/loop/"] = loop_redirect
    for step in range(20):
        server.routes[f"/loop/{step}"] = loop_redirect


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
