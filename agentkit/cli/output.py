"""How the CLI prints: JSON, sync reports and source freshness."""

from __future__ import annotations

import json
from typing import Any

import click

import agentkit
from agentkit.ingest.refresh import format_duration


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


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


def freshness(info: agentkit.SourceInfo) -> str:
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
