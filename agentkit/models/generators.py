"""The `Generator` interface: streams the reply to a list of chat messages.

Implementations: `agentkit.models.llama_cpp` (a GGUF file on this machine, the default) and
`agentkit.models.openai_compatible` (any OpenAI-compatible chat completions server); plugins
add more through the `agentkit.generators` entry-point group (`agentkit.models.registry`).
A generator is built from a target (what follows `kind:` in the agent's model spec) and the
agent's `GenerationSettings`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_MODEL = "default"
DEFAULT_CONTEXT_WINDOW = 2048


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings, stored per agent."""

    max_answer_tokens: int = 192
    temperature: float = 0.1
    context_window: int = DEFAULT_CONTEXT_WINDOW
    seed: int = 7
    # Small models loop ("...every 45 minutes. ...every 45 minutes."); a firm penalty stops it.
    repeat_penalty: float = 1.25
    # Remote generators only: the name of the environment variable that holds the API key (the
    # key itself is never stored) and how long to wait for the server.
    api_key_env: str | None = None
    request_timeout_s: float = 60.0


class Generator(ABC):
    """Streams a reply. Subclasses implement `stream`; they may refine `count_tokens`."""

    context_window: int = DEFAULT_CONTEXT_WINDOW

    @abstractmethod
    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the reply's text in pieces as the model produces them."""

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in the prompt; a generous estimate unless overridden."""
        return len(text) // 3 + 1

    def complete(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))
