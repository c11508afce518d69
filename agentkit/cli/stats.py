"""`agentkit stats`: the figures of an agent's question log, its gaps, and the HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from agentkit.cli.context import kit_of
from agentkit.cli.output import print_json
from agentkit.improve.report import render_report
from agentkit.improve.stats import Stats

EXAMPLES_SHOWN = 3
GAPS_SHOWN = 10


@click.command()
@click.argument("name")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="How far back: 90m, 12h, 7d, 2w, or 'all' for the whole log.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write a self-contained HTML report (charts, no network) to this file.",
)
@click.pass_context
def stats(ctx: click.Context, name: str, since: str, as_json: bool, html_path: str | None) -> None:
    """Questions per day, abstentions, feedback, latency, most-cited documents and the gaps:
    unanswered questions grouped into topics."""

    figures = kit_of(ctx).get_agent(name).stats(since=None if since.strip().lower() == "all" else since)
    if html_path:
        Path(html_path).write_text(render_report(figures), encoding="utf-8")
    if as_json:
        print_json(figures.to_dict())
        return
    print_stats(figures)
    if html_path:
        click.echo(f"\nReport: {html_path}")


def print_stats(figures: Stats) -> None:
    period = f"since {figures.since:%Y-%m-%d %H:%M} UTC" if figures.since else "in the whole log"
    click.echo(f"{figures.agent}: {figures.questions} questions {period}")
    if not figures.questions:
        return
    click.echo(f"  abstained:       {figures.abstained} ({_share(figures.abstained_share)})")
    click.echo(
        f"  rated down:      {figures.rated_down} ({_share(figures.rated_down_share)}); "
        f"rated up: {figures.rated_up}"
    )
    click.echo(f"  curated answers: {figures.curated_hits} ({_share(figures.curated_share)})")
    click.echo(f"  latency:         p50 {figures.latency_p50_ms} ms, p95 {figures.latency_p95_ms} ms")
    click.echo(
        "  channels:        " + ", ".join(f"{name} {count}" for name, count in figures.channels.items())
    )
    busy = [day for day in figures.per_day if day.questions]
    click.echo("\nQuestions per day (days with questions):")
    for day in busy:
        click.echo(
            f"  {day.day.isoformat()}  {day.questions:5d}  abstained {day.abstained}, rated down {day.rated_down}"
        )
    if figures.top_documents:
        click.echo("\nMost-cited documents (answers citing them):")
        for document in figures.top_documents:
            title = f"{document.title} " if document.title and document.title != document.uri else ""
            click.echo(f"  {document.answers:5d}  {title}({document.uri})")
    click.echo(f"\nGaps: {figures.unanswered} unanswered questions in {len(figures.gaps)} topics")
    for rank, gap in enumerate(figures.gaps[:GAPS_SHOWN], 1):
        click.echo(f"  {rank}. {gap.label} ({gap.questions} questions)")
        for example in gap.examples[:EXAMPLES_SHOWN]:
            click.echo(f"     - {example}")
    if len(figures.gaps) > GAPS_SHOWN:
        click.echo(
            f"  ... and {len(figures.gaps) - GAPS_SHOWN} smaller topics (--json or --html lists them all)"
        )


def _share(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"
