"""`Registry`: named implementations of one extension point, filled by agentkit and by plugins.

Each extension point (embedders, generators, connectors, index backends) has one registry.
agentkit registers its own implementations when the module that defines them is imported;
installed packages add theirs through an entry-point group (`agentkit.generators`, ...), the
way `llm` plugins do:

    [project.entry-points."agentkit.generators"]
    myplugin = "myplugin:EchoGenerator"

Entry points are read only when a name is not registered yet (or all names are listed), so
`agentkit --help` never imports a plugin and a package installed while a process runs is found. Tests register fakes with `registered(...)`, which restores the registry on
exit. This module imports nothing from agentkit but its errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from agentkit.errors import AgentkitError

T = TypeVar("T")


class PluginError(AgentkitError):
    """A plugin could not be loaded, or two implementations claim one name."""


class Registry(Generic[T]):
    """Names -> implementations for one concept (`kind` says which, in messages)."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add `item` under `name`; a second registration of a name needs `replace=True`."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise PluginError(f"{self.kind} name {name!r} must be letters, digits, '-' or '_'")
        if name in self._items and not replace and self._items[name] is not item:
            raise PluginError(f"a {self.kind} named {name!r} is registered already")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    @contextmanager
    def registered(self, name: str, item: T) -> Iterator[T]:
        """Register `item` for the duration of a `with` block (tests), then restore the old one."""
        previous = self._items.get(name)
        self._items[name] = item
        try:
            yield item
        finally:
            if previous is None:
                self._items.pop(name, None)
            else:
                self._items[name] = previous

    def get(self, name: str) -> T | None:
        """The implementation registered as `name` (plugins included), or None."""
        if name not in self._items:
            self._load_entry_points()
        return self._items.get(name)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        self._load_entry_points()
        return sorted(self._items.items())

    def _load_entry_points(self) -> None:
        for entry_point in entry_points(group=self.entry_point_group):
            if entry_point.name in self._items:
                continue  # agentkit's own implementation, or one registered in code, wins
            try:
                item = entry_point.load()
            except Exception as error:  # a broken plugin must say which one it is
                raise PluginError(
                    f"the {self.kind} plugin {entry_point.name!r} ({entry_point.value}) "
                    f"failed to load: {type(error).__name__}: {error}; fix or uninstall it"
                ) from error
            self._items[entry_point.name] = item
