"""Tests for connectors.notion: Notion exports (zips and folders) become Documents.

Exports are built in the tests (Markdown & CSV with a database, HTML, multi-part zips,
hostile archives); the real exports under ../shared/data/notion_exports are checked when
that folder is present.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from connectors import detect_kind, open_connector
from connectors.base import ConnectorError, Document, FetchedItem, SkippedItem
from connectors.notion import NotionConnector, is_notion_export_folder
from connectors.notion_export import clean_name
from connectors.safe_zip import ArchiveError, UnsafeArchiveError

SHARED_EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "notion_exports"
NOTION_ID = re.compile(r"[0-9a-f]{32}")

WRAPPER = "Export-0f0f0f0f-1111-2222-3333-444455556666"
WORKSPACE = "0123456789abcdef0123456789abcdef"
GUIDE = "1123456789abcdef0123456789abcdef"
TASKS = "2123456789abcdef0123456789abcdef"
WRITE_DOCS = "3123456789abcdef0123456789abcdef"
NOTES = "4123456789abcdef0123456789abcdef"
ROADMAP = "5123456789abcdef0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def make_zip(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose text layer says `text` (hand-written objects, exact xref)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        pdf += b"%010d 00000 n \n" % offset
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def markdown_export_files() -> dict[str, bytes | str]:
    """Part 1 of a "Markdown & CSV" export: nested pages, a database with rows, attachments."""
    ws = f"Workspace {WORKSPACE}"
    ws_link = f"Workspace%20{WORKSPACE}"
    return {
        f"{ws}.md": (
            f"# Workspace\n\nWelcome. Read [how to set up]({ws_link}/Guide%20{GUIDE}.md) first, then [the guide]({ws_link}/Guide%20{GUIDE}.md) again.\n\n"
            f"![Untitled]({ws_link}/Untitled.png)\n\n"
            f"Our work is tracked in [Tasks]({ws_link}/Tasks%20{TASKS}.csv).\n"
        ),
        f"{ws}/Untitled.png": PNG,
        f"{ws}/Guide {GUIDE}.md": (
            f"# Guide\n\n## Setup\n\nInstall it, then read [manual.pdf](Guide%20{GUIDE}/manual.pdf).\n"
        ),
        f"{ws}/Guide {GUIDE}/manual.pdf": pdf_with_text("Restart the flux capacitor weekly."),
        f"{ws}/Guide {GUIDE}/notes.txt": "First paragraph.\n\nSecond paragraph.\n",
        f"{ws}/Tasks {TASKS}.csv": "\ufeffName,Status\nWrite docs,Done\n",
        f"{ws}/Tasks {TASKS}_all.csv": (
            "\ufeffName,Status,Owner,Related\n"
            f"Write docs,Done,Ann,Guide (../Guide%20{GUIDE}.md)\n"
            "Ship it,Todo,Bob,\n"
        ),
        f"{ws}/Tasks {TASKS}/Write docs {WRITE_DOCS}.md": (
            f"# Write docs\n\nStatus: Done\nOwner: Ann\nRelated: Guide (../Guide%20{GUIDE}.md)\n\n"
            f"The docs need a chapter from [the setup page](../Guide%20{GUIDE}.md).\n"
        ),
        f"{ws}/Заметки {NOTES}.md": "# Заметки\n\nПривет, мир.\n",
        "index.html": "<html><body>table of contents</body></html>",
    }


def markdown_export_zip(tmp_path: Path, *, wrapper: str = WRAPPER, name: str = "export.zip") -> Path:
    """A Notion download: a zip holding two export parts, each under the same wrapper folder."""
    part1 = make_zip({f"{wrapper}/{path}": content for path, content in markdown_export_files().items()})
    part2 = make_zip(
        {f"{wrapper}/Workspace {WORKSPACE}/Roadmap {ROADMAP}.md": "# Roadmap\n\nShip the connector in Q3.\n"}
    )
    path = tmp_path / name
    path.write_bytes(make_zip({f"{wrapper}-Part-1.zip": part1, f"{wrapper}-Part-2.zip": part2}))
    return path


def fetch_all(path: Path) -> tuple[dict[str, Document], dict[str, SkippedItem]]:
    items: list[FetchedItem] = list(NotionConnector(path).fetch({}))
    documents = {item.uri: item for item in items if isinstance(item, Document)}
    skipped = {item.uri: item for item in items if isinstance(item, SkippedItem)}
    assert len(documents) + len(skipped) == len(items), "uris must be unique"
    return documents, skipped


def test_markdown_export_pages_rows_and_attachments(tmp_path: Path) -> None:
    documents, skipped = fetch_all(markdown_export_zip(tmp_path))

    assert set(documents) == {
        "Workspace",
        "Workspace/Guide",
        "Workspace/Guide/manual.pdf",
        "Workspace/Guide/notes.txt",
        "Workspace/Tasks/Write docs",
        "Workspace/Tasks/Ship it",
        "Workspace/Заметки",
        "Workspace/Roadmap",
    }
    assert set(skipped) == {"Workspace/Untitled.png"}
    assert "images are not ingested" in skipped["Workspace/Untitled.png"].reason
    for document in documents.values():
        assert not NOTION_ID.search(document.uri + document.title + str(document.metadata["breadcrumb"]))


def test_breadcrumbs_prefix_heading_paths(tmp_path: Path) -> None:
    documents, _ = fetch_all(markdown_export_zip(tmp_path))
    guide = documents["Workspace/Guide"]
    assert guide.title == "Guide"
    assert guide.metadata["breadcrumb"] == "Workspace / Guide"
    assert [block.heading_path for block in guide.blocks] == [("Workspace", "Guide", "Setup")]
    assert documents["Workspace"].blocks[0].heading_path == ("Workspace",)
    assert documents["Workspace/Заметки"].title == "Заметки"
    assert documents["Workspace/Roadmap"].metadata["breadcrumb"] == "Workspace / Roadmap"


def test_internal_links_become_titles_and_images_disappear(tmp_path: Path) -> None:
    documents, _ = fetch_all(markdown_export_zip(tmp_path))
    workspace = documents["Workspace"].text
    assert "Read how to set up (Guide) first, then the guide again." in workspace
    assert "Our work is tracked in Tasks." in workspace
    assert "Untitled" not in workspace and ".png" not in workspace
    assert "then read manual.pdf." in documents["Workspace/Guide"].text
    for document in documents.values():
        assert ".md)" not in document.text and "%20" not in document.text


def test_database_rows_merge_their_pages_and_read_all_csv_once(tmp_path: Path) -> None:
    documents, _ = fetch_all(markdown_export_zip(tmp_path))
    rows = [document for document in documents.values() if "database" in document.metadata]
    assert sorted(row.uri for row in rows) == ["Workspace/Tasks/Ship it", "Workspace/Tasks/Write docs"]

    write_docs = documents["Workspace/Tasks/Write docs"]
    assert write_docs.title == "Write docs"
    assert write_docs.metadata["breadcrumb"] == "Workspace / Tasks / Write docs"
    assert write_docs.metadata["database"] == "Tasks"
    assert write_docs.metadata["Owner"] == "Ann"
    assert write_docs.metadata["Related"] == "Guide"
    assert write_docs.metadata["notion_id"] == WRITE_DOCS
    assert write_docs.blocks[0].text == "Status: Done\nOwner: Ann\nRelated: Guide"
    assert write_docs.text.count("Owner: Ann") == 1  # the page's property lines are not repeated
    assert "The docs need a chapter from the setup page (Guide)." in write_docs.text
    assert all(block.heading_path[:3] == ("Workspace", "Tasks", "Write docs") for block in write_docs.blocks)

    ship_it = documents["Workspace/Tasks/Ship it"]
    assert ship_it.text == "Status: Todo\nOwner: Bob"
    assert "notion_id" not in ship_it.metadata


def test_pdf_and_text_attachments_are_documents(tmp_path: Path) -> None:
    documents, _ = fetch_all(markdown_export_zip(tmp_path))
    manual = documents["Workspace/Guide/manual.pdf"]
    assert manual.metadata["format"] == "pdf"
    assert "flux capacitor" in manual.text
    assert manual.blocks[0].page == 1
    assert manual.blocks[0].heading_path == ("Workspace", "Guide", "manual.pdf")
    notes = documents["Workspace/Guide/notes.txt"]
    assert [block.text for block in notes.blocks] == ["First paragraph.", "Second paragraph."]


def test_uris_and_hashes_are_stable_across_re_exports(tmp_path: Path) -> None:
    first, _ = fetch_all(markdown_export_zip(tmp_path))
    other_wrapper = "Export-99999999-8888-7777-6666-555544443333"
    again, _ = fetch_all(markdown_export_zip(tmp_path, wrapper=other_wrapper, name="renamed.zip"))
    assert {uri: doc.content_hash for uri, doc in first.items()} == {
        uri: doc.content_hash for uri, doc in again.items()
    }


def test_unpacked_export_folder_is_detected_and_read_like_the_zip(tmp_path: Path) -> None:
    folder = tmp_path / "My export"
    for relative, content in markdown_export_files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert is_notion_export_folder(folder)
    assert detect_kind(str(folder), {}) == "notion"

    documents, _ = fetch_all(folder)
    zipped, _ = fetch_all(markdown_export_zip(tmp_path))
    assert set(documents) == set(zipped) - {"Workspace/Roadmap"}
    assert documents["Workspace/Tasks/Write docs"].text == zipped["Workspace/Tasks/Write docs"].text


def test_plain_folder_is_not_a_notion_export(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# Notes\n")
    assert not is_notion_export_folder(tmp_path)


def html_export_zip(tmp_path: Path) -> Path:
    home, child = "6123456789abcdef0123456789abcdef", "7123456789abcdef0123456789abcdef"

    def page(title: str, body: str) -> str:
        return (
            f"<html><head><title>{title}</title><style>p {{ margin: 0 }}</style></head><body>"
            f'<article class="page sans"><header><h1 class="page-title">{title}</h1></header>'
            f'<div class="page-body">{body}</div></article></body></html>'
        )

    folder = f"Home%20{home}"
    files = {
        f"Home {home}.html": page(
            "Home",
            f'<p>See <a href="{folder}/Child%20{child}.html">more about it</a> for details.</p>'
            f'<figure class="image"><a href="{folder}/photo.png"><img src="{folder}/photo.png"/></a></figure>'
            f'<figure class="link-to-page"><a href="{folder}/Child%20{child}.html">'
            '<span class="icon">📄</span>Child</a></figure>'
            '<p>Docs live at <a href="https://example.com/docs">example.com</a>.</p>',
        ),
        f"Home {home}/Child {child}.html": page("Child", "<h2>Details</h2><p>Child text.</p>"),
        f"Home {home}/photo.png": PNG,
        f"Home {home}/%D0%BA%D0%BE%D1%88%D0%BA%D0%B8.jpg": PNG,
        "index.html": "<html><body><a href='Home.html'>Home</a></body></html>",
    }
    path = tmp_path / "html-export.zip"
    path.write_bytes(make_zip({f"{WRAPPER}/{name}": content for name, content in files.items()}))
    return path


def test_html_export(tmp_path: Path) -> None:
    documents, skipped = fetch_all(html_export_zip(tmp_path))
    assert set(documents) == {"Home", "Home/Child"}
    assert set(skipped) == {"Home/photo.png", "Home/кошки.jpg"}

    home = documents["Home"]
    assert home.title == "Home" and home.metadata["format"] == "html"
    assert "See more about it (Child) for details." in home.text
    assert "Docs live at example.com." in home.text
    assert "photo" not in home.text and ".html" not in home.text and "📄" not in home.text
    child = documents["Home/Child"]
    assert child.metadata["breadcrumb"] == "Home / Child"
    assert child.blocks[-1].heading_path == ("Home", "Child", "Details")
    assert child.blocks[-1].text == "Child text."


def test_clean_names() -> None:
    assert clean_name(f"Page Title {WORKSPACE}.md") == ("Page Title", WORKSPACE)
    assert clean_name(f"Page%20Title%20{WORKSPACE}.md") == ("Page Title", WORKSPACE)
    assert clean_name(f"Tasks {TASKS}_all.csv") == ("Tasks", TASKS)
    assert clean_name("%D0%BA%D0%BE%D1%88%D0%BA%D0%B8-%D0%BB%D1%83%D1%87%D1%88%D0%B8%D0%B5.jpg") == (
        "кошки-лучшие.jpg",
        None,
    )
    assert clean_name("Wo\u0308chentliche Liste 39f63cea-70da-4ca2-bb76-f09c29c96f9c") == (
        "Wöchentliche Liste",
        "39f63cea70da4ca2bb76f09c29c96f9c",
    )
    assert clean_name(f"{GUIDE}.md") == ("Untitled", GUIDE)
    assert clean_name("report 2024.pdf") == ("report 2024.pdf", None)


def test_colliding_uris_all_get_a_short_id(tmp_path: Path) -> None:
    first, second = "8123456789abcdef0123456789abc001", "8123456789abcdef0123456789abc002"
    files = {
        f"Root {WORKSPACE}.md": "# Root\n",
        f"Root {WORKSPACE}/Untitled {first}.md": "# Untitled\n\nOne.\n",
        f"Root {WORKSPACE}/Untitled {second}.md": "# Untitled\n\nTwo.\n",
    }
    path = tmp_path / "collide.zip"
    path.write_bytes(make_zip(files))
    documents, _ = fetch_all(path)
    assert set(documents) == {"Root", "Root/Untitled (89abc001)", "Root/Untitled (89abc002)"}


def test_rows_sharing_a_title_get_the_page_that_repeats_their_cells(tmp_path: Path) -> None:
    database, first, second = TASKS, "d123456789abcdef0123456789abc001", "d123456789abcdef0123456789abc002"
    files = {
        f"DB {database}_all.csv": "Name,Tags\n,one\n,two\n",
        f"DB {database}/Untitled {first}.md": "# Untitled\n\nTags: two\n\nSecond body.\n",
        f"DB {database}/Untitled {second}.md": "# Untitled\n\nTags: one\n\nFirst body.\n",
    }
    path = tmp_path / "same-titles.zip"
    path.write_bytes(make_zip(files))
    documents, _ = fetch_all(path)
    assert {uri: document.text for uri, document in documents.items()} == {
        "DB/Untitled (89abc002)": "Tags: one\n\nFirst body.",
        "DB/Untitled (89abc001)": "Tags: two\n\nSecond body.",
    }


def test_linked_database_views_are_not_ingested_twice(tmp_path: Path) -> None:
    projects, view = "9123456789abcdef0123456789abcdef", "a123456789abcdef0123456789abcdef"
    alpha, other = "b123456789abcdef0123456789abcdef", "c123456789abcdef0123456789abcdef"
    files = {
        f"Projects {projects}_all.csv": "Name,Status\nAlpha,Active\nBeta,Done\n",
        f"Projects {projects}/Alpha {alpha}.md": "# Alpha\n\nStatus: Active\n\nAlpha details.\n",
        f"Team {other}.md": "# Team\n\nOur projects:\n",
        f"Team {other}/Projects {view}.csv": "Name,Status\nBeta,Done\n",
    }
    path = tmp_path / "views.zip"
    path.write_bytes(make_zip(files))
    documents, skipped = fetch_all(path)
    assert set(documents) == {"Projects/Alpha", "Projects/Beta", "Team"}
    assert documents["Projects/Alpha"].text == "Status: Active\n\nAlpha details."
    [view_skip] = skipped.values()
    assert "a linked view of the database 'Projects'" in view_skip.reason


def test_export_with_nothing_to_ingest_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    path.write_bytes(
        make_zip({"empty/.DS_Store": b"\0", "empty/first space/": b"", "__MACOSX/empty/._x": b"\0"})
    )
    with pytest.raises(ConnectorError) as caught:
        list(NotionConnector(path).fetch({}))
    message = str(caught.value)
    assert message.startswith("empty.zip: nothing to ingest — the export contains no pages")
    assert message.endswith("export with 'Markdown & CSV' or 'HTML' and include subpages")


def test_options_are_refused_and_missing_paths_named(tmp_path: Path) -> None:
    path = markdown_export_zip(tmp_path)
    connector = open_connector("notion", str(path), {})
    assert isinstance(connector, NotionConnector) and connector.path == path
    with pytest.raises(ConnectorError, match="'include'"):
        NotionConnector.from_options(str(path), {"include": ["*.md"]})
    with pytest.raises(ConnectorError, match="does not exist"):
        list(NotionConnector(tmp_path / "missing.zip").fetch({}))


def test_zip_slip_refuses_the_whole_export_before_yielding(tmp_path: Path) -> None:
    path = tmp_path / "slip.zip"
    path.write_bytes(make_zip({f"Page {WORKSPACE}.md": "# Page\n", "../evil.md": "# Evil\n"}))
    items = NotionConnector(path).fetch({})
    with pytest.raises(UnsafeArchiveError, match="'../evil.md'"):
        next(items)


def test_bomb_inside_an_export_part_refuses_the_export(tmp_path: Path) -> None:
    part = make_zip({f"Page {WORKSPACE}.md": "# Page\n", "bomb.txt": b"\0" * 3_000_000})
    path = tmp_path / "bomb.zip"
    path.write_bytes(make_zip({f"{WRAPPER}-Part-1.zip": part}))
    with pytest.raises(UnsafeArchiveError, match="bomb.txt"):
        list(NotionConnector(path).fetch({}))


def test_parts_nested_too_deep_are_refused(tmp_path: Path) -> None:
    data = make_zip({f"Page {WORKSPACE}.md": "# Page\n"})
    for level in range(4):
        data = make_zip({f"part {level}.zip": data})
    path = tmp_path / "deep.zip"
    path.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="nested more than 3 deep"):
        list(NotionConnector(path).fetch({}))


def test_a_damaged_export_part_is_fatal(tmp_path: Path) -> None:
    good = make_zip({f"Page {WORKSPACE}.md": "# Page\n"})
    path = tmp_path / "parts.zip"
    path.write_bytes(make_zip({f"{WRAPPER}-Part-1.zip": good, f"{WRAPPER}-Part-2.zip": b"not a zip"}))
    with pytest.raises(ArchiveError, match="Part-2.zip"):
        list(NotionConnector(path).fetch({}))


def test_a_damaged_page_is_skipped_under_its_own_uri(tmp_path: Path) -> None:
    body = "Some page text that compresses well. " * 40
    data = bytearray(
        make_zip({f"Broken {GUIDE}.md": f"# Broken\n\n{body}", f"Fine {WORKSPACE}.md": "# Fine\n"})
    )
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(f"Broken {GUIDE}.md")
    start = info.header_offset + 30 + len(info.filename.encode())
    data[start + 5 : start + 15] = bytes(10)
    path = tmp_path / "damaged.zip"
    path.write_bytes(bytes(data))
    documents, skipped = fetch_all(path)
    assert set(documents) == {"Fine"}
    assert set(skipped) == {"Broken"}
    assert "damaged" in skipped["Broken"].reason


def test_zip_attachments_inside_pages_are_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "attached.zip"
    path.write_bytes(make_zip({f"Page {WORKSPACE}.md": "# Page\n", f"Page {WORKSPACE}/data.zip": b"junk"}))
    documents, skipped = fetch_all(path)
    assert set(documents) == {"Page"}
    assert "zip attachments inside pages are not opened" in skipped["Page/data.zip"].reason


# -- the real exports in ../shared/data ---------------------------------------------------------

# (export, documents, database-row documents), counted by hand from each archive's listing:
# pages are .md/.html files (a row's page merged into its row), rows come from the _all.csv of
# each database; PDF and text attachments count as documents.
REAL_EXPORTS = [
    ("AppFlowy-Collab/all_md_files.zip", 1, 0),
    ("AppFlowy-Collab/csv_relation.zip", 17, 17),  # 4 linked views of Tasks skipped
    ("AppFlowy-Collab/design.zip", 25, 15),
    ("AppFlowy-Collab/import_test.zip", 15, 3),
    ("AppFlowy-Collab/multi_part_zip.zip", 79, 50),
    ("AppFlowy-Collab/project&task.zip", 24, 21),
    ("AppFlowy-Collab/project&task_contain_zip_attachment.zip", 24, 21),
    ("AppFlowy-Collab/project&task_no_subpages.zip", 21, 21),
    ("AppFlowy-Collab/project.zip", 22, 21),
    ("AppFlowy-Collab/row_page_with_headings.zip", 1, 1),
    ("jimmy-test-data/test_1_frontmatter/7acd77c1-0197-44e3-9793-ae81ab520ac9_Export.zip", 13, 0),
    ("jimmy-test-data/test_2/testexport-nofolders.zip", 10, 6),
    ("jimmy-test-data/test_3/Archive.zip", 2, 0),
    ("jimmy-test-data/test_4/cb177660-18fe-45a8-b1dd-b07f44a8af5e_Export.zip", 2, 0),
    ("jimmy-test-data/test_5/67e39a7b-e75e-4dcb-9181-56ce222d3430_Export.zip", 10, 0),
    ("jimmy-test-data/test_6/notion-testspace.zip", 4, 0),
]


def shared_export(relative: str) -> Path:
    if not SHARED_EXPORTS.is_dir():
        pytest.skip("../shared/data/notion_exports is not present")
    return SHARED_EXPORTS / relative


@pytest.mark.parametrize(("relative", "expected_documents", "expected_rows"), REAL_EXPORTS)
def test_real_exports(relative: str, expected_documents: int, expected_rows: int) -> None:
    documents, _ = fetch_all(shared_export(relative))
    rows = [document for document in documents.values() if "database" in document.metadata]
    assert (len(documents), len(rows)) == (expected_documents, expected_rows)
    for document in documents.values():
        crumbs = str(document.metadata["breadcrumb"])
        assert not NOTION_ID.search(document.uri + document.title + crumbs), document.uri
        assert document.blocks, document.uri
        for block in document.blocks:
            assert " / ".join(block.heading_path).startswith(crumbs), (document.uri, block)
        assert not re.search(r"\]\((?!https?:|mailto:|tel:)[^)]*\)", document.text), document.uri


def test_real_export_with_empty_spaces_has_nothing_to_ingest() -> None:
    path = shared_export("AppFlowy-Collab/empty_spaces.zip")
    with pytest.raises(ConnectorError, match="empty_spaces.zip: nothing to ingest"):
        list(NotionConnector(path).fetch({}))


def test_real_exports_titles_keep_their_language() -> None:
    documents, _ = fetch_all(shared_export(REAL_EXPORTS[10][0]))
    assert (
        documents["Wöchentliche To-do-Liste/todo 1"].metadata["breadcrumb"]
        == "Wöchentliche To-do-Liste / todo 1"
    )
    html_documents, skipped = fetch_all(shared_export("jimmy-test-data/test_6/notion-testspace.zip"))
    assert "Notion-Testspace/Attachment Tests/кошки-самые-лучшие.jpg" in skipped
    assert "кошки-самые-лучшие.jpg" in html_documents["Notion-Testspace/Attachment Tests"].text


def test_largest_real_export_fetch_time() -> None:
    path = max((shared_export(relative) for relative, _, _ in REAL_EXPORTS), key=lambda p: p.stat().st_size)
    started = time.perf_counter()
    items = list(NotionConnector(path).fetch({}))
    elapsed = time.perf_counter() - started
    print(f"\n{path.name}: {path.stat().st_size:,} bytes, {len(items)} items in {elapsed * 1000:.0f} ms")
    assert elapsed < 10
