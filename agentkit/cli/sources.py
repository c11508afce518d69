"""Source commands: add (with connector options), connectors, sources, sync, remove-source."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

import agentkit
from agentkit.cli.context import kit_of
from agentkit.cli.output import freshness, print_json, print_source_report, print_sync_report
from agentkit.ingest.refresh import parse_refresh_interval
from connectors import OptionConflictError, connector_classes, detect_kind, kind_options_from_text


def _source_options(
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    crawl: bool,
    depth: int | None,
    max_pages: int | None,
    path_prefix: str | None,
    allow_private_network: bool,
    text_field: str | None,
    title_field: str | None,
    id_field: str | None,
) -> dict[str, tuple[Any, str]]:
    """Connector options from the named flags that were given (unset flags are left out), each
    with how it was spelled (``--depth 3``) for messages about conflicting flags."""
    options: dict[str, tuple[Any, str]] = {}
    for option_name, values in (("include", include), ("exclude", exclude)):
        if values:
            options[option_name] = (list(values), f"--{option_name} {values[0]}")
    for option_name, flag in (("crawl", crawl), ("allow_private_network", allow_private_network)):
        if flag:
            options[option_name] = (True, "--" + option_name.replace("_", "-"))
    valued: tuple[tuple[str, object], ...] = (
        ("depth", depth),
        ("max_pages", max_pages),
        ("path_prefix", path_prefix or None),
        ("text_field", text_field or None),
        ("title_field", title_field or None),
        ("id_field", id_field or None),
    )
    for option_name, value in valued:
        if value is not None:
            options[option_name] = (value, f"--{option_name.replace('_', '-')} {value}")
    return options


def _option_pairs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """``--option KEY=VALUE`` texts as (key, value) pairs; ``max-pages`` means ``max_pages``."""
    pairs = []
    for text in values:
        key, equals, value = text.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key:
            raise click.BadParameter(f"{text!r} is not KEY=VALUE, such as depth=3", ctx=ctx, param=param)
        pairs.append((key, value))
    return tuple(pairs)


def _location_options(
    location: str, kind: str | None, flags: dict[str, tuple[Any, str]], pairs: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    """The options for one location: the named flags, plus the ``--option`` values typed the
    way the location's kind declares them (so the kind is detected here when not given)."""
    if not pairs:
        return {option_name: value for option_name, (value, _spelled) in flags.items()}
    given = {option_name: value for option_name, (value, _spelled) in flags.items()}
    source_kind = kind or detect_kind(os.path.expanduser(location), {**given, **dict(pairs)})
    return kind_options_from_text(source_kind, pairs, given=flags)


@click.command()
@click.argument("name")
@click.argument("locations", nargs=-1, required=True)
@click.option(
    "--option",
    "option_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_option_pairs,
    help="A connector option (repeatable), such as depth=3 or include=a,b; `agentkit connectors` lists each kind's.",
)
@click.option("--kind", default=None, metavar="KIND", help="The connector kind (default: detected from the location).")
@click.option("--include", multiple=True, help="Glob of files or URL paths to take (repeatable).")
@click.option("--exclude", multiple=True, help="Glob of files or URL paths to leave out (repeatable).")
@click.option("--crawl", is_flag=True, help="Web: follow links on the same host.")
@click.option("--depth", type=int, default=None, help="Web: link depth of a crawl.")
@click.option("--max-pages", type=int, default=None, help="Web: most pages to fetch.")
@click.option("--path-prefix", default=None, help="Web: crawl only URLs under this path.")
@click.option("--allow-private-network", is_flag=True, help="Web: allow intranet and local addresses.")
@click.option("--text-field", default=None, help="Records (.jsonl/.csv): field holding the text.")
@click.option("--title-field", default=None, help="Records: field holding the title.")
@click.option("--id-field", default=None, help="Records: field holding a stable record id.")
@click.option("--refresh", default=None, help="Refresh interval for `sync --due`: 30m, 12h, 1d, 1w.")
@click.option("--json", "as_json", is_flag=True, help="Print the sync report as JSON.")
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    locations: tuple[str, ...],
    option_pairs: tuple[tuple[str, str], ...],
    kind: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    crawl: bool,
    depth: int | None,
    max_pages: int | None,
    path_prefix: str | None,
    allow_private_network: bool,
    text_field: str | None,
    title_field: str | None,
    id_field: str | None,
    refresh: str | None,
    as_json: bool,
) -> None:
    """Add files, folders, URLs, Notion exports or record files to an agent and ingest them.

    The kind of each source is detected from its location (or given with --kind). Options
    go to its connector with --option KEY=VALUE; `agentkit connectors` lists the kinds and
    the options of each. The named flags are short for options (--depth 3 is
    --option depth=3); giving one option two different values is an error.

    Adding a source that is there already syncs it.
    """
    flags = _source_options(
        include, exclude, crawl, depth, max_pages, path_prefix, allow_private_network,
        text_field, title_field, id_field,
    )
    planned: list[tuple[str, dict[str, Any] | None, agentkit.ConnectorError | None]] = []
    for location in locations:
        try:
            planned.append((location, _location_options(location, kind, flags, option_pairs), None))
        except OptionConflictError as error:
            raise click.UsageError(str(error)) from error
        except agentkit.ConnectorError as error:
            planned.append((location, None, error))
    failed = False
    reports = []
    refresh_interval_s = parse_refresh_interval(refresh) if refresh is not None else None
    agent = kit_of(ctx).get_agent(name)
    for location, options, problem in planned:
        try:
            if problem is not None:
                raise problem
            report = agent.add_source(
                location, options=options, kind=kind, refresh_interval_s=refresh_interval_s, progress=not as_json
            )
        except agentkit.ConnectorError as error:
            click.echo(f"Error: {error}", err=True)
            failed = True
            continue
        reports.append(report)
        failed = failed or report.error is not None
        if not as_json:
            print_source_report(report)
    if as_json:
        print_json(agentkit.SyncReport(reports).to_dict())
    if failed:
        sys.exit(1)


