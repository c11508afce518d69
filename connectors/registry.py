"""The connector kinds: agentkit's own and those of installed plugins, and choosing among them.

`connector_kinds` maps a kind name to its `Connector` class, or to a ``"module:Class"`` string
that is imported only when the kind is used, so listing agents or `agentkit --help` never
loads a connector (or its HTML and PDF parsers). Installed packages add kinds through the
``agentkit.connectors`` entry-point group:

    [project.entry-points."agentkit.connectors"]
    confluence = "agentkit_confluence:ConfluenceConnector"

`detect_kind` asks every kind whether it `recognizes` a location and takes the best;
`open_connector` checks a source's options against the ones its kind declares, then builds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping

from agentkit.plugins import PluginError, Registry
from connectors.base import Connector, ConnectorError, url_scheme
from connectors.options import options_from_text

connector_kinds: Registry[type[Connector] | str] = Registry("connector", "agentkit.connectors")
connector_kinds.register("files", "connectors.files:FilesConnector")
connector_kinds.register("notion", "connectors.notion:NotionConnector")
connector_kinds.register("records", "connectors.records:RecordsConnector")
connector_kinds.register("web", "connectors.web.connector:WebConnector")


def connector_class(kind: str) -> type[Connector]:
    """The `Connector` class of `kind`; `ConnectorError` if no such kind is registered."""
    item = connector_kinds.get(kind)
    if item is None:
        raise ConnectorError(
            f"unknown source kind {kind!r}; known kinds: {', '.join(connector_kinds.names())}"
        )
    if isinstance(item, str):
        module_name, _, class_name = item.partition(":")
        item = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(item, type) and issubclass(item, Connector)):
        raise PluginError(f"the connector kind {kind!r} is {item!r}, not a Connector subclass")
    if item.kind != kind:
        raise PluginError(
            f"the connector kind {kind!r} is registered with {item.__name__}, whose kind is "
            f"{item.kind!r}; register it under its own kind"
        )
    return item


def connector_classes() -> list[type[Connector]]:
    """Every registered connector class (plugins included), by kind name."""
    return [connector_class(kind) for kind in connector_kinds.names()]


def detect_kind(location: str, options: Mapping[str, object]) -> str:
    """The kind of source at `location` (a path or URL as typed), given the options for it.

    Every registered kind is asked; the highest `recognizes` score wins. When none
    recognises the location, the first explanation a kind gave is raised (a zip that is
    not a Notion export says to unpack it), else a `ConnectorError` naming the location and
    the kinds there are. Two kinds with the same best score are an error too: choose one.
    """
    scores: list[tuple[int, str]] = []
    refusals: list[ConnectorError] = []
    for connector in connector_classes():
        try:
            score = int(connector.recognizes(location, options))
        except ConnectorError as refusal:
            refusals.append(refusal)
            continue
        if score > 0:
            scores.append((score, connector.kind))
    if not scores:
        if refusals:
            raise refusals[0]
        raise ConnectorError(_unrecognised(location))
    best = max(score for score, _kind in scores)
    winners = sorted(kind for score, kind in scores if score == best)
    if len(winners) > 1:
        raise ConnectorError(
            f"{location}: the {', '.join(winners)} connectors recognise it equally well; choose "
            "the kind (kind= in Python, --kind on the command line)"
        )
    return winners[0]


def open_connector(kind: str, location: str, options: Mapping[str, object]) -> Connector:
    """Build the connector of `kind` for `location` with its stored options.

    Raises `ConnectorError` for an unknown kind, an option the kind does not declare (listing
    the ones it does) or a value of the wrong type (naming the type expected).
    """
    connector_type = connector_class(kind)
    connector_type.check_options(location, options)
    return connector_type.from_options(location, options)


def kind_options_from_text(
    kind: str,
    pairs: Iterable[tuple[str, str]],
    *,
    given: Mapping[str, tuple[object, str]] | None = None,
) -> dict[str, object]:
    """Typed options for a `kind` source from ``(name, text)`` pairs; see `options_from_text`."""
    return options_from_text(kind, connector_class(kind).options, pairs, given=given)


def _unrecognised(location: str) -> str:
    kinds = ", ".join(connector_kinds.names())
    scheme = url_scheme(location)
    if scheme is not None:
        return (
            f"{location}: the {scheme}:// scheme is not supported; give a local path or an "
            f"http(s) URL (no connector kind reads it; kinds: {kinds})"
        )
    return f"{location}: no connector kind recognises it (kinds: {kinds}); choose one with --kind"
