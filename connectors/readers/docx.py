"""Reading Word (.docx) files into a title and heading-scoped `Block`s with python-docx.

`read_docx` owns what a .docx means structurally: the first paragraph in the Title style (or
the core-properties title) is the document title; paragraphs in "Heading N" styles set the
`heading_path` of what follows; body paragraphs become blocks, consecutive list paragraphs
one block of "- " lines; each table becomes one block of "cell | cell" lines. A file that is
not a readable .docx raises `UnreadableItemError` naming it.

A .docx is a zip of XML parts, so it is first read through `connectors.safe_zip` (bounded
inflation, compression-ratio and size caps): a zip bomb is refused before python-docx, which
inflates parts whole, sees it. python-docx's XML parser does not expand entities.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectors.base import Block, UnreadableItemError
from connectors.safe_zip import ArchiveError, ArchiveLimits, UnsafeArchiveError, open_zip_bytes

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.table import Table
    from docx.text.paragraph import Paragraph

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_MEBIBYTE = 1024 * 1024
# A Word file's parts: a few dozen XML files and its images.
DOCX_ARCHIVE_LIMITS = ArchiveLimits(
    max_members=2_000, max_member_bytes=100 * _MEBIBYTE, max_total_bytes=256 * _MEBIBYTE, max_depth=0
)


def read_docx(content: bytes, *, name: str) -> tuple[str | None, list[Block]]:
    """Return the document title (Title style, else core properties) and its blocks."""
    import docx

    check_docx_archive(content, name=name)
    try:
        document = docx.Document(io.BytesIO(content))
    except MemoryError:  # the worker's memory bound: not a damaged file
        raise
    except Exception as error:  # bad zip, missing part, broken XML
        raise UnreadableItemError(
            f"{name} is not a readable .docx file ({type(error).__name__}: {error}); open it "
            "in Word or LibreOffice and save it again as .docx"
        ) from None

    builder = _DocxBlocks()
    try:
        for item in _body_items(document):
            builder.add(item)
        core_title = (document.core_properties.title or "").strip() or None
    except MemoryError:  # the worker's memory bound: not a damaged file
        raise
    except Exception as error:  # malformed XML inside a part that opened
        raise UnreadableItemError(
            f"{name} is a damaged .docx file ({type(error).__name__}: {error}); open it in "
            "Word or LibreOffice and save it again as .docx"
        ) from None
    builder.finish()
    return builder.title or core_title, builder.blocks


def check_docx_archive(content: bytes, *, name: str) -> None:
    """Inflate every part through `SafeZip`'s bounded reader; `UnreadableItemError` for a bomb.

    Content that is not a zip at all is left for python-docx to refuse with its own message.
    """
    try:
        with open_zip_bytes(content, name=name, limits=DOCX_ARCHIVE_LIMITS) as archive:
            for member in archive.members:
                archive.read(member)
    except UnsafeArchiveError as error:
        raise UnreadableItemError(f"{error}; the file was skipped") from None
    except ArchiveError:
        return


def table_lines(table: Table) -> list[str]:
    """One "cell | cell" line per table row; a merged cell counts once, empty rows go."""
    lines: list[str] = []
    for row in table.rows:
        cells = row.cells
        texts: list[str] = []
        index = 0
        while index < len(cells):
            cell = cells[index]
            texts.append(" ".join(cell.text.split()))
            index += max(1, cell.grid_span)  # a merged cell is repeated once per grid column
        if any(texts):
            lines.append(" | ".join(texts))
    return lines


def _body_items(document: WordDocument) -> Iterator[Paragraph | Table]:
    """Body paragraphs and tables in document order (python-docx >= 1.1)."""
    return document.iter_inner_content()


def _style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
    except MemoryError:  # the worker's memory bound: not a damaged file
        raise
    except Exception:  # a missing style: body text
        return ""
    return (style.name or "") if style is not None else ""


@dataclass
class _DocxBlocks:
    """Gathers blocks in document order while tracking the heading stack."""

    blocks: list[Block] = field(default_factory=list)
    title: str | None = None
    _headings: list[tuple[int, str]] = field(default_factory=list)
    _list_lines: list[str] = field(default_factory=list)

    def add(self, item: Paragraph | Table) -> None:
        from docx.table import Table

        if isinstance(item, Table):
            self._flush_list()
            self._emit("\n".join(table_lines(item)))
            return
        text = " ".join(item.text.split())
        style = _style_name(item)
        heading = _HEADING_STYLE.match(style)
        if style.lower() == "title":
            self._flush_list()
            if self.title is None and text:
                self.title = text
            elif text:
                self._emit(text)
        elif heading:
            self._flush_list()
            self._open_heading(int(heading.group(1)), text)
        elif not text:
            return
        elif style.lower().startswith("list"):
            self._list_lines.append(f"- {text}")
        else:
            self._flush_list()
            self._emit(text)

    def finish(self) -> None:
        self._flush_list()

    def _open_heading(self, level: int, text: str) -> None:
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        if text:
            self._headings.append((level, text))

    def _flush_list(self) -> None:
        if self._list_lines:
            self._emit("\n".join(self._list_lines))
            self._list_lines = []

    def _emit(self, text: str) -> None:
        if text.strip():
            self.blocks.append(Block(text=text, heading_path=tuple(heading for _, heading in self._headings)))
