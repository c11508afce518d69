"""The files connector: a local file or folder of text, Markdown, HTML, PDF and Word files.

`FilesConnector` owns walking the location (a single file, or a folder recursively, in sorted
order, skipping hidden entries and never leaving the folder through a symlink), choosing the
files that the include/exclude globs select, and turning each into a `Document` with the
reader for its type. Readers run in a bounded worker process (`connectors.readers.sandbox`):
a file that is too large, too slow, too hungry or crashes its parser is stopped there. A file it
cannot use (unsupported type, empty, unreadable, over a bound) becomes a `SkippedItem` with a
message, so one bad file never stops the rest of the folder.

Globs match the path relative to the folder, with ``/`` separators (``**`` spans folders:
``docs/**/*.md`` matches ``docs/a.md`` and ``docs/x/y/a.md``), or the bare file name
(``*.md``). An exclude glob that matches a folder prunes everything under it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

from connectors.base import (
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
from connectors.readers.parsing import FILE_TYPES, PLAIN_TEXT_TYPES
from connectors.readers.sandbox import ParseLimits, ParseRequest, ParserPool, shared_pool

SUPPORTED_SUFFIXES = ", ".join(FILE_TYPES)
# Larger files are skipped with a message rather than read into memory.
MAX_FILE_BYTES = 200 * 1024 * 1024
# Files up to this size are parsed in batches of up to BATCH_FILES files or BATCH_BYTES bytes:
# one round trip to the worker per file costs more than reading a small file.
BATCH_FILE_BYTES = 64 * 1024
BATCH_FILES = 64
BATCH_BYTES = 1024 * 1024


class FilesConnector(Connector):
    """Reads one local file or every supported file under a folder."""

    kind = "files"
    options = (
        ConnectorOption(
            "include", list, "globs of the files to take, such as docs/**/*.md (all when none)", ()
        ),
        ConnectorOption("exclude", list, "globs of files or folders to leave out, such as drafts/", ()),
    )

    def __init__(
        self,
        path: Path,
        *,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        limits: ParseLimits | None = None,
    ) -> None:
        """`limits` bound the parsing of each file (None: `ParseLimits.from_environment()`)."""
        self.path = Path(path).expanduser()
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.limits = limits

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
        parser = shared_pool(self.limits or ParseLimits.from_environment())
        root = path.resolve()
        if root.is_file():
            yield read_file(root, relative_path=root.name, parser=parser)
            return
        if not root.is_dir():
            raise ConnectorError(f"{self.path} is neither a file nor a folder; give a file or folder")
        yield from read_files(self._walk(root), parser=parser)

    def _walk(self, root: Path) -> Iterator[tuple[Path, str]]:
        """Selected files under `root`, in name order, as (resolved path, posix path relative to
        `root`). A file reached twice (through a link inside the folder) comes once.

        Only links cost a `resolve`: below a real folder, a real entry's path is already its
        real path. So that nothing is held per file, a file reached through a link is left to the
        direct walk whenever that walk selects its real path too; only the others are remembered.
        """
        yield from self._walk_folder(
            root, "", real_folder=root, root=root, through_link=False, visited={root}, seen=set()
        )

    def _walk_folder(
        self,
        folder: Path,
        relative_folder: str,
        *,
        real_folder: Path,
        root: Path,
        through_link: bool,
        visited: set[Path],
        seen: set[Path],
    ) -> Iterator[tuple[Path, str]]:
        for name, kind in _sorted_entries(folder):
            if name.startswith((".", "~$")):
                continue  # hidden files and folders (.git), Office lock files
            if not kind & (_DIRECTORY | _FILE):
                continue  # a dangling link, a link loop, a socket or a device
            relative = f"{relative_folder}{name}"
            linked = through_link or kind & _LINK
            if kind & _LINK:
                try:
                    real_path = (folder / name).resolve()
                except (OSError, RuntimeError):  # a loop (RuntimeError before Python 3.13)
                    continue
                if not real_path.is_relative_to(root):
                    continue  # never leave the folder through a link
            else:
                real_path = real_folder / name
            if kind & _DIRECTORY:
                if self._excluded(relative, name):
                    continue
                if linked and (real_path in visited or self._reached_directly(real_path, root, folder=True)):
                    continue  # a loop, or a folder the direct walk lists anyway
                if linked:
                    visited.add(real_path)
                yield from self._walk_folder(
                    folder / name,
                    relative + "/",
                    real_folder=real_path,
                    root=root,
                    through_link=bool(linked),
                    visited=visited,
                    seen=seen,
                )
            elif kind & _FILE:
                if not self._selected(relative, name):
                    continue
                if linked:
                    if real_path in seen or self._reached_directly(real_path, root, folder=False):
                        continue
                    seen.add(real_path)
                # Named by the real path, a file reached through a link is the same document.
                yield real_path, real_path.relative_to(root).as_posix()

    def _reached_directly(self, real_path: Path, root: Path, *, folder: bool) -> bool:
        """Whether the walk reaches `real_path` (resolved, under `root`) without any link."""
        parts = real_path.relative_to(root).parts
        for depth, part in enumerate(parts):
            if part.startswith((".", "~$")) or self._excluded("/".join(parts[: depth + 1]), part):
                return False
        return folder or bool(parts) and self._selected("/".join(parts), parts[-1])

    def _selected(self, relative_path: str, file_name: str) -> bool:
        if self._excluded(relative_path, file_name):
            return False
        if not self.include:
            return True
        return any(glob_matches(pattern, relative_path, file_name) for pattern in self.include)

    def _excluded(self, relative_path: str, name: str) -> bool:
        return any(glob_matches(pattern, relative_path, name) for pattern in self.exclude)


_LINK, _DIRECTORY, _FILE = 1, 2, 4


def _sorted_entries(folder: Path) -> list[tuple[str, int]]:
    """(name, kind bits) of a folder's entries in name order; compact for huge folders."""
    entries: list[tuple[str, int]] = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                try:
                    kind = (
                        (_LINK if entry.is_symlink() else 0)
                        | (_DIRECTORY if entry.is_dir() else 0)
                        | (_FILE if entry.is_file() else 0)
                    )
                except OSError:
                    kind = 0  # vanished, or a link we may not follow
                entries.append((entry.name, kind))
    except OSError as error:
        # Failing the whole source keeps what was stored from this folder.
        raise ConnectorError(
            f"cannot list folder {folder} ({error.strerror or error}); check its permissions"
        ) from None
    entries.sort()
    return entries


