"""API keys: create, list, revoke and verify the keys the HTTP server accepts.

A key reads `ak_<key id>_<secret>`. Only the SHA-256 of the whole key is stored; the key id
(its public part) finds the row and the hashes are compared in constant time. A key has one
scope (`chat`: ask and search; `ingest`: push records and search; `admin`: everything), may be
bound to one agent, may list the web origins allowed to use it (a request from any other
origin is refused), may carry its own rate ("30/min") and may expire. Revoking takes effect on
the next request: every request reads the key's row.

Nothing here needs a web framework, so `agentkit keys` stays as light as the rest of the CLI.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select

from agentkit.errors import AgentkitError, InvalidSettingError
from agentkit.ingest.refresh import as_utc
from agentkit.store.models import AgentRow, ApiKeyRow, utc_now

if TYPE_CHECKING:
    from agentkit.kit import AgentKit

SCOPES = ("chat", "ingest", "admin")
KEY_PREFIX = "ak_"

_KEY = re.compile(r"^ak_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.IGNORECASE)
_RATE_SECONDS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Hashed when a key id is unknown, so that an unknown id costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"agentkit-no-such-key").hexdigest()


class ApiKeyNotFoundError(AgentkitError):
    """No key with that id."""


@dataclass(frozen=True)
class Rate:
    """`requests` per `seconds`, parsed from text like "30/min"."""

    requests: int
    seconds: int

    def __str__(self) -> str:
        unit = {1: "s", 60: "min", 3600: "hour", 86400: "day"}[self.seconds]
        return f"{self.requests}/{unit}"


@dataclass(frozen=True)
class ApiKey:
    """A stored key as the server and `keys list` see it (never the secret)."""

    id: int
    key_id: str
    scope: str
    agent: str | None
    agent_id: int | None
    origins: tuple[str, ...] = ()
    rate: Rate | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or as_utc(self.expires_at) > utc_now())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key_id": self.key_id,
            "scope": self.scope,
            "agent": self.agent,
            "origins": list(self.origins),
            "rate": str(self.rate) if self.rate else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "active": self.active,
        }


def parse_rate(text: str) -> Rate:
    """Parse text like 30/min into Rate(30, 60); units s, min, hour, day."""
    match = _RATE.match(text)
    if not match or int(match.group(1)) < 1:
        raise InvalidSettingError(f"rate {text!r} must look like 30/min (per s, min, hour or day)")
    return Rate(int(match.group(1)), _RATE_SECONDS[match.group(2).lower()])


def parse_duration(text: str) -> timedelta:
    """Parse text like 30d (30 days); units m (minutes), h, d, w."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) < 1:
        raise InvalidSettingError(f"duration {text!r} must look like 30d (m, h, d or w)")
    return timedelta(seconds=int(match.group(1)) * _DURATION_SECONDS[match.group(2).lower()])


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], lower case, no path."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidSettingError(
            f"origin {origin!r} must be scheme://host[:port], like https://www.example.com"
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def hash_secret(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    kit: AgentKit,
    *,
    scope: str,
    agent: str | None = None,
    origins: tuple[str, ...] | list[str] = (),
    rate: str | None = None,
    expires: str | timedelta | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is not stored and shown only now."""
    if scope not in SCOPES:
        raise InvalidSettingError(f"scope must be one of {', '.join(SCOPES)}")
    agent_id = kit.get_agent(agent).id if agent else None
    normalized = tuple(dict.fromkeys(normalize_origin(origin) for origin in origins))
    parsed_rate = parse_rate(rate) if rate else None
    lifetime = parse_duration(expires) if isinstance(expires, str) else expires
    key_id = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scope=scope,
        agent_id=agent_id,
        origins=list(normalized),
        rate_limit=str(parsed_rate) if parsed_rate else None,
        expires_at=utc_now() + lifetime if lifetime else None,
    )
    with kit.sessions() as session, session.begin():
        session.add(row)
        session.flush()
        stored = _to_key(row, agent)
    return stored, secret


def list_keys(kit: AgentKit) -> list[ApiKey]:
    with kit.sessions() as session:
        rows = session.execute(
            select(ApiKeyRow, AgentRow.name)
            .outerjoin(AgentRow, AgentRow.id == ApiKeyRow.agent_id)
            .order_by(ApiKeyRow.id)
        ).all()
        return [_to_key(row, name) for row, name in rows]


def revoke_key(kit: AgentKit, key: int | str) -> ApiKey:
    """Revoke a key by its number (`keys list`) or its key id; it stops working at once."""
    with kit.sessions() as session, session.begin():
        column = ApiKeyRow.id if isinstance(key, int) or str(key).isdigit() else ApiKeyRow.key_id
        value = int(key) if column is ApiKeyRow.id else str(key)
        row = session.scalar(select(ApiKeyRow).where(column == value))
        if row is None:
            raise ApiKeyNotFoundError(f"no API key {key!r}; `agentkit keys list` shows the keys")
        if row.revoked_at is None:
            row.revoked_at = utc_now()
        name = (
            session.scalar(select(AgentRow.name).where(AgentRow.id == row.agent_id)) if row.agent_id else None
        )
        return _to_key(row, name)


def verify_key(kit: AgentKit, presented: str) -> ApiKey | None:
    """The active key whose secret is `presented`, or None (unknown, wrong, revoked or expired)."""
    match = _KEY.match(presented.strip())
    key_id = match.group(1) if match else ""
    with kit.sessions() as session:
        found = session.execute(
            select(ApiKeyRow, AgentRow.name)
            .outerjoin(AgentRow, AgentRow.id == ApiKeyRow.agent_id)
            .where(ApiKeyRow.key_id == key_id)
        ).first()
        stored_hash = found[0].secret_hash if found else _DUMMY_HASH
        if not hmac.compare_digest(stored_hash, hash_secret(presented.strip())) or found is None:
            return None
        key = _to_key(found[0], found[1])
    return key if key.active else None


def _to_key(row: ApiKeyRow, agent_name: str | None) -> ApiKey:
    return ApiKey(
        id=row.id,
        key_id=row.key_id,
        scope=row.scope,
        agent=agent_name,
        agent_id=row.agent_id,
        origins=tuple(row.origins or ()),
        rate=parse_rate(row.rate_limit) if row.rate_limit else None,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        created_at=as_utc(row.created_at) if row.created_at else None,
    )
