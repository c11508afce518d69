"""Malformed requests against the running server: every answer is a 4xx, never a 5xx, and the
server still answers a good request afterwards.

Requests are written byte by byte on a raw socket (an HTTP client would refuse most of them):
wrong JSON (truncated, wrong types, deep nesting, huge numbers, invalid UTF-8), huge headers
and bodies, junk and encoded junk in paths and query strings, bodies sent slowly, wrong
content types and wrong methods, with and without a valid key. The cases come from a seeded
random generator, so a failure names a case that can be replayed.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentkit import AgentKit
from agentkit.server.settings import ServerSettings
from agentkit.server.testing import RunningServer, running_server
from tests.server_helpers import kettle_agent, secret

SEED = 16


@dataclass(frozen=True)
class FuzzCase:
    """One raw request: the bytes of its head and body, and how slowly the body goes out."""

    label: str
    head: bytes
    body: bytes = b""
    drip_s: float = 0.0


def raw_request(
    method: str | bytes,
    path: str | bytes,
    *,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_length: int | None = None,
    label: str,
    drip_s: float = 0.0,
) -> FuzzCase:
    method_bytes = method if isinstance(method, bytes) else method.encode()
    path_bytes = path if isinstance(path, bytes) else path.encode("utf-8", errors="surrogateescape")
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if body or content_length is not None:
        pairs.append(("Content-Length", str(len(body) if content_length is None else content_length)))
    lines = [method_bytes + b" " + path_bytes + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value.encode("latin-1", errors="replace") for name, value in pairs]
    return FuzzCase(label, b"\r\n".join(lines) + b"\r\n\r\n", body, drip_s)


def send(server: RunningServer, case: FuzzCase, *, timeout_s: float = 20.0) -> int | None:
    """The status the server answered `case` with, or None when it closed without answering."""
    with socket.create_connection((server.host, server.port), timeout=timeout_s) as connection:
        try:
            connection.sendall(case.head)
            if case.drip_s:
                for start in range(0, len(case.body), 3):
                    connection.sendall(case.body[start : start + 3])
                    time.sleep(case.drip_s)
            else:
                connection.sendall(case.body)
        except OSError:
            pass  # the server may answer (and close) before reading everything
        received = b""
        try:
            while b"\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
    if not received.startswith(b"HTTP/1."):
        return None
    return int(received.split(b" ", 2)[1])


ENDPOINTS = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/api/agents/helpdesk/ask"),
    ("GET", "/api/agents/helpdesk/search"),
    ("POST", "/api/agents/helpdesk/records"),
    ("DELETE", "/api/agents/helpdesk/records"),
    ("POST", "/api/agents"),
    ("POST", "/api/agents/helpdesk/sources"),
    ("POST", "/api/feedback"),
    ("GET", "/api/conversations/1"),
    ("GET", "/v1/models"),
    ("GET", "/api/agents/helpdesk"),
    ("GET", "/api/agents/helpdesk/widget"),
]
# Methods a path answers besides the one listed above (never sent by the wrong-method cases).
ALSO_ALLOWED = {
    "/api/agents/helpdesk": {"DELETE"},
    "/api/agents": {"GET"},
    "/api/agents/helpdesk/sources": {"GET"},
}
JSON_BODIES: list[bytes] = [
    b"",
    b"{",
    b'{"messages": [',
    b"null",
    b"[]",
    b'"a string"',
    b"12",
    b"1e999999",
    b'{"question": 1e400}',
    b'{"question": NaN}',
    b'{"messages": 5}',
    b'{"messages": [{"role": "user"}]}',
    b'{"messages": [{"role": "wizard", "content": "hi"}]}',
    b'{"messages": [{"role": "user", "content": {"nested": []}}], "model": 7}',
    b'{"model": "helpdesk", "messages": [], "max_tokens": -5}',
    b'{"model": "helpdesk", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e30}',
    b'{"model": "helpdesk", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
    b'{"question": ""}',
    b'{"question": null, "conversation_id": "x"}',
    b'{"question": "kettle?", "conversation_id": -99999999999999999999999}',
    b'{"records": "not a list"}',
    b'{"records": [{"id": null, "text": 5}]}',
    b'{"records": [{"id": "a"}, {"id": "a"}]}',
    b'{"ids": [[[]]]}',
    b'{"name": "", "kind": 9}',
    b'{"name": "../../etc/passwd"}',
    b'{"location": "file:///etc/passwd", "options": 5}',
    b'{"location": ""}',
    b'{"location": "http://169.254.169.254/latest/meta-data/", "options": {"crawl": "often"}}',
    b'{"log_id": "x", "rating": "up"}',
    b'{"rating": 99, "answer_id": 1e308}',
    b"\xff\xfe\x00{\x00}",
    b"\xef\xbb\xbf{}",
    b'{"question": "\xc3\x28 invalid utf-8"}',
    b'{"question": "\\ud800 lone surrogate"}',
    b'{"a": "\x00\x01\x02"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"question": "' + b"x" * 1_500_000 + b'"}',
    b'{"messages": ['
    + b'{"role": "user", "content": "hi"},' * 5_000
    + b'{"role": "user", "content": "hi"}]}',
]
JUNK_PATHS: list[bytes] = [
    b"/api/agents/%00/ask",
    b"/api/agents/%ff%fe/ask",
    b"/api/agents/..%2f..%2fetc%2fpasswd/ask",
    b"/api/agents/../../etc/passwd",
    b"/api/agents/\xc3\xa9\xe2\x98\x83/ask",
    b"/api/agents/\xff\xfe/ask",
    b"/api/agents/" + "é".encode() * 3000 + b"/ask",
    b"/api/agents/helpdesk/search?q=%ff%fe&k=abc",
    b"/api/agents/helpdesk/search?q=kettle&k=-1",
    b"/api/agents/helpdesk/search?q=kettle&k=100000000000000000000000&mode=%00",
    b"/api/agents/helpdesk/search?q=" + b"a" * 8000,
    b"/api/agents/helpdesk/search?q=%%%%&k=%%",
    b"/api/conversations/99999999999999999999999999",
    b"/api/conversations/-1",
    b"/api/conversations/%20",
    b"/v1/chat/completions/../../agents",
    b"//////",
    b"/?" + b"&".join(b"a%d=b" % i for i in range(2000)),
    b"*",
    b"http://evil.example/agents",
    b"/api/agents/helpdesk/sources/not-a-number",
    b"/api/agents/helpdesk/answers/1e9",
    b"/widget.js?%00",
    b"/agents/%3Cscript%3E/chat",
]
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "image/png",
    "",
]
METHODS = ["PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "FOO", "GET", "POST", "HEAD", "OPTIONS"]


def fuzz_cases(count: int, *, keys: list[str]) -> list[FuzzCase]:
    """`count` malformed requests, the same ones for the same seed."""
    rng = random.Random(SEED)
    cases: list[FuzzCase] = []

    def auth() -> dict[str, str]:
        choice = rng.random()
        if choice < 0.7:
            return {"Authorization": f"Bearer {rng.choice(keys)}"}
        if choice < 0.8:
            return {
                "Authorization": rng.choice(
                    ["Bearer", "Basic Zm9vOmJhcg==", "Bearer \u00e9\u00e9", "x" * 5000]
                )
            }
        return {}

    makers = []

    def wrong_json() -> FuzzCase:
        method, path = rng.choice([e for e in ENDPOINTS if e[0] != "GET"])
        body = rng.choice(JSON_BODIES)
        headers = {"Content-Type": "application/json", **auth()}
        return raw_request(
            method, path, headers=headers, body=body, label=f"json {method} {path} {body[:40]!r}"
        )

    def huge_headers() -> FuzzCase:
        method, path = rng.choice(ENDPOINTS)
        kind = rng.randrange(4)
        if kind == 0:
            headers: list[tuple[str, str]] = [("X-Big", "a" * rng.choice([1_000_000, 4_000_000]))]
        elif kind == 1:
            headers = [(f"X-H{i}", "v") for i in range(rng.choice([50_000, 100_000]))]
        elif kind == 2:
            headers = [("Cookie", "; ".join(f"c{i}=v" for i in range(20_000)))]
        else:
            headers = [("Origin", "https://" + "o" * 50_000 + ".example")]
        return raw_request(
            method, path, headers=headers + list(auth().items()), label=f"headers {kind} {path}"
        )

    def huge_body() -> FuzzCase:
        method, path = rng.choice([e for e in ENDPOINTS if e[0] == "POST"])
        size = rng.choice([2_000_001, 5_000_000, 20_000_000])
        declared_only = rng.random() < 0.5
        body = b"" if declared_only else b"{" + b" " * (size - 1)
        headers = {"Content-Type": "application/json", **auth()}
        return raw_request(
            method, path, headers=headers, body=body, content_length=size, label=f"body {size} {path}"
        )

    def junk_path() -> FuzzCase:
        method = rng.choice(["GET", "POST", "DELETE"])
        path = rng.choice(JUNK_PATHS)
        body = b'{"question": "kettle"}' if method == "POST" else b""
        headers = {"Content-Type": "application/json", **auth()}
        return raw_request(method, path, headers=headers, body=body, label=f"path {method} {path[:60]!r}")

    def slow_body() -> FuzzCase:
        method, path = rng.choice([e for e in ENDPOINTS if e[0] == "POST"])
        body = rng.choice(JSON_BODIES[:20]) or b"{}"
        headers = {"Content-Type": "application/json", **auth()}
        return raw_request(
            method, path, headers=headers, body=body, drip_s=0.01, label=f"slow {path} {body[:30]!r}"
        )

    def wrong_content_type() -> FuzzCase:
        method, path = rng.choice([e for e in ENDPOINTS if e[0] == "POST"])
        content_type = rng.choice(CONTENT_TYPES)
        body = rng.choice([b"a=1&b=2", b'{"question": "kettle?"}', b"--xyz\r\n\r\n--xyz--", b"\x89PNG\r\n"])
        headers = {"Content-Type": content_type, **auth()}
        return raw_request(method, path, headers=headers, body=body, label=f"type {content_type!r} {path}")

    def wrong_method() -> FuzzCase:
        _, path = rng.choice(ENDPOINTS)
        allowed = {method for method, other in ENDPOINTS if other == path} | ALSO_ALLOWED.get(path, set())
        if "GET" in allowed:
            allowed.add("HEAD")
        method = rng.choice([m for m in METHODS if m not in allowed])
        return raw_request(method, path, headers=auth(), body=b"{}", label=f"method {method} {path}")

    def broken_framing() -> FuzzCase:
        _, path = rng.choice(ENDPOINTS)
        kind = rng.randrange(5)
        if kind == 0:
            return raw_request("POST", path, headers={"Content-Length": "abc", **auth()}, label="length abc")
        if kind == 1:
            return raw_request(
                "POST",
                path,
                headers={"Transfer-Encoding": "chunked", **auth()},
                body=b"zz\r\n{}\r\n0\r\n\r\n",
                label="bad chunk",
            )
        if kind == 2:
            return raw_request("POST", path, headers={"Content-Length": "-1", **auth()}, label="length -1")
        if kind == 3:
            return raw_request(
                "POST",
                path,
                headers=[("Content-Length", "2"), ("Content-Length", "5"), *auth().items()],
                body=b"{}",
                label="two lengths",
            )
        return FuzzCase(
            "not http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n"
        )

    makers = [wrong_json] * 4 + [
        huge_headers,
        huge_body,
        junk_path,
        junk_path,
        slow_body,
        wrong_content_type,
        wrong_method,
        broken_framing,
    ]
    while len(cases) < count:
        cases.append(rng.choice(makers)())
    return cases


@pytest.fixture
def fuzzed_server(kit: AgentKit, tmp_path: Path) -> Iterator[tuple[RunningServer, list[str]]]:
    kettle_agent(kit, tmp_path)
    keys = [secret(kit, "admin"), secret(kit, "chat", agent="helpdesk"), secret(kit, "ingest")]
    with running_server(kit, settings=ServerSettings(client_rate=None)) as server:
        yield server, keys


def fuzz(server: RunningServer, keys: list[str], count: int) -> None:
    statuses: dict[int | None, int] = {}
    failures: list[str] = []
    for case in fuzz_cases(count, keys=keys):
        status = send(server, case)
        statuses[status] = statuses.get(status, 0) + 1
        if status is not None and not 400 <= status < 500:
            failures.append(f"{status}: {case.label}")
    print(f"{count} malformed requests, answered by status: {sorted(statuses.items(), key=str)}")
    assert not failures, f"{len(failures)} requests were not answered with a 4xx: {failures[:20]}"
    assert sum(count for status, count in statuses.items() if status is not None) >= count * 0.9, statuses
    good = raw_request(
        "POST",
        "/api/agents/helpdesk/ask",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {keys[1]}"},
        body=json.dumps({"question": "How fast does the Lumo kettle boil?"}).encode(),
        label="good",
    )
    assert send(server, good) == 200


def test_fifty_malformed_requests_get_4xx_quietly_and_the_server_keeps_answering(
    fuzzed_server: tuple[RunningServer, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    fuzz(*fuzzed_server, count=50)
    # Expected errors (no key, bad input) are answered, not logged as server tracebacks.
    assert not [record for record in caplog.records if "Exception in ASGI application" in record.getMessage()]


@pytest.mark.slow
def test_a_thousand_malformed_requests_get_4xx_and_the_server_keeps_answering(
    fuzzed_server: tuple[RunningServer, list[str]],
) -> None:
    fuzz(*fuzzed_server, count=1000)
