"""Splitting Markdown text into titled, heading-scoped `Block`s.

`read_markdown` owns what a Markdown file means structurally: YAML front matter (stripped; its
`title:` is used), ATX (``#`` .. ``######``) and setext (``===`` / ``---``) headings, which set
the `heading_path` of the blocks under them, and the blocks themselves: paragraphs, lists,
tables, quotes, and fenced code kept whole (a ``#`` inside a fence is code, not a heading).
Each block's `anchor` is the GitHub-style slug of its nearest heading, so a citation can link
to ``file.md#that-heading``. The text of blocks stays Markdown; nothing is rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connectors.base import Block

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}((?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_FRONT_MATTER_TITLE = re.compile(r"""^title[ \t]*:[ \t]*(.*?)[ \t]*$""", re.IGNORECASE)
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_INLINE_MARKUP = re.compile(r"(\*\*|__|\*|_|`|~~)(?=\S)(.+?)(?<=\S)\1")
_HTML_TAG = re.compile(r"<[^>]+>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def read_markdown(text: str, *, name: str) -> tuple[str | None, list[Block]]:
    """Return the document title (first level-1 heading or front-matter ``title:``) and blocks.

    `name` identifies the file; Markdown never fails to parse, so it is only kept for symmetry
    with the other readers and for future messages.
    """
    del name  # every string is valid Markdown
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    front_matter_title, body_start = _front_matter(lines)
    builder = _BlockBuilder()
    builder.read(lines[body_start:])
    title = front_matter_title or builder.first_top_heading
    return title, builder.blocks


def github_slug(heading: str) -> str:
    """The fragment GitHub gives a heading: lowercase, punctuation dropped, spaces to ``-``."""
    lowered = heading.strip().lower()
    kept = "".join(char for char in lowered if char.isalnum() or char in " -_")
    return kept.replace(" ", "-")


def plain_heading_text(raw: str) -> str:
    """Heading text without inline Markdown: links keep their label, emphasis its words."""
    text = _INLINE_LINK.sub(r"\1", raw)
    text = _HTML_TAG.sub("", text)
    previous = None
    while previous != text:
        previous = text
        text = _INLINE_MARKUP.sub(r"\2", text)
    return " ".join(text.split())


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """The front matter's title and the index of the first body line (0 when there is none)."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            title = None
            for line in lines[1:index]:
                match = _FRONT_MATTER_TITLE.match(line)
                if match and match.group(1):
                    title = match.group(1).strip("'\"").strip() or None
                    break
            return title, index + 1
        stripped = lines[index].strip()
        # YAML front matter holds keys, list items, comments and indented values only.
        if stripped and not (":" in stripped or stripped.startswith(("-", "#")) or lines[index][:1] in " \t"):
            return None, 0
    return None, 0


@dataclass
class _BlockBuilder:
    """Walks the lines once, tracking the heading stack and the block being gathered."""

    blocks: list[Block] = field(default_factory=list)
    first_top_heading: str | None = None
    _headings: list[tuple[int, str]] = field(default_factory=list)
    _anchor: str | None = None
    _slug_counts: dict[str, int] = field(default_factory=dict)
    _pending: list[str] = field(default_factory=list)
    _pending_is_list: bool = False
    _blank_inside_list: bool = False

    def read(self, lines: list[str]) -> None:
        index = 0
        while index < len(lines):
            line = lines[index]
            fence = _FENCE_OPEN.match(line)
            if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
                self._flush()
                index = self._read_fence(lines, index, fence.group(2))
                continue
            heading = _ATX_HEADING.match(line)
            if heading:
                self._flush()
                self._open_heading(len(heading.group(1)), heading.group(2) or "")
            elif not line.strip():
                if self._pending_is_list:
                    self._blank_inside_list = True
                else:
                    self._flush()
            elif self._is_setext_underline(line):
                level = 1 if line.strip().startswith("=") else 2
                raw_heading = " ".join(part.strip() for part in self._pending)
                self._pending = []
                self._open_heading(level, raw_heading)
            elif _THEMATIC_BREAK.match(line):
                self._flush()
            else:
                self._add_line(line)
            index += 1
        self._flush()

    def _is_setext_underline(self, line: str) -> bool:
        if not self._pending or self._pending_is_list or not _SETEXT_UNDERLINE.match(line):
            return False
        first = self._pending[0].lstrip()
        return not first.startswith((">", "|"))

    def _add_line(self, line: str) -> None:
        starts_item = bool(_LIST_ITEM.match(line))
        if self._pending_is_list and self._blank_inside_list:
            # A blank line inside a list ends it unless an item or indented text follows.
            if starts_item or line[:1] in " \t":
                self._pending.append("")
            else:
                self._flush()
        self._blank_inside_list = False
        if not self._pending:
            self._pending_is_list = starts_item
        self._pending.append(line.rstrip())

    def _read_fence(self, lines: list[str], start: int, opener: str) -> int:
        """Gather a fenced code block verbatim; return the index of the line after it."""
        closing = re.compile(rf"^ {{0,3}}{re.escape(opener[0])}{{{len(opener)},}}[ \t]*$")
        end = start + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        fenced = lines[start : end + 1]  # an unclosed fence runs to the end of the file
        self._emit("\n".join(line.rstrip() for line in fenced))
        return end + 1

    def _open_heading(self, level: int, raw_text: str) -> None:
        text = plain_heading_text(raw_text)
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        if not text:
            self._anchor = None
            return
        self._headings.append((level, text))
        if level == 1 and self.first_top_heading is None:
            self.first_top_heading = text
        slug = github_slug(text)
        seen = self._slug_counts.get(slug, 0)
        self._slug_counts[slug] = seen + 1
        self._anchor = slug if seen == 0 else f"{slug}-{seen}"

    def _flush(self) -> None:
        if self._pending:
            # Comments (badges markers, editor notes) are not content; code keeps them.
            self._emit(_HTML_COMMENT.sub("", "\n".join(self._pending)))
        self._pending = []
        self._pending_is_list = False
        self._blank_inside_list = False

    def _emit(self, text: str) -> None:
        if not text.strip():
            return
        self.blocks.append(
            Block(
                text=text.strip("\n"),
                heading_path=tuple(heading for _, heading in self._headings),
                anchor=self._anchor,
            )
        )
