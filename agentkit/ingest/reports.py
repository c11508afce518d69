"""What a sync did: per source (`SourceSyncReport`) and summed over sources (`SyncReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FailedItem:
    uri: str
    error: str


@dataclass
class SourceSyncReport:
    """What one sync of one source did. Counts are documents unless named otherwise."""

    source_id: int | None
    kind: str
    uri: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[FailedItem] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_removed: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    error: str | None = None
    # Seconds per step (read, embed, write, index), for profiling; not part of the JSON.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class SyncReport:
    """A sync over several sources, summed for display and JSON."""

    sources: list[SourceSyncReport] = field(default_factory=list)
    # Set when the agent could not be synced at all (another writer held it, say).
    error: str | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(report, name)) for report in self.sources)

    @property
    def failed(self) -> list[FailedItem]:
        items: list[FailedItem] = []
        if self.error:
            items.append(FailedItem("", self.error))
        for report in self.sources:
            if report.error:
                items.append(FailedItem(report.uri, report.error))
            items.extend(report.failed)
        return items

    @property
    def seconds(self) -> float:
        return sum(report.seconds for report in self.sources)

    @property
    def ok(self) -> bool:
        """False when the agent or a whole source could not be synced."""
        return self.error is None and not any(report.error for report in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.total("added"),
            "updated": self.total("updated"),
            "removed": self.total("removed"),
            "unchanged": self.total("unchanged"),
            "failed": [{"uri": item.uri, "error": item.error} for item in self.failed],
            "chunks_embedded": self.total("chunks_embedded"),
            "documents": self.total("documents"),
            "chunks": self.total("chunks"),
            "seconds": round(self.seconds, 3),
        }
