"""The bundled model's Q8_0 copy (`agentkit.models.gguf_requantize`).

The copy is made once into the cache and reused; `default` runs from it while a named GGUF
runs as given; when the copy cannot be made (a damaged source, a cache that is not a folder)
the original file is used and a warning names it. The real conversion of the bundled model
takes about a second, so it runs in the fast set too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from agentkit.models.generators import ChatMessage, GenerationSettings
from agentkit.models.gguf_file import read_gguf_strings
from agentkit.models.gguf_requantize import CACHE_FOLDER, q8_0_copy, q8_0_copy_path
from agentkit.models.llama_cpp import default_model_path
from agentkit.models.registry import load_generator

LLAMA_FTYPE_MOSTLY_Q8_0 = 7


def file_type(path: str) -> int:
    """general.file_type of a GGUF, read by llama.cpp (vocabulary and metadata only)."""
    from llama_cpp import Llama

    return int(Llama(model_path=path, vocab_only=True, verbose=False).metadata["general.file_type"])


def test_the_bundled_model_is_copied_once_and_reused(tmp_path: Path) -> None:
    source = default_model_path()
    copy = q8_0_copy(source, tmp_path)
    assert copy == str(q8_0_copy_path(Path(source), tmp_path)) and Path(copy).is_file()
    assert file_type(copy) == LLAMA_FTYPE_MOSTLY_Q8_0 != file_type(source)
    assert read_gguf_strings(copy).get("tokenizer.chat_template") == read_gguf_strings(source).get(
        "tokenizer.chat_template"
    )
    made = Path(copy).stat().st_mtime_ns
    assert q8_0_copy(source, tmp_path) == copy and Path(copy).stat().st_mtime_ns == made
    assert [p.name for p in tmp_path.iterdir()] == [Path(copy).name]  # no temporary files left


def test_a_new_version_of_the_file_replaces_the_old_copy(tmp_path: Path) -> None:
    source = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    source.write_bytes(Path(default_model_path()).read_bytes())
    old = Path(q8_0_copy(str(source), tmp_path / "cache"))
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))  # an upgrade
    new = Path(q8_0_copy(str(source), tmp_path / "cache"))
    assert new != old and new.is_file() and not old.exists()


@pytest.mark.slow
def test_default_runs_from_the_copy_and_a_named_file_as_given(isolated_home: Path) -> None:
    settings = GenerationSettings()
    default = load_generator("default", settings)
    assert Path(default.model_path).parent == isolated_home / CACHE_FOLDER  # type: ignore[attr-defined]
    named = load_generator(default_model_path(), settings)
    assert named.model_path == default_model_path()  # type: ignore[attr-defined]
    question = [ChatMessage("user", "Sources:\n[1] The web app listens on port 8080.\n\nQuestion: Which port?")]
    assert default.complete(question, max_tokens=24, temperature=0.0).strip()


def test_a_damaged_source_is_used_as_given_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "broken.gguf"
    source.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING):
        assert q8_0_copy(str(source), tmp_path / "cache") == str(source)
    assert "could not convert" in caplog.text and "broken.gguf" in caplog.text
    assert not list((tmp_path / "cache").iterdir())  # the failed copy left nothing behind


def test_a_cache_that_cannot_be_written_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")  # fails as root too
    with caplog.at_level(logging.WARNING):
        assert q8_0_copy(default_model_path(), blocked) == default_model_path()
    assert "could not be made" in caplog.text
