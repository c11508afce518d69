"""`agentkit answers`: the owner's curated answers (add, list, remove, import, export, revise).

A question that means the same as a curated one is answered with the curated text, before
retrieval and without the model, from the next question on, in every process. Changes are
recorded with the OS user name.
"""

from __future__ import annotations

import sys

import click

from agentkit.cli.context import kit_of
from agentkit.cli.output import print_json
from agentkit.improve.curated import CuratedAnswer, CuratedAnswerExistsError, current_user


@click.group()
def answers() -> None:
    """Curated answers: given, with their source, to questions that mean the same."""


@answers.command("add")
@click.argument("name")
@click.option("--question", "-q", required=True, help="The question, as people would ask it.")
@click.option("--answer", "-a", required=True, help="The answer to give.")
@click.option("--source", default=None, help="A URL (or other reference) cited with the answer.")
@click.pass_context
def add_answer(ctx: click.Context, name: str, question: str, answer: str, source: str | None) -> None:
    """Add a curated answer to agent NAME (a question curated already gets the new answer)."""
    curated = kit_of(ctx).get_agent(name).curated
    try:
        added = curated.add(question, answer, source=source, by=current_user())
    except CuratedAnswerExistsError as exists:
        revised = curated.revise(exists.answer_id, answer, source=source, by=current_user())
        click.echo(f"Revised curated answer {revised.id} of {name} (version {revised.version}).")
        return
    click.echo(f"Added curated answer {added.id} to {name}.")


@answers.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--history", is_flag=True, help="Every change (add, revise, remove) with who and when.")
@click.option("--all", "include_removed", is_flag=True, help="Include removed answers.")
@click.pass_context
def list_answers(ctx: click.Context, name: str, as_json: bool, history: bool, include_removed: bool) -> None:
    """List the curated answers of agent NAME."""
    curated = kit_of(ctx).get_agent(name).curated
    if history:
        changes = curated.history()
        if as_json:
            print_json([change.to_dict() for change in changes])
            return
        for change in changes:
            source = f" [{change.source}]" if change.source else ""
            click.echo(
                f"#{change.curated_answer_id} v{change.version} {change.action} by {change.changed_by} "
                f"at {change.changed_at:%Y-%m-%d %H:%M}: {change.question} -> {change.answer}{source}"
            )
        return
    listed = curated.list(include_removed=include_removed)
    if as_json:
        print_json([item.to_dict() for item in listed])
        return
    if not listed:
        click.echo(
            f"{name} has no curated answers; add one with `agentkit answers add {name} -q ... -a ...`."
        )
        return
    for item in listed:
        click.echo(_describe(item))


@answers.command("remove")
@click.argument("name")
@click.argument("answer_id", type=int)
@click.pass_context
def remove_answer(ctx: click.Context, name: str, answer_id: int) -> None:
    """Stop giving curated answer ANSWER_ID (its history is kept)."""
    kit_of(ctx).get_agent(name).curated.remove(answer_id, by=current_user())
    click.echo(f"Removed curated answer {answer_id} from {name}.")


@answers.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def import_answers(ctx: click.Context, name: str, file: str) -> None:
    """Add the curated answers of a CSV FILE (header: question,answer,source); a row with the
    question of a curated answer revises it. All or nothing."""
    report = kit_of(ctx).get_agent(name).curated.import_csv(file, by=current_user())
    click.echo(
        f"Imported into {name}: {len(report.added)} added, {len(report.revised)} revised, "
        f"{len(report.unchanged)} unchanged."
    )


@answers.command("export")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, writable=True), required=False)
@click.pass_context
def export_answers(ctx: click.Context, name: str, file: str | None) -> None:
    """Write the curated answers as CSV to FILE (default: standard output)."""
    curated = kit_of(ctx).get_agent(name).curated
    if file is None:
        curated.export_csv(sys.stdout)
        return
    with open(file, "w", encoding="utf-8", newline="") as target:
        count = curated.export_csv(target)
    click.echo(f"Exported {count} curated answers of {name} to {file}.")


@answers.command("revise")
@click.argument("name")
@click.argument("log_id", type=int)
@click.argument("answer")
@click.pass_context
def revise_answer(ctx: click.Context, name: str, log_id: int, answer: str) -> None:
    """Correct the answer to logged question LOG_ID (`agentkit log NAME` lists them): the next
    question that means the same gets ANSWER."""
    revised = kit_of(ctx).get_agent(name).curated.revise_logged(log_id, answer, by=current_user())
    action = "Added" if revised.version == 1 else f"Revised (version {revised.version})"
    click.echo(f"{action} curated answer {revised.id} for: {revised.question}")


def _describe(item: CuratedAnswer) -> str:
    source = f"\n    source: {item.source}" if item.source else ""
    removed = f", removed {item.removed_at:%Y-%m-%d %H:%M}" if item.removed_at else ""
    return (
        f"{item.id}. Q: {item.question}\n    A: {item.answer}{source}\n"
        f"    version {item.version}, by {item.updated_by} at {item.updated_at:%Y-%m-%d %H:%M}{removed}"
    )
