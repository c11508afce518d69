"""Finding the files of a Notion export, and reading Notion's file names.

`export_files` owns turning what a user gives (an export .zip, or the folder it was unpacked
to) into one flat list of `ExportFile`s with their paths inside the export. Zips are read in
memory through `connectors.safe_zip`, never extracted. A zip at the root of an archive or of
the folder is an export part (Notion splits big exports into ``Export-...-Part-1.zip``, ...)
and its files are merged into the same tree; zips deeper down are attachments and are left
closed. macOS metadata (``__MACOSX``, ``._*``, ``.DS_Store``) is dropped, symlinks in a folder
are never followed, and wrapper folders that hold everything without being a page
(``Export-<uuid>``, or the folder a user zipped) are removed from the paths, so paths stay the
same across re-exports.

`clean_name` and its neighbours own Notion's naming: ``Page%20Title 0123...cdef.md`` is the
page "Page Title" with id ``0123...cdef``; ``Database <id>_all.csv`` is the database
"Database"; a link or a database cell names a page by such a path; a database row's page
repeats the row's cells as ``Column: value`` lines under its title.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import unquote

from connectors.base import ConnectorError
from connectors.safe_zip import ArchiveError, ArchiveLimits, SafeZip, open_zip_file

PAGE_FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
_ID_PATTERN = r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAME_WITH_ID = re.compile(rf"^(?:(.*?)\s+)?({_ID_PATTERN})$")
_EXPORT_WRAPPER = re.compile(r"^Export-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
_EXPORT_PART = re.compile(r"^Export-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}-Part-[0-9]+\.zip$", re.I)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_SUFFIX = re.compile(r"[A-Za-z0-9]{1,8}")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CELL_LINK = re.compile(r"\s\((?:[^()\s]|\([^()\s]*\))+\.(?:md|html|csv)\)")
_PROPERTY_LINE = re.compile(r"^([^:\n]{1,100}):\s")
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "__macosx"})


@dataclass(frozen=True)
class ExportFile:
    """One file of an export: its path inside the export, how messages name it, its reader."""

    parts: tuple[str, ...]
    origin: str
    read: Callable[[], bytes]

    @property
    def folder(self) -> tuple[str, ...]:
        """The folders the file sits in, from the export's root."""
        return self.parts[:-1]


def export_files(path: Path, *, limits: ArchiveLimits, archives: ExitStack) -> list[ExportFile]:
    """Every file of the export at `path` (a .zip or a folder), wrapper folders removed.

    Archives opened are registered on `archives`; read the files before it closes. Raises
    `ConnectorError` when the path does not exist, and the errors of `connectors.safe_zip`
    for hostile or damaged archives (a damaged export part included).
    """
    if path.is_file():
        files = _archive_files(archives.enter_context(open_zip_file(path, limits=limits)), archives)
    elif path.is_dir():
        files = _folder_files(path, limits=limits, archives=archives)
    else:
        raise ConnectorError(f"{path} does not exist; give the path of a Notion export .zip")
    return _without_wrappers(files)


def is_notion_export_folder(path: Path) -> bool:
    """Whether a folder looks like an unpacked Notion export (used by `NotionConnector.recognizes`).

    True when, within three levels, a page, database or folder name ends in a Notion id, or
    an export part ``Export-<uuid>-Part-N.zip`` sits at the top.
    """
    root_depth = len(path.parts)
    for folder, subfolders, files in os.walk(path):
        depth = len(Path(folder).parts) - root_depth
        for name in files:
            stem, suffix = split_suffix(name)
            if suffix in (*PAGE_FORMATS, ".csv") and _NAME_WITH_ID.match(strip_all(stem)):
                return True
            if depth == 0 and suffix == ".zip" and _EXPORT_WRAPPER.match(stem.split("-Part-")[0]):
                return True
        if any(_NAME_WITH_ID.match(name) for name in subfolders):
            return True
        if depth >= 2:
            subfolders.clear()
    return False


