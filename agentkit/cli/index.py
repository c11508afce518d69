"""`agentkit index ...`: where an agent's index lives.

`agentkit index move NAME --to pgvector|faiss|numpy` moves it between the PostgreSQL backend and
index files, re-using the vectors the database stores (`agentkit.index.move`).
"""

from __future__ import annotations

import click

from agentkit.cli.context import kit_of
from agentkit.cli.output import print_json
from agentkit.index.move import move_index
from agentkit.index.pg_schema import PGVECTOR
from agentkit.index.registry import index_backends


@click.group("index")
def index() -> None:
    """Where an agent's vectors and BM25 index live: in PostgreSQL (pgvector) or in files."""


@index.command("move")
@click.argument("name")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice([PGVECTOR, *index_backends.names()]),
    help="pgvector: inside the PostgreSQL database (shared by every server); else a file backend.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def move(ctx: click.Context, name: str, target: str, as_json: bool) -> None:
    """Move an agent's index to another backend without embedding anything again."""
    report = move_index(kit_of(ctx), name, to=target)
    if as_json:
        print_json(report.to_dict())
        return
    click.echo(
        f"Moved the index of {report.agent} from {report.source} to {report.target} "
        f"({report.chunks} chunks, {report.seconds:.1f} s)"
    )
