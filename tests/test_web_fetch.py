"""Tests for the pieces under the web connector: URL normalization, sitemaps, HTTPS fetching."""

from __future__ import annotations

import gzip
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connectors.web.fetch import FetchError, PageFetcher
from connectors.web.sitemap import UnreadableSitemapError, parse_sitemap
from connectors.web.urls import normalize_url, page_key
from tests.web_test_site import serving


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("HTTP://Example.COM:80/a/./b/../c.html#frag", "http://example.com/a/c.html"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("/docs/index.html", "https://example.com/docs/"),
        ("index.htm?b=2&a=1", "https://example.com/guide/?a=1&b=2"),
        ("page?utm_source=x&id=7&fbclid=y&gclid=z", "https://example.com/guide/page?id=7"),
        ("../up/%7euser/%2fkeep%2F", "https://example.com/up/~user/%2Fkeep%2F"),
        ("caf\u00e9 menu.html", "https://example.com/guide/caf%C3%A9%20menu.html"),
        ("http://b\u00fccher.example/", "http://xn--bcher-kva.example/"),
        ("//other.example/x", "https://other.example/x"),
        ("https://user:pw@example.com/x", "https://example.com/x"),
        ("#section", "https://example.com/guide/page.html"),
        ("mailto:someone@example.com", None),
        ("javascript:void(0)", None),
        ("http://[::1", None),
    ],
)
def test_normalize_url(link: str, expected: str | None) -> None:
    assert normalize_url(link, base="https://example.com/guide/page.html") == expected


def test_page_key_ignores_the_trailing_slash_and_index_page() -> None:
    keys = {page_key(url) for url in ("http://h/dir", "http://h/dir/", "http://h/dir/index.html")}
    assert keys == {"http://h/dir"}
    assert page_key("http://h/") == "http://h/"


def test_parse_sitemap_reads_urlsets_indexes_and_gzip() -> None:
    urlset = b"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc> https://e.com/a </loc></url><url><loc>https://e.com/b</loc></url></urlset>"""
    assert parse_sitemap(urlset, name="s", max_bytes=10_000).page_urls == [
        "https://e.com/a",
        "https://e.com/b",
    ]
    index = b"<sitemapindex><sitemap><loc>https://e.com/s2.xml.gz</loc></sitemap></sitemapindex>"
    assert parse_sitemap(gzip.compress(index), name="i", max_bytes=10_000).sitemap_urls == [
        "https://e.com/s2.xml.gz"
    ]
    bombs = [
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><urlset><url><loc>&a;</loc></url></urlset>',
        gzip.compress(b"<urlset>" + b" " * 100_000 + b"</urlset>"),
        b"<html><body>not a sitemap</body></html>",
        b"<urlset><url>",
    ]
    for content in bombs:
        with pytest.raises(UnreadableSitemapError):
            parse_sitemap(content, name="bad", max_bytes=10_000)


# -- HTTPS: connect to the checked address, verify the certificate for the host name ---------


class HelloHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = f"<p>hello {self.headers.get('Host')}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep test output clean."""


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for `localhost`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(certificate), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), HelloHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server.server_address[1], certificate


def make_fetcher(tls_context: ssl.SSLContext | None = None) -> PageFetcher:
    return PageFetcher(
        allow_private_network=True,
        timeout_s=2.0,
        max_bytes=100_000,
        user_agent="agentkit-test",
        tls_context=tls_context,
    )


def test_https_checks_the_certificate_against_the_host_name(tls_server: tuple[int, Path]) -> None:
    port, certificate = tls_server
    with pytest.raises(FetchError, match="certificate"):
        make_fetcher().fetch(f"https://localhost:{port}/")  # not in the system trust store
    trusting = ssl.create_default_context(cafile=str(certificate))
    response = make_fetcher(trusting).fetch(f"https://localhost:{port}/")
    assert (response.status, response.body) == (200, f"<p>hello localhost:{port}</p>".encode())
    with pytest.raises(FetchError, match="certificate"):
        make_fetcher(trusting).fetch(f"https://127.0.0.1:{port}/")  # the certificate names localhost
