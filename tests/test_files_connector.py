"""Tests of the files connector over temporary folders and over the demo knowledge base."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from connectors import open_connector
from connectors.base import ConnectorError, Document, SkippedItem
from connectors.files import FilesConnector, glob_matches, prettify_stem

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "data"
DEMO_KB = DEMO_DATA / "quillstack"
DEMO_QA = REPO / "tests" / "fixtures" / "demo_qa.jsonl"
DEMO_PDF = DEMO_KB / "quillstack-box-qb200-guide.pdf"


def fetch_all(
    path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> list[Document | SkippedItem]:
    items = list(FilesConnector(path, include=include, exclude=exclude).fetch({}))
    assert all(isinstance(item, (Document, SkippedItem)) for item in items)
    return items  # type: ignore[return-value]


def relative_uris(items: list[Document | SkippedItem], root: Path) -> list[str]:
    return [Path(item.uri).relative_to(root.resolve()).as_posix() for item in items]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Checklist", style="Title")
    document.add_heading("Day one", level=1)
    document.add_paragraph("Get an account.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    write(root / "guide.md", "# User Guide\n\n## Start\n\nRun it.\n")
    write(root / "notes_on-setup.txt", "First paragraph.\r\nSame paragraph.\r\n\r\nSecond.\r\n")
    write(
        root / "page.html",
        "<html><head><title>Web page</title><script>var x = 1;</script></head><body>"
        "<nav><a href='/'>Home</a></nav><main><h1 id='top'>Web page</h1><p>Body text.</p>"
        "</main><footer>Copyright</footer></body></html>",
    )
    (root / "docs").mkdir()
    shutil.copy(DEMO_PDF, root / "docs" / "box.pdf")
    write(root / "docs" / "deep" / "handbook.docx", docx_bytes())
    write(root / "docs" / "deep" / "more.markdown", "Plain markdown without heading.\n")
    write(root / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(root / "empty.md", "")
    write(root / "blank.txt", "  \n\n\t\n")
    write(root / "binary.txt", b"\x00\x01\x02\x03garbage\x00")
    write(root / "broken.pdf", b"%PDF-1.4\nthis is not really a pdf")
    write(root / ".git" / "config.md", "# hidden\n\nnot indexed\n")
    write(root / ".hidden.md", "# hidden file\n")
    write(root / "~$handbook.docx", b"lock file")
    return root


def test_fetch_reads_every_supported_type_and_skips_the_rest(mixed_folder: Path) -> None:
    items = fetch_all(mixed_folder)
    assert relative_uris(items, mixed_folder) == [
        "binary.txt",
        "blank.txt",
        "broken.pdf",
        "docs/box.pdf",
        "docs/deep/handbook.docx",
        "docs/deep/more.markdown",
        "empty.md",
        "guide.md",
        "image.png",
        "notes_on-setup.txt",
        "page.html",
    ]
    documents = {Path(item.uri).name: item for item in items if isinstance(item, Document)}
    skipped = {Path(item.uri).name: item.reason for item in items if isinstance(item, SkippedItem)}
    assert sorted(documents) == [
        "box.pdf",
        "guide.md",
        "handbook.docx",
        "more.markdown",
        "notes_on-setup.txt",
        "page.html",
    ]
    assert re.search(r"binary\.txt .*binary.*UTF-8", skipped["binary.txt"])
    assert skipped["blank.txt"].endswith("blank.txt is empty")
    assert skipped["empty.md"].endswith("empty.md is empty")
    assert "broken.pdf is a damaged or truncated PDF" in skipped["broken.pdf"]
    assert skipped["image.png"].startswith("unsupported file type .png; supported: .txt, .md")


def test_documents_have_titles_uris_and_metadata(mixed_folder: Path) -> None:
    items = fetch_all(mixed_folder)
    documents = {Path(item.uri).name: item for item in items if isinstance(item, Document)}

    guide = documents["guide.md"]
    assert guide.uri == str((mixed_folder / "guide.md").resolve())
    assert guide.title == "User Guide"
    assert guide.blocks[0].heading_path == ("User Guide", "Start")
    assert guide.metadata["path"] == "guide.md"
    assert guide.metadata["file_type"] == "markdown"
    assert guide.metadata["size"] == (mixed_folder / "guide.md").stat().st_size
    assert guide.metadata["mtime"] == pytest.approx((mixed_folder / "guide.md").stat().st_mtime)

    text = documents["notes_on-setup.txt"]
    assert text.title == "Notes on setup"
    assert [block.text for block in text.blocks] == ["First paragraph.\nSame paragraph.", "Second."]
    assert text.metadata["file_type"] == "text"

    page = documents["page.html"]
    assert page.title == "Web page"
    assert "Body text." in page.text
    assert "Home" not in page.text and "Copyright" not in page.text and "var x" not in page.text

    pdf = documents["box.pdf"]
    assert pdf.title == "Quillstack Box QB-200: Hardware Guide and Warranty"
    assert {block.page for block in pdf.blocks} == {1, 2, 3}
    assert pdf.metadata["path"] == "docs/box.pdf" and pdf.metadata["file_type"] == "pdf"

    handbook = documents["handbook.docx"]
    assert handbook.title == "Checklist" and handbook.metadata["file_type"] == "docx"
    assert documents["more.markdown"].title == "More"


def test_fetch_is_deterministic(mixed_folder: Path) -> None:
    first = [(item.uri, getattr(item, "content_hash", None)) for item in fetch_all(mixed_folder)]
    second = [(item.uri, getattr(item, "content_hash", None)) for item in fetch_all(mixed_folder)]
    assert first == second


def test_include_globs_match_relative_paths_and_bare_names(mixed_folder: Path) -> None:
    items = fetch_all(mixed_folder, include=("docs/**/*.markdown", "*.txt"))
    assert relative_uris(items, mixed_folder) == [
        "binary.txt",
        "blank.txt",
        "docs/deep/more.markdown",
        "notes_on-setup.txt",
    ]
    items = fetch_all(mixed_folder, include=("docs/**",))
    assert relative_uris(items, mixed_folder) == [
        "docs/box.pdf",
        "docs/deep/handbook.docx",
        "docs/deep/more.markdown",
    ]


def test_exclude_globs_prune_folders_and_files(mixed_folder: Path) -> None:
    items = fetch_all(mixed_folder, exclude=("docs", "*.txt", "image.*", "**/broken.pdf"))
    assert relative_uris(items, mixed_folder) == ["empty.md", "guide.md", "page.html"]
    items = fetch_all(mixed_folder, include=("*.md", "*.pdf"), exclude=("deep/",))
    assert relative_uris(items, mixed_folder) == [
        "broken.pdf",
        "docs/box.pdf",
        "empty.md",
        "guide.md",
    ]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("docs/**/*.md", "docs/a.md", True),
        ("docs/**/*.md", "docs/x/y/a.md", True),
        ("docs/**/*.md", "other/docs/a.md", False),
        ("*.md", "deep/down/a.md", True),
        ("docs/*.md", "docs/x/a.md", False),
        ("?.txt", "a.txt", True),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("drafts/", "drafts/x/y.md", True),
        ("./notes/*.txt", "notes/a.txt", True),
    ],
)
def test_glob_matching(pattern: str, path: str, expected: bool) -> None:
    assert glob_matches(pattern, path, path.rsplit("/", 1)[-1]) is expected


def test_symlinks_never_leave_the_folder_and_loops_end(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "secret.md", "# Secret\n\nkeep out\n")
    root = tmp_path / "kb"
    write(root / "a.md", "# A\n\ntext\n")
    write(root / "sub" / "b.md", "# B\n\ntext\n")
    try:
        (root / "escape.md").symlink_to(outside)
        (root / "escape_dir").symlink_to(outside.parent, target_is_directory=True)
        (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
        (root / "alias.md").symlink_to(root / "sub" / "b.md")
    except OSError:
        pytest.skip("symlinks are not available here")
    uris = [item.uri for item in fetch_all(root)]
    resolved = root.resolve()
    assert uris == [str(resolved / "a.md"), str(resolved / "sub" / "b.md")]


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    write(root / "a.pdf", b"%PDF-1.7 broken")
    write(root / "b.docx", b"PK\x03\x04 broken")
    write(root / "c.txt", b"\xff\xfe\x00")
    write(root / "d.md", "# Fine\n\nstill read\n")
    items = fetch_all(root)
    assert [type(item).__name__ for item in items] == [
        "SkippedItem",
        "SkippedItem",
        "SkippedItem",
        "Document",
    ]
    assert "b.docx is not a readable .docx file" in items[1].reason  # type: ignore[union-attr]


@contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as `nobody` when the tests run as root (CI does): root reads any file."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_file_is_skipped_with_a_message() -> None:
    # A folder anyone may list (pytest's own tmp folders are private to their owner).
    folder = Path(tempfile.mkdtemp(prefix="agentkit-permissions-"))
    folder.chmod(0o755)
    try:
        locked = write(folder / "locked.md", "# Locked\n")
        locked.chmod(0)
        with unprivileged():
            [item] = fetch_all(folder)
    finally:
        shutil.rmtree(folder)
    assert isinstance(item, SkippedItem) and "check its permissions" in item.reason


def test_missing_path_raises_connector_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match=r"nowhere does not exist; check the path"):
        list(FilesConnector(tmp_path / "nowhere").fetch({}))


def test_single_file_sources(tmp_path: Path) -> None:
    note = write(tmp_path / "release_notes.txt", "Version 2 is out.\n")
    [document] = fetch_all(note)
    assert isinstance(document, Document)
    assert document.uri == str(note.resolve())
    assert document.title == "Release notes"
    assert document.metadata["path"] == "release_notes.txt"

    image = write(tmp_path / "photo.jpeg", b"\xff\xd8\xff")
    [skipped] = fetch_all(image)
    assert isinstance(skipped, SkippedItem)
    assert skipped.reason.startswith("unsupported file type .jpeg")
    [no_suffix] = fetch_all(write(tmp_path / "Makefile", "all:\n"))
    assert "no file extension" in no_suffix.reason  # type: ignore[union-attr]


def test_from_options_accepts_include_and_exclude_only(tmp_path: Path) -> None:
    connector = FilesConnector.from_options(str(tmp_path), {"include": ["*.md"], "exclude": ["drafts/**"]})
    assert connector.include == ("*.md",) and connector.exclude == ("drafts/**",)
    assert FilesConnector.from_options(f"file://{tmp_path}", {}).path == tmp_path
    with pytest.raises(ConnectorError, match=r"unknown option\(s\) 'glob', 'recursive'.*include"):
        FilesConnector.from_options(str(tmp_path), {"recursive": True, "glob": "*"})
    with pytest.raises(ConnectorError, match=r"option include must be a list of strings"):
        FilesConnector.from_options(str(tmp_path), {"include": [1, 2]})


def test_registry_opens_the_files_connector(tmp_path: Path) -> None:
    connector = open_connector("files", str(tmp_path), {"include": ["*.md"]})
    assert isinstance(connector, FilesConnector) and connector.kind == "files"


def test_prettify_stem() -> None:
    assert prettify_stem("getting_started-guide") == "Getting started guide"
    assert prettify_stem("release-notes-2.4") == "Release notes 2.4"
    assert prettify_stem("2024-09-17_minutes") == "2024-09-17 minutes"
    assert prettify_stem("README") == "README"


# --- the demo knowledge base ---------------------------------------------------------------


def test_demo_data_reads_with_nothing_skipped() -> None:
    items = fetch_all(DEMO_DATA)
    skipped = [item for item in items if isinstance(item, SkippedItem)]
    assert skipped == []
    documents = [item for item in items if isinstance(item, Document)]
    knowledge_base = [doc for doc in documents if doc.metadata["path"].startswith("quillstack/")]
    assert 12 <= len(knowledge_base) <= 16
    types = [doc.metadata["file_type"] for doc in knowledge_base]
    assert types.count("markdown") >= 6 and types.count("html") >= 2 and types.count("text") >= 2
    assert "pdf" in types and "docx" in types
    sizes = sum(path.stat().st_size for path in DEMO_DATA.rglob("*") if path.is_file())
    assert sizes < 300_000


def test_demo_pdf_has_pages_and_the_demo_answer() -> None:
    [pdf] = fetch_all(DEMO_PDF)
    assert isinstance(pdf, Document)
    assert {block.page for block in pdf.blocks} == {1, 2, 3}
    page_two = " ".join(block.text for block in pdf.blocks if block.page == 2)
    assert "Pulsing red: disk failure" in page_two


def test_demo_html_drops_navigation_footer_and_scripts() -> None:
    [pricing] = fetch_all(DEMO_KB / "pricing.html")
    assert isinstance(pricing, Document)
    assert "EUR 6 per user per month" in pricing.text
    assert "quillAnalytics" not in pricing.text
    assert "Careers" not in pricing.text and "All rights reserved" not in pricing.text


def test_demo_questions_and_qa_fixture_point_at_the_data() -> None:
    questions = (DEMO_DATA / "demo_questions.txt").read_text(encoding="utf-8").splitlines()
    assert len(questions) >= 2 and all(question.endswith("?") for question in questions)

    documents = {Path(item.uri).name: item for item in fetch_all(DEMO_KB) if isinstance(item, Document)}
    records = [json.loads(line) for line in DEMO_QA.read_text(encoding="utf-8").splitlines()]
    answerable = [record for record in records if record.get("answerable", True)]
    unanswerable = [record for record in records if record.get("answerable") is False]
    assert len(answerable) >= 18 and len(unanswerable) >= 8
    for record in answerable:
        document = documents[record["source"]]
        # Headings live in heading_path, not in the block text.
        headings = " ".join(" ".join(block.heading_path) for block in document.blocks)
        source_text = f"{headings} {document.text}".lower()
        words = [word for word in re.findall(r"[\w.%-]+", record["answer"].lower()) if len(word) > 1]
        found = [word.strip(".") in source_text for word in words]
        assert sum(found) >= 0.7 * len(found), record