def is_notion_export_archive(path: Path) -> bool:
    """Whether a .zip file looks like a Notion export (used by `NotionConnector.recognizes`).

    True when a name inside has a Notion id (``Page <32 hex>.md``, ``Folder <id>/``), the
    archive holds export parts (``Export-<uuid>-Part-N.zip``) or pages (.md, .html, .csv), or
    it holds no files at all (the Notion connector then says there is nothing to ingest).
    Also True for an archive that is hostile or cannot be read, so that the Notion connector
    refuses it with a message naming the archive and the entry. Only the zip's directory is
    read, never its data.
    """
    try:
        with open_zip_file(path) as archive:
            names = [member.path for member in archive.members]
    except ArchiveError:
        return True
    files = [name for name in names if not any(_is_junk(part) for part in name.split("/"))]
    if not files:
        return True
    for name in files:
        parts = name.split("/")
        if any(_EXPORT_WRAPPER.match(part) or _NAME_WITH_ID.match(part) for part in parts[:-1]):
            return True
        stem, suffix = split_suffix(parts[-1])
        if suffix in (*PAGE_FORMATS, ".csv") or _NAME_WITH_ID.match(strip_all(stem)):
            return True
        if len(parts) == 1 and _EXPORT_PART.match(parts[0]):
            return True
    return False


def clean_name(part: str) -> tuple[str, str | None]:
    """A file or folder name as a title, and its Notion id (None when it has none).

    ``Page%20Title <id>.md`` -> ``Page Title``; ``Tasks <id>_all.csv`` -> ``Tasks``;
    attachments keep their extension (``report.pdf``); a bare id is ``Untitled``.
    """
    if _PERCENT_ESCAPE.search(part):
        try:
            part = unquote(part, errors="strict")
        except UnicodeDecodeError:
            pass  # not percent-encoding after all; keep the name as it is
    part = unicodedata.normalize("NFC", part)
    stem, suffix = split_suffix(part)
    if suffix not in (*PAGE_FORMATS, ".csv"):
        stem = part
    name, notion_id = split_id(strip_all(stem) if suffix == ".csv" else stem)
    if notion_id is None:
        name = stem
    return " ".join(name.split()) or "Untitled", notion_id


def split_id(stem: str) -> tuple[str, str | None]:
    """``Title <id>`` -> (``Title``, id without dashes); names without an id -> (name, None)."""
    match = _NAME_WITH_ID.match(stem)
    if match is None:
        return stem, None
    return match.group(1) or "", match.group(2).replace("-", "")


def split_suffix(name: str) -> tuple[str, str]:
    """``Page.MD`` -> (``Page``, ``.md``); a name without a plausible extension -> (name, "")."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or not _SUFFIX.fullmatch(suffix):
        return name, ""
    return stem, "." + suffix.lower()


def strip_all(stem: str) -> str:
    """The stem of a database CSV without the ``_all`` of its all-columns export."""
    return stem[: -len("_all")] if stem.endswith("_all") else stem


def link_target(href: str) -> tuple[str, str | None, bool] | None:
    """What a link inside the export names: (clean name, Notion id, is a page or database).

    None for web links (any ``scheme:``), bare fragments and empty targets. Only the last
    component counts: Notion ids make page names unique, whatever folder the link goes through.
    """
    target = href.strip().strip("<>").split("#", 1)[0].split("?", 1)[0]
    if not target or _URL_SCHEME.match(target):
        return None
    last = unicodedata.normalize("NFC", unquote(target)).rstrip("/").rsplit("/", 1)[-1]
    name, notion_id = clean_name(last)
    return name, notion_id, split_suffix(last)[1] in (*PAGE_FORMATS, ".csv", "")


def clean_cell(value: str) -> str:
    """A database cell without Notion's relative paths.

    ``Page (Page%20<id>.md), Other (...)`` -> ``Page, Other``; a bare file path keeps its
    file name.
    """
    value = _CELL_LINK.sub("", value.strip())
    items = value.split(", ")
    for index, item in enumerate(items):
        if item and " " not in item and "/" in item and "://" not in item:
            items[index] = clean_name(unquote(item).rsplit("/", 1)[-1])[0]
    return ", ".join(items)


def uri_component(name: str) -> str:
    """A name fit to be one segment of a uri: no slash, single spaces, never empty."""
    return " ".join(name.replace("/", "-").split()) or "Untitled"


def title_key(text: str) -> str:
    """What two titles share when they name the same page: case and spacing ignored."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def row_properties(columns: list[str], cells: list[str]) -> frozenset[tuple[str, str]]:
    """A database row's (column, cleaned cell) pairs, the title column and empty cells left out."""
    pairs = ((column, clean_cell(cell)) for column, cell in zip(columns[1:], cells[1:], strict=False))
    return frozenset((column, value) for column, value in pairs if value)


