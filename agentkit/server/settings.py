"""ServerSettings: the limits one server process works under, from arguments or the environment.

`agentkit serve` writes them to `AGENTKIT_SERVE_*` environment variables so that every worker
process uvicorn starts reads the same ones (`app_from_environment`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from agentkit.errors import InvalidSettingError
from agentkit.server.keys import parse_rate

_PREFIX = "AGENTKIT_SERVE_"


@dataclass(frozen=True)
class ServerSettings:
    """Limits of one process.

    - `concurrency`: answers generated at once; `queue_length`: answers waiting for a slot.
      Beyond both, a request gets 429 with Retry-After at once.
    - `max_body_bytes`: the largest request body (413 beyond); `max_records`: records per push.
    - `client_rate`: requests per client address across keys ("120/min"; None: no limit).
      A key's own rate (`keys create --rate`) applies to the key.
    - `log_question_agents`: agents whose questions may appear in the access log (none by default).
    - `shutdown_timeout_s`: how long a stopping server waits for answers in flight.
    """

    concurrency: int = 1
    queue_length: int = 8
    max_body_bytes: int = 2_000_000
    max_records: int = 500
    max_messages: int = 100
    client_rate: str | None = "120/min"
    log_question_agents: frozenset[str] = field(default_factory=frozenset)
    shutdown_timeout_s: int = 120

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.queue_length < 0:
            raise InvalidSettingError("concurrency must be at least 1 and the queue length at least 0")
        if self.max_body_bytes < 1024 or self.max_records < 1:
            raise InvalidSettingError("max body must be at least 1024 bytes and max records at least 1")
        if self.client_rate:
            parse_rate(self.client_rate)

    def replace(self, **changes: object) -> ServerSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_environment(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, frozenset):
                value = ",".join(sorted(value))
            values[_PREFIX + item.name.upper()] = "" if value is None else str(value)
        return values

    @classmethod
    def from_environment(cls) -> ServerSettings:
        """Defaults, overridden by the `AGENTKIT_SERVE_*` variables that are set."""
        changes: dict[str, object] = {}
        for item in dataclasses.fields(cls):
            raw = os.environ.get(_PREFIX + item.name.upper())
            if raw is None:
                continue
            if item.name == "log_question_agents":
                changes[item.name] = frozenset(name.strip() for name in raw.split(",") if name.strip())
            elif item.name == "client_rate":
                changes[item.name] = raw.strip() or None
            else:
                try:
                    changes[item.name] = int(raw)
                except ValueError:
                    raise InvalidSettingError(
                        f"{_PREFIX}{item.name.upper()}={raw!r} must be a whole number"
                    ) from None
        return cls(**changes)  # type: ignore[arg-type]
