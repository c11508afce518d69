"""API keys: stored as hashes, verified in constant time, scoped, bound, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from agentkit import AgentKit, InvalidSettingError
from agentkit.cli.app import cli
from agentkit.server.keys import (
    ApiKeyNotFoundError,
    create_key,
    list_keys,
    parse_rate,
    revoke_key,
    verify_key,
)
from agentkit.store.models import ApiKeyRow


def test_a_key_is_stored_only_as_a_hash_and_verifies(kit: AgentKit) -> None:
    kit.create_agent("helpdesk")
    key, secret = create_key(kit, scope="chat", agent="helpdesk", origins=["https://Shop.example.com/"])
    assert secret.startswith("ak_") and key.origins == ("https://shop.example.com",)
    with kit.sessions() as session:
        row = session.scalar(select(ApiKeyRow))
        assert row is not None and secret not in (row.secret_hash, row.key_id) and len(row.secret_hash) == 64
    verified = verify_key(kit, secret)
    assert verified is not None and verified.agent == "helpdesk" and verified.scope == "chat"
    assert verify_key(kit, secret[:-2] + "xx") is None
    assert verify_key(kit, "ak_000000000000_" + "a" * 43) is None
    assert verify_key(kit, "nonsense") is None


def test_revoked_and_expired_keys_stop_working(kit: AgentKit) -> None:
    key, secret = create_key(kit, scope="admin")
    _, expired = create_key(kit, scope="admin", expires=timedelta(seconds=-1))
    assert verify_key(kit, expired) is None
    revoke_key(kit, key.id)
    assert verify_key(kit, secret) is None
    assert [k.active for k in list_keys(kit)] == [False, False]
    with pytest.raises(ApiKeyNotFoundError):
        revoke_key(kit, 99)


def test_bad_settings_are_refused(kit: AgentKit) -> None:
    assert parse_rate("30/min").seconds == 60 and str(parse_rate("5/s")) == "5/s"
    for bad in (
        {"scope": "root"},
        {"scope": "chat", "rate": "lots"},
        {"scope": "chat", "origins": ["ftp://x"]},
        {"scope": "chat", "expires": "soon"},
    ):
        with pytest.raises(InvalidSettingError):
            create_key(kit, **bad)  # type: ignore[arg-type]


def test_keys_cli_shows_the_secret_once() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["create", "helpdesk"]).exit_code == 0
    created = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--agent",
            "helpdesk",
            "--scope",
            "chat",
            "--origin",
            "https://a.example",
            "--rate",
            "30/min",
            "--expires",
            "30d",
        ],
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    listed = runner.invoke(cli, ["keys", "list"])
    assert (
        "helpdesk" in listed.output and "https://a.example" in listed.output and secret not in listed.output
    )
    assert runner.invoke(cli, ["keys", "revoke", "1"]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).output
    assert runner.invoke(cli, ["keys", "revoke", "7"]).exit_code == 1
