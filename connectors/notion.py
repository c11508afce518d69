"""Reading a Notion workspace export (a .zip, or the folder it was unpacked to) into Documents.

`NotionConnector` owns what the pages, databases and attachments of an export become; finding
the export's files and reading Notion's names is `connectors.notion_export`'s job, and zips are
read in memory by `connectors.safe_zip`. Both "Markdown & CSV" and "HTML" exports are read.

- A document's `uri` is its path inside the export without Notion's ids
  (``Workspace/Parent/Page``): it stays the same across re-exports. Uris that collide all get
  the last 8 hex digits of their Notion id (rows without a page: their row number).
- The folder nesting becomes a breadcrumb of page titles, in ``metadata["breadcrumb"]``
  (``Workspace / Parent / Page``) and as the prefix of every block's `heading_path`.
  Internal links (``[text](Other%20Page%20<id>.md)``, ``<a href="...<id>.html">``) are
  replaced by the linked page's title (so are notion.so links to pages of the export);
  embedded images lose their link.
- A database CSV becomes one document per row (``column: value`` lines, columns also in the
  metadata), merged with the row's page from the folder named like the CSV. When both
  ``X.csv`` and ``X_all.csv`` exist only ``X_all.csv`` is read: it holds every row and every
  column, while ``X.csv`` is the database's current view. A CSV with no row folder whose
  columns and rows all repeat another database is a linked view: it is reported as skipped,
  so its rows are not ingested twice.
- PDF, text and Markdown attachments are documents of their own; images, other files and zip
  attachments are `SkippedItem`s; the export's own ``index.html`` is ignored.

Every file is read before the first item is yielded, so a hostile archive
(`UnsafeArchiveError`) or a damaged export part (`ArchiveError`, fatal on purpose: skipping a
part would remove all its pages from the index) stops the whole source before anything
changes, while a damaged single page or attachment is a `SkippedItem`.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, count
from pathlib import Path
from urllib.parse import unquote

from connectors.base import (
    Block,
    Connector,
    ConnectorError,
    Document,
    FetchedItem,
    MetadataValue,
    PreviousFetch,
    SkippedItem,
    UnreadableItemError,
    local_path_text,
)
from connectors.notion_export import (
    PAGE_FORMATS,
    ExportFile,
    clean_cell,
    clean_name,
    export_files,
    is_notion_export_archive,
    is_notion_export_folder,
    link_target,
    page_properties,
    row_properties,
    split_id,
    split_suffix,
    strip_all,
    title_key,
    uri_component,
    without_property_lines,
)
from connectors.readers.html import decode_html, read_html
from connectors.readers.markdown import plain_heading_text, read_markdown
from connectors.readers.pdf import read_pdf
from connectors.readers.text import decode_text
from connectors.safe_zip import DEFAULT_ARCHIVE_LIMITS, ArchiveLimits

__all__ = ["NotionConnector", "is_notion_export_folder"]

_MARKDOWN_LINK = re.compile(
    r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]"
    r"\(\s*(<[^>]*>|(?:[^()\s]|\([^()\s]*\))*)(?:\s+\"[^\"]*\")?\s*\)"
)
_NOTION_URL = re.compile(r"^https?://(?:www\.)?notion\.so/(?:[^/?#]*/)*(?:[^/?#]*-)?([0-9a-f]{32})(?:[?#]|$)")
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_ANCHOR = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HTML_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_HTML_ICON = re.compile(
    r"<span\b[^>]*\bclass=\"[^\"]*\bicon\b[^\"]*\"[^>]*>.*?</span>", re.IGNORECASE | re.DOTALL
)
_HTML_TAG = re.compile(r"<[^>]*>")
_TEXT_SUFFIXES = frozenset({".txt", ".text", ".log"})
_IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp", ".tif", ".tiff", ".heic", ".ico"}
)
_SKIP_REASONS = {
    "image": "images are not ingested (they hold no text to index)",
    ".zip": "zip attachments inside pages are not opened; unpack it and add it as a files source",
    ".csv": "a CSV attachment (not a Notion database) is not ingested; add it as a records source",
    "": "{suffix} files are not ingested; pages, databases, PDF and text attachments are",
}
_METADATA_VALUE_CHARS = 500
_RESERVED_KEYS = frozenset({"breadcrumb", "database", "notion_id", "format"})
_SHORT_ID_DIGITS = 8


@dataclass
class _Page:
    """A page read in full: its decoded text (Markdown or HTML) and its title."""

    file: ExportFile
    text: str
    title: str
    page_format: str
    notion_id: str | None


@dataclass
class _Database:
    """A database CSV read in full: columns (the first is the title) and padded rows."""

    file: ExportFile
    notion_id: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    has_row_folder: bool = False


@dataclass
class _Planned:
    """A document (or skip) to yield, with what disambiguates its uri if it collides."""

    uri: str
    build: Callable[[str], FetchedItem]
    notion_id: str | None = None
    fallback: str | None = None


@dataclass
class _ExportIndex:
    """Everything read from an export; `others` hold attachment bytes (None when not read)."""

    pages: list[_Page] = field(default_factory=list)
    databases: list[_Database] = field(default_factory=list)
    others: list[tuple[ExportFile, bytes | None]] = field(default_factory=list)
    titles_by_id: dict[str, str] = field(default_factory=dict)
    unreadable: list[tuple[ExportFile, str]] = field(default_factory=list)


class NotionConnector(Connector):
    """Reads a Notion export: a .zip file (parts inside included) or an unpacked folder."""

    kind = "notion"

    def __init__(self, path: Path, *, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> None:
        self.path = path
        self.limits = limits

    @classmethod
    def recognizes(cls, location: str, options: Mapping[str, object]) -> int:
        """10 for a Notion export (a zip or an unpacked folder); a zip that is not one is
        refused with advice, since no other built-in kind reads zips."""
        del options
        path_text = local_path_text(location)
        if path_text is None:
            return 0
        path = Path(path_text).expanduser()
        if path.is_file() and path.suffix.lower() == ".zip":
            if is_notion_export_archive(path):
                return 10
            raise ConnectorError(
                f"{location} is a zip archive but not a Notion export (no Notion page ids, export "
                "parts or .md/.html/.csv pages inside); unpack it and add the folder"
            )
        return 10 if path.is_dir() and is_notion_export_folder(path) else 0

    @classmethod
    def from_options(cls, location: str, options: Mapping[str, object]) -> NotionConnector:
        """Build from a stored source: `location` is the export's path; there are no options."""
        cls.check_options(location, options)
        return cls(Path(local_path_text(location) or location))

    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        """Yield a document per page, database row and readable attachment; skips for the rest.

        Raises `ConnectorError` (or its `UnsafeArchiveError`) before yielding anything when the
        export is missing, hostile, damaged, or holds nothing to ingest.
        """
        del previous  # the export is one file: every fetch reads it, hashes decide what changed
        with ExitStack() as archives:
            files = export_files(self.path, limits=self.limits, archives=archives)
            planned = _ExportReader(files, source=self.path.name).plan()
        yield from _with_unique_uris(planned)


