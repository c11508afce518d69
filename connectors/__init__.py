"""Source connectors: one module per kind of source, and the registry that picks one.

`detect_kind` decides which connector reads a location a user typed (a path or a URL);
`open_connector` builds it from the options stored on the source. Connector modules are
imported only when used, so listing agents never loads an HTML or PDF parser.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

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

__all__ = [
    "Block",
    "Connector",
    "ConnectorError",
    "Document",
    "FetchedItem",
    "PreviousFetch",
    "SkippedItem",
    "UnchangedItem",
    "UnreadableItemError",
    "KINDS",
    "detect_kind",
    "open_connector",
]

# kind -> "module:ClassName"; each class has `from_options(location, options)`.
KINDS: dict[str, str] = {
    "files": "connectors.files:FilesConnector",
    "web": "connectors.web.connector:WebConnector",
    "notion": "connectors.notion:NotionConnector",
    "records": "connectors.records:RecordsConnector",
}


def detect_kind(location: str, options: Mapping[str, object]) -> str:
    """The connector kind for a location: a URL, a Notion export, a records file, or files.

    A .zip must look like a Notion export (see `connectors.notion_export`); any other zip is
    refused with a message saying to unpack it, since the files connector reads folders.
    """
    lowered = location.lower()
    if lowered.startswith(("http://", "https://")):
        return "web"
    if "://" in location.split("/", 1)[0] + "/" and not lowered.startswith("file://"):
        scheme = location.split("://", 1)[0]
        raise ConnectorError(
            f"{location}: the {scheme}:// scheme is not supported; give a local path or an "
            "http(s) URL"
        )
    if "text_field" in options:
        return "records"
    path = Path(location)
    if path.is_file() and path.suffix.lower() == ".zip":
        notion_export = importlib.import_module("connectors.notion_export")
        if notion_export.is_notion_export_archive(path):
            return "notion"
        raise ConnectorError(
            f"{location} is a zip archive but not a Notion export (no Notion page ids, export "
            "parts or .md/.html/.csv pages inside); unpack it and add the folder"
        )
    if path.is_dir():
        notion_export = importlib.import_module("connectors.notion_export")
        if notion_export.is_notion_export_folder(path):
            return "notion"
    return "files"


def open_connector(kind: str, location: str, options: Mapping[str, object]) -> Connector:
    """Build the connector of `kind` for `location` with its stored options."""
    try:
        target = KINDS[kind]
    except KeyError:
        raise ConnectorError(
            f"unknown source kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}"
        ) from None
    module_name, class_name = target.split(":")
    connector_class = getattr(importlib.import_module(module_name), class_name)
    connector: Connector = connector_class.from_options(location, options)
    return connector
