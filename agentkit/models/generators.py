"""The `Generator` interface: streams the reply to a list of chat messages.

Implementations: `agentkit.models.llama_cpp` (a GGUF file on this machine, the default) and
`agentkit.models.openai_compatible` (any OpenAI-compatible chat completions server); plugins
add more through the `agentkit.generators` entry-point group (`agentkit.models.registry`).
A generator is built from a target (what follows `kind:` in the agent's model spec) and the
agent's `GenerationSettings`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from agentkit.errors import InvalidSettingError

DEFAULT_MODEL = "default"
DEFAULT_CONTEXT_WINDOW = 2048
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


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
    # Sources in the prompt: 0 gives whole chunks; N gives each chunk's N passages that best
    # match the question (a shorter prompt: faster on a CPU, easier for a small model). 2, not
    # 3: the same docs answers with 18% fewer prompt tokens (benchmarks/README.md).
    prompt_excerpts: int = 2

    def __post_init__(self) -> None:
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise InvalidSettingError(
                f"api_key_env {self.api_key_env!r} must be the name of an environment variable "
                "(letters, digits and '_'), not the key itself"
            )
        if not 0 < self.request_timeout_s <= 3600:
            raise InvalidSettingError(f"request timeout {self.request_timeout_s} s must be between 0 and 3600")
        if not 0 <= self.prompt_excerpts <= 50:
            raise InvalidSettingError(f"prompt_excerpts {self.prompt_excerpts} must be between 0 and 50")
        if self.max_answer_tokens < 1 or self.context_window < 256:
            raise InvalidSettingError("max_answer_tokens must be >= 1 and context_window >= 256")


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
