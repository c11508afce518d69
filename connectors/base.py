"""The connector contract: what every source kind produces and how it reports trouble.

A connector turns one source (a file or folder, a web site, a Notion export, a table of
records) into `Document`s. It knows nothing about chunking, embeddings, indexes or SQL: the
ingest pipeline in `agentkit.ingest.pipeline` consumes what `Connector.fetch` yields.

`fetch` yields three kinds of items, so that one bad file never stops a whole folder:
- `Document`: a readable item, with its text split into structural `Block`s;
- `SkippedItem`: an item that could not be read (unsupported type, corrupt PDF, ...), with a
  message for the user; whatever was stored for it before is kept;
- `UnchangedItem`: an item the connector knows is unchanged without reading it again (for
  example a web page answered `304 Not Modified`); its stored document is kept as it is.

A failure of the whole source (a folder that does not exist, a site that does not answer) is
raised as `ConnectorError`; the caller then changes nothing that was stored for the source.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from agentkit.errors import ConnectorError, UnreadableItemError  # noqa: F401  (every connector raises them)

MetadataValue = str | int | float | bool | None


@dataclass(frozen=True)
class Block:
    """A run of text with one structural position: under a heading path, on a page.

    `anchor` is a fragment (without '#') that locates the block inside its document, such as
    the id of the nearest heading of a web page.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    anchor: str | None = None


@dataclass
class Document:
    """One item of a source. `uri` is its stable identity within the source."""

    uri: str
    title: str
    blocks: list[Block]
    metadata: dict[str, MetadataValue] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The whole text, blocks joined by blank lines (the coordinates of chunk spans)."""
        return BLOCK_SEPARATOR.join(block.text for block in self.blocks)

    @property
    def content_hash(self) -> str:
        """A digest of everything that changes what gets chunked and cited.

        Metadata (file times, ETags) is left out on purpose: touching a file or a new ETag
        for the same page must not re-embed anything.
        """
        digest = hashlib.sha256()
        digest.update(self.title.encode("utf-8"))
        for block in self.blocks:
            record = [block.text, list(block.heading_path), block.page, block.anchor]
            digest.update(b"\x00")
            digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()


BLOCK_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class SkippedItem:
    """An item that was seen but not ingested, and why (a message a person can act on)."""

    uri: str
    reason: str


@dataclass(frozen=True)
class UnchangedItem:
    """An item known to be unchanged since the last fetch; its stored document stays."""

    uri: str


FetchedItem = Document | SkippedItem | UnchangedItem


@dataclass(frozen=True)
class PreviousFetch:
    """What was stored about a document after the last fetch, for conditional re-fetching."""

    content_hash: str
    metadata: Mapping[str, MetadataValue]


class Connector(ABC):
    """Reads one source. Subclasses set `kind` and implement `fetch`."""

    kind: str = ""

    @abstractmethod
    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        """Yield every item of the source.

        `previous` maps each stored document uri of this source to what was stored for it;
        connectors that can skip unchanged items cheaply use it, others ignore it.
        """
