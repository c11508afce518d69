"""The admin command line: parses arguments, calls the public API, prints results.

No logic lives here beyond formatting: everything a command does is a call on `AgentKit` or
`Agent`, and library errors become one-line messages with a non-zero exit status.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

import agentkit
from agentkit import AgentKit
from agentkit.cli.chat import format_sources, run_chat
from agentkit.errors import AgentkitError
from agentkit.evaluation import QuestionResult
from agentkit.ingest.refresh import format_duration, parse_refresh_interval
from connectors import OptionConflictError, connector_classes, detect_kind, kind_options_from_text


class AgentkitCommandGroup(click.Group):
    """Turns every `AgentkitError` from any command into a one-line message and its exit code
    (1 for a user error, 75 when another process holds the agent, so cron can retry)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentkitError as error:
            failure = click.ClickException(str(error))
            failure.exit_code = error.exit_code
            raise failure from error


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@click.group(cls=AgentkitCommandGroup)
@click.option("--home", envvar="AGENTKIT_HOME", help="Data folder (default ~/.local/share/agentkit).")
@click.option("--db", "database_url", envvar="AGENTKIT_DATABASE_URL", help="SQLAlchemy database URL.")
@click.version_option(agentkit.__version__, prog_name="agentkit")
@click.pass_context
def cli(ctx: click.Context, home: str | None, database_url: str | None) -> None:
    """Build local chatbots that answer from your own documents, with citations."""
    ctx.obj = lambda: _open_kit(home, database_url)


def _open_kit(home: str | None, database_url: str | None) -> AgentKit:
    try:
        return AgentKit(home=home, database_url=database_url)
    except Exception as error:  # a bad URL or an unreachable server: say which and stop
        raise click.ClickException(f"cannot open the database: {error}") from error


def kit_of(ctx: click.Context) -> AgentKit:
    factory: Callable[[], AgentKit] = ctx.obj
    return factory()


# ----- agents ----------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option("--description", default="", help="What the agent is for.")
@click.option("--system-prompt", default=None, help="Instructions for the model.")
@click.option("--model", default="default", help="Path of a GGUF model (default: bundled SmolLM2).")
@click.option("--embedder", default="default", help="'default', 'hashing-N', or a model folder.")
@click.option("--top-k", default=5, show_default=True, type=int, help="Sources per answer.")
@click.option("--grounding", type=click.Choice(["strict", "balanced", "off"]), default="balanced", show_default=True)
@click.option("--abstention-message", default=None, help="What to say when the sources lack the answer.")
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    description: str,
    system_prompt: str | None,
    model: str,
    embedder: str,
    top_k: int,
    grounding: str,
    abstention_message: str | None,
) -> None:
    """Create an agent."""
    agent = kit_of(ctx).create_agent(
        name,
        description=description,
        system_prompt=system_prompt,
        model=model,
        embedder=embedder,
        top_k=top_k,
        grounding=grounding,
        abstention_message=abstention_message,
    )
    click.echo(f"Created agent {agent.name}. Add sources with: agentkit add {agent.name} PATH_OR_URL")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_agents(ctx: click.Context, as_json: bool) -> None:
    """List agents."""
    agents = [agent.to_dict() for agent in kit_of(ctx).list_agents()]
    if as_json:
        print_json(agents)
        return
    if not agents:
        click.echo("No agents yet. Create one with: agentkit create NAME")
    for agent in agents:
        click.echo(
            f"{agent['name']}: {agent['sources']} sources, {agent['documents']} documents, "
            f"{agent['chunks']} chunks" + (f" - {agent['description']}" if agent["description"] else "")
        )


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show an agent's settings and size."""
    details = kit_of(ctx).get_agent(name).to_dict()
    if as_json:
        print_json(details)
        return
    for key, value in details.items():
        click.echo(f"{key}: {value}")