@click.command("connectors")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_connectors(as_json: bool) -> None:
    """List the kinds of sources `add` reads (plugins included) and the options each takes."""
    connectors = connector_classes()
    if as_json:
        print_json(
            [
                {
                    "kind": connector.kind,
                    "description": connector.summary(),
                    "options": [option.to_dict() for option in connector.options],
                }
                for connector in connectors
            ]
        )
        return
    for connector in connectors:
        click.echo(f"{connector.kind}: {connector.summary()}")
        if not connector.options:
            click.echo("    (no options)")
        width = max((len(option.name) + len(option.type_name) + 1 for option in connector.options), default=0)
        for option in connector.options:
            if option.required:
                note = " (required)"
            elif option.default in (None, ()):
                note = ""
            else:
                note = f" (default: {json.dumps(option.to_dict()['default'])})"
            label = f"{option.name}={option.type_name.upper()}"
            click.echo(f"    {label:<{width}}  {option.help}{note}")
    click.echo("Give them to `agentkit add` as --option KEY=VALUE (a list: a,b or the key repeated).")


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sources(ctx: click.Context, name: str, as_json: bool) -> None:
    """List an agent's sources."""
    infos = kit_of(ctx).get_agent(name).sources()
    if as_json:
        print_json([info.to_dict() for info in infos])
        return
    if not infos:
        click.echo(f"No sources yet. Add one with: agentkit add {name} PATH_OR_URL")
    for info in infos:
        click.echo(
            f"{info.id}  {info.kind:7}  {info.status:6}  {info.documents} docs  {info.chunks} chunks  "
            f"{freshness(info)}  {info.uri}"
        )
        if info.error:
            click.echo(f"    last error: {info.error}")


@click.command()
@click.argument("name", required=False)
@click.option("--all", "all_agents", is_flag=True, help="Sync every agent.")
@click.option("--due", is_flag=True, help="Only sources past their refresh interval (every agent unless NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def sync(ctx: click.Context, name: str | None, all_agents: bool, due: bool, as_json: bool) -> None:
    """Re-read an agent's sources; only changed documents are embedded again."""
    if name and all_agents:
        raise click.UsageError("give an agent NAME or --all, not both")
    if not name and not (all_agents or due):
        raise click.UsageError("give an agent NAME, --all, or --due")
    kit = kit_of(ctx)
    if name:
        reports = {name: kit.get_agent(name).sync(due_only=due, progress=not as_json)}
    else:
        reports = kit.sync_all(due_only=due, progress=not as_json)
    if as_json:
        print_json(reports[name].to_dict() if name else {agent: r.to_dict() for agent, r in reports.items()})
    else:
        if not reports:
            click.echo("No agents yet. Create one with: agentkit create NAME")
        for agent_name, report in reports.items():
            if not name:
                click.echo(f"== {agent_name}")
            if due and not report.sources and not report.error:
                click.echo("No source is due.")
                continue
            print_sync_report(report)
    if not all(report.ok for report in reports.values()):
        sys.exit(1)


@click.command("remove-source")
@click.argument("name")
@click.argument("source_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def remove_source(ctx: click.Context, name: str, source_id: int, as_json: bool) -> None:
    """Remove a source with all its documents and their vectors (ids: `agentkit sources NAME`)."""
    report = kit_of(ctx).get_agent(name).remove_source(source_id)
    if as_json:
        print_json(
            {
                "source_id": report.source_id,
                "uri": report.uri,
                "removed": report.removed,
                "chunks_removed": report.chunks_removed,
                "seconds": round(report.seconds, 3),
            }
        )
        return
    click.echo(
        f"Removed source {source_id} ({report.uri}): {report.removed} documents, "
        f"{report.chunks_removed} chunks."
    )
