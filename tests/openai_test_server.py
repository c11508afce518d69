"""A small OpenAI-compatible chat completions server on 127.0.0.1 for the remote generator tests.

It speaks the protocol the way llama.cpp's server, Ollama and vLLM do: `POST
/v1/chat/completions` answers server-sent events (`data: {chunk}` lines ending with `data:
[DONE]`) when `stream` is true and one JSON body otherwise. Tests script what it does next
(`replies`, `status`, `delay_s`, `break_after`) and read what it was sent (`requests`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.web_test_site import serving


@dataclass
class ChatRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, object]


@dataclass
class Script:
    replies: list[str] = field(default_factory=list)
    status: int = 200  # an error status answers a JSON error body instead
    delay_s: float = 0.0  # wait this long before answering (timeouts)
    break_after: int | None = None  # close the connection after this many chunks


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.script = Script()
        self.requests: list[ChatRequest] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts) are expected here; stay quiet."""


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        pass

    def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append(ChatRequest(self.path, headers, body))
        script = self.server.script
        if script.delay_s:
            time.sleep(script.delay_s)
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        if script.status != 200:
            self._json(script.status, {"error": {"message": "the model is overloaded", "type": "server_error"}})
            return
        reply = script.replies.pop(0) if script.replies else "I do not know."
        if not body.get("stream"):
            self._json(200, {"id": "c1", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
            ]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        words = reply.split(" ")
        pieces = [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]
        self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        self.wfile.write(b": keep-alive comment\n\n")
        for count, piece in enumerate(pieces):
            if script.break_after is not None and count >= script.break_after:
                self.wfile.flush()
                self.connection.close()
                return
            self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, object]) -> None:
        self.wfile.write(b"data: " + json.dumps({"object": "chat.completion.chunk", **payload}).encode() + b"\n\n")

    def _json(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def running_chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    with serving(server):
        yield server