@cli.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm the deletion.")
@click.pass_context
def delete(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete an agent with its sources, documents, index and conversations."""
    if not yes:
        raise click.ClickException(f"this deletes agent {name!r} and everything it holds; add --yes")
    kit_of(ctx).delete_agent(name)
    click.echo(f"Deleted agent {name}.")


# ----- sources ---------------------------------------------------------------------------


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


def print_source_report(report: agentkit.SourceSyncReport) -> None:
    for failed in report.failed:
        click.echo(f"  skipped {failed.uri}: {failed.error}", err=True)
    if report.error:
        click.echo(f"Error: {report.error}", err=True)
        return
    click.echo(
        f"{report.uri}: {report.documents} documents, {report.chunks} chunks "
        f"(+{report.added} new, ~{report.updated} changed, -{report.removed} removed, "
        f"{report.unchanged} unchanged; {report.chunks_embedded} chunks embedded) "
        f"in {report.seconds:.1f} s"
    )


@cli.command()
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


@cli.command("connectors")
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


@cli.command()
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
            f"{_freshness(info)}  {info.uri}"
        )
        if info.error:
            click.echo(f"    last error: {info.error}")


def _freshness(info: agentkit.SourceInfo) -> str:
    """`synced 3h ago, refresh 1d, due in 21h` and the like."""

    age = info.age_s
    text = "never synced" if age is None else f"synced {format_duration(age)} ago"
    if info.refresh_interval_s is None:
        return text
    text += f", refresh {format_duration(info.refresh_interval_s)}"
    if info.due:
        return text + ", DUE"
    assert age is not None
    return text + f", due in {format_duration(info.refresh_interval_s - age)}"


def print_sync_report(report: agentkit.SyncReport) -> None:
    for source_report in report.sources:
        print_source_report(source_report)
    if report.error:
        click.echo(f"Error: {report.error}", err=True)
        return
    totals = report.to_dict()
    click.echo(
        f"Synced {len(report.sources)} sources: +{totals['added']} new, ~{totals['updated']} changed, "
        f"-{totals['removed']} removed, {totals['unchanged']} unchanged; "
        f"{totals['chunks_embedded']} chunks embedded in {totals['seconds']:.1f} s"
    )


@cli.command()
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


@cli.command("remove-source")
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


# ----- questions -------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.argument("query")
@click.option("-k", "k", type=int, default=None, help="How many chunks (default: the agent's top-k).")
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "dense", "lexical"]),
    default="hybrid",
    show_default=True,
    help="Fused dense+keyword ranking, embeddings only, or keywords (BM25) only.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(ctx: click.Context, name: str, query: str, k: int | None, mode: str, as_json: bool) -> None:
    """Show the chunks that best match QUERY (no generation)."""
    hits = kit_of(ctx).get_agent(name).search(query, k=k, mode=mode)
    if as_json:
        print_json([hit.to_dict() for hit in hits])
        return
    if not hits:
        click.echo("No matching chunks.")
    for rank, hit in enumerate(hits, 1):
        page = f", page {hit.page}" if hit.page else ""
        components = "".join(
            f" {label} {value:.3f}"
            for label, value in (("dense", hit.dense_score), ("bm25", hit.lexical_score))
            if value is not None and mode == "hybrid"
        )
        record = f", record {hit.record_id}" if hit.record_id else ""
        click.echo(f"{rank}. [{hit.score:.3f}{components}] {hit.title}{page}{record} ({hit.location})")
        snippet = " ".join(hit.text.split())
        click.echo(f"   {snippet[:300]}{'...' if len(snippet) > 300 else ''}")


@cli.command()
@click.argument("name")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ask(ctx: click.Context, name: str, question: str, as_json: bool) -> None:
    """Answer QUESTION from the agent's sources, with citations."""

    answer = kit_of(ctx).get_agent(name).ask(question)
    if as_json:
        print_json(answer.to_dict())
        return
    click.echo(answer.text)
    click.echo()
    click.echo(format_sources(answer))


@cli.command()
@click.argument("name")
@click.pass_context
def chat(ctx: click.Context, name: str) -> None:
    """Chat over stdin (one question per line when piped)."""

    conversation = kit_of(ctx).get_agent(name).chat()
    status = run_chat(conversation, sys.stdin, sys.stdout, interactive=sys.stdin.isatty())
    sys.exit(status)


@cli.command("eval")
@click.argument("name")
@click.argument("qa_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write one JSON line per question here.")
@click.pass_context
def evaluate_agent(ctx: click.Context, name: str, qa_file: str, as_json: bool, report_path: str | None) -> None:
    """Ask the questions of QA_FILE (JSON Lines) and print accuracy, abstention and latency.

    Each line: {"question": ..., "answer": ... or [...], "source": ...} or
    {"question": ..., "answerable": false}.
    """

    def show_progress(done: int, total: int, result: QuestionResult) -> None:
        if not as_json and sys.stderr.isatty():
            click.echo(f"\r{done}/{total} questions", nl=done == total, err=True)

    agent = kit_of(ctx).get_agent(name)
    report = agent.evaluate(qa_file, report_path=report_path, progress=show_progress)
    if as_json:
        print_json(report.to_dict())
        return
    click.echo(report.format_table())
    if report_path:
        click.echo(f"\nPer-question report: {report_path}")


# ----- maintenance -----------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor(ctx: click.Context, name: str, as_json: bool) -> None:
    """Check that the agent's index matches its database; exit 1 when it does not."""
    report = kit_of(ctx).get_agent(name).doctor()
    if as_json:
        print_json(report.to_dict())
    else:
        vectors = "no index file" if report.index_vectors is None else f"{report.index_vectors} vectors"
        click.echo(
            f"{report.agent}: {report.sql_chunks} chunks in the database, {vectors} in the index; "
            f"database version {report.sql_index_version}, index version {report.index_file_version}"
        )
        for note in report.notes:
            click.echo(f"  note: {note}")
        for problem in report.problems:
            click.echo(f"  problem: {problem}")
        click.echo("Healthy." if report.healthy else f"Unhealthy: {len(report.problems)} problems.")
    if not report.healthy:
        sys.exit(1)


@cli.command()
@click.argument("name")
@click.option("--embedder", default=None, help="Switch to this embedder ('default', 'hashing-N', a model folder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reindex(ctx: click.Context, name: str, embedder: str | None, as_json: bool) -> None:
    """Embed every chunk again from the database and rebuild the index (repairs a damaged one)."""
    report = kit_of(ctx).get_agent(name).reindex(embedder=embedder, progress=not as_json)
    if as_json:
        print_json(report.to_dict())
        return
    switched = (
        f" (was {report.previous_embedder_id})" if report.previous_embedder_id != report.embedder_id else ""
    )
    click.echo(
        f"Reindexed {report.chunks_embedded} chunks of {report.agent} with embedder "
        f"{report.embedder_id}{switched} in {report.seconds:.1f} s."
    )


# ----- database --------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Run the schema migrations."""
    kit = kit_of(ctx.find_root())
    click.echo(f"Database at the newest schema: {kit.engine.url.render_as_string(hide_password=True)}")


def main() -> None:
    cli(prog_name="agentkit")


if __name__ == "__main__":
    main()
