"""A file server on 127.0.0.1 for the model download tests, shaped like Hugging Face's
`/{repo}/resolve/{revision}/{filename}`.

It answers Range requests (`Range: bytes=N-` -> 206 with Content-Range, past the end -> 416)
the way the Hub's CDN does. Tests script what goes wrong (`ignore_range`, `drop_after_bytes`,
`delay_s`) and read what it was asked (`requests`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.web_test_site import serving

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class FileRequest:
    path: str
    headers: dict[str, str]


@dataclass
class Script:
    ignore_range: bool = False  # answer 200 with the whole file even when asked for a Range
    drop_after_bytes: int | None = None  # next response: send this many bytes, then hang up
    delay_s: float = 0.0  # wait this long before answering (timeouts)


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FileHandler)
        self.files: dict[str, bytes] = {}  # URL path -> content
        self.script = Script()
        self.requests: list[FileRequest] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts, dropped connections) are expected here; stay quiet."""


class FileHandler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        pass

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        script = self.server.script
        self.server.requests.append(
            FileRequest(path=self.path, headers={name.lower(): value for name, value in self.headers.items()})
        )
        if script.delay_s:
            time.sleep(script.delay_s)
        content = self.server.files.get(self.path)
        if content is None:
            self._answer(404, b"Entry not found", {"Content-Type": "text/plain"})
            return
        start = 0
        match = _RANGE.match(self.headers.get("Range", ""))
        if match and not script.ignore_range:
            start = int(match.group(1))
            if start >= len(content):
                self._answer(416, b"", {"Content-Range": f"bytes */{len(content)}"})
                return
        status = 206 if start else 200
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        body = content[start:]
        drop_after, script.drop_after_bytes = script.drop_after_bytes, None
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if drop_after is not None:
            self.wfile.write(body[:drop_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    with serving(server):
        yield server
