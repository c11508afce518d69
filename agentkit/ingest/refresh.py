"""Refresh intervals of sources: parsing `30m`/`12h`/`1d`/`1w`, ages, and which sources are due.

A source may carry `refresh_interval_s`; it is *due* when it has never synced successfully or
when its last successful sync is at least that long ago. Sources without an interval are
synced only when asked for by name (`agentkit sync NAME`), never by `agentkit sync --due`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from agentkit.errors import InvalidSettingError

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
# Longer than this is almost certainly a typo (and would overflow 32-bit integer columns).
MAX_REFRESH_INTERVAL_S = 366 * 86400


def parse_refresh_interval(text: str) -> int:
    """Seconds in an interval such as `90s`, `30m`, `12h`, `1d` or `1w`."""
    match = _INTERVAL.match(text)
    if not match:
        raise InvalidSettingError(
            f"refresh interval {text!r} is not understood; write a whole number and a unit: "
            "30m (minutes), 12h (hours), 1d (days) or 1w (weeks)"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise InvalidSettingError(f"refresh interval {text!r} must be longer than zero")
    if seconds > MAX_REFRESH_INTERVAL_S:
        raise InvalidSettingError(f"refresh interval {text!r} is longer than a year; pick a shorter one")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human duration: `45s`, `12m`, `5h`, `3d`, `2w`."""
    seconds = max(0.0, seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; agentkit writes them in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def age_seconds(last_synced_at: datetime | None, *, now: datetime | None = None) -> float | None:
    """Seconds since the last successful sync, or None when there was none."""
    if last_synced_at is None:
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (as_utc(now) - as_utc(last_synced_at)).total_seconds())


def is_due(
    last_synced_at: datetime | None, refresh_interval_s: int | None, *, now: datetime | None = None
) -> bool:
    """Whether a source with this interval is past it (never synced counts as past it)."""
    if refresh_interval_s is None:
        return False
    age = age_seconds(last_synced_at, now=now)
    return age is None or age >= refresh_interval_s
