"""End-to-end tests: Notion exports added through the CLI and the Python API like file sources.

A "Markdown & CSV" export is built by the test the way Notion ships one (a download zip that
holds an ``Export-<uuid>-Part-1.zip`` part, 32-hex ids in every name, a database as ``.csv``
and ``_all.csv`` with a folder of row pages, an image attachment). `agentkit add NAME
export.zip` stores it as a "notion" source: titles lose their ids, search hits and citations
carry the page's path inside the export (its breadcrumb) as `uri`, and each database row is a
document. Hostile archives (zip slip, absolute paths, symlinks, a zip bomb) fail the command
with exit status 1 and a message naming the archive and the entry, and store nothing; an
export without pages says there is nothing to ingest; a zip that is no Notion export is sent
back with advice to unpack it.

The real exports in ../shared/data/notion_exports, when present, are added through the API
and must give the document counts the connector tests assert.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from agentkit import AgentKit
from agentkit.cli.app import cli
from tests.fakes import ScriptedGenerator
from tests.test_notion_connector import REAL_EXPORTS

SHARED_EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "notion_exports"
EMBEDDER = "hashing-128"
NOTION_ID = re.compile(r"[0-9a-f]{32}")

WRAPPER = "Export-6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
WIKI = "a0000000000000000000000000000001"
ONBOARDING = "a0000000000000000000000000000002"
RECIPES = "a0000000000000000000000000000003"
SHAKSHUKA = "a0000000000000000000000000000004"

EXPECTED_URIS = {
    "Team Wiki",
    "Team Wiki/Onboarding",
    "Team Wiki/Recipes/Shakshuka",
    "Team Wiki/Recipes/Pho",
    "Team Wiki/Recipes/Tarte Tatin",
}


def make_zip(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def export_pages() -> dict[str, bytes | str]:
    """The files of a small workspace: a wiki page, a subpage, a database with a row page."""
    wiki = f"Team Wiki {WIKI}"
    return {
        f"{wiki}.md": (
            f"# Team Wiki\n\nStart with the [Onboarding](Team%20Wiki%20{WIKI}/Onboarding%20{ONBOARDING}.md) "
            f"page, then cook something from [Recipes](Team%20Wiki%20{WIKI}/Recipes%20{RECIPES}.csv).\n"
        ),
        f"{wiki}/Onboarding {ONBOARDING}.md": (
            "# Onboarding\n\n## Laptop\n\nNew hires collect their laptop from the IT desk on the "
            "second floor.\n\n## Accounts\n\nRequest VPN access through the service portal.\n\n"
            f"![floorplan.png](Onboarding%20{ONBOARDING}/floorplan.png)\n"
        ),
        f"{wiki}/Onboarding {ONBOARDING}/floorplan.png": b"\x89PNG\r\n\x1a\n" + bytes(32),
        f"{wiki}/Recipes {RECIPES}.csv": "\ufeffName,Cuisine\nShakshuka,Tunisian\nPho,Vietnamese\n",
        f"{wiki}/Recipes {RECIPES}_all.csv": (
            "\ufeffName,Cuisine,Minutes\nShakshuka,Tunisian,25\nPho,Vietnamese,240\nTarte Tatin,French,90\n"
        ),
        f"{wiki}/Recipes {RECIPES}/Shakshuka {SHAKSHUKA}.md": (
            "# Shakshuka\n\nCuisine: Tunisian\nMinutes: 25\n\n"
            "Simmer the eggs in a spiced tomato and pepper sauce until the whites set.\n"
        ),
    }


def write_export(folder: Path, name: str = "export.zip") -> Path:
    """A Notion download: one zip holding the export part, its files under the wrapper folder."""
    part = make_zip({f"{WRAPPER}/{path}": content for path, content in export_pages().items()})
    path = folder / name
    path.write_bytes(make_zip({f"{WRAPPER}-Part-1.zip": part}))
    return path


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def create_agent(name: str = "wiki") -> None:
    result = run_cli("create", name, "--embedder", EMBEDDER)
    assert result.exit_code == 0, result.output


def assert_nothing_stored(name: str = "wiki") -> None:
    assert json_of(run_cli("sources", name, "--json")) == []
    assert json_of(run_cli("show", name, "--json"))["documents"] == 0


# -- through the CLI ---------------------------------------------------------------------------


def test_cli_add_export_zip_stores_pages_and_rows(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    create_agent()
    result = run_cli("add", "wiki", str(export))

    assert result.exit_code == 0, result.output
    assert f"{export}: 5 documents" in result.stdout
    assert "skipped Team Wiki/Onboarding/floorplan.png" in result.stderr
    assert "images are not ingested" in result.stderr

    sources = json_of(run_cli("sources", "wiki", "--json"))
    assert [(source["kind"], source["uri"], source["documents"]) for source in sources] == [
        ("notion", str(export), 5)
    ]


def test_cli_search_cites_the_notion_page_path(tmp_path: Path) -> None:
    create_agent()
    assert run_cli("add", "wiki", str(write_export(tmp_path))).exit_code == 0

    hits = json_of(run_cli("search", "wiki", "simmer the eggs in spiced tomato sauce", "--json"))
    top = hits[0]
    assert (top["uri"], top["title"]) == ("Team Wiki/Recipes/Shakshuka", "Shakshuka")
    assert top["location"].partition("#")[0] == "Team Wiki/Recipes/Shakshuka"
    assert top["heading_path"][:3] == ["Team Wiki", "Recipes", "Shakshuka"]

    hits = json_of(run_cli("search", "wiki", "collect their laptop from the IT desk", "--json"))
    assert hits[0]["uri"] == "Team Wiki/Onboarding"
    assert hits[0]["heading_path"] == ["Team Wiki", "Onboarding", "Laptop"]

    hits = json_of(
        run_cli("search", "wiki", "recipes cuisine minutes French Vietnamese", "-k", "10", "--json")
    )
    assert {hit["uri"] for hit in hits} == EXPECTED_URIS
    for hit in hits:
        assert not NOTION_ID.search(hit["uri"] + hit["title"] + hit["text"] + " ".join(hit["heading_path"]))
        assert ".md)" not in hit["text"] and ".csv)" not in hit["text"]  # links became titles
    rows = {hit["uri"]: hit["text"] for hit in hits}
    assert "Cuisine: French" in rows["Team Wiki/Recipes/Tarte Tatin"]
    assert "Minutes: 240" in rows["Team Wiki/Recipes/Pho"]  # the _all.csv columns were read


def test_cli_re_adding_an_export_embeds_nothing(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    create_agent()
    first = json_of(run_cli("add", "wiki", str(export), "--json"))
    assert (first["added"], first["documents"]) == (5, 5)
    again = json_of(run_cli("add", "wiki", str(export), "--json"))
    assert (again["added"], again["updated"], again["removed"], again["unchanged"]) == (0, 0, 0, 5)
    assert again["chunks_embedded"] == 0
    assert len(json_of(run_cli("sources", "wiki", "--json"))) == 1


def _slip(path: Path) -> str:
    path.write_bytes(make_zip({f"Page {WIKI}.md": "# Page\n", "../../outside/evil.md": "# Evil\n"}))
    return "../../outside/evil.md"


def _absolute(path: Path) -> str:
    path.write_bytes(make_zip({f"Page {WIKI}.md": "# Page\n", "/etc/cron.d/evil.md": "# Evil\n"}))
    return "/etc/cron.d/evil.md"


def _symlink(path: Path) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"Page {WIKI}.md", "# Page\n")
        link = zipfile.ZipInfo(f"Page {WIKI}/secrets.md")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    path.write_bytes(buffer.getvalue())
    return f"Page {WIKI}/secrets.md"


def _bomb(path: Path) -> str:
    part = make_zip({f"Page {WIKI}.md": "# Page\n", f"Page {WIKI}/zeros.txt": b"\0" * 3_000_000})
    path.write_bytes(make_zip({f"{WRAPPER}-Part-1.zip": part}))
    return f"Page {WIKI}/zeros.txt"


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (_slip, "zip slip"),
        (_absolute, "absolute path"),
        (_symlink, "symbolic link"),
        (_bomb, "zip bombs"),
    ],
)
def test_cli_hostile_archive_fails_naming_archive_and_entry(
    tmp_path: Path, build: Callable[[Path], str], problem: str
) -> None:
    archive = tmp_path / "hostile.zip"
    entry = build(archive)
    create_agent()
    result = run_cli("add", "wiki", str(archive))

    assert result.exit_code == 1
    assert "hostile.zip" in result.stderr and repr(entry) in result.stderr
    assert problem in result.stderr and "refused" in result.stderr
    assert_nothing_stored()
    assert not (tmp_path.parent / "outside").exists()


def test_cli_export_without_pages_says_nothing_to_ingest(tmp_path: Path) -> None:
    empty = tmp_path / "empty.zip"
    empty.write_bytes(
        make_zip({"empty/.DS_Store": b"\0", "empty/first space/": b"", "__MACOSX/empty/._x": b"\0"})
    )
    create_agent()
    result = run_cli("add", "wiki", str(empty))

    assert result.exit_code == 1
    assert "empty.zip: nothing to ingest" in result.stderr
    assert_nothing_stored()


def test_cli_zip_that_is_not_a_notion_export_is_refused_with_advice(tmp_path: Path) -> None:
    archive = tmp_path / "reports.zip"
    archive.write_bytes(make_zip({"reports/q1.pdf": b"%PDF-1.4", "reports/notes.txt": "Notes\n"}))
    create_agent()
    result = run_cli("add", "wiki", str(archive))

    assert result.exit_code == 1
    assert f"{archive} is a zip archive but not a Notion export" in result.stderr
    assert "unpack it and add the folder" in result.stderr
    assert_nothing_stored()


# -- through the Python API --------------------------------------------------------------------


def test_api_zip_and_unpacked_folder_give_the_same_documents(tmp_path: Path, isolated_home: Path) -> None:
    export = write_export(tmp_path)
    folder = tmp_path / "unpacked"
    for name, content in export_pages().items():
        target = folder / WRAPPER / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    with AgentKit(home=isolated_home, generator=ScriptedGenerator()) as kit:
        agent = kit.create_agent("wiki", embedder=EMBEDDER)
        from_zip = agent.add_source(str(export))
        assert from_zip.error is None
        assert (from_zip.kind, from_zip.documents) == ("notion", 5)
        assert [item.uri for item in from_zip.failed] == ["Team Wiki/Onboarding/floorplan.png"]

        other = kit.create_agent("unpacked", embedder=EMBEDDER)
        from_folder = other.add_source(str(folder))
        assert (from_folder.kind, from_folder.documents) == ("notion", 5)
        hits = other.search("Request VPN access through the service portal", k=1)
        assert (hits[0].uri, hits[0].heading_path) == (
            "Team Wiki/Onboarding",
            ("Team Wiki", "Onboarding", "Accounts"),
        )

        answer = agent.ask("What goes into shakshuka?")
        assert answer.citations, answer
        assert answer.citations[0].uri == "Team Wiki/Recipes/Shakshuka"
        for citation in answer.citations:  # the page path, with the heading's anchor where there is one
            page_path, _, anchor = citation.uri.partition("#")
            assert page_path in EXPECTED_URIS and anchor == (citation.anchor or ""), citation


def test_api_hostile_archive_reports_an_error_and_stores_nothing(tmp_path: Path, isolated_home: Path) -> None:
    archive = tmp_path / "slip.zip"
    entry = _slip(archive)
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("wiki", embedder=EMBEDDER)
        report = agent.add_source(str(archive))
        assert report.error is not None
        assert report.error.startswith("slip.zip: entry") and repr(entry) in report.error
        assert agent.sources() == []


# -- the real exports in ../shared/data ------------------------------------------------------


def test_api_every_real_export_ingests_with_the_connector_counts(isolated_home: Path) -> None:
    if not SHARED_EXPORTS.is_dir():
        pytest.skip("../shared/data/notion_exports is not present")
    with AgentKit(home=isolated_home) as kit:
        agent = kit.create_agent("real", embedder=EMBEDDER)
        for relative, expected_documents, _rows in REAL_EXPORTS:
            report = agent.add_source(str(SHARED_EXPORTS / relative))
            assert report.error is None, (relative, report.error)
            assert (report.kind, report.documents) == ("notion", expected_documents), relative
        infos = agent.sources()
        assert [info.documents for info in infos] == [documents for _, documents, _ in REAL_EXPORTS]
        assert {info.kind for info in infos} == {"notion"}

        hits = agent.search("weekly to-do list", k=10)
        assert hits
        for hit in hits:
            assert not NOTION_ID.search(hit.uri + hit.title), hit.uri

        empty = agent.add_source(str(SHARED_EXPORTS / "AppFlowy-Collab" / "empty_spaces.zip"))
        assert empty.error is not None and "empty_spaces.zip: nothing to ingest" in empty.error
        assert len(agent.sources()) == len(REAL_EXPORTS)


# -- which zips are Notion exports ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "kind"),
    [
        ({f"{WRAPPER}-Part-1.zip": make_zip({"a.txt": "x"})}, "notion"),  # an export part
        ({f"Wiki {WIKI}/photo.png": b"\x89PNG"}, "notion"),  # a folder named with a Notion id
        ({f"Tasks {RECIPES}_all.csv": "Name\nA\n"}, "notion"),
        ({"Page.html": "<p>x</p>"}, "notion"),  # pages without ids (an HTML export renamed)
        ({"notes/page.md": "# Page\n"}, "notion"),
        ({"empty/": b"", "__MACOSX/._x": b"\0"}, "notion"),  # the connector says "nothing to ingest"
        ({"../evil.txt": "x"}, "notion"),  # hostile: the connector refuses it, naming the entry
        ({"photos/cat.jpg": b"\xff\xd8", "report.pdf": b"%PDF"}, None),
        ({"src/main.py": "print()", "README": "x"}, None),
    ],
)
def test_detect_kind_takes_only_zips_that_look_like_notion_exports(
    tmp_path: Path, entries: dict[str, bytes | str], kind: str | None
) -> None:
    from connectors import ConnectorError, detect_kind

    archive = tmp_path / "archive.ZIP"
    archive.write_bytes(make_zip(entries))
    if kind is None:
        with pytest.raises(ConnectorError, match="is a zip archive but not a Notion export"):
            detect_kind(str(archive), {})
    else:
        assert detect_kind(str(archive), {}) == kind


def test_detect_kind_sends_damaged_zips_and_export_folders_to_notion(tmp_path: Path) -> None:
    from connectors import detect_kind

    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    assert detect_kind(str(damaged), {}) == "notion"  # its connector explains what is wrong
    folder = tmp_path / "unpacked"
    (folder / f"Wiki {WIKI}").mkdir(parents=True)
    (folder / f"Wiki {WIKI}.md").write_text("# Wiki\n", encoding="utf-8")
    assert detect_kind(str(folder), {}) == "notion"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.md").write_text("# Notes\n", encoding="utf-8")
    assert detect_kind(str(plain), {}) == "files"
