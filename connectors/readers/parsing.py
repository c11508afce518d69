"""Which reader turns a file's bytes into a title and `Block`s, and the plain-data form of the result.

`parse_content` owns the dispatch from a file type (``text``, ``markdown``, ``html``, ``pdf``,
``docx``; see `FILE_TYPES`) to its reader, and the rules every type shares: blank content is
"empty", content without any text is "empty (it holds no text)", and extracted text longer than
the caller's bound is refused rather than handed to the chunker. It is the function the parse
worker (`connectors.readers.parse_worker`) runs on untrusted bytes; `parsed_to_json` and
`parsed_from_json` carry its result across the worker's pipe as plain JSON, never as objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.base import Block, UnreadableItemError
from connectors.readers.docx import read_docx
from connectors.readers.html import read_html
from connectors.readers.markdown import read_markdown
from connectors.readers.pdf import read_pdf_file
from connectors.readers.text import decode_text

# File suffix (lowercase) -> the `file_type` recorded in a document's metadata.
FILE_TYPES: dict[str, str] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
# Types whose bytes are the text itself, so their file size bounds their text.
PLAIN_TEXT_TYPES = frozenset({"text", "markdown"})
_MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class ParsedFile:
    """What a reader made of one file: its own title (None: none found) and its blocks."""

    title: str | None
    blocks: list[Block]


def parse_content(content: bytes, *, file_type: str, name: str, max_text_chars: int) -> ParsedFile:
    """Read `content` as `file_type`; `UnreadableItemError` names `name` and says why not.

    Extracted text longer than `max_text_chars` (a bomb, or a file too big to be useful as one
    document) is refused with a message naming the bound.
    """
    if not content.strip():
        raise UnreadableItemError(f"{name} is empty")
    title, blocks = _read(content, file_type=file_type, name=name)
    total = sum(len(block.text) for block in blocks)
    if total > max_text_chars:
        raise UnreadableItemError(
            f"{name} holds more than {max_text_chars // _MEBIBYTE} MiB of text "
            f"({total // _MEBIBYTE} MiB), the bound for one file; split it, or raise "
            "AGENTKIT_PARSE_MAX_TEXT_MB if you trust it"
        )
    if not any(block.text.strip() for block in blocks):
        raise UnreadableItemError(f"{name} is empty (it holds no text)")
    return ParsedFile(title=title, blocks=blocks)


def _read(content: bytes, *, file_type: str, name: str) -> tuple[str | None, list[Block]]:
    if file_type == "text":
        return None, text_blocks(decode_text(content, name=name))
    if file_type == "markdown":
        return read_markdown(decode_text(content, name=name), name=name)
    if file_type == "html":
        page = read_html(content, name=name)
        return page.title, page.blocks
    if file_type == "pdf":
        pdf = read_pdf_file(content, name=name)
        return pdf.title, pdf.blocks
    if file_type == "docx":
        return read_docx(content, name=name)
    raise UnreadableItemError(f"{name}: no reader for file type {file_type!r}")


def text_blocks(text: str) -> list[Block]:
    """Plain text as one block per paragraph (paragraphs are separated by blank lines)."""
    paragraphs = re.split(r"\n[ \t]*\n", text)
    blocks: list[Block] = []
    for paragraph in paragraphs:
        lines = [line.rstrip() for line in paragraph.split("\n")]
        cleaned = "\n".join(lines).strip("\n")
        if cleaned.strip():
            blocks.append(Block(text=cleaned))
    return blocks


def parsed_to_json(parsed: ParsedFile) -> dict[str, object]:
    """`parsed` as plain JSON data: ``{"title": ..., "blocks": [[text, [headings], page, anchor]]}``."""
    return {
        "title": parsed.title,
        "blocks": [
            [block.text, list(block.heading_path), block.page, block.anchor] for block in parsed.blocks
        ],
    }


def parsed_from_json(data: object, *, name: str) -> ParsedFile:
    """Rebuild a `ParsedFile` from `parsed_to_json`'s form, checking every type on the way."""
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise UnreadableItemError(
            f"{name}: the parse worker answered something malformed; the file was skipped"
        )
    title = data.get("title")
    blocks: list[Block] = []
    for raw in data["blocks"]:
        if not (isinstance(raw, list) and len(raw) == 4):
            raise UnreadableItemError(
                f"{name}: the parse worker answered a malformed block; the file was skipped"
            )
        text, headings, page, anchor = raw
        if not (
            isinstance(text, str)
            and isinstance(headings, list)
            and all(isinstance(heading, str) for heading in headings)
            and (page is None or (isinstance(page, int) and not isinstance(page, bool)))
            and (anchor is None or isinstance(anchor, str))
        ):
            raise UnreadableItemError(
                f"{name}: the parse worker answered a malformed block; the file was skipped"
            )
        blocks.append(Block(text=text, heading_path=tuple(headings), page=page, anchor=anchor))
    return ParsedFile(title=title if isinstance(title, str) else None, blocks=blocks)
