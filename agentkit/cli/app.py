"""The admin command line: parses arguments, calls the public API, prints results.

No logic lives here beyond formatting: everything a command does is a call on `AgentKit` or
`Agent`, and library errors become one-line messages with a non-zero exit status.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

import click

import agentkit
from agentkit.answering.grounding import DEFAULT_GROUNDING_MODE, GROUNDING_MODES
from agentkit.answering.persona import ANSWER_LENGTHS, STYLES
from agentkit.cli.chat import format_sources, run_chat
from agentkit.cli.context import kit_of, open_kit
from agentkit.cli.lazy import LazyCommand, LazyGroup
from agentkit.cli.output import print_json
from agentkit.errors import AgentkitError

if TYPE_CHECKING:
    from agentkit.evaluation import QuestionResult

# The commands of the other modules, imported when run (see `agentkit.cli.lazy`).
LAZY_COMMANDS = {
    "add": LazyCommand(
        "agentkit.cli.sources",
        "add",
        "Add files, folders, URLs, Notion exports or record files to an agent and ingest them.",
    ),
    "answers": LazyCommand(
        "agentkit.cli.answers",
        "answers",
        "Curated answers: given, with their source, to questions that mean the same.",
    ),
    "connectors": LazyCommand(
        "agentkit.cli.sources",
        "list_connectors",
        "List the kinds of sources `add` reads (plugins included) and the options each takes.",
    ),
    "index": LazyCommand(
        "agentkit.cli.index",
        "index",
        "Where an agent's vectors and BM25 index live: in PostgreSQL (pgvector) or in files.",
    ),
    "keys": LazyCommand("agentkit.cli.server", "keys", "API keys for `agentkit serve` (stored only as hashes)."),
    "log": LazyCommand(
        "agentkit.cli.log",
        "log",
        "The question log: `agentkit log NAME [--since 7d] [--unanswered] [--channel widget]`, "
        "`agentkit log purge NAME`.",
    ),
    "models": LazyCommand(
        "agentkit.cli.models",
        "models",
        "Recommended GGUF models: list them, pull one, then use it with --model NAME.",
    ),
    "remove-source": LazyCommand(
        "agentkit.cli.sources",
        "remove_source",
        "Remove a source with all its documents and their vectors (ids: `agentkit sources NAME`).",
    ),
    "serve": LazyCommand(
        "agentkit.cli.server",
        "serve",
        "Serve the agents over HTTP: OpenAI-compatible and native APIs, the chat widget.",
    ),
    "sources": LazyCommand("agentkit.cli.sources", "sources", "List an agent's sources."),
    "stats": LazyCommand(
        "agentkit.cli.stats",
        "stats",
        "Questions per day, abstentions, feedback, latency, most-cited documents and the gaps: "
        "unanswered questions grouped into topics.",
    ),
    "sync": LazyCommand(
        "agentkit.cli.sources", "sync", "Re-read an agent's sources; only changed documents are embedded again."
    ),
}


class AgentkitCommandGroup(LazyGroup):
    """Turns every `AgentkitError` from any command into a one-line message and its exit code
    (1 for a user error, 75 when another process holds the agent, so cron can retry)."""

    lazy = LAZY_COMMANDS

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentkitError as error:
            failure = click.ClickException(str(error))
            failure.exit_code = error.exit_code
            raise failure from error


@click.group(cls=AgentkitCommandGroup)
@click.option("--home", envvar="AGENTKIT_HOME", help="Data folder (default ~/.local/share/agentkit).")
@click.option("--db", "database_url", envvar="AGENTKIT_DATABASE_URL", help="SQLAlchemy database URL.")
@click.version_option(agentkit.__version__, prog_name="agentkit")
@click.pass_context
def cli(ctx: click.Context, home: str | None, database_url: str | None) -> None:
    """Build local chatbots that answer from your own documents, with citations."""
    if home:
        # What the process caches beside the data (the ONNX export of the embedder, the model's
        # prompt state, pulled models) goes into the same folder, not the default home.
        os.environ["AGENTKIT_HOME"] = home
    ctx.obj = lambda: open_kit(home, database_url)


# ----- agents ----------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option("--description", default="", help="What the agent is for.")
@click.option("--system-prompt", default=None, help="Instructions for the model.")
@click.option(
    "--model",
    default="default",
    help="'default' (bundled SmolLM2), a .gguf path, openai:http://HOST:PORT/v1#MODEL, or a plugin's KIND:TARGET.",
)
@click.option("--embedder", default="default", help="'default', 'hashing-N', a model folder, or KIND:TARGET.")
@click.option("--top-k", default=5, show_default=True, type=int, help="Sources per answer.")
@click.option("--grounding", type=click.Choice(GROUNDING_MODES), default=DEFAULT_GROUNDING_MODE, show_default=True)
@click.option("--abstention-message", default=None, help="What to say when the sources lack the answer.")
@click.option(
    "--api-key-env",
    default=None,
    metavar="VARIABLE",
    help="Remote models: the environment variable holding the API key (the key is never stored).",
)
@click.option(
    "--request-timeout", default=60.0, show_default=True, type=float, help="Remote models: seconds to wait."
)
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
    api_key_env: str | None,
    request_timeout: float,
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
        generation=agentkit.GenerationSettings(api_key_env=api_key_env, request_timeout_s=request_timeout),
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


@cli.command("set")
@click.argument("name")
@click.option("--keep-log", default=None, metavar="30d|forever|off", help="How long the question log keeps questions.")
@click.option("--greeting", default=None, help="What a chat shows when it opens ('' for none).")
@click.option("--style", type=click.Choice(STYLES), default=None, help="The tone of answers.")
@click.option("--answer-length", type=click.Choice(ANSWER_LENGTHS), default=None, help="How long answers are.")
@click.option("--abstention-message", default=None, help="The reply when the sources lack the answer ('' = default).")
@click.option("--grounding", type=click.Choice(GROUNDING_MODES), default=None, help="How closely answers follow sources.")
@click.option("--system-prompt", default=None, help="Instructions for the model ('' for the default).")
@click.pass_context
def set_agent(
    ctx: click.Context,
    name: str,
    keep_log: str | None,
    greeting: str | None,
    style: str | None,
    answer_length: str | None,
    abstention_message: str | None,
    grounding: str | None,
    system_prompt: str | None,
) -> None:
    """Change an agent's persona, log retention and answering settings (every channel)."""
    changes = {
        "keep_log": keep_log,
        "greeting": greeting,
        "style": style,
        "answer_length": answer_length,
        "abstention_message": abstention_message,
        "grounding": grounding,
        "system_prompt": system_prompt,
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        raise click.UsageError("nothing to change; `agentkit set --help` lists the settings")
    agent = kit_of(ctx).get_agent(name)
    agent.set(**changes)
    shown = ", ".join(f"{key.replace('_', '-')} {getattr(agent, key)!r}" for key in changes)
    click.echo(f"Updated agent {agent.name}: {shown}")


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
    answer = kit_of(ctx).get_agent(name).ask(question, channel="cli")
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
    conversation = kit_of(ctx).get_agent(name).chat(channel="chat")
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
    kit = kit_of(ctx)
    click.echo(f"Database at the newest schema: {kit.engine.url.render_as_string(hide_password=True)}")



def main() -> None:
    try:
        cli(prog_name="agentkit")
    finally:
        # At exit CPython's garbage collector walks every object still alive (SQLAlchemy's
        # mappers and the imported modules' objects) several times: 0.3-0.7 s of a cold
        # `agentkit ask`. Frozen objects are skipped and go with the process. Everything
        # stored is committed or fsynced before a command returns (and its kit has closed its
        # engine); atexit handlers, reference-count frees and the streams' flushes still run.
        gc.freeze()


if __name__ == "__main__":
    main()
