"""The connector registry: declared options, choosing a kind for a location, and plugins.

A tiny plugin kind (`MemoConnector`, real `Connector` subclass) is registered through
`connector_kinds` and used end to end, through `Agent.add_source` and `agentkit add --option`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

import agentkit.plugins
from agentkit import AgentKit
from agentkit.cli.app import cli
from agentkit.plugins import PluginError
from connectors import (
    Block,
    Connector,
    ConnectorError,
    ConnectorOption,
    Document,
    FetchedItem,
    OptionConflictError,
    PreviousFetch,
    connector_class,
    connector_kinds,
    detect_kind,
    kind_options_from_text,
    open_connector,
)
from connectors.files import FilesConnector
from connectors.web.connector import WebConnector
from tests.test_notion_sources_e2e import make_zip


class MemoConnector(Connector):
    """Memos about the Zorblat daemon, from memo://TOPIC locations (a test plugin)."""

    kind = "memo"
    options = (
        ConnectorOption("count", int, "how many memos", 1),
        ConnectorOption("loud", bool, "shout every memo", False),
        ConnectorOption("tags", list, "tags kept on every memo", ()),
        ConnectorOption("signature", str, "who signs the memos"),
    )

    def __init__(
        self,
        location: str,
        *,
        count: int = 1,
        loud: bool = False,
        tags: tuple[str, ...] = (),
        signature: str | None = None,
    ) -> None:
        self.topic = location.removeprefix("memo://")
        self.location = location
        self.count = count
        self.loud = loud
        self.tags = tuple(tags)
        self.signature = signature

    @classmethod
    def recognizes(cls, location: str, options: Mapping[str, object]) -> int:
        return 50 if location.startswith("memo://") else 0

    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        for number in range(1, self.count + 1):
            text = f"Memo {number} on {self.topic}: the Zorblat daemon listens on port 7421."
            if self.signature:
                text += f" Signed, {self.signature}."
            yield Document(
                uri=f"{self.location}#{number}",
                title=f"Memo {number}",
                blocks=[Block(text.upper() if self.loud else text)],
                metadata={"tags": ",".join(self.tags)},
            )


@pytest.fixture
def memo_kind() -> Iterator[type[MemoConnector]]:
    with connector_kinds.registered("memo", MemoConnector):
        yield MemoConnector


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- the built-in kinds ----------------------------------------------------------------------


def test_the_built_in_kinds_are_registered_lazily() -> None:
    assert {"files", "notion", "records", "web"} <= set(connector_kinds.names())
    assert connector_kinds.get("web") == "connectors.web.connector:WebConnector"  # a string until used
    assert connector_class("web") is WebConnector
    assert connector_class("files") is FilesConnector
    for kind in ("files", "notion", "records", "web"):
        connector = connector_class(kind)
        assert connector.kind == kind and connector.summary()
        assert all(isinstance(option, ConnectorOption) for option in connector.options)


