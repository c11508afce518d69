"""`agentkit models ...`: the catalog of recommended GGUF models, pulling and removing them.

Parses arguments, calls `agentkit.models.catalog` and `agentkit.models.download`, prints. The
data folder is the one `agentkit --home` names (else $AGENTKIT_HOME, else the default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agentkit.errors import AgentkitError
from agentkit.models.catalog import CatalogModel, catalog, is_installed, is_pulled, pulled_path
from agentkit.models.download import model_url, pull_model, remove_model
from agentkit.models.llama_cpp import default_model_path

UNMEASURED = "—"


class ModelsCommandGroup(click.Group):
    """Turns an `AgentkitError` into a one-line message and its exit code, also when this group
    runs on its own (tests, embedding) rather than under `agentkit`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentkitError as error:
            failure = click.ClickException(str(error))
            failure.exit_code = error.exit_code
            raise failure from error


def _home(ctx: click.Context) -> str | None:
    """The data folder given to `agentkit --home`, or None (then $AGENTKIT_HOME or the default)."""
    home = ctx.find_root().params.get("home")
    return str(home) if home else None


@click.group("models", cls=ModelsCommandGroup)
def models() -> None:
    """Recommended GGUF models: list them, pull one, then use it with --model NAME."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_models(ctx: click.Context, as_json: bool) -> None:
    """The catalog: size, memory, speed and licence, and which models are here."""
    home = _home(ctx)
    entries = catalog.models()
    if as_json:
        click.echo(json.dumps([_as_dict(model, home) for model in entries], indent=2, ensure_ascii=False))
        return
    header = ("NAME", "SIZE", "RAM", "TOKENS/S", "CONTEXT", "LICENCE", "STATUS")
    rows = [header] + [
        (
            model.name,
            format_size(model.size_bytes, exact=model.size_exact),
            f"{model.ram_gb:g} GB",
            f"{model.tokens_per_s:g}" if model.tokens_per_s is not None else UNMEASURED,
            f"{model.context_length:,}",
            model.licence,
            _status(model, home),
        )
        for model in entries
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    click.echo(
        f"\nRAM: estimate at a 2,048-token context. TOKENS/S: measured on 2 CPU threads ({UNMEASURED}: not measured)."
        "\nPull one with: agentkit models pull NAME; then: agentkit create BOT --model NAME"
    )


@models.command("pull")
@click.argument("name")
@click.option("--force", is_flag=True, help="Download again even if the model is here.")
@click.pass_context
def pull(ctx: click.Context, name: str, force: bool) -> None:
    """Download a catalog model (resumes an interrupted download; checks its sha256)."""
    model = catalog.require(name)
    if force or not is_installed(model, _home(ctx)):
        click.echo(
            f"Downloading {model.name} ({format_size(model.size_bytes, exact=model.size_exact)}) "
            f"from {model_url(model)}",
            err=True,
        )
    result = pull_model(name, home=_home(ctx), force=force)
    if result.status == "bundled":
        click.echo(f"{model.name} is bundled with agentkit ({result.path}); nothing to download.")
    elif result.status == "already pulled":
        click.echo(f"{model.name} is pulled already: {result.path} (--force downloads it again).")
    else:
        download = result.download
        assert download is not None
        resumed = f", resumed after {format_size(download.resumed_from)}" if download.resumed_from else ""
        click.echo(f"Pulled {model.name} to {result.path}{resumed}.")
        if download.verified:
            click.echo(f"sha256 verified: {download.sha256}")
        else:
            click.echo(
                f"sha256 {download.sha256} (NOT verified: the catalog records no checksum for "
                f"{model.name}; compare it with the one on https://huggingface.co/{model.repo})"
            )
    click.echo(f"Use it with: agentkit create BOT --model {model.name}")


@models.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Delete a pulled model (and any partial download of it)."""
    for path in remove_model(name, home=_home(ctx)):
        click.echo(f"Removed {path}")


@models.command("path")
@click.argument("name")
@click.pass_context
def path(ctx: click.Context, name: str) -> None:
    """Print the GGUF file of an installed model."""
    click.echo(str(_installed_path(catalog.require(name), _home(ctx))))


def _installed_path(model: CatalogModel, home: str | None) -> Path:
    pulled = pulled_path(model, home)
    if pulled.is_file():
        return pulled
    if model.bundled:
        return Path(default_model_path())
    raise click.ClickException(f"model {model.name!r} is not pulled; run: agentkit models pull {model.name}")


def _status(model: CatalogModel, home: str | None) -> str:
    if is_pulled(model, home):
        return "pulled"
    return "installed (bundled)" if model.bundled else "-"


def _as_dict(model: CatalogModel, home: str | None) -> dict[str, Any]:
    installed = is_installed(model, home)
    return {
        "name": model.name,
        "description": model.description,
        "repo": model.repo,
        "filename": model.filename,
        "revision": model.revision,
        "url": model_url(model),
        "size_bytes": model.size_bytes,
        "size_exact": model.size_exact,
        "sha256": model.sha256,
        "ram_gb": model.ram_gb,
        "tokens_per_s": model.tokens_per_s,
        "context_length": model.context_length,
        "licence": model.licence,
        "bundled": model.bundled,
        "pulled": is_pulled(model, home),
        "installed": installed,
        "path": str(_installed_path(model, home)) if installed else None,
    }


def format_size(size_bytes: int, *, exact: bool = True) -> str:
    """`98 MB`, `2.4 GB` (decimal units, as the Hugging Face Hub shows them); `~` when rounded."""
    approx = "" if exact else "~"
    if size_bytes >= 1e9:
        return f"{approx}{size_bytes / 1e9:.1f} GB"
    if size_bytes >= 1e6:
        return f"{approx}{size_bytes / 1e6:.0f} MB"
    return f"{approx}{size_bytes / 1e3:.0f} kB"
