"""`agentkit serve` and `agentkit keys`: run the HTTP server and manage its API keys.

The server's web framework loads only inside `serve` (uvicorn imports the app by name), so
`agentkit --help` and `agentkit keys` stay light.
"""

from __future__ import annotations

import os

import click

from agentkit.cli.context import kit_of
from agentkit.cli.output import print_json
from agentkit.server.keys import SCOPES, list_keys, revoke_key
from agentkit.server.keys import create_key as create_api_key
from agentkit.server.settings import ServerSettings

APP_FACTORY = "agentkit.server.app:app_from_environment"


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes (each loads the models once).",
)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Answers generated at once per process.",
)
@click.option(
    "--queue",
    "queue_length",
    default=8,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Answers waiting per process before 429.",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, workers: int, concurrency: int, queue_length: int
) -> None:
    """Serve the agents over HTTP: OpenAI-compatible and native APIs, the chat widget."""
    import uvicorn

    kit = kit_of(ctx)  # opens (and migrates) the database before any worker starts
    settings = ServerSettings.from_environment().replace(concurrency=concurrency, queue_length=queue_length)
    os.environ.update(settings.to_environment())
    os.environ["AGENTKIT_HOME"] = str(kit.home)
    os.environ["AGENTKIT_DATABASE_URL"] = kit.database_url
    kit.close()
    click.echo(
        f"agentkit serving on http://{host}:{port} (docs at /docs); Ctrl-C stops after answers in flight"
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # agentkit writes its own JSON access log
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        log_level="info",
    )


@click.group()
def keys() -> None:
    """API keys for `agentkit serve` (stored only as hashes)."""


@keys.command("create")
@click.option("--agent", default=None, help="Bind the key to this agent.")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    required=True,
    help="chat: ask/search; ingest: push records; admin: all.",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="A web origin allowed to use the key (repeatable).",
)
@click.option("--rate", default=None, metavar="N/UNIT", help="Requests allowed per key, e.g. 30/min.")
@click.option("--expires", default=None, metavar="DURATION", help="Lifetime, e.g. 30d, 12h, 2w.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def create_key(
    ctx: click.Context,
    agent: str | None,
    scope: str,
    origins: tuple[str, ...],
    rate: str | None,
    expires: str | None,
    as_json: bool,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    key, secret = create_api_key(
        kit_of(ctx), scope=scope, agent=agent, origins=origins, rate=rate, expires=expires
    )
    if as_json:
        print_json({**key.to_dict(), "secret": secret})
        return
    click.echo(secret)
    click.echo(
        f"Key {key.id} ({key.scope}{', agent ' + key.agent if key.agent else ''}). "
        "Save it now: it is not shown again.",
        err=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_api_keys(ctx: click.Context, as_json: bool) -> None:
    """List keys (never their secrets)."""
    listed = [key.to_dict() for key in list_keys(kit_of(ctx))]
    if as_json:
        print_json(listed)
        return
    if not listed:
        click.echo("No API keys yet. Create one with: agentkit keys create --scope chat --agent NAME")
    for key in listed:
        state = "revoked" if key["revoked_at"] else ("active" if key["active"] else "expired")
        click.echo(
            f"{key['id']}. ak_{key['key_id']}_... {key['scope']} agent={key['agent'] or '*'} "
            f"origins={','.join(key['origins']) or '-'} rate={key['rate'] or '-'} "
            f"expires={key['expires_at'] or 'never'} {state}"
        )


@keys.command("revoke")
@click.argument("key")
@click.pass_context
def revoke(ctx: click.Context, key: str) -> None:
    """Revoke KEY (its number from `keys list`, or its key id); it stops working at once."""
    revoked = revoke_key(kit_of(ctx), key)
    click.echo(f"Revoked key {revoked.id} (ak_{revoked.key_id}_...).")