def test_help_and_listing_agents_import_no_connector_module() -> None:
    """(The records module is the exception: `Agent.upsert_records` builds on it.)"""
    code = (
        "import sys\nfrom agentkit.cli.app import main\n"
        "for args in (['agentkit', '--help'], ['agentkit', 'list']):\n"
        "    sys.argv = args\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "loaded = [m for m in ('connectors.files', 'connectors.web.connector', 'connectors.notion', "
        "'bs4', 'pypdf', 'protego', 'charset_normalizer') if m in sys.modules]\n"
        "print('LOADED', loaded)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in output


def test_detect_kind_keeps_its_decisions(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    records = tmp_path / "rows.jsonl"
    records.write_text('{"t": "x"}\n', encoding="utf-8")
    assert detect_kind(str(folder), {}) == "files"
    assert detect_kind(str(records), {}) == "files"  # a .jsonl without text_field is a file
    assert detect_kind(str(records), {"text_field": "t"}) == "records"
    assert detect_kind(str(folder), {"text_field": "t"}) == "records"  # the options say records
    assert detect_kind(str(tmp_path / "missing.md"), {}) == "files"  # the connector says it is missing
    assert detect_kind(f"file://{folder}", {}) == "files"
    assert detect_kind("https://example.com/docs/", {}) == "web"
    assert detect_kind("HTTP://example.com/", {"text_field": "t"}) == "web"
    assert detect_kind("records://crm", {"text_field": "t"}) == "records"


def test_detect_kind_names_an_unsupported_scheme_and_the_kinds() -> None:
    with pytest.raises(ConnectorError) as caught:
        detect_kind("ftp://example.com/file.txt", {"text_field": "t"})
    message = str(caught.value)
    assert message.startswith("ftp://example.com/file.txt: the ftp:// scheme is not supported")
    assert "files, notion, records, web" in message


def test_a_zip_is_notion_or_refused_with_advice(tmp_path: Path) -> None:
    archive = tmp_path / "reports.zip"
    archive.write_bytes(make_zip({"reports/q1.pdf": b"%PDF-1.4"}))
    with pytest.raises(ConnectorError, match="is a zip archive but not a Notion export"):
        detect_kind(str(archive), {})
    assert detect_kind(str(archive), {"text_field": "t"}) == "records"  # options win over the refusal


def test_open_connector_checks_options_against_the_declared_ones(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError) as caught:
        open_connector("web", "https://example.com/", {"crawl": True, "depht": 3})
    assert "'depht'" in str(caught.value) and "crawl, depth, max_pages" in str(caught.value)
    with pytest.raises(ConnectorError, match="takes no options"):
        open_connector("notion", str(tmp_path), {"include": ["*.md"]})
    with pytest.raises(ConnectorError, match=r"option depth must be a whole number, not '3'"):
        open_connector("web", "https://example.com/", {"depth": "3"})
    with pytest.raises(ConnectorError, match=r"option crawl must be true or false, not 1"):
        open_connector("web", "https://example.com/", {"crawl": 1})
    with pytest.raises(ConnectorError, match="option include must be a list of strings"):
        open_connector("files", str(tmp_path), {"include": "*.md"})
    with pytest.raises(ConnectorError, match="a records source needs text_field"):
        open_connector("records", str(tmp_path / "a.jsonl"), {})
    with pytest.raises(ConnectorError, match="unknown source kind 'ftp'; known kinds: files"):
        open_connector("ftp", "ftp://x", {})
    web = open_connector("web", "https://example.com/", {"path_prefix": None, "timeout_s": 3})
    assert isinstance(web, WebConnector) and web.path_prefix is None and web.timeout_s == 3.0


def test_option_text_is_typed_by_the_declared_option() -> None:
    options = kind_options_from_text(
        "web",
        [
            ("depth", "3"),
            ("crawl", "yes"),
            ("use_sitemap", "0"),
            ("include", "/docs/*, /api/*"),
            ("include", "/guide/*"),
            ("timeout_s", "2.5"),
            ("path_prefix", "/docs/"),
        ],
    )
    assert options == {
        "depth": 3,
        "crawl": True,
        "use_sitemap": False,
        "include": ["/docs/*", "/api/*", "/guide/*"],
        "timeout_s": 2.5,
        "path_prefix": "/docs/",
    }
    for word, value in [("true", True), ("False", False), ("no", False), ("1", True), ("on", True)]:
        assert kind_options_from_text("web", [("crawl", word)]) == {"crawl": value}
    with pytest.raises(ConnectorError, match="depth must be a whole number for a web source, not 'three'"):
        kind_options_from_text("web", [("depth", "three")])
    with pytest.raises(ConnectorError, match="crawl must be true or false"):
        kind_options_from_text("web", [("crawl", "maybe")])
    with pytest.raises(
        ConnectorError, match="unknown option 'glob' for a files source; the options are: include, exclude"
    ):
        kind_options_from_text("files", [("glob", "*.md")])


def test_conflicting_option_values_name_both_spellings() -> None:
    with pytest.raises(OptionConflictError, match="--option depth=2 and --option depth=3 disagree"):
        kind_options_from_text("web", [("depth", "2"), ("depth", "3")])
    with pytest.raises(OptionConflictError, match="--depth 2 and --option depth=3 disagree"):
        kind_options_from_text("web", [("depth", "3")], given={"depth": (2, "--depth 2")})
    same = kind_options_from_text("web", [("depth", "02")], given={"depth": (2, "--depth 2")})
    assert same == {"depth": 2}
    merged = kind_options_from_text("files", [("include", "b")], given={"include": (["a"], "--include a")})
    assert merged == {"include": ["a", "b"]}


def test_an_option_declaration_checks_its_own_default() -> None:
    with pytest.raises(TypeError, match="default"):
        ConnectorOption("depth", int, "link depth", "2")
    with pytest.raises(TypeError, match="type"):
        ConnectorOption("ratio", complex, "a ratio")


# -- a plugin kind ---------------------------------------------------------------------------


def test_a_plugin_kind_is_detected_checked_and_ingested(
    kit: AgentKit, memo_kind: type[MemoConnector]
) -> None:
    agent = kit.create_agent("memos")
    assert detect_kind("memo://ports", {}) == "memo"
    report = agent.add_source("memo://ports", options={"count": 2, "tags": ["ops"], "signature": "Ops"})
    assert report.error is None and (report.kind, report.added) == ("memo", 2)
    hits = agent.search("Which port does the Zorblat daemon listen on?")
    assert hits and hits[0].uri.startswith("memo://ports#")
    assert "Signed, Ops" in hits[0].text
    (source,) = agent.sources()
    assert source.kind == "memo" and source.options == {"count": 2, "tags": ["ops"], "signature": "Ops"}
    with pytest.raises(ConnectorError, match="option count must be a whole number, not '2'"):
        agent.add_source("memo://other", options={"count": "2"})
    assert len(agent.sources()) == 1  # a source that cannot be opened is not stored


def test_a_plugin_kind_through_the_cli_with_option_flags(memo_kind: type[MemoConnector]) -> None:
    assert run("create", "memos", "--embedder", "hashing-128").exit_code == 0
    result = run(
        "add", "memos", "memo://ports", "--option", "count=3", "--option", "loud=yes",
        "--option", "tags=ops,oncall", "--option", "tags=db",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 documents" in result.output
    (source,) = json.loads(run("sources", "memos", "--json").output)
    assert source["kind"] == "memo"
    assert source["options"] == {"count": 3, "loud": True, "tags": ["ops", "oncall", "db"]}
    hits = json.loads(run("search", "memos", "ZORBLAT daemon port", "--json").output)
    assert hits and hits[0]["text"].startswith("MEMO")

    bad = run("add", "memos", "memo://ports", "--option", "count=many")
    assert bad.exit_code == 1 and "count must be a whole number for a memo source, not 'many'" in bad.output
    unknown = run("add", "memos", "memo://ports", "--option", "colour=red")
    assert unknown.exit_code == 1
    assert "unknown option 'colour' for a memo source; the options are: count, loud, tags, signature" in (
        unknown.output
    )
    listed = json.loads(run("connectors", "--json").output)
    memo = next(kind for kind in listed if kind["kind"] == "memo")
    assert memo["description"].startswith("Memos about the Zorblat daemon")
    assert [option["name"] for option in memo["options"]] == ["count", "loud", "tags", "signature"]
    assert memo["options"][0] == {
        "name": "count",
        "type": "int",
        "default": 1,
        "required": False,
        "help": "how many memos",
    }


def test_a_plugin_kind_from_an_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EntryPoint(
        name="memo", value="tests.test_connector_registry:MemoConnector", group="agentkit.connectors"
    )

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [plugin] if group == "agentkit.connectors" else []

    monkeypatch.setattr(agentkit.plugins, "entry_points", entry_points)
    try:
        assert connector_class("memo") is MemoConnector
        assert detect_kind("memo://x", {}) == "memo"
    finally:
        connector_kinds.unregister("memo")


def test_a_plugin_registered_under_another_kind_is_refused() -> None:
    with (
        connector_kinds.registered("notes", MemoConnector),
        pytest.raises(PluginError, match="whose kind is 'memo'"),
    ):
        connector_class("notes")


def test_equal_claims_must_be_settled_with_a_kind(memo_kind: type[MemoConnector]) -> None:
    class RivalConnector(MemoConnector):
        """Also memos."""

        kind = "rival"

    with connector_kinds.registered("rival", RivalConnector):
        with pytest.raises(ConnectorError, match="memo, rival connectors recognise it equally well"):
            detect_kind("memo://x", {})


# -- the command line ------------------------------------------------------------------------


def test_named_flags_and_option_flags_reach_the_same_options(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "drafts").mkdir(parents=True)
    (docs / "guide.md").write_text("# Guide\n\nThe Zorblat daemon listens on port 7421.\n")
    (docs / "notes.txt").write_text("Notes about the Zorblat cluster.\n")
    (docs / "drafts" / "wip.md").write_text("# WIP\n\nNot yet.\n")
    assert run("create", "docs", "--embedder", "hashing-128").exit_code == 0
    result = run("add", "docs", str(docs), "--include", "*.md", "--option", "exclude=drafts/")
    assert result.exit_code == 0, result.output
    (source,) = json.loads(run("sources", "docs", "--json").output)
    assert source["options"] == {"include": ["*.md"], "exclude": ["drafts/"]}
    assert source["documents"] == 1


def test_a_conflicting_duplicate_is_a_usage_error_naming_both(tmp_path: Path) -> None:
    assert run("create", "site", "--embedder", "hashing-128").exit_code == 0
    result = run("add", "site", "https://example.com/", "--depth", "2", "--option", "depth=3")
    assert result.exit_code == 2
    assert "--depth 2 and --option depth=3 disagree" in result.output
    crawl = run("add", "site", "https://example.com/", "--crawl", "--option", "crawl=no")
    assert crawl.exit_code == 2 and "--crawl and --option crawl=no disagree" in crawl.output
    malformed = run("add", "site", "https://example.com/", "--option", "depth")
    assert malformed.exit_code == 2 and "'depth' is not KEY=VALUE" in malformed.output
    assert json.loads(run("sources", "site", "--json").output) == []


def test_an_option_for_another_kind_fails_that_location_only(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nText.\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"body": "The Zorblat daemon listens on port 7421."}\n', encoding="utf-8")
    assert run("create", "mixed", "--embedder", "hashing-128").exit_code == 0
    result = run("add", "mixed", str(rows), "--option", "text_field=body", "--kind", "records")
    assert result.exit_code == 0, result.output
    result = run("add", "mixed", str(docs), "--option", "crawl=true")
    assert result.exit_code == 1
    assert "unknown option 'crawl' for a files source; the options are: include, exclude" in result.output
    (source,) = json.loads(run("sources", "mixed", "--json").output)
    assert source["kind"] == "records" and source["options"] == {"text_field": "body"}


def test_add_help_points_to_the_options_of_each_kind() -> None:
    help_text = run("add", "--help").output
    assert "--option KEY=VALUE" in help_text and "agentkit connectors" in help_text
    listing = run("connectors").output
    assert "web: Reads a web page" in listing
    assert "depth=INT" in listing and "(default: 2)" in listing
    assert "text_field=STR" in listing and "(required)" in listing
    assert "notion:" in listing and "(no options)" in listing


def test_bad_options_never_replace_a_sources_stored_options(kit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nThe Zorblat daemon listens on port 7421.\n")
    agent = kit.create_agent("docs", embedder="hashing-128")
    agent.add_source(str(folder), options={"include": ["*.md"]})
    with pytest.raises(ConnectorError, match="no_such_option"):
        agent.add_source(str(folder), options={"include": ["*.md"], "no_such_option": 1})
    with pytest.raises(ConnectorError, match="include"):
        agent.add_source(str(folder), options={"include": 5})
    (source,) = agent.sources()
    assert source.options == {"include": ["*.md"]} and source.status == "ready"
    assert agent.sync().ok