def read_file(path: Path, *, relative_path: str, parser: ParserPool | None = None) -> Document | SkippedItem:
    """Read one file into a `Document`, or say why it was skipped.

    The bytes are read here, with the user's permissions; `parser` (default: the shared pool
    for `ParseLimits.from_environment()`) turns them into text in a bounded worker.
    """
    [item] = read_files([(path, relative_path)], parser=parser)
    return item


def read_files(
    paths: Iterable[tuple[Path, str]], *, parser: ParserPool | None = None
) -> Iterator[Document | SkippedItem]:
    """`read_file` for each (path, relative path), in order; small files share a round trip to
    the parse worker (a batch that passes a bound is parsed again file by file)."""
    parser = parser or shared_pool(ParseLimits.from_environment())
    pending: list[_FileBytes] = []
    pending_bytes = 0
    for path, relative_path in paths:
        read = _read_bytes(path, relative_path=relative_path, max_text_bytes=parser.limits.max_text_bytes)
        small = not isinstance(read, SkippedItem) and len(read.content) <= BATCH_FILE_BYTES
        if pending and not small:
            yield from _parse_batch(pending, parser)
            pending, pending_bytes = [], 0
        if isinstance(read, SkippedItem):
            yield read
        elif small:
            pending.append(read)
            pending_bytes += len(read.content)
            if len(pending) >= BATCH_FILES or pending_bytes >= BATCH_BYTES:
                yield from _parse_batch(pending, parser)
                pending, pending_bytes = [], 0
        else:
            yield from _parse_batch([read], parser)
    yield from _parse_batch(pending, parser)


@dataclass(frozen=True)
class _FileBytes:
    path: Path
    relative_path: str
    file_type: str
    size: int
    mtime: float
    content: bytes


def _read_bytes(path: Path, *, relative_path: str, max_text_bytes: int) -> _FileBytes | SkippedItem:
    """The file's bytes, or why it is skipped before any parsing (type, size, permissions, empty)."""
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
        if file_type in PLAIN_TEXT_TYPES and status.st_size > max_text_bytes:
            return SkippedItem(
                uri,
                f"{path} is {status.st_size // (1024 * 1024)} MiB of text, over the "
                f"{max_text_bytes // (1024 * 1024)} MiB bound for one file; split it, exclude it, or "
                "raise AGENTKIT_PARSE_MAX_TEXT_MB",
            )
        content = path.read_bytes()
    except OSError as error:
        return SkippedItem(uri, f"{path} cannot be read ({error.strerror or error}); check its permissions")
    if not content.strip():
        return SkippedItem(uri, f"{path} is empty")
    return _FileBytes(path, relative_path, file_type, status.st_size, status.st_mtime, content)


def _parse_batch(files: list[_FileBytes], parser: ParserPool) -> Iterator[Document | SkippedItem]:
    requests = [ParseRequest(file.content, file.file_type, str(file.path)) for file in files]
    for file, parsed in zip(files, parser.parse_many(requests), strict=True):
        if isinstance(parsed, UnreadableItemError):
            yield SkippedItem(str(file.path), str(parsed))
            continue
        yield Document(
            uri=str(file.path),
            title=parsed.title or prettify_stem(file.path.stem),
            blocks=parsed.blocks,
            metadata={
                "path": file.relative_path,
                "size": file.size,
                "mtime": file.mtime,
                "file_type": file.file_type,
            },
        )


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
