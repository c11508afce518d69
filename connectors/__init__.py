"""Source connectors: one module per kind of source, and the registry that picks one.

`detect_kind` decides which connector reads a location a user typed (a path or a URL);
`open_connector` checks the options stored on the source and builds it. Kinds live in
`connector_kinds`, filled with agentkit's own (files, notion, records, web) and by plugins
through the ``agentkit.connectors`` entry-point group. Connector modules are imported only
when used, so listing agents never loads an HTML or PDF parser.
"""

from __future__ import annotations

from connectors.base import (
    Block,
    Connector,
    ConnectorError,
    Document,
    FetchedItem,
    PreviousFetch,
    SkippedItem,
    UnchangedItem,
    UnreadableItemError,
)
from connectors.options import ConnectorOption, OptionConflictError
from connectors.registry import (
    connector_class,
    connector_classes,
    connector_kinds,
    detect_kind,
    kind_options_from_text,
    open_connector,
)

__all__ = [
    "Block",
    "Connector",
    "ConnectorError",
    "ConnectorOption",
    "Document",
    "FetchedItem",
    "OptionConflictError",
    "PreviousFetch",
    "SkippedItem",
    "UnchangedItem",
    "UnreadableItemError",
    "connector_class",
    "connector_classes",
    "connector_kinds",
    "detect_kind",
    "kind_options_from_text",
    "open_connector",
]
