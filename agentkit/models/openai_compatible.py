"""A generator that talks to any OpenAI-compatible chat completions server.

Ollama, llama.cpp's server, vLLM, LM Studio and llama-cpp-python's own server all speak
`POST {base}/chat/completions` with server-sent events when `stream` is true. The agent's
model spec is `openai:http://HOST:PORT/v1#MODEL` (`#MODEL` is the server's model name; some
servers ignore it). The API key is read from the environment variable the agent's settings
name (`api_key_env`): it never reaches SQL. Every failure (server down, timeout, an error
status, a broken stream) is a `GeneratorError` that names the URL and what to do.

Grounding, citations and abstention apply to this generator exactly as to the local model:
the answering pipeline only sees a `Generator`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentkit.errors import GeneratorError, ModelSpecError
from agentkit.models.generators import ChatMessage, GenerationSettings, Generator

# Where a small model starts to recite the numbered sources or invents a new question
# (the same stops the local generator uses; OpenAI allows at most four).
STOP_SEQUENCES = ["\n[", "\nQuestion:", "\nSources:"]
DEFAULT_REMOTE_MODEL = "default"
_ERROR_BODY_LIMIT = 2000


@dataclass(frozen=True)
class OpenAITarget:
    base_url: str  # ends with the API root, e.g. http://127.0.0.1:8080/v1
    model: str


def parse_openai_target(target: str) -> OpenAITarget:
    """`http://HOST:PORT/v1#MODEL` -> its parts; raises `ModelSpecError` naming what is wrong."""
    url, _, model = target.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelSpecError(
            f"openai model {target!r} needs an http(s) URL: openai:http://HOST:PORT/v1#MODEL"
        )
    if parts.query:
        raise ModelSpecError(f"openai model URL {url!r} must not carry a query string")
    return OpenAITarget(base_url=url.rstrip("/"), model=model.strip() or DEFAULT_REMOTE_MODEL)


class OpenAICompatibleGenerator(Generator):
    """Streams replies from `POST {base_url}/chat/completions`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        context_window: int = 2048,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.context_window = context_window
        self.seed = seed
        self._api_key = api_key
        self._timeout_s = timeout_s

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        import httpx

        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stop": STOP_SEQUENCES,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        timeout = httpx.Timeout(self._timeout_s, connect=min(10.0, self._timeout_s))
        try:
            with httpx.stream("POST", self.endpoint, json=body, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    raise GeneratorError(self._status_message(response.status_code, response.read()))
                yield from self._pieces(response.iter_lines())
        except httpx.ConnectError as error:
            raise GeneratorError(
                f"cannot reach the model server at {self.endpoint} ({error}); is it running?"
            ) from error
        except httpx.TimeoutException as error:
            raise GeneratorError(
                f"the model server at {self.endpoint} did not answer within {self._timeout_s:g} s; "
                "raise the agent's request_timeout_s or check the server"
            ) from error
        except httpx.HTTPError as error:
            raise GeneratorError(
                f"the model server at {self.endpoint} broke off the answer ({type(error).__name__}: {error})"
            ) from error

    def _pieces(self, lines: Iterator[str]) -> Iterator[str]:
        """The text deltas of a server-sent event stream, until `[DONE]` (or a finish reason)."""
        finished = False
        for line in lines:
            if not line.startswith("data:"):
                continue  # blank separators, comments (": keep-alive"), event names
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except json.JSONDecodeError as error:
                raise GeneratorError(
                    f"the model server at {self.endpoint} sent an event that is not JSON: {data[:200]!r}"
                ) from error
            if isinstance(event, dict) and "error" in event:
                raise GeneratorError(f"the model server at {self.endpoint} failed: {_error_text(event)}")
            choices = event.get("choices") if isinstance(event, dict) else None
            if not choices:
                continue
            finished = finished or bool(choices[0].get("finish_reason"))
            delta = choices[0].get("delta") or {}
            text = delta.get("content")
            if text is None:
                text = choices[0].get("text")  # a completions-style chunk
            if text:
                yield text
        if not finished:
            raise GeneratorError(
                f"the model server at {self.endpoint} broke off the answer (the stream ended without [DONE])"
            )

    def _status_message(self, status: int, body: bytes) -> str:
        detail = body[:_ERROR_BODY_LIMIT].decode("utf-8", errors="replace").strip()
        try:
            detail = _error_text(json.loads(detail))
        except (json.JSONDecodeError, AttributeError):
            pass
        hint = ""
        if status in (401, 403):
            hint = "; check the API key in the environment variable the agent's api_key_env names"
        elif status == 404:
            hint = f"; check the URL and the model name ({self.model!r})"
        return f"the model server at {self.endpoint} answered {status}: {detail or 'no detail'}{hint}"


def _error_text(payload: object) -> str:
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(payload)


def load_openai_compatible(target: str, settings: GenerationSettings) -> OpenAICompatibleGenerator:
    """The `openai` generator kind: `target` is `http://HOST:PORT/v1#MODEL`."""
    parsed = parse_openai_target(target)
    api_key = None
    if settings.api_key_env:
        api_key = os.environ.get(settings.api_key_env)
        if not api_key:
            raise GeneratorError(
                f"the agent reads its API key for {parsed.base_url} from ${settings.api_key_env}, "
                "which is not set; export it before asking"
            )
    return OpenAICompatibleGenerator(
        parsed.base_url,
        parsed.model,
        api_key=api_key,
        timeout_s=settings.request_timeout_s,
        context_window=settings.context_window,
        seed=settings.seed,
    )
