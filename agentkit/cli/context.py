"""The kit a command works on: opened once per command from the --home and --db options."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

import agentkit

if TYPE_CHECKING:
    from agentkit import AgentKit


def open_kit(home: str | None, database_url: str | None) -> AgentKit:
    """Open the store; a database that cannot be opened is a one-line error naming why.
    (The library loads here, at `agentkit.AgentKit`'s first use, not at import: `agentkit
    --help` needs none of it.)"""
    try:
        return agentkit.AgentKit(home=home, database_url=database_url)
    except Exception as error:  # a bad URL or an unreachable server: say which and stop
        raise click.ClickException(f"cannot open the database: {error}") from error


_KIT_KEY = "agentkit.kit"  # where a command's opened kit is kept, in the root context's meta


def kit_of(ctx: click.Context) -> AgentKit:
    """The kit of this invocation (the root command stores how to open it), opened at the
    first call and closed when the command ends (its connections closed, SQLite's write-ahead
    log checkpointed), not left to the process's exit."""
    root = ctx.find_root()
    kit: AgentKit | None = root.meta.get(_KIT_KEY)
    if kit is None:
        factory: Callable[[], AgentKit] = root.obj
        kit = root.meta[_KIT_KEY] = factory()
        root.call_on_close(kit.close)
    return kit
