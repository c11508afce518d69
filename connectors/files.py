"""The files connector: a local file or folder of text, Markdown, HTML, PDF and Word files.

`FilesConnector` owns walking the location (a single file, or a folder recursively, in sorted
order, skipping hidden entries and never leaving the folder through a symlink), choosing the
files that the include/exclude globs select, and turning each into a `Document` with the
reader for its type. A file it cannot use (unsupported type, empty, unreadable) becomes a
`SkippedItem` with a message, so one bad file never stops the rest of the folder.

Globs match the path relative to the folder, with ``/`` separators (``**`` spans folders:
``docs/**/*.md`` matches ``docs/a.md`` and ``docs/x/y/a.md``), or the bare file name
(``*.md``). An exclude glob that matches a folder prunes everything under it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import cast

from connectors.base import (
    Block,
    Connector,
    ConnectorError,
    Document,
    FetchedItem,
    PreviousFetch,
    SkippedItem,
    UnreadableItemError,
    local_path_text,
)
from connectors.options import ConnectorOption
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
SUPPORTED_SUFFIXES = ", ".join(FILE_TYPES)
# Larger files are skipped with a message rather than read into memory.
MAX_FILE_BYTES = 200 * 1024 * 1024


class FilesConnector(Connector):
    """Reads one local file or every supported file under a folder."""

    kind = "files"
    options = (
        ConnectorOption(
            "include", list, "globs of the files to take, such as docs/**/*.md (all when none)", ()
        ),
        ConnectorOption("exclude", list, "globs of files or folders to leave out, such as drafts/", ()),
    )

    def __init__(self, path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> None:
        self.path = Path(path).expanduser()
        self.include = tuple(include)
        self.exclude = tuple(exclude)

    @classmethod
    def recognizes(cls, location: str, options: Mapping[str, object]) -> int:
        """Any local path (1, the last resort), except a zip file: this connector reads folders."""
        del options
        path_text = local_path_text(location)
        if path_text is None:
            return 0
        path = Path(path_text).expanduser()
        return 0 if path.suffix.lower() == ".zip" and path.is_file() else 1

    @classmethod
    def from_options(cls, location: str, options: Mapping[str, object]) -> FilesConnector:
        """Build from a stored source: `location` is a path (or file:// URL); options are
        ``include`` and ``exclude``, each a list of glob strings."""
        values = cls.check_options(location, options)
        path_text = local_path_text(location) or location
        return cls(
            Path(path_text),
            include=tuple(cast("list[str]", values.get("include", ()))),
            exclude=tuple(cast("list[str]", values.get("exclude", ()))),
        )

    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        """Yield a `Document` or `SkippedItem` for every selected file.

        Every file is read each time (`previous` is not used): the content hash decides what
        changed. Raises `ConnectorError` when the path does not exist.
        """
        del previous  # reading local files is cheap; hashes decide what changed
        path = self.path.absolute()
        if not path.exists():
            raise ConnectorError(f"{self.path} does not exist; check the path")
        root = path.resolve()
        if root.is_file():
            yield read_file(root, relative_path=root.name)
            return
        if not root.is_dir():
            raise ConnectorError(f"{self.path} is neither a file nor a folder; give a file or folder")
        for file_path, relative_path in self._walk(root):
            yield read_file(file_path, relative_path=relative_path)

    def _walk(self, root: Path) -> Iterator[tuple[Path, str]]:
        """Selected files under `root`, in name order, as (resolved path, posix path relative to
        `root`). A file reached twice (through a link inside the folder) comes once."""
        yield from self._walk_folder(root, "", root=root, visited={root}, seen=set())

    def _walk_folder(
        self,
        folder: Path,
        relative_folder: str,
        *,
        root: Path,
        visited: set[Path],
        seen: set[Path],
    ) -> Iterator[tuple[Path, str]]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            # Failing the whole source keeps what was stored from this folder.
            raise ConnectorError(
                f"cannot list folder {folder} ({error.strerror or error}); check its permissions"
            ) from None
        for entry in entries:
            if entry.name.startswith((".", "~$")):
                continue  # hidden files and folders (.git), Office lock files
            relative = f"{relative_folder}{entry.name}"
            entry_path = Path(entry.path)
            real_path = entry_path.resolve()
            if entry.is_symlink() and not real_path.is_relative_to(root):
                continue  # never leave the folder through a link
            if entry.is_dir():
                if real_path in visited or self._excluded(relative, entry.name):
                    continue
                visited.add(real_path)
                yield from self._walk_folder(
                    entry_path, relative + "/", root=root, visited=visited, seen=seen
                )
            elif entry.is_file():
                if real_path in seen or not self._selected(relative, entry.name):
                    continue
                seen.add(real_path)
                # Named by the real path, a file reached through a link is the same document.
                yield real_path, real_path.relative_to(root).as_posix()

    def _selected(self, relative_path: str, file_name: str) -> bool:
        if self._excluded(relative_path, file_name):
            return False
        if not self.include:
            return True
        return any(glob_matches(pattern, relative_path, file_name) for pattern in self.include)

    def _excluded(self, relative_path: str, name: str) -> bool:
        return any(glob_matches(pattern, relative_path, name) for pattern in self.exclude)


def read_file(path: Path, *, relative_path: str) -> Document | SkippedItem:
    """Read one file into a `Document`, or say why it was skipped."""
    uri = str(path)
    suffix = path.suffix.lower()
    file_type = FILE_TYPES.get(suffix)
    if file_type is None:
        described = f"type {suffix}" if suffix else "type (no file extension)"
        return SkippedItem(uri, f"unsupported file {described}; supported: {SUPPORTED_SUFFIXES}")
    try:
        status = path.stat()
        if status.st_size > MAX_FILE_BYTES:
            return SkippedItem(
                uri,
                f"{path} is {status.st_size // (1024 * 1024)} MiB, over the "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MiB limit; split it or exclude it",
            )
        content = path.read_bytes()
    except OSError as error:
        return SkippedItem(uri, f"{path} cannot be read ({error.strerror or error}); check its permissions")
    if not content.strip():
        return SkippedItem(uri, f"{path} is empty")
    try:
        title, blocks = _read_content(content, file_type=file_type, path=path)
    except UnreadableItemError as error:
        return SkippedItem(uri, str(error))
    if not any(block.text.strip() for block in blocks):
        return SkippedItem(uri, f"{path} is empty (it holds no text)")
    return Document(
        uri=uri,
        title=title or prettify_stem(path.stem),
        blocks=blocks,
        metadata={
            "path": relative_path,
            "size": status.st_size,
            "mtime": status.st_mtime,
            "file_type": file_type,
        },
    )


def _read_content(content: bytes, *, file_type: str, path: Path) -> tuple[str | None, list[Block]]:
    name = str(path)
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
    raise AssertionError(f"no reader for file type {file_type}")


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


def prettify_stem(stem: str) -> str:
    """A title from a file name: ``getting_started-guide`` -> ``Getting started guide``."""
    words = " ".join(re.split(r"[_\s]+|(?<!\d)-|-(?!\d)", stem)).split()
    if not words:
        return stem
    title = " ".join(words)
    return title[0].upper() + title[1:]


def glob_matches(pattern: str, relative_path: str, file_name: str) -> bool:
    """Whether a glob matches the relative posix path or the bare file/folder name."""
    regex = _glob_regex(pattern)
    return bool(regex.fullmatch(relative_path) or regex.fullmatch(file_name))


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob: ``**/`` any folders (or none), ``**`` anything, ``*`` and ``?`` one
    path segment's characters, ``[...]`` a character class."""
    pattern = pattern.strip().lstrip("/").removeprefix("./")
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif char == "*":
            parts.append("[^/]*")
            index += 1
        elif char == "?":
            parts.append("[^/]")
            index += 1
        elif char == "[" and pattern.find("]", index + 2) != -1:
            end = pattern.find("]", index + 2)  # a "]" right after "[" is part of the class
            body = pattern[index + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            parts.append(f"[{body}]")
            index = end + 1
        else:
            parts.append(re.escape(char))
            index += 1
    if pattern.endswith("/"):
        parts.append(".*")  # "drafts/" means everything in drafts
    return re.compile("".join(parts))
