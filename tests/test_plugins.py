"""Plugins: a package installed into a scratch folder adds a generator and an embedder through
entry points, and an agent created with `--model myplugin:anything` answers through them, from
Python and from the CLI. Nothing in agentkit names the plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentkit import AgentKit
from agentkit.errors import ModelSpecError
from agentkit.models.registry import embedders, generators
from agentkit.plugins import PluginError, Registry

PLUGIN_MODULE = '''
"""A tiny agentkit plugin: a generator that quotes source [1], an embedder of letter counts."""
import re

import numpy as np

from agentkit import ChatMessage, Embedder, GenerationSettings, Generator

SEEN_TARGETS = []


class EchoGenerator(Generator):
    def __init__(self, target: str, settings: GenerationSettings) -> None:
        SEEN_TARGETS.append(target)
        self.context_window = settings.context_window

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float):
        found = re.search(r"\\[1\\][^\\n]*\\n(.+?)(?:\\n\\n|$)", messages[-1].content, re.S)
        sentence = re.split(r"(?<=[.!?])\\s", found.group(1).strip(), maxsplit=1)[0] if found else "I do not know."
        yield "(echo) "
        yield sentence.rstrip(".") + " [1]."


class LetterEmbedder(Embedder):
    def __init__(self, target: str) -> None:
        self.dimension = 26 + int(target or 0)
        self.embedder_id = f"myplugin:{target}"

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for letter in text.lower():
                if "a" <= letter <= "z":
                    rows[row, ord(letter) - 97] += 1.0
            rows[row, 26:] = 0.1
        return rows
'''

PLUGIN_PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "agentkit-myplugin"
version = "0.1.0"

[project.entry-points."agentkit.generators"]
myplugin = "myplugin:EchoGenerator"

[project.entry-points."agentkit.embedders"]
myplugin = "myplugin:LetterEmbedder"

[tool.setuptools]
py-modules = ["myplugin"]
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin built and installed with pip into a scratch folder (not the venv)."""
    source = tmp_path_factory.mktemp("plugin-source")
    (source / "myplugin.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (source / "pyproject.toml").write_text(textwrap.dedent(PLUGIN_PYPROJECT))
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    assert list(target.glob("agentkit_myplugin-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    (folder / "nodes.md").write_text("# Nodes\n\nA Zorblat cluster holds at most 12 nodes.\n")
    return folder


def test_python_api_answers_through_the_plugin(
    plugin_dir: Path, docs: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    try:
        with AgentKit(home=isolated_home) as kit:
            agent = kit.create_agent("plugged", model="myplugin:anything", embedder="myplugin:6")
            report = agent.add_source(str(docs))
            assert report.error is None and report.documents == 2
            answer = agent.ask("Which port does the Zorblat daemon listen on?")
        import myplugin  # the module the entry point loaded

        assert myplugin.SEEN_TARGETS == ["anything"]
        assert answer.text.startswith("(echo)") and "7421" in answer.text and not answer.abstained
        assert answer.citations and "ports.md" in answer.citations[0].uri
        assert agent.embedder_id == "myplugin:6"
    finally:
        generators.unregister("myplugin")
        embedders.unregister("myplugin")
        sys.modules.pop("myplugin", None)


def test_cli_answers_through_the_plugin(plugin_dir: Path, docs: Path, isolated_home: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(plugin_dir), AGENTKIT_HOME=str(isolated_home))

    def agentkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agentkit", *args], env=env, capture_output=True, text=True, timeout=120
        )

    created = agentkit("create", "plugged", "--model", "myplugin:anything", "--embedder", "myplugin:6")
    assert created.returncode == 0, created.stderr
    assert agentkit("add", "plugged", str(docs)).returncode == 0
    answered = agentkit("ask", "plugged", "Which port does the Zorblat daemon listen on?", "--json")
    assert answered.returncode == 0, answered.stderr
    payload = json.loads(answered.stdout)
    assert payload["answer"].startswith("(echo)") and "7421" in payload["answer"]
    # Without the plugin on the path its kinds are unknown, and the message lists the known ones.
    env["PYTHONPATH"] = ""
    missing = agentkit("ask", "plugged", "Which port?")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "no embedder kind 'myplugin'" in missing.stderr and "hashing" in missing.stderr
    created = agentkit("create", "other", "--model", "myplugin:anything")
    assert created.returncode == 1 and "no generator kind 'myplugin'" in created.stderr


def test_registry_rules() -> None:
    registry: Registry[str] = Registry("widget", "agentkit.no-such-group")
    registry.register("one", "first")
    with pytest.raises(PluginError, match="registered already"):
        registry.register("one", "second")
    registry.register("one", "second", replace=True)
    with registry.registered("one", "third"):
        assert registry.get("one") == "third"
    assert registry.get("one") == "second" and registry.names() == ["one"]
    with pytest.raises(PluginError, match="letters, digits"):
        registry.register("bad name", "x")


def test_a_broken_plugin_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[agentkit.generators]\nbroken = no_such_module:Thing\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="generator plugin 'broken'.*no_such_module.*ModuleNotFoundError"):
        generators.get("broken")



def test_unknown_embedder_kind_is_refused_at_create(isolated_home: Path) -> None:
    with AgentKit(home=isolated_home) as kit:
        with pytest.raises(ModelSpecError, match="no embedder kind 'nosuch'.*hashing"):
            kit.create_agent("a", embedder="nosuch:x")
        assert kit.list_agents() == []
