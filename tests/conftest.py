"""Shared fixtures: an isolated home for every test, fake models, and both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from agentkit import AgentKit, Generator
from agentkit.models.registry import generators
from tests.fakes import FakeEmbedder, ScriptedGenerator

pytest_plugins = ["tests.pg_fixtures"]  # pg_server, pgvector_url, index_store

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEMO_DATA = REPO_ROOT / "data"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "agentkit-home"
    monkeypatch.setenv("AGENTKIT_HOME", str(home))
    monkeypatch.delenv("AGENTKIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def scripted_generator() -> ScriptedGenerator:
    return ScriptedGenerator()


@pytest.fixture
def kit(isolated_home: Path, fake_embedder: FakeEmbedder, scripted_generator: ScriptedGenerator) -> Iterator[AgentKit]:
    with AgentKit(home=isolated_home, embedder=fake_embedder, generator=scripted_generator) as opened:
        yield opened


def postgres_url() -> str | None:
    return os.environ.get("AGENTKIT_TEST_DATABASE_URL") or None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind (PostgreSQL only when a server is configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    base = postgres_url()
    if base is None:
        pytest.skip("AGENTKIT_TEST_DATABASE_URL is not set; no PostgreSQL server to test against")
    from sqlalchemy import create_engine, text

    from agentkit.store.database import resolve_database_url

    admin_url = resolve_database_url(base, tmp_path)
    name = f"agentkit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def local_model_is(request: pytest.FixtureRequest) -> Callable[[Generator], None]:
    """`local_model_is(generator)`: for this test, the `llama-cpp` generator kind (what the
    `default` model and .gguf paths load, also from the CLI) returns `generator`. It goes through
    the registry, and the built-in kind comes back after the test."""
    stack = ExitStack()
    request.addfinalizer(stack.close)

    def use(generator: Generator) -> None:
        stack.enter_context(generators.registered("llama-cpp", lambda target, settings: generator))

    return use
