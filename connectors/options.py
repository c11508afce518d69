"""Connector options: what each kind of source declares it takes, checked in one place.

A connector class lists its options as `ConnectorOption`s (name, type, help, default). Stored
options are JSON values, checked by `check_options` before a connector is built: an unknown
name or a value of the wrong type is a `ConnectorError` that names it and says what is
expected, never an option silently dropped. Options typed on a command line are text, turned
into typed values by `options_from_text` (``depth=3``, ``crawl=yes``, ``include=a,b``).

The types are the JSON ones a source row can store: `str`, `int`, `float` (an int is accepted
too), `bool` and `list` (of strings). An option whose default is None also takes None, which
means "not set".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentkit.errors import ConnectorError

_TYPE_NAMES: dict[type, str] = {str: "str", int: "int", float: "float", bool: "bool", list: "list"}
_TYPE_WORDS: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list of strings",
}
_TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class ConnectorOption:
    """One option a connector kind takes: its name, JSON type, a line of help, its default."""

    name: str
    type: type = str
    help: str = ""
    default: Any = None
    required: bool = False

    def __post_init__(self) -> None:
        if self.type not in _TYPE_NAMES:
            raise TypeError(f"option {self.name}: type must be one of str, int, float, bool, list")
        if self.default is not None and not self.accepts(self.default):
            raise TypeError(f"option {self.name}: default {self.default!r} is not {self.expected}")

    @property
    def type_name(self) -> str:
        """``str``, ``int``, ``float``, ``bool`` or ``list``."""
        return _TYPE_NAMES[self.type]

    @property
    def expected(self) -> str:
        """What a value must be, in words (``a whole number``)."""
        words = _TYPE_WORDS[self.type]
        return f"{words} or null" if self.default is None and not self.required else words

    def accepts(self, value: object) -> bool:
        """Whether `value` (a stored JSON value) has this option's type."""
        if value is None:
            return self.default is None and not self.required
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type is list:
            return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)
        return isinstance(value, str)

    def parse(self, text: str) -> Any:
        """The typed value of `text` as typed on a command line; `ValueError` if it is not one.

        Booleans are true/false, yes/no, on/off or 1/0; a list is comma-separated items.
        """
        if self.type is bool:
            word = text.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
            raise ValueError(text)
        if self.type is int:
            return int(text.strip())
        if self.type is float:
            return float(text.strip())
        if self.type is list:
            return [item.strip() for item in text.split(",") if item.strip()]
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (for `agentkit connectors --json`)."""
        default = list(self.default) if isinstance(self.default, tuple) else self.default
        return {
            "name": self.name,
            "type": self.type_name,
            "default": default,
            "required": self.required,
            "help": self.help,
        }


class OptionConflictError(ConnectorError):
    """The same option was given twice with different values (two flags disagree)."""


def check_options(
    kind: str, declared: Sequence[ConnectorOption], location: str, options: Mapping[str, object]
) -> dict[str, object]:
    """Check stored `options` against what a `kind` source `declared`; return them as a dict.

    Raises `ConnectorError` naming an unknown option (and listing the valid ones), a value
    of the wrong type (and the type expected), or a required option that is missing.
    """
    by_name = {option.name: option for option in declared}
    unknown = sorted(name for name in options if name not in by_name)
    if unknown:
        raise ConnectorError(
            f"{location}: unknown option(s) {', '.join(repr(name) for name in unknown)} for a {kind} "
            f"source; {_valid_options(kind, declared)}"
        )
    for name, value in options.items():
        option = by_name[name]
        if not option.accepts(value):
            raise ConnectorError(f"{location}: option {name} must be {option.expected}, not {value!r}")
    for option in declared:
        if option.required and option.name not in options:
            raise ConnectorError(f"{location}: a {kind} source needs {option.name} ({option.help})")
    return dict(options)


def options_from_text(
    kind: str,
    declared: Sequence[ConnectorOption],
    pairs: Iterable[tuple[str, str]],
    *,
    given: Mapping[str, tuple[object, str]] | None = None,
) -> dict[str, object]:
    """Typed options from ``(name, text)`` pairs typed for a `kind` source, merged into `given`.

    `given` maps option names to (value, how it was spelled, such as ``--depth 2``) from
    other flags. A list option collects every value (repeated names and comma-separated
    items); any other option given twice with different values raises `OptionConflictError`
    naming both spellings. An unknown name or a value that is not of the option's type
    raises `ConnectorError`.
    """
    by_name = {option.name: option for option in declared}
    merged: dict[str, tuple[object, str]] = dict(given or {})
    for name, text in pairs:
        spelled = f"--option {name}={text}"
        option = by_name.get(name)
        if option is None:
            raise ConnectorError(
                f"unknown option {name!r} for a {kind} source; {_valid_options(kind, declared)}"
            )
        try:
            value = option.parse(text)
        except ValueError:
            raise ConnectorError(
                f"{spelled}: {name} must be {_TYPE_WORDS[option.type]} for a {kind} source, not {text!r}"
            ) from None
        if name not in merged:
            merged[name] = (value, spelled)
            continue
        earlier, earlier_spelled = merged[name]
        if option.type is list and isinstance(earlier, (list, tuple)):
            merged[name] = ([*earlier, *value], earlier_spelled)
        elif earlier != value:
            raise OptionConflictError(f"{earlier_spelled} and {spelled} disagree; give {name} once")
    return {name: value for name, (value, _spelled) in merged.items()}


def _valid_options(kind: str, declared: Sequence[ConnectorOption]) -> str:
    if not declared:
        return f"a {kind} source takes no options"
    return f"the options are: {', '.join(option.name for option in declared)}"