class _ExportReader:
    """Reads every file of one export once, then plans the documents to yield."""

    def __init__(self, files: list[ExportFile], *, source: str) -> None:
        self.files = files
        self.source = source
        self.index = _ExportIndex()
        self._pages_by_folder: dict[tuple[tuple[str, ...], str | None], list[_Page]] | None = None

    def plan(self) -> list[_Planned]:
        for file in self.files:
            self._read(file)
        index = self.index
        readable_attachments = any(content is not None for _, content in index.others)
        if not (index.pages or index.databases or index.unreadable or readable_attachments):
            raise ConnectorError(
                f"{self.source}: nothing to ingest — the export contains no pages (no .md or "
                ".html pages, no database .csv files, no PDF or text attachments); export with "
                "'Markdown & CSV' or 'HTML' and include subpages"
            )
        for database in index.databases:
            index.titles_by_id.setdefault(database.notion_id, database.title)
            database.has_row_folder = bool(self._row_pages(database))
        planned: list[_Planned] = []
        merged_pages: set[int] = set()
        for database in index.databases:
            planned.extend(self._plan_database(database, merged_pages))
        for page in index.pages:
            if id(page) not in merged_pages:
                planned.append(self._plan_page(page))
        for file, content in index.others:
            planned.append(self._plan_other(file, content))
        for file, reason in index.unreadable:
            planned.append(_Planned(self._uri(file), partial(SkippedItem, reason=reason)))
        return planned

    # -- reading ---------------------------------------------------------------------------

    def _read(self, file: ExportFile) -> None:
        stem, suffix = split_suffix(file.parts[-1])
        if file.parts == ("index.html",):
            return  # the export's own table of contents, not a page
        try:
            if suffix in PAGE_FORMATS:
                self._read_page(file, page_format=PAGE_FORMATS[suffix])
            elif suffix == ".csv" and split_id(strip_all(stem))[1] is not None:
                self._read_database(file)
            elif suffix == ".pdf" or suffix in _TEXT_SUFFIXES:
                self.index.others.append((file, file.read()))
            else:
                self.index.others.append((file, None))
        except UnreadableItemError as error:
            self.index.unreadable.append((file, str(error)))

    def _read_page(self, file: ExportFile, *, page_format: str) -> None:
        content = file.read()
        name, notion_id = clean_name(file.parts[-1])
        if page_format == "markdown":
            text = decode_text(content, name=file.origin)
            first_line = text.lstrip("\ufeff\n").split("\n", 1)[0]
            if first_line.startswith("# "):  # Notion starts every page with its title
                title = plain_heading_text(first_line[2:].rstrip("# ")) or None
            else:
                title = read_markdown(text, name=file.origin)[0]
        else:
            text = decode_html(content)
            found = _HTML_TITLE.search(text)
            title = " ".join(html.unescape(found.group(1)).split()) if found else None
        page = _Page(file, text, title or name, page_format, notion_id)
        self.index.pages.append(page)
        if notion_id is not None:
            self.index.titles_by_id[notion_id] = page.title

    def _read_database(self, file: ExportFile) -> None:
        name, notion_id = clean_name(file.parts[-1])
        assert notion_id is not None
        is_all = split_suffix(file.parts[-1])[0].endswith("_all")
        for known in self.index.databases:
            if known.notion_id == notion_id and known.file.folder == file.folder:
                if not is_all:
                    return  # the view export of a database whose _all.csv was read
                self.index.databases.remove(known)
                break
        text = decode_text(file.read(), name=file.origin).lstrip("\ufeff")
        try:
            table = [row for row in csv.reader(io.StringIO(text))]
        except csv.Error as error:
            raise UnreadableItemError(
                f"{file.origin}: not a readable CSV ({error}); export the database again"
            ) from None
        if not table or not any(table[0]):
            raise UnreadableItemError(f"{file.origin}: the database CSV has no header row")
        width = len(table[0])
        rows = [[*row, *[""] * (width - len(row))][:width] for row in table[1:] if row]
        self.index.databases.append(_Database(file, notion_id, name, table[0], rows))

    # -- planning --------------------------------------------------------------------------

    def _plan_page(self, page: _Page) -> _Planned:
        uri = self._uri(page.file)
        return _Planned(uri, partial(self._page_document, page), notion_id=page.notion_id)

    def _page_document(
        self, page: _Page, uri: str, *, strip_columns: frozenset[str] = frozenset()
    ) -> Document | SkippedItem:
        crumbs = (*self._ancestor_titles(page.file.folder), page.title)
        try:
            blocks = self._page_blocks(page, strip_columns=strip_columns)
        except UnreadableItemError as error:
            return SkippedItem(uri=uri, reason=str(error))
        metadata: dict[str, MetadataValue] = {"breadcrumb": " / ".join(crumbs)}
        metadata.update(format=page.page_format)
        if page.notion_id:
            metadata["notion_id"] = page.notion_id
        return Document(uri, page.title, _placed(blocks, crumbs) or [Block(page.title, crumbs)], metadata)

    def _page_blocks(self, page: _Page, *, strip_columns: frozenset[str]) -> list[Block]:
        if page.page_format == "markdown":
            text = without_property_lines(page.text, strip_columns) if strip_columns else page.text
            text = _MARKDOWN_LINK.sub(self._markdown_link, text)
            return read_markdown(text, name=page.file.origin)[1]

        return read_html(_HTML_ANCHOR.sub(self._html_anchor, page.text), name=page.file.origin).blocks

    def _row_pages(self, database: _Database) -> list[_Page]:
        """The pages in the folder named like the database's CSV (its rows' pages)."""
        if self._pages_by_folder is None:
            self._pages_by_folder = {}
            for page in sorted(self.index.pages, key=lambda page: page.file.parts):
                if page.file.folder:
                    key = (page.file.folder[:-1], split_id(page.file.folder[-1])[1])
                    self._pages_by_folder.setdefault(key, []).append(page)
        return self._pages_by_folder.get((database.file.folder, database.notion_id), [])

    def _plan_database(self, database: _Database, merged: set[int]) -> list[_Planned]:
        base = self._uri(database.file)
        view_of = self._viewed_database(database)
        if view_of is not None:
            viewed = " / ".join((*self._ancestor_titles(view_of.file.folder), view_of.title))
            reason = (
                f"{database.file.origin}: a linked view of the database {viewed!r}, "
                "whose rows are ingested there"
            )
            view_uri = f"{base} (view {database.notion_id[-_SHORT_ID_DIGITS:]})"
            return [_Planned(view_uri, partial(SkippedItem, reason=reason))]
        planned: list[_Planned] = []
        # A row's page has the row's title; among pages sharing a title, the one whose
        # property lines match the row's cells.
        by_title: dict[str, list[_Page]] = {}
        by_properties: dict[tuple[str, frozenset[tuple[str, str]]], list[_Page]] = {}
        page_keys: dict[int, tuple[str, frozenset[tuple[str, str]]]] = {}
        for page in self._row_pages(database):
            key = title_key(page.title)
            page_keys[id(page)] = (key, page_properties(page.text, frozenset(database.columns)))
            by_title.setdefault(key, []).append(page)
            by_properties.setdefault(page_keys[id(page)], []).append(page)
        for number, cells in enumerate(database.rows, start=1):
            title = " ".join(cells[0].split())
            key = title_key(title) or "untitled"
            exact = by_properties.get((key, row_properties(database.columns, cells)))
            page = (exact or by_title.get(key) or [None])[0]
            if page is None and not any(cell.strip() for cell in cells):
                continue  # an empty row with no page holds nothing
            if page is not None:
                by_title[key].remove(page)
                by_properties[page_keys[id(page)]].remove(page)
                merged.add(id(page))
            uri = f"{base}/{uri_component(title or 'Untitled')}"
            build = partial(self._row_document, database, cells, title or "Untitled", page)
            planned.append(_Planned(uri, build, page.notion_id if page else None, f"row {number}"))
        return planned

    def _row_document(
        self, database: _Database, cells: list[str], title: str, page: _Page | None, uri: str
    ) -> Document | SkippedItem:
        crumbs = (*self._ancestor_titles(database.file.folder), database.title, title)
        metadata: dict[str, MetadataValue] = {"breadcrumb": " / ".join(crumbs)}
        metadata.update(database=database.title, format="csv")
        lines: list[str] = []
        for column, value in zip(database.columns[1:], cells[1:], strict=False):
            cleaned = clean_cell(value)
            if cleaned and column.strip():
                lines.append(f"{column}: {cleaned}")
                key = f"column:{column}" if column in _RESERVED_KEYS else column
                metadata[key] = cleaned[:_METADATA_VALUE_CHARS]
        blocks = [Block("\n".join(lines), heading_path=crumbs)] if lines else []
        if page is not None:
            try:
                page_blocks = self._page_blocks(page, strip_columns=frozenset(database.columns))
            except UnreadableItemError as error:
                return SkippedItem(uri=uri, reason=str(error))
            blocks.extend(_placed(page_blocks, crumbs))
            metadata["notion_id"] = page.notion_id
        return Document(uri, title, blocks or [Block(title, heading_path=crumbs)], metadata)

    def _viewed_database(self, database: _Database) -> _Database | None:
        """The database this CSV is a linked view of: no row pages, and every row (title and
        cells, links cleaned) repeated in another database with the same columns."""
        if database.has_row_folder or not database.rows:
            return None
        rows = _row_records(database)
        for other in self.index.databases:
            if other is database or set(other.columns) != set(database.columns):
                continue
            if not rows <= _row_records(other):
                continue
            ranks = [(db.has_row_folder, len(db.rows), db.file.parts) for db in (other, database)]
            if ranks[0] > ranks[1]:
                return other
        return None

    def _plan_other(self, file: ExportFile, content: bytes | None) -> _Planned:
        uri = self._uri(file)
        suffix = split_suffix(file.parts[-1])[1]
        if content is None:
            kind = "image" if suffix in _IMAGE_SUFFIXES else suffix if suffix in _SKIP_REASONS else ""
            reason = _SKIP_REASONS[kind].format(suffix=suffix or "extension-less")
            return _Planned(uri, partial(SkippedItem, reason=f"{file.origin}: {reason}"))
        return _Planned(uri, partial(self._attachment_document, file, content))

    def _attachment_document(self, file: ExportFile, content: bytes, uri: str) -> FetchedItem:
        title = clean_name(file.parts[-1])[0]
        crumbs = (*self._ancestor_titles(file.folder), title)
        try:
            if file.parts[-1].lower().endswith(".pdf"):
                blocks = read_pdf(content, name=file.origin)
                file_format = "pdf"
            else:
                blocks = _paragraph_blocks(decode_text(content, name=file.origin))
                file_format = "text"
        except UnreadableItemError as error:
            return SkippedItem(uri=uri, reason=str(error))
        metadata: dict[str, MetadataValue] = {"breadcrumb": " / ".join(crumbs)}
        metadata["format"] = file_format
        return Document(uri, title, _placed(blocks, crumbs) or [Block(title, crumbs)], metadata)

    # -- names and links -------------------------------------------------------------------

    def _uri(self, file: ExportFile) -> str:
        return "/".join(uri_component(clean_name(part)[0]) for part in file.parts)

    def _ancestor_titles(self, folder: tuple[str, ...]) -> tuple[str, ...]:
        titles = []
        for part in folder:
            name, notion_id = clean_name(part)
            titles.append(self.index.titles_by_id.get(notion_id or "", name))
        return tuple(titles)

    def _link_title(self, href: str) -> tuple[str, bool] | None:
        """(title, is a page or database) for a link into the export; None to leave it be.

        Links to notion.so pages that are in the export count as links into it.
        """
        web_page = _NOTION_URL.match(href.strip())
        if web_page is not None:
            title = self.index.titles_by_id.get(web_page.group(1))
            return None if title is None else (title, True)
        target = link_target(href)
        if target is None:
            return None
        name, notion_id, is_page = target
        return self.index.titles_by_id.get(notion_id or "", name), is_page

    def _markdown_link(self, match: re.Match[str]) -> str:
        is_image, label, target = match.group(1), match.group(2).strip(), match.group(3)
        linked = self._link_title(target)
        if linked is None:
            return match.group(0)
        title, is_page = linked
        if is_image:  # keep only a caption: not "Untitled", not the file's own name or path
            named = clean_name(unquote(label).rsplit("/", 1)[-1])[0]
            return "" if title_key(named) in ("untitled", title_key(title)) else label
        return _linked_text(label, title) if is_page else (label or title)

    def _html_anchor(self, match: re.Match[str]) -> str:
        """An ``<a href>`` into the export as ``<a>`` around the linked title (or nothing, for
        an embedded image). Notion writes regular HTML, so a pattern finds its anchors."""
        href = _HTML_HREF.search(match.group(1))
        linked = self._link_title(html.unescape(href.group(1) or href.group(2))) if href else None
        if linked is None:
            return match.group(0)
        title, is_page = linked
        inner = _HTML_ICON.sub("", match.group(2))
        label = " ".join(html.unescape(_HTML_TAG.sub(" ", inner)).split())
        if "<img" in inner.lower() and title_key(label) in ("", title_key(title)):
            return ""  # an embedded image: no words to keep
        return f"<a>{html.escape(_linked_text(label, title) if is_page else (label or title))}</a>"


