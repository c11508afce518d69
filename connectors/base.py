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

Besides `fetch`, a connector class declares its `kind`, the `options` it takes (see
`connectors.options`) and, through `recognizes`, which locations it reads, so that
`connectors.registry.detect_kind` can pick the kind of a path or URL a user typed.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from agentkit.errors import ConnectorError, UnreadableItemError  # noqa: F401  (every connector raises them)
from connectors.options import ConnectorOption, check_options

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
    """Reads one source. Subclasses set `kind` and `options` and implement `fetch`.

    `recognizes` says how surely the class reads a location (0: not at all); the registry
    asks every kind and takes the highest score. The built-in kinds use 1 for "any local
    path, as a last resort" (files), 10 for "a location of this form" (an http(s) URL, a
    Notion export) and 20 for "the options given say so" (records with a `text_field`); a
    plugin returns more than those to take a location from a built-in kind.
    """

    kind: ClassVar[str] = ""
    options: ClassVar[tuple[ConnectorOption, ...]] = ()

    @classmethod
    def recognizes(cls, location: str, options: Mapping[str, object]) -> int:
        """How surely this kind reads `location` (a path or URL as typed) given `options`.

        0 means not at all. Raise `ConnectorError` to explain why a location that looks like
        this kind cannot be read (such as a zip that is not a Notion export); the message is
        shown when no other kind recognises the location.
        """
        del location, options
        return 0

    @classmethod
    def summary(cls) -> str:
        """What this kind reads, in one line: the first paragraph of the class docstring."""
        paragraph = (inspect.getdoc(cls) or cls.kind).split("\n\n", 1)[0]
        return " ".join(paragraph.split())

    @classmethod
    def check_options(cls, location: str, options: Mapping[str, object]) -> dict[str, object]:
        """`options` checked against the declared `options`; `ConnectorError` names what is wrong."""
        return check_options(cls.kind, cls.options, location, options)

    @classmethod
    def from_options(cls, location: str, options: Mapping[str, object]) -> Connector:
        """Build the connector of a stored source: by default ``cls(location, **options)``."""
        return cls(location, **cls.check_options(location, options))  # type: ignore[call-arg]

    @abstractmethod
    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        """Yield every item of the source.

        `previous` maps each stored document uri of this source to what was stored for it;
        connectors that can skip unchanged items cheaply use it, others ignore it.
        """


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def url_scheme(location: str) -> str | None:
    """The scheme of a location written as a URL (``https``, ``file``), lowercased, or None."""
    found = _URL_SCHEME.match(location)
    return found.group(1).lower() if found else None


def local_path_text(location: str) -> str | None:
    """The path of a local location (a path, or a ``file://`` URL), or None for other URLs."""
    scheme = url_scheme(location)
    if scheme is None:
        return location
    if scheme == "file":
        return location[len("file://") :]
    return None
