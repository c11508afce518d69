"""An agent's sources as `agentkit sources` shows them, and how a typed location names one.

`SourceInfo` is one source with its counts and freshness; `list_sources` reads an agent's;
`normalize_location` makes a local path absolute (one folder is one source) and leaves URLs as
typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentkit.errors import ConnectorError
from agentkit.ingest.pipeline import source_totals
from agentkit.ingest.refresh import age_seconds, is_due
from agentkit.store.models import SourceRow


@dataclass(frozen=True)
class SourceInfo:
    """A source as `agentkit sources` shows it."""

    id: int
    kind: str
    uri: str
    status: str
    documents: int
    chunks: int
    error: str | None
    last_synced_at: datetime | None
    options: dict[str, Any]
    refresh_interval_s: int | None

    @property
    def age_s(self) -> float | None:
        """Seconds since the last successful sync (None: never synced)."""

        return age_seconds(self.last_synced_at)

    @property
    def due(self) -> bool:
        """Past its refresh interval (never when it has none), or left incomplete by a sync that
        was stopped; `agentkit sync --due` syncs it."""

        return self.status == "incomplete" or is_due(self.last_synced_at, self.refresh_interval_s)

    def to_dict(self) -> dict[str, Any]:
        age = self.age_s
        return {
            "id": self.id,
            "kind": self.kind,
            "uri": self.uri,
            "status": self.status,
            "documents": self.documents,
            "chunks": self.chunks,
            "error": self.error,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "options": self.options,
            "refresh_interval_s": self.refresh_interval_s,
            "age_s": round(age, 1) if age is not None else None,
            "due": self.due,
        }


def list_sources(session: Session, agent_id: int) -> list[SourceInfo]:
    """The agent's sources in the order they were added, with their document and chunk counts."""
    rows = session.scalars(select(SourceRow).where(SourceRow.agent_id == agent_id).order_by(SourceRow.id)).all()
    infos = []
    for row in rows:
        documents, chunks = source_totals(session, row.id)
        infos.append(
            SourceInfo(
                id=row.id,
                kind=row.kind,
                uri=row.uri,
                status=row.status,
                documents=documents,
                chunks=chunks,
                error=row.last_error,
                last_synced_at=row.last_synced_at,
                options=dict(row.options or {}),
                refresh_interval_s=row.refresh_interval_s,
            )
        )
    return infos


def normalize_location(location: str) -> str:
    """URLs stay as typed; local paths become absolute, so one folder is one source."""
    if "://" in location:
        return location
    path = Path(location).expanduser()
    if not path.exists():
        raise ConnectorError(f"{location} does not exist; check the path")
    return str(path.resolve())
