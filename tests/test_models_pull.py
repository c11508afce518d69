"""`agentkit models list/pull/remove/path` and `--model NAME`, against a local file server.

Nothing here touches the internet: AGENTKIT_MODELS_URL points the downloads at
`tests/model_file_server.py` on 127.0.0.1, and the model pulled is a test catalog entry
(registered with `catalog.registered`) whose file is a few hundred kB of known bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentkit import AgentKit
from agentkit.cli.models import models
from agentkit.errors import ModelDownloadError, ModelSpecError
from agentkit.models.catalog import CatalogModel, catalog, pulled_path
from agentkit.models.download import download_file, model_url, pull_model
from agentkit.models.registry import split_generator_spec
from tests.model_file_server import FileServer, file_server

CONTENT = bytes(range(256)) * 1200  # 307,200 bytes
CONTENT_SHA256 = hashlib.sha256(CONTENT).hexdigest()
NAME = "tiny-test-model"


def tiny_model(**changes: object) -> CatalogModel:
    fields: dict[str, object] = dict(
        name=NAME,
        repo="agentkit-tests/Tiny-GGUF",
        filename="tiny-q4.gguf",
        revision="0123456789abcdef0123456789abcdef01234567",
        size_bytes=len(CONTENT),
        sha256=CONTENT_SHA256,
        ram_gb=0.1,
        licence="MIT",
        context_length=2048,
    )
    fields.update(changes)
    return CatalogModel(**fields)  # type: ignore[arg-type]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    with file_server() as running:
        monkeypatch.setenv("AGENTKIT_MODELS_URL", running.base_url)
        yield running


@pytest.fixture
def tiny(server: FileServer) -> Iterator[CatalogModel]:
    """The test entry in the catalog, its file on the server."""
    with catalog.registered(tiny_model()) as model:
        server.files[_path_of(model)] = CONTENT
        yield model


def _path_of(model: CatalogModel) -> str:
    return f"/{model.repo}/resolve/{model.revision}/{model.filename}"


def _part(model: CatalogModel) -> Path:
    path = pulled_path(model)
    return path.with_name(path.name + ".part")


def run(*args: str) -> object:
    return CliRunner().invoke(models, list(args), catch_exceptions=False)


# ----- list ------------------------------------------------------------------------------


def test_list_shows_the_catalog_with_the_bundled_model_installed() -> None:
    result = run("list")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    lines = result.output.splitlines()  # type: ignore[attr-defined]
    assert lines[0].split()[:4] == ["NAME", "SIZE", "RAM", "TOKENS/S"]
    smol = next(line for line in lines if line.startswith("smollm2-135m "))
    assert "installed (bundled)" in smol and "Apache-2.0" in smol and " 60 " in smol
    qwen = next(line for line in lines if line.startswith("qwen2.5-0.5b-instruct "))
    assert "—" in qwen and qwen.rstrip().endswith("-")  # not measured, not pulled
    for name in ("qwen2.5-1.5b-instruct", "llama-3.2-1b-instruct", "phi-3.5-mini-instruct"):
        assert any(line.startswith(name + " ") for line in lines)


def test_list_json_marks_what_is_pulled(tiny: CatalogModel) -> None:
    path = pulled_path(tiny)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT)
    entries = {entry["name"]: entry for entry in json.loads(run("list", "--json").output)}  # type: ignore[attr-defined]
    assert entries[NAME]["pulled"] is True and entries[NAME]["path"] == str(path)
    assert entries[NAME]["url"] == model_url(tiny)
    smol = entries["smollm2-135m"]
    assert smol["installed"] is True and smol["pulled"] is False and smol["path"].endswith(".gguf")
    qwen = entries["qwen2.5-0.5b-instruct"]
    assert qwen["installed"] is False and qwen["path"] is None and qwen["tokens_per_s"] is None
    assert all(entry["sha256"] is None or len(entry["sha256"]) == 64 for entry in entries.values())


def test_catalog_names_are_checked() -> None:
    with pytest.raises(ModelSpecError, match="lowercase"):
        tiny_model(name="Bad/Name")
    with pytest.raises(ModelSpecError, match="64 lowercase hex"):
        tiny_model(sha256="abc")


# ----- pull ------------------------------------------------------------------------------


def test_pull_downloads_verifies_and_renames(tiny: CatalogModel, server: FileServer) -> None:
    result = run("pull", NAME)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "sha256 verified" in result.output  # type: ignore[attr-defined]
    assert pulled_path(tiny).read_bytes() == CONTENT
    assert not _part(tiny).exists()
    assert [request.path for request in server.requests] == [_path_of(tiny)]
    assert "range" not in server.requests[0].headers

    again = run("pull", NAME)
    assert "pulled already" in again.output and len(server.requests) == 1  # type: ignore[attr-defined]
    forced = run("pull", NAME, "--force")
    assert forced.exit_code == 0 and len(server.requests) == 2  # type: ignore[attr-defined]


def test_an_interrupted_download_is_resumed_with_a_range_request(
    tiny: CatalogModel, server: FileServer
) -> None:
    half = len(CONTENT) // 2
    server.script.drop_after_bytes = half

    failed = CliRunner().invoke(models, ["pull", NAME])
    assert failed.exit_code == 1
    assert "run the same command again to resume" in failed.output
    assert model_url(tiny) in failed.output
    assert _part(tiny).stat().st_size == half
    assert not pulled_path(tiny).exists()

    resumed = run("pull", NAME)
    assert resumed.exit_code == 0, resumed.output  # type: ignore[attr-defined]
    assert "resumed after" in resumed.output  # type: ignore[attr-defined]
    assert server.requests[-1].headers["range"] == f"bytes={half}-"
    assert pulled_path(tiny).read_bytes() == CONTENT
    assert not _part(tiny).exists()


def test_a_checksum_mismatch_is_refused_and_nothing_is_left(server: FileServer) -> None:
    with catalog.registered(tiny_model()) as model:
        server.files[_path_of(model)] = CONTENT[:-1] + b"\x00"  # one wrong byte
        with pytest.raises(ModelDownloadError) as caught:
            pull_model(NAME)
    message = str(caught.value)
    wrong = hashlib.sha256(CONTENT[:-1] + b"\x00").hexdigest()
    assert CONTENT_SHA256 in message and wrong in message and model_url(model) in message
    assert not pulled_path(model).exists() and not _part(model).exists()


def test_a_corrupt_partial_file_fails_the_checksum_then_downloads_afresh(tiny: CatalogModel) -> None:
    part = _part(tiny)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\xff" * 1000)  # not the start of the file
    with pytest.raises(ModelDownloadError, match="download it afresh"):
        pull_model(NAME)
    assert not part.exists()
    assert pull_model(NAME).download.verified  # type: ignore[union-attr]
    assert pulled_path(tiny).read_bytes() == CONTENT


def test_a_server_that_ignores_range_makes_the_download_start_over(
    tiny: CatalogModel, server: FileServer
) -> None:
    part = _part(tiny)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"junk" * 100)
    server.script.ignore_range = True
    result = pull_model(NAME)
    assert server.requests[0].headers["range"] == "bytes=400-"
    assert result.download is not None and result.download.resumed_from == 0 and result.download.verified
    assert pulled_path(tiny).read_bytes() == CONTENT


def test_a_complete_partial_file_is_verified_and_kept(tiny: CatalogModel, server: FileServer) -> None:
    part = _part(tiny)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(CONTENT)  # downloaded, but the process died before the rename
    result = pull_model(NAME)
    assert server.requests[0].headers["range"] == f"bytes={len(CONTENT)}-"  # answered 416
    assert result.download is not None and result.download.resumed_from == len(CONTENT)
    assert pulled_path(tiny).read_bytes() == CONTENT


def test_a_missing_file_says_404_and_names_the_url(server: FileServer) -> None:
    with catalog.registered(tiny_model(filename="gone.gguf")) as model:
        result = CliRunner().invoke(models, ["pull", NAME])
    assert result.exit_code == 1
    assert "HTTP 404" in result.output and model_url(model) in result.output
    assert "out of date" in result.output
    assert not pulled_path(model).exists()


def test_no_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with file_server() as stopped:
        base_url = stopped.base_url
    monkeypatch.setenv("AGENTKIT_MODELS_URL", base_url)  # nothing listens there any more
    with catalog.registered(tiny_model()):
        with pytest.raises(ModelDownloadError, match="could not connect.*run the same command again"):
            pull_model(NAME)


def test_a_silent_server_times_out(tiny: CatalogModel, server: FileServer) -> None:
    server.script.delay_s = 2.0
    with pytest.raises(ModelDownloadError, match="no data came for 0.3 s"):
        pull_model(NAME, timeout_s=0.3)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_a_clear_error(tiny: CatalogModel) -> None:
    part = _part(tiny)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(ModelDownloadError, match="the disk is full.*run the same command again"):
        pull_model(NAME)
    assert not pulled_path(tiny).exists()


def test_a_model_without_a_known_hash_is_pulled_but_reported_unverified(server: FileServer) -> None:
    with catalog.registered(tiny_model(sha256=None)) as model:
        server.files[_path_of(model)] = CONTENT
        result = run("pull", NAME)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert f"sha256 {CONTENT_SHA256} (NOT verified" in result.output  # type: ignore[attr-defined]


def test_the_progress_bar_shows_when_asked(
    tiny: CatalogModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download_file(model_url(tiny), tmp_path / "out.gguf", sha256=CONTENT_SHA256, progress=True, label="tiny")
    assert "tiny" in capsys.readouterr().err


def test_the_bundled_model_needs_no_download(server: FileServer) -> None:
    result = run("pull", "smollm2-135m")
    assert "bundled with agentkit" in result.output  # type: ignore[attr-defined]
    assert server.requests == []


def test_an_unknown_name_lists_the_known_ones() -> None:
    result = CliRunner().invoke(models, ["pull", "gpt-5"])
    assert result.exit_code == 1 and "qwen2.5-0.5b-instruct" in result.output


# ----- remove and path -------------------------------------------------------------------


def test_path_and_remove(tiny: CatalogModel) -> None:
    assert CliRunner().invoke(models, ["path", NAME]).exit_code == 1
    pull_model(NAME)
    assert run("path", NAME).output.strip() == str(pulled_path(tiny))  # type: ignore[attr-defined]
    assert "Removed" in run("remove", NAME).output  # type: ignore[attr-defined]
    assert not pulled_path(tiny).exists()
    gone = CliRunner().invoke(models, ["remove", NAME])
    assert gone.exit_code == 1 and "not pulled" in gone.output


# ----- --model NAME ----------------------------------------------------------------------


def test_create_with_a_pulled_model_name_uses_the_pulled_file(kit: AgentKit, tiny: CatalogModel) -> None:
    with pytest.raises(ModelSpecError, match=f"run: agentkit models pull {NAME}"):
        kit.create_agent("early", model=NAME)
    pull_model(NAME)
    agent = kit.create_agent("bot", model=NAME)
    assert agent.model == str(pulled_path(tiny))
    assert split_generator_spec(NAME) == ("llama-cpp", str(pulled_path(tiny)))


def test_the_bundled_model_name_means_the_default_model(kit: AgentKit) -> None:
    assert kit.create_agent("bot", model="smollm2-135m").model == "default"


def test_paths_and_kinds_still_resolve_as_before(tmp_path: Path) -> None:
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    assert split_generator_spec(str(gguf)) == ("llama-cpp", str(gguf))
    assert split_generator_spec(f"llama-cpp:{gguf}") == ("llama-cpp", str(gguf))
    assert split_generator_spec("default") == ("llama-cpp", "default")