# -- helpers ---------------------------------------------------------------------------------


def _with_unique_uris(planned: list[_Planned]) -> Iterator[FetchedItem]:
    """Build each item; uris shared by several items all get their short id (or row number)."""
    counts = Counter(item.uri for item in planned)
    taken = {uri for uri, count in counts.items() if count == 1}
    for item in planned:
        uri = item.uri
        if counts[uri] > 1:
            short_id = item.notion_id[-_SHORT_ID_DIGITS:] if item.notion_id else None
            suffixes = chain([short_id, item.fallback, item.notion_id], map(str, count(2)))
            uri = next(f"{uri} ({s})" for s in suffixes if s and f"{uri} ({s})" not in taken)
            taken.add(uri)
        yield item.build(uri)


def _row_records(database: _Database) -> set[tuple[tuple[str, str], ...]]:
    """Each row as (column, cleaned cell) pairs in column order, for comparing databases."""
    return {
        tuple(sorted((column, clean_cell(cell)) for column, cell in zip(database.columns, row, strict=False)))
        for row in database.rows
    }


def _placed(blocks: list[Block], crumbs: tuple[str, ...]) -> list[Block]:
    """Blocks under the breadcrumb: it prefixes each heading path (the page title once)."""
    placed = []
    for block in blocks:
        path = block.heading_path
        if path and crumbs and title_key(path[0]) == title_key(crumbs[-1]):
            path = path[1:]
        placed.append(Block(block.text, (*crumbs, *path), block.page, block.anchor))
    return placed


def _paragraph_blocks(text: str) -> list[Block]:
    return [Block(part.strip()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def _linked_text(label: str, title: str) -> str:
    """A link's words: the title when the label is empty or a URL, the label when it names the
    title, else both."""
    if not label or label.startswith(("http://", "https://")):
        return title
    return label if title_key(title) in title_key(label) else f"{label} ({title})"