def page_properties(text: str, columns: frozenset[str]) -> frozenset[tuple[str, str]]:
    """The ``Column: value`` lines under a row page's title, values cleaned like cells."""
    lines = text.split("\n")
    start, end = _property_line_span(lines, columns)
    pairs = (line.split(":", 1) for line in lines[start:end] if line.strip())  # each has a ':'
    cleaned = ((column, clean_cell(value)) for column, value in pairs)
    return frozenset((column, value) for column, value in cleaned if value)


def _property_line_span(lines: list[str], columns: frozenset[str]) -> tuple[int, int]:
    """Where the ``Column: value`` lines under a row page's ``# Title`` start and end."""
    start = next((index + 1 for index, line in enumerate(lines) if line.startswith("# ")), 0)
    end = start
    while end < len(lines) and (
        not lines[end].strip() or ((match := _PROPERTY_LINE.match(lines[end])) and match.group(1) in columns)
    ):
        end += 1
    return start, end


def without_property_lines(text: str, columns: frozenset[str]) -> str:
    """A row page without its property lines (the row's CSV cells already say them)."""
    lines = text.split("\n")
    start, end = _property_line_span(lines, columns)
    return "\n".join([*lines[:start], "", *lines[end:]])


def _folder_files(root: Path, *, limits: ArchiveLimits, archives: ExitStack) -> list[ExportFile]:
    files: list[ExportFile] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not _is_junk(name))
        relative = Path(folder).relative_to(root).parts
        for name in sorted(names):
            path = Path(folder, name)
            if _is_junk(name) or path.is_symlink():
                continue  # a link in an unpacked export could point anywhere: never followed
            if not relative and name.lower().endswith(".zip"):
                archive = archives.enter_context(open_zip_file(path, limits=limits))
                files.extend(_archive_files(archive, archives))
                continue
            parts = tuple(unicodedata.normalize("NFC", part) for part in (*relative, name))
            files.append(ExportFile(parts=parts, origin=str(path), read=path.read_bytes))
    return files


def _archive_files(archive: SafeZip, archives: ExitStack) -> list[ExportFile]:
    """The files of an archive, with the export parts at its root opened and merged in."""
    files: list[ExportFile] = []
    for member in archive.members:
        parts = tuple(unicodedata.normalize("NFC", part) for part in member.path.split("/"))
        if any(_is_junk(part) for part in parts):
            continue
        if len(parts) == 1 and parts[0].lower().endswith(".zip"):
            part_archive = archives.enter_context(archive.open_nested(member))
            files.extend(_archive_files(part_archive, archives))
            continue
        origin = f"{archive.name} › {member.path}"
        files.append(ExportFile(parts=parts, origin=origin, read=partial(archive.read, member)))
    return files


def _without_wrappers(files: list[ExportFile]) -> list[ExportFile]:
    """Drop leading folders that hold everything and are no page (``Export-<uuid>``, ...)."""
    while files and all(len(file.parts) > 1 for file in files):
        first = files[0].parts[0]
        if any(file.parts[0] != first for file in files) or split_id(first)[1] is not None:
            break
        files = [ExportFile(file.parts[1:], file.origin, file.read) for file in files]
    return files


def _is_junk(name: str) -> bool:
    return name.lower() in _JUNK_NAMES or name.startswith("._")
