"""`agentkit log NAME`: what people asked an agent, and `agentkit log purge NAME`."""

from __future__ import annotations

import click

from agentkit.cli.context import kit_of
from agentkit.cli.output import print_json
from agentkit.improve.log import CHANNELS, LogEntry

_PREVIEW_CHARS = 160


class LogGroup(click.Group):
    """`log NAME [options]` lists; `log purge NAME` is the one subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=LogGroup, invoke_without_command=False)
def log() -> None:
    """The question log: `agentkit log NAME [--since 7d] [--unanswered] [--channel widget]`,
    `agentkit log purge NAME`."""


@log.command("list")
@click.argument("name")
@click.option(
    "--since", default=None, metavar="SPAN", help="Only questions newer than this: 90m, 12h, 7d, 2w."
)
@click.option("--unanswered", is_flag=True, help="Only the questions the agent could not answer.")
@click.option(
    "--channel", type=click.Choice(CHANNELS), default=None, help="Only questions asked through this channel."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N questions (the newest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_log(
    ctx: click.Context,
    name: str,
    since: str | None,
    unanswered: bool,
    channel: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List the logged questions of agent NAME, newest first, with their feedback."""
    entries = (
        kit_of(ctx).get_agent(name).log(since=since, unanswered=unanswered, channel=channel, limit=limit)
    )
    if as_json:
        print_json([entry.to_dict() for entry in entries])
        return
    if not entries:
        click.echo("No logged questions" + (" match." if since or unanswered or channel else " yet."))
        return
    for entry in entries:
        click.echo(format_entry(entry))


@log.command("purge")
@click.argument("name")
@click.option("--all", "everything", is_flag=True, help="Remove every logged question, whatever their age.")
@click.pass_context
def purge_log(ctx: click.Context, name: str, everything: bool) -> None:
    """Remove the logged questions older than the agent's retention (`agentkit set --keep-log`)."""
    agent = kit_of(ctx).get_agent(name)
    removed = agent.purge_log(everything=everything)
    click.echo(
        f"Removed {removed} logged question{'s' if removed != 1 else ''} of {agent.name} (keep-log {agent.keep_log})."
    )


def format_entry(entry: LogEntry) -> str:
    """Three or four lines: when, where, the question, the answer, its feedback."""
    when = entry.asked_at.strftime("%Y-%m-%d %H:%M")
    status = "UNANSWERED" if entry.abstained else "answered"
    where = entry.channel + (f", conversation {entry.conversation_id}" if entry.conversation_id else "")
    answer = " ".join(entry.answer.split())
    if len(answer) > _PREVIEW_CHARS:
        answer = answer[:_PREVIEW_CHARS] + "..."
    lines = [
        f"#{entry.id} {when} [{where}] {status}, {entry.latency_ms} ms",
        f"  Q: {entry.question}",
        f"  A: {answer}",
    ]
    if entry.feedback:
        ups = sum(1 for rating, _ in entry.feedback if rating > 0)
        downs = len(entry.feedback) - ups
        comments = "; ".join(comment for _, comment in entry.feedback if comment)
        lines.append(f"  feedback: {ups} up, {downs} down" + (f" - {comments}" if comments else ""))
    return "\n".join(lines)
