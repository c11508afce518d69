"""Tests of the file readers: text decoding, Markdown, PDF and .docx.

PDFs are built in the tests (a tiny hand-written PDF writer below, and pypdf's writer for
encryption); the real-data tests read ../shared/data/pdfs and skip when it is absent.
"""

from __future__ import annotations

import codecs
import io
import json
import time
import zlib
from pathlib import Path

import pytest

from connectors.base import Document, UnreadableItemError
from connectors.files import FilesConnector
from connectors.readers.docx import read_docx
from connectors.readers.markdown import github_slug, read_markdown
from connectors.readers.pdf import (
    clean_page_text,
    pdf_title,
    read_pdf,
    read_pdf_file,
    split_paragraphs,
)
from connectors.readers.text import decode_text

SHARED_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"


# --- helpers -------------------------------------------------------------------------------


def make_text_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A valid PDF with one Helvetica text line per string, one list per page."""

    def literal(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    bodies: list[bytes] = [b"", b""]  # catalog and page tree are filled in at the end
    bodies.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids: list[int] = []
    for lines in pages:
        operators = ["BT /F1 11 Tf 14 TL 72 740 Td"]
        operators += [f"({literal(line)}) Tj T*" for line in lines]
        operators.append("ET")
        stream = zlib.compress("\n".join(operators).encode("latin-1"))
        bodies.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
        bodies.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(bodies)} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        page_ids.append(len(bodies))
    bodies[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = " ".join(f"{page_id} 0 R" for page_id in page_ids)
    bodies[1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    trailer_info = ""
    if title is not None:
        bodies.append(f"<< /Title ({literal(title)}) >>".encode("latin-1"))
        trailer_info = f" /Info {len(bodies)} 0 R"

    output = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(output)
    output += f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode()
    output += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    output += (
        f"trailer\n<< /Size {len(bodies) + 1} /Root 1 0 R{trailer_info} >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(output)


def encrypted(pdf: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def blank_pdf(page_count: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(page_count):
        writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


TWO_PAGE_LINES = [
    [
        "Quillstack Box guide",
        "The warranty lasts thirty-six months from the day of deli-",
        "very and covers the power adapter for two years, as long",
        "as the case was never opened.",
        "",
        "Page 1 of 2",
    ],
    ["Pulsing red means a disk failure.", "Solid green means ready.", "2"],
]


# --- text decoding -------------------------------------------------------------------------


def test_decode_text_reads_utf8_with_and_without_bom() -> None:
    assert decode_text("café\n".encode(), name="a.txt") == "café\n"
    assert decode_text(codecs.BOM_UTF8 + "café".encode(), name="a.txt") == "café"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_decode_text_reads_unicode_with_byte_order_mark(encoding: str) -> None:
    text = "Grüße, 東京\r\nsecond line"
    content = text.encode(encoding)
    if encoding == "utf-16-be":
        content = codecs.BOM_UTF16_BE + content
    assert decode_text(content, name="a.txt") == "Grüße, 東京\nsecond line"


def test_decode_text_falls_back_to_windows_1252() -> None:
    content = "naïve café – “quoted”".encode("cp1252")
    assert decode_text(content, name="legacy.txt") == "naïve café – “quoted”"


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "Café déjà vu — “smart quotes” and a naïve façade.\nThe résumé costs 5 €.\n"),
        ("latin-1", "Größe und Straße: übermäßig schön. Ça va, señor?\n"),
        ("cp1252", "El niño pidió una canción en el café de la esquina.\n"),
        ("shift_jis", "これは日本語のテキストです。東京は日本の首都です。\n"),
        ("koi8_r", "Привет, мир! Это текст на русском языке в кодировке КОИ-8.\n"),
        ("cp1251", "Привет, мир! Это текст на русском языке.\n"),
        ("cp1250", "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy.\n"),
        ("iso8859_7", "Καλημέρα κόσμε, αυτό είναι ελληνικό κείμενο.\n"),
    ],
)
def test_decode_text_guesses_legacy_encodings(encoding: str, text: str) -> None:
    content = text.encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    assert decode_text(content, name="legacy.txt") == text


def test_decode_text_falls_back_to_windows_1252_when_nothing_is_guessed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import charset_normalizer

    monkeypatch.setattr(charset_normalizer, "from_bytes", lambda content: charset_normalizer.CharsetMatches())
    assert decode_text("Crème brûlée".encode("cp1252"), name="legacy.txt") == "Crème brûlée"
    with pytest.raises(UnreadableItemError, match=r"legacy\.txt is not UTF-8 text.*0x81.*save it as UTF-8"):
        decode_text(b"caf\xe9 \x81", name="legacy.txt")


def test_a_legacy_text_file_is_read_by_the_files_connector(tmp_path: Path) -> None:
    (tmp_path / "tokyo.txt").write_bytes(
        "東京は日本の首都です。人口は約千四百万人です。\n".encode("shift_jis")
    )
    (document,) = list(FilesConnector(tmp_path).fetch({}))
    assert isinstance(document, Document)
    assert document.text == "東京は日本の首都です。人口は約千四百万人です。"


def test_decode_text_normalises_newlines() -> None:
    assert decode_text(b"one\r\ntwo\rthree\n", name="a.txt") == "one\ntwo\nthree\n"


def test_decode_text_refuses_nul_bytes_naming_the_file() -> None:
    with pytest.raises(UnreadableItemError, match=r"photo\.txt.*binary.*UTF-8"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="photo.txt")


def test_decode_text_refuses_binary_without_nul_bytes() -> None:
    content = bytes(range(1, 256)) * 8
    with pytest.raises(UnreadableItemError, match=r"blob\.txt.*UTF-8"):
        decode_text(content, name="blob.txt")


def test_decode_text_refuses_a_broken_byte_order_mark_file() -> None:
    with pytest.raises(UnreadableItemError, match=r"odd\.txt.*UTF-8"):
        decode_text(codecs.BOM_UTF8 + b"ok \xff\xfe broken", name="odd.txt")


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_headings_build_heading_paths_and_anchors() -> None:
    text = (
        "# Guide\n\nIntro paragraph.\n\n## Install & Run!\n\nStep one.\n\n"
        "### Linux ###\n\nUse apt.\n\n## Configure `quill.toml`\n\nSet keys.\n\n# Appendix\n\nEnd.\n"
    )
    title, blocks = read_markdown(text, name="guide.md")
    assert title == "Guide"
    assert [(block.text, block.heading_path, block.anchor) for block in blocks] == [
        ("Intro paragraph.", ("Guide",), "guide"),
        ("Step one.", ("Guide", "Install & Run!"), "install--run"),
        ("Use apt.", ("Guide", "Install & Run!", "Linux"), "linux"),
        ("Set keys.", ("Guide", "Configure quill.toml"), "configure-quilltoml"),
        ("End.", ("Appendix",), "appendix"),
    ]


def test_markdown_setext_headings_and_thematic_breaks() -> None:
    text = "Main title\n==========\n\nBody.\n\nPart two\n--------\n\nMore.\n\n---\n\nAfter a rule.\n"
    title, blocks = read_markdown(text, name="setext.md")
    assert title == "Main title"
    assert [(block.text, block.heading_path) for block in blocks] == [
        ("Body.", ("Main title",)),
        ("More.", ("Main title", "Part two")),
        ("After a rule.", ("Main title", "Part two")),
    ]


def test_markdown_code_fences_are_kept_whole_and_hide_headings() -> None:
    text = (
        "# Setup\n\n```bash\n# not a heading\nsudo apt install x\n\nquillctl status\n```\n\n"
        "~~~\n## also code\n~~~\n\nAfter.\n"
    )
    _, blocks = read_markdown(text, name="code.md")
    assert [block.text for block in blocks] == [
        "```bash\n# not a heading\nsudo apt install x\n\nquillctl status\n```",
        "~~~\n## also code\n~~~",
        "After.",
    ]
    assert all(block.heading_path == ("Setup",) for block in blocks)


def test_markdown_unclosed_fence_runs_to_the_end() -> None:
    _, blocks = read_markdown("Text.\n\n```\n# code\nmore", name="open.md")
    assert [block.text for block in blocks] == ["Text.", "```\n# code\nmore"]


def test_markdown_front_matter_gives_title_and_is_stripped() -> None:
    text = '---\ntitle: "Release notes"\ntags: [a, b]\n---\n\n# Changes\n\nFixed things.\n'
    title, blocks = read_markdown(text, name="notes.md")
    assert title == "Release notes"
    assert [block.text for block in blocks] == ["Fixed things."]
    assert "tags" not in " ".join(block.text for block in blocks)


def test_markdown_without_headings_has_no_title() -> None:
    title, blocks = read_markdown("Just a paragraph.\nSecond line.\n", name="plain.md")
    assert title is None
    assert blocks[0].text == "Just a paragraph.\nSecond line."
    assert blocks[0].heading_path == () and blocks[0].anchor is None


def test_markdown_lists_with_blank_lines_stay_one_block() -> None:
    text = "Steps:\n\n- one\n- two\n\n- three\n  continued\n\nAfter the list.\n"
    _, blocks = read_markdown(text, name="list.md")
    assert [block.text for block in blocks] == [
        "Steps:",
        "- one\n- two\n\n- three\n  continued",
        "After the list.",
    ]


def test_markdown_duplicate_headings_get_numbered_anchors() -> None:
    text = "## Usage\n\nA.\n\n## Usage\n\nB.\n"
    _, blocks = read_markdown(text, name="dup.md")
    assert [block.anchor for block in blocks] == ["usage", "usage-1"]


def test_markdown_heading_text_drops_inline_markup() -> None:
    _, blocks = read_markdown("## See [the *docs*](http://x) and **bold**\n\nText.\n", name="m")
    assert blocks[0].heading_path == ("See the docs and bold",)


def test_markdown_html_comments_are_dropped_outside_code() -> None:
    text = "# T\n\n<!-- badges -->\n\nText.<!-- note -->\n\n```html\n<!-- kept -->\n```\n"
    _, blocks = read_markdown(text, name="comments.md")
    assert [block.text for block in blocks] == ["Text.", "```html\n<!-- kept -->\n```"]


def test_github_slug() -> None:
    assert github_slug("Hello, World! 2.0") == "hello-world-20"
    assert github_slug("Über Größe") == "über-größe"
    assert github_slug("snake_case and-dash") == "snake_case-and-dash"


# --- PDF -----------------------------------------------------------------------------------


def test_pdf_blocks_carry_page_numbers_and_cleaned_text() -> None:
    blocks = read_pdf(make_text_pdf(TWO_PAGE_LINES), name="box.pdf")
    pages = {block.page for block in blocks}
    assert pages == {1, 2}
    page_one = " ".join(block.text for block in blocks if block.page == 1)
    # Hyphenated line break joined, layout line breaks become spaces, footer dropped.
    assert "day of delivery and covers the power adapter for two years, as long as" in page_one
    assert "thirty-six" in page_one
    assert "Page 1 of 2" not in page_one
    page_two = [block.text for block in blocks if block.page == 2]
    assert page_two == ["Pulsing red means a disk failure.", "Solid green means ready."]


def test_pdf_title_from_metadata() -> None:
    pdf = make_text_pdf([["Some text here."]], title="QB-200 Hardware Guide")
    assert pdf_title(pdf) == "QB-200 Hardware Guide"
    assert read_pdf_file(pdf, name="guide.pdf").title == "QB-200 Hardware Guide"
    assert pdf_title(make_text_pdf([["x"]], title="Microsoft Word - draft.doc")) is None
    assert pdf_title(make_text_pdf([["x"]])) is None
    assert pdf_title(b"not a pdf") is None


def test_pdf_encrypted_without_password_is_refused() -> None:
    pdf = encrypted(make_text_pdf(TWO_PAGE_LINES), "s3cret")
    with pytest.raises(UnreadableItemError, match=r"locked\.pdf is encrypted; .*decrypt"):
        read_pdf(pdf, name="locked.pdf")
    with pytest.raises(UnreadableItemError, match=r"locked\.pdf is encrypted.*password"):
        read_pdf(pdf, name="locked.pdf", password="wrong")
    blocks = read_pdf(pdf, name="locked.pdf", password="s3cret")
    assert {block.page for block in blocks} == {1, 2}


def test_pdf_encrypted_with_empty_user_password_opens() -> None:
    pdf = encrypted(make_text_pdf([["Readable by everyone."]]), "")
    assert read_pdf(pdf, name="restricted.pdf")[0].text == "Readable by everyone."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not a PDF"),
        (b"PK\x03\x04 this is a zip", r"not a PDF"),
        (b"%PDF-1.4\n1 0 obj garbage", r"damaged or truncated"),
    ],
)
def test_pdf_corrupt_files_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(UnreadableItemError, match=rf"bad\.pdf .*{message}"):
        read_pdf(content, name="bad.pdf")


def test_pdf_truncated_file_is_refused() -> None:
    pdf = make_text_pdf(TWO_PAGE_LINES)
    with pytest.raises(UnreadableItemError, match=r"cut\.pdf"):
        read_pdf(pdf[: len(pdf) // 2], name="cut.pdf")


def test_pdf_without_text_layer_says_run_ocr() -> None:
    with pytest.raises(UnreadableItemError, match=r"scan\.pdf has no extractable text.*ocrmypdf"):
        read_pdf(blank_pdf(2), name="scan.pdf")


def test_pdf_page_that_fails_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PageObject

    original = PageObject.extract_text

    def extract_or_fail(self: PageObject, *args: object, **kwargs: object) -> str:
        text = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if "Pulsing" in text:
            raise KeyError("/Font")
        return text

    monkeypatch.setattr(PageObject, "extract_text", extract_or_fail)
    blocks = read_pdf(make_text_pdf(TWO_PAGE_LINES), name="half.pdf")
    assert {block.page for block in blocks} == {1}


def test_clean_page_text_keeps_compound_words_spelled_with_hyphen() -> None:
    text = "a self-\nhosted server is self-hosted\nthe infor-\nmation QB2-\nfollowed"
    assert clean_page_text(text) == ("a self-\nhosted server is self-hosted\nthe information\nQB2-\nfollowed")


def test_clean_page_text_fixes_ligatures_and_spaces() -> None:
    assert clean_page_text("  \ufb01le   of\tﬂow \x00\n\n3\n") == "file of flow"


def test_split_paragraphs_on_blank_lines_short_sentence_ends_and_lists() -> None:
    long_line = "word " * 15
    page = "\n".join(
        [
            long_line.strip(),
            long_line.strip(),
            "short end.",
            "",
            "Next para",
            "- item one",
            "- item two",
            "Closing text.",
        ]
    )
    paragraphs = split_paragraphs(page)
    assert paragraphs[0].endswith("short end.")
    assert paragraphs[1:] == ["Next para", "- item one", "- item two", "Closing text."]


# --- docx ----------------------------------------------------------------------------------


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Admin Handbook", style="Title")
    document.add_paragraph("Intro text.")
    document.add_heading("Setup", level=1)
    document.add_paragraph("Install the package.")
    document.add_paragraph("first step", style="List Bullet")
    document.add_paragraph("second step", style="List Number")
    document.add_heading("Ports", level=2)
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate([("Name", "Port", "Note"), ("web", "7431", "main")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "both columns"
    table.cell(2, 2).text = "z"
    document.add_heading("Appendix", level=1)
    document.add_paragraph("The end.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_title_headings_lists_and_tables() -> None:
    title, blocks = read_docx(make_docx(), name="handbook.docx")
    assert title == "Admin Handbook"
    assert [(block.text, block.heading_path) for block in blocks] == [
        ("Intro text.", ()),
        ("Install the package.", ("Setup",)),
        ("- first step\n- second step", ("Setup",)),
        ("Name | Port | Note\nweb | 7431 | main\nboth columns | z", ("Setup", "Ports")),
        ("The end.", ("Appendix",)),
    ]


def test_docx_title_falls_back_to_core_properties() -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "From properties"
    document.add_paragraph("Body.")
    buffer = io.BytesIO()
    document.save(buffer)
    title, blocks = read_docx(buffer.getvalue(), name="props.docx")
    assert title == "From properties"
    assert [block.text for block in blocks] == ["Body."]


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04broken zip"])
def test_docx_corrupt_files_are_refused(content: bytes) -> None:
    with pytest.raises(UnreadableItemError, match=r"broken\.docx is not a readable \.docx"):
        read_docx(content, name="broken.docx")


def test_docx_zip_without_word_parts_is_refused() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    with pytest.raises(UnreadableItemError, match=r"other\.docx"):
        read_docx(buffer.getvalue(), name="other.docx")


# --- real PDFs from ../shared/data/pdfs ----------------------------------------------------


def shared_pdf(relative: str) -> bytes:
    if not SHARED_PDFS.is_dir():
        pytest.skip("../shared/data/pdfs is not present")
    path = SHARED_PDFS / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in ../shared/data/pdfs")
    return path.read_bytes()


@pytest.mark.parametrize(
    ("relative", "password"),
    [
        (
            "py-pdf-sample-files/005-libreoffice-writer-password/libreoffice-writer-password.pdf",
            "openpassword",
        ),
        ("pdfplumber-tests/pdfs/password-example.pdf", "test"),
        ("pdfminer.six-samples/samples/encryption/rc4-40.pdf", "foo"),
        ("pdfminer.six-samples/samples/encryption/aes-128.pdf", "foo"),
    ],
)
def test_real_encrypted_pdfs_need_their_password(relative: str, password: str) -> None:
    content = shared_pdf(relative)
    with pytest.raises(UnreadableItemError, match=r"is encrypted"):
        read_pdf(content, name=relative)
    if "aes" in relative:
        pytest.importorskip("cryptography")
    blocks = read_pdf(content, name=relative, password=password)
    assert blocks and all(block.page is not None and block.page >= 1 for block in blocks)


@pytest.mark.parametrize(
    "relative",
    [
        "ocrmypdf-resources/linn.pdf",
        "ocrmypdf-resources/skew.pdf",
        "ocrmypdf-resources/ccitt.pdf",
        "ocrmypdf-resources/cardinal.pdf",
        "py-pdf-sample-files/019-grayscale-image/grayscale-image.pdf",
    ],
)
def test_real_scanned_pdfs_say_run_ocr(relative: str) -> None:
    with pytest.raises(UnreadableItemError, match=r"has no extractable text \(scanned\?\).*OCR"):
        read_pdf(shared_pdf(relative), name=relative)


@pytest.mark.parametrize(
    "relative",
    ["ocrmypdf-resources/invalid.pdf", "pdfminer.six-samples/samples/simple1.pdf"],
)
def test_real_broken_pdfs_are_refused(relative: str) -> None:
    with pytest.raises(UnreadableItemError, match=r"damaged"):
        read_pdf(shared_pdf(relative), name=relative)


def test_real_four_page_pdf_has_text_on_every_page() -> None:
    relative = "py-pdf-sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf"
    blocks = read_pdf(shared_pdf(relative), name=relative)
    assert {block.page for block in blocks} == {1, 2, 3, 4}
    assert "Hello, here is some text without a meaning" in blocks[0].text


def test_real_two_column_paper_reads_in_page_order() -> None:
    relative = "py-pdf-sample-files/026-latex-multicolumn/multicolumn.pdf"
    blocks = read_pdf(shared_pdf(relative), name=relative)
    pages = [block.page for block in blocks]
    assert pages == sorted(pages) and pages[0] == 1
    assert "Two-Column Document" in blocks[0].text


def test_every_real_pdf_reads_or_gives_a_clear_error() -> None:
    """No PDF in the shared corpus escapes as anything but blocks or UnreadableItemError."""
    if not (SHARED_PDFS / "pypdf_check.json").is_file():
        pytest.skip("../shared/data/pdfs is not present")
    checked = json.loads((SHARED_PDFS / "pypdf_check.json").read_text())
    started = time.perf_counter()
    readable = 0
    for entry in checked:
        path = SHARED_PDFS / entry["file"]
        if not path.is_file() or entry["bytes"] > 90_000:
            continue  # keep the test fast; the large files are read by the benchmarks
        try:
            blocks = read_pdf(path.read_bytes(), name=entry["file"])
        except UnreadableItemError as error:
            assert entry["file"] in str(error)
            continue
        readable += 1
        assert all(block.text.strip() and block.page for block in blocks)
        if entry.get("pages"):
            assert max(block.page or 0 for block in blocks) <= entry["pages"]
    assert readable >= 30
    assert time.perf_counter() - started < 60
