"""Commands imported only when run: `agentkit --help` lists them from their one-line help.

Each command module pulls in the layers it drives (SQL, the server, the owner's loop); importing
them all to print a help screen cost more than the rest of start-up. `LazyGroup` keeps a
`LazyCommand` per such command: where it lives and its one-line help, which the help screen
shows as it would the imported command's (`tests/test_cli_lazy.py` checks they agree).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class LazyCommand:
    """A command living in `module` as `attribute`, with the short help its --help line shows."""

    module: str
    attribute: str
    short_help: str

    def load(self) -> click.Command:
        command = getattr(importlib.import_module(self.module), self.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.module}.{self.attribute} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group whose `lazy` commands are imported the first time they are looked up to run."""

    lazy: Mapping[str, LazyCommand] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = self.lazy[cmd_name].load()
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but a lazy command not yet imported shows its recorded help."""
        rows: list[tuple[str, click.Command | LazyCommand]] = []
        for name in self.list_commands(ctx):
            loaded = super().get_command(ctx, name)
            if loaded is not None and loaded.hidden:
                continue
            rows.append((name, loaded if loaded is not None else self.lazy[name]))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, _short_help(entry, limit)) for name, entry in rows])


def _short_help(entry: click.Command | LazyCommand, limit: int) -> str:
    if isinstance(entry, click.Command):
        return entry.get_short_help_str(limit)
    return click.Command(entry.attribute, help=entry.short_help).get_short_help_str(limit)


def load_all(group: LazyGroup, names: Sequence[str] | None = None) -> None:
    """Import the lazy commands (all, or `names`) into `group`, as running them would."""
    context = click.Context(group)
    for name in names if names is not None else list(group.lazy):
        group.get_command(context, name)
