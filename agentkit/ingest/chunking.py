"""Chunking: pure functions that cut a `Document` into token-bounded, structure-aware chunks.

A chunk is always a contiguous slice of the document's text (`Document.text`), so its
character span is exact and a citation can point at the very words it came from. Blocks that
share a heading path and a page form a section; a section that fits the token budget is one
chunk, a longer one is cut into windows that prefer to end at a paragraph break, then at a
sentence end, and that overlap the previous window by about `overlap_tokens`.

Token counts are an estimate (words and punctuation marks), close to a word-piece tokenizer's
count for English prose and cheap enough to run on every document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.base import BLOCK_SEPARATOR, Document

CHUNKER_VERSION = "1"

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s)")


@dataclass(frozen=True)
class ChunkingSettings:
    """How large chunks are. Stored per agent; changing it re-chunks on the next reindex."""

    max_tokens: int = 200
    overlap_tokens: int = 40

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError("max_tokens must be at least 16")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError("overlap_tokens must be between 0 and half of max_tokens")


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a document."""

    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    anchor: str | None
    char_start: int
    char_end: int


def count_tokens(text: str) -> int:
    """Estimated token count of `text` (words and punctuation marks)."""
    return sum(1 for _ in _TOKEN.finditer(text))


def chunk_document(document: Document, settings: ChunkingSettings) -> list[Chunk]:
    """Cut a document into chunks; empty blocks are ignored."""
    text = document.text
    chunks: list[Chunk] = []
    for start, end, block_index in _sections(document):
        block = document.blocks[block_index]
        for window_start, window_end in _windows(text, start, end, settings):
            piece = text[window_start:window_end]
            if not piece.strip():
                continue
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    text=piece,
                    heading_path=block.heading_path,
                    page=block.page,
                    anchor=block.anchor,
                    char_start=window_start,
                    char_end=window_end,
                )
            )
    return chunks


def text_for_embedding(chunk_text: str, *, title: str, heading_path: tuple[str, ...]) -> str:
    """The text an embedder sees: where the chunk lives, then the chunk itself."""
    context = [part for part in (title, *heading_path) if part]
    # Drop a heading that merely repeats the title.
    deduplicated = [p for i, p in enumerate(context) if i == 0 or p != context[i - 1]]
    if not deduplicated:
        return chunk_text
    return " > ".join(deduplicated) + "\n" + chunk_text


def _sections(document: Document) -> list[tuple[int, int, int]]:
    """(start, end, first block index) of runs of blocks sharing heading path and page."""
    sections: list[tuple[int, int, int]] = []
    offset = 0
    current: tuple[int, int, int] | None = None
    current_key: tuple[tuple[str, ...], int | None] | None = None
    for index, block in enumerate(document.blocks):
        start, end = offset, offset + len(block.text)
        offset = end + len(BLOCK_SEPARATOR)
        if not block.text.strip():
            continue
        key = (block.heading_path, block.page)
        if current is not None and key == current_key:
            current = (current[0], end, current[2])
        else:
            if current is not None:
                sections.append(current)
            current, current_key = (start, end, index), key
    if current is not None:
        sections.append(current)
    return sections


def _windows(
    text: str, start: int, end: int, settings: ChunkingSettings
) -> list[tuple[int, int]]:
    """Character windows over text[start:end], each within the token budget."""
    tokens = [(m.start() + start, m.end() + start) for m in _TOKEN.finditer(text, start, end)]
    if len(tokens) <= settings.max_tokens:
        return [(start, end)] if tokens else []
    paragraph_breaks = {m.start() for m in re.finditer(r"\n\s*\n", text[start:end])}
    sentence_ends = {m.end() + start for m in _SENTENCE_END.finditer(text, start, end)}
    windows: list[tuple[int, int]] = []
    first = 0
    while first < len(tokens):
        last = min(first + settings.max_tokens, len(tokens))  # exclusive token index
        if last < len(tokens):
            last = _best_cut(tokens, first, last, text, start, paragraph_breaks, sentence_ends)
        window_start = tokens[first][0]
        window_end = tokens[last - 1][1]
        windows.append((window_start, window_end))
        if last >= len(tokens):
            break
        next_first = max(last - settings.overlap_tokens, first + 1)
        next_first = _snap_to_sentence_start(tokens, next_first, last, sentence_ends)
        first = next_first
    return windows


def _best_cut(
    tokens: list[tuple[int, int]],
    first: int,
    last: int,
    text: str,
    section_start: int,
    paragraph_breaks: set[int],
    sentence_ends: set[int],
) -> int:
    """Pull the window end back to a paragraph break or sentence end in its last 40%."""
    earliest = first + max(1, (last - first) * 6 // 10)
    for boundary_kind in ("paragraph", "sentence"):
        for candidate in range(last, earliest, -1):
            token_end = tokens[candidate - 1][1]
            if boundary_kind == "paragraph":
                if token_end - section_start in paragraph_breaks or (
                    candidate < len(tokens)
                    and "\n\n" in text[token_end : tokens[candidate][0]]
                ):
                    return candidate
            elif token_end in sentence_ends:
                return candidate
    return last


def _snap_to_sentence_start(
    tokens: list[tuple[int, int]], candidate: int, limit: int, sentence_ends: set[int]
) -> int:
    """Move an overlap start forward to the first sentence start before `limit`, if any."""
    for index in range(candidate, limit):
        if index > 0 and tokens[index - 1][1] in sentence_ends:
            return index
    return candidate
