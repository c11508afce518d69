"""The public value types that searches and answers return: `SearchHit`, `Citation`, `Answer`.

They are plain frozen dataclasses with `to_dict()` for JSON output, so the CLI, the Python
API and the tests all see the same shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk with where it came from and how it scored.

    `score` is the score the ranking used (the fused score in hybrid mode);
    `dense_score` and `lexical_score` are the component scores where they were computed.
    """

    chunk_id: int
    score: float
    text: str
    title: str
    uri: str
    page: int | None
    heading_path: tuple[str, ...]
    anchor: str | None
    document_id: int
    source_id: int
    fetched_at: str | None = None
    record_id: str | None = None
    dense_score: float | None = None
    lexical_score: float | None = None

    @property
    def location(self) -> str:
        """The uri with the anchor of the chunk's section, for links in citations."""
        return f"{self.uri}#{self.anchor}" if self.anchor else self.uri

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["heading_path"] = list(self.heading_path)
        data["location"] = self.location
        return data


@dataclass(frozen=True)
class Citation:
    """A numbered source shown with an answer; `n` is the number used inline as [n]."""

    n: int
    title: str
    uri: str
    page: int | None
    chunk_id: int
    score: float
    text: str
    anchor: str | None = None
    fetched_at: str | None = None
    record_id: str | None = None

    @classmethod
    def from_hit(cls, n: int, hit: SearchHit) -> Citation:
        return cls(
            n=n,
            title=hit.title,
            uri=hit.location,
            page=hit.page,
            chunk_id=hit.chunk_id,
            score=hit.score,
            text=hit.text,
            anchor=hit.anchor,
            fetched_at=hit.fetched_at,
            record_id=hit.record_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What `ask` returns. When `abstained`, `citations` lists the closest sources found."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    question: str = ""
    search_query: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [citation.to_dict() for citation in self.citations],
        }
