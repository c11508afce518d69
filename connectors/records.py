"""The records connector: one document per row of a `.jsonl` or `.csv` file, or per pushed record.

`RecordsConnector` reads a file of records: JSON Lines (one JSON object per line, UTF-8) or
CSV (a header row, then one record per row; UTF-8 with or without a byte order mark). Each
record becomes one `Document`:
- `uri` is `<absolute path>#<record id>`; the record id comes from `id_field`, or else is the
  line number (JSON Lines) or data row number (CSV). Give an `id_field` whenever records can be
  inserted, deleted or reordered: with positional ids a change near the top of the file makes
  every later record look changed, and they are all embedded again on the next sync;
- `title` is the `title_field` value, or else `<file name> #<record id>`;
- the text of `text_field` is its single block;
- `metadata["record_id"]` is the id, plus the values of `metadata_fields`.

Field names may be paths into nested JSON objects (`author.name`); a key that contains a dot
literally is found first. A record that cannot be used (a line that is not a JSON object,
no text in the text field, an id already used) is skipped with a message naming the file
and line, so one bad row never stops the rest.

Record files come from anywhere, so reading them is bounded: a JSON line longer than
`AGENTKIT_RECORDS_MAX_LINE_MB` (16 by default) is skipped without ever being held whole (it is
read past in small pieces), and JSON nested too deeply for the parser is skipped too.

Records pushed by a program (`Agent.upsert_records`) go through `documents_from_records`
and `PushedRecordsConnector`, under `records://<source name>` uris, so they are chunked,
embedded and indexed by the very same ingest path as a file.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from connectors.base import (
    Block,
    Connector,
    ConnectorError,
    Document,
    FetchedItem,
    MetadataValue,
    PreviousFetch,
    SkippedItem,
    UnchangedItem,
    url_scheme,
)
from connectors.options import ConnectorOption, check_options

RECORD_OPTIONS = (
    ConnectorOption("text_field", str, "the field that holds each record's text", required=True),
    ConnectorOption("title_field", str, "the field that holds each record's title"),
    ConnectorOption("id_field", str, "the field that holds a stable record id (else: the row number)"),
    ConnectorOption("metadata_fields", list, "fields kept as metadata on each record's document", ()),
)
RECORD_FILE_SUFFIXES = (".jsonl", ".csv")
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
_SKIP_PIECE = 1024 * 1024
PUSHED_RECORDS_SCHEME = "records://"


@dataclass(frozen=True)
class RecordFields:
    """Which fields of a record hold its text, title, id and extra metadata."""

    text_field: str
    title_field: str | None = None
    id_field: str | None = None
    metadata_fields: tuple[str, ...] = ()


class RecordsConnector(Connector):
    """Reads a `.jsonl` or `.csv` file of records, one document per record (from text_field).

    See the module docstring for ids, titles and metadata.
    """

    kind = "records"
    options = RECORD_OPTIONS

    def __init__(
        self,
        path: Path,
        *,
        text_field: str,
        title_field: str | None = None,
        id_field: str | None = None,
        metadata_fields: tuple[str, ...] = (),
    ) -> None:
        self.path = Path(path).expanduser()
        self.fields = RecordFields(text_field, title_field, id_field, tuple(metadata_fields))

    @classmethod
    def recognizes(cls, location: str, options: Mapping[str, object]) -> int:
        """20 for a local path (or ``records://NAME``) when a `text_field` is given: the
        options say the file holds records, whatever its name."""
        if "text_field" not in options:
            return 0
        return 20 if url_scheme(location) in (None, "file", "records") else 0

    @classmethod
    def from_options(cls, location: str, options: Mapping[str, object]) -> Connector:
        """Build from a stored source. Options: `text_field` (required), `title_field`,
        `id_field` (strings) and `metadata_fields` (a list of strings).

        A `records://NAME` location is a source of pushed records (`PushedRecordsConnector`).
        """
        fields = record_fields_from_options(location, options)
        if location.startswith(PUSHED_RECORDS_SCHEME):
            return PushedRecordsConnector(location, fields)
        return cls(
            Path(location),
            text_field=fields.text_field,
            title_field=fields.title_field,
            id_field=fields.id_field,
            metadata_fields=fields.metadata_fields,
        )

    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        """Yield a `Document` or `SkippedItem` per record; `ConnectorError` if the file is unusable.

        Every record is read each time: content hashes decide what changed.
        """
        del previous
        path = self.path.absolute()
        if not path.is_file():
            raise ConnectorError(f"{self.path} does not exist or is not a file; check the path")
        suffix = path.suffix.lower()
        if suffix not in RECORD_FILE_SUFFIXES:
            raise ConnectorError(
                f"{path}: a records file must end in {' or '.join(RECORD_FILE_SUFFIXES)}; "
                "convert it, or add it without --text-field to read it as a document"
            )
        rows = _json_lines(path) if suffix == ".jsonl" else _csv_rows(path, self.fields)
        yield from _documents(
            rows,
            fields=self.fields,
            uri_prefix=str(path),
            title_prefix=path.name,
            where=str(path),
            unit="line" if suffix == ".jsonl" else "row",
        )


class PushedRecordsConnector(Connector):
    """The records a program pushes (`Agent.upsert_records` / `delete_records`).

    It has nothing to re-read: outside a push it reports every stored record unchanged;
    inside `pushing(...)` it yields the pushed documents and leaves out deleted uris, so the
    ingest path adds, updates and removes exactly those.
    """

    kind = "records"

    def __init__(self, location: str, fields: RecordFields) -> None:
        self.location = location
        self.fields = fields

    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        push = (_CURRENT_PUSHES.get() or {}).get(self.location)
        if push is None:
            yield from (UnchangedItem(uri) for uri in previous)
            return
        replaced = {item.uri for item in push.items}
        for uri in previous:
            if uri not in replaced and uri not in push.deleted_uris:
                yield UnchangedItem(uri)
        yield from push.items


@dataclass(frozen=True)
class RecordPush:
    """Documents (or skipped records) to upsert and uris to delete in one push."""

    items: tuple[Document | SkippedItem, ...] = ()
    deleted_uris: frozenset[str] = frozenset()


_CURRENT_PUSHES: ContextVar[Mapping[str, RecordPush] | None] = ContextVar("record_pushes", default=None)


@contextmanager
def pushing(location: str, push: RecordPush) -> Iterator[None]:
    """While active (in this thread or task only), `location`'s connector yields `push`."""
    token = _CURRENT_PUSHES.set({**(_CURRENT_PUSHES.get() or {}), location: push})
    try:
        yield
    finally:
        _CURRENT_PUSHES.reset(token)


def pushed_records_location(source_name: str) -> str:
    """The source uri of pushed records named `source_name` (`records://NAME`)."""
    name = source_name.strip()
    if not name or any(character in name for character in "#/\\") or name != source_name:
        raise ConnectorError(
            f"{source_name!r} is not a usable records source name; use letters, digits, '-', "
            "'_' or '.', without '#', '/' or surrounding spaces"
        )
    return PUSHED_RECORDS_SCHEME + name


def record_uri(location: str, record_id: str) -> str:
    """The document uri of one record of a source."""
    return f"{location}#{record_id}"


def documents_from_records(
    records: Iterable[Mapping[str, object]],
    *,
    source_name: str,
    text_field: str,
    title_field: str | None = None,
    id_field: str | None,
    metadata_fields: tuple[str, ...] = (),
) -> Iterator[Document | SkippedItem]:
    """One `Document` per record, or a `SkippedItem` saying why a record was left out.

    `source_name` prefixes every uri (`<source_name>#<record id>`) and titles records that
    have no title. Records are numbered from 1 in messages; with `id_field` None the number
    is the id.
    """
    fields = RecordFields(text_field, title_field, id_field, tuple(metadata_fields))
    numbered = (
        (number, record if isinstance(record, Mapping) else None, "it is not a mapping")
        for number, record in enumerate(records, start=1)
    )
    yield from _documents(
        numbered,
        fields=fields,
        uri_prefix=source_name,
        title_prefix=source_name,
        where=source_name,
        unit="record",
    )


def record_fields_from_options(location: str, options: Mapping[str, object]) -> RecordFields:
    """Check and read the records options of a source; `ConnectorError` names what is wrong."""
    options = check_options("records", RECORD_OPTIONS, location, options)
    names: dict[str, str | None] = {}
    for key in ("text_field", "title_field", "id_field"):
        value = cast("str | None", options.get(key))
        if value is not None and not value.strip():
            raise ConnectorError(f"{location}: option {key} must be a field name, got {value!r}")
        names[key] = value
    metadata = tuple(cast("list[str]", options.get("metadata_fields", ())))
    if not all(name.strip() for name in metadata):
        raise ConnectorError(
            f"{location}: option metadata_fields must be a list of field names, got {list(metadata)!r}"
        )
    return RecordFields(cast(str, names["text_field"]), names["title_field"], names["id_field"], metadata)


# ----- reading ---------------------------------------------------------------------------

# (position number, the record or None when unusable, why it is unusable)
_NumberedRecord = tuple[int, Mapping[str, object] | None, str]


def max_line_bytes() -> int:
    """The longest JSON line read (``AGENTKIT_RECORDS_MAX_LINE_MB``, default 16 MiB)."""
    text = os.environ.get("AGENTKIT_RECORDS_MAX_LINE_MB", "").strip()
    if not text:
        return DEFAULT_MAX_LINE_BYTES
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConnectorError(
            f"AGENTKIT_RECORDS_MAX_LINE_MB={text!r} is not a positive number; fix or unset it"
        )
    return int(value * 1024 * 1024)


def _bounded_lines(stream: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """The stream's lines, or None for a line over `limit` bytes (read past, never held whole)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(_SKIP_PIECE)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


def _json_lines(path: Path) -> Iterator[_NumberedRecord]:
    limit = max_line_bytes()
    try:
        stream = path.open("rb")
    except OSError as error:
        raise ConnectorError(f"{path}: cannot be read ({error.strerror}); check its permissions") from error
    with stream:
        for number, raw_line in enumerate(_bounded_lines(stream, limit), start=1):
            if raw_line is None:
                yield (
                    number,
                    None,
                    f"it is longer than {limit / (1024 * 1024):g} MiB, the bound for one record "
                    "(AGENTKIT_RECORDS_MAX_LINE_MB)",
                )
                continue
            if number == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
                raw_line = raw_line[3:]
            if not raw_line.strip():
                continue
            try:
                value = json.loads(raw_line.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, None, "it is not UTF-8 text"
                continue
            except json.JSONDecodeError as error:
                yield number, None, f"it is not valid JSON ({error.msg})"
                continue
            except RecursionError:
                yield number, None, "its JSON is nested too deeply to read"
                continue
            if not isinstance(value, dict):
                yield number, None, "it is not a JSON object ({...})"
                continue
            yield number, value, ""


def _csv_rows(path: Path, fields: RecordFields) -> Iterator[_NumberedRecord]:
    try:
        stream = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ConnectorError(f"{path}: cannot be read ({error.strerror}); check its permissions") from error
    with stream:
        try:
            reader = csv.DictReader(stream)
            columns = reader.fieldnames or []
            wanted = [fields.text_field, fields.title_field, fields.id_field, *fields.metadata_fields]
            missing = [name for name in wanted if name is not None and name not in columns]
            if missing:
                raise ConnectorError(
                    f"{path}: no column named {', '.join(repr(name) for name in missing)}; its "
                    f"columns are: {', '.join(columns) or '(none: the file is empty)'}"
                )
            for number, row in enumerate(reader, start=1):
                if None in row:
                    yield number, None, "it has more values than the header has columns"
                    continue
                yield number, row, ""
        except UnicodeDecodeError as error:
            raise ConnectorError(f"{path}: not UTF-8 text ({error.reason}); save it as UTF-8") from error
        except csv.Error as error:
            raise ConnectorError(f"{path}: not a readable CSV file ({error})") from error


def _documents(
    numbered: Iterable[_NumberedRecord],
    *,
    fields: RecordFields,
    uri_prefix: str,
    title_prefix: str,
    where: str,
    unit: str,
) -> Iterator[Document | SkippedItem]:
    """Documents for numbered records; `where` and `unit` ("line 7") place them in messages."""
    first_use: dict[str, int] = {}
    for number, record, problem in numbered:
        position = f"{where} {unit} {number}"
        if record is None:
            yield SkippedItem(uri=f"{uri_prefix}#{unit}-{number}", reason=f"{position}: skipped, {problem}")
            continue
        if fields.id_field is None:
            record_id = str(number)
        else:
            raw_id = _field(record, fields.id_field)
            if raw_id is None or isinstance(raw_id, (dict, list, bool)) or str(raw_id).strip() == "":
                yield SkippedItem(
                    uri=f"{uri_prefix}#{unit}-{number}",
                    reason=f"{position}: skipped, no usable id in field {fields.id_field!r}",
                )
                continue
            record_id = str(raw_id).strip()
        uri = record_uri(uri_prefix, record_id)
        if record_id in first_use:
            yield SkippedItem(
                uri=f"{uri_prefix}#{unit}-{number}",
                reason=(
                    f"{position}: skipped, id {record_id!r} was already used by {unit} "
                    f"{first_use[record_id]}; ids must be unique"
                ),
            )
            continue
        first_use[record_id] = number
        text = _field(record, fields.text_field)
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not text.strip():
            yield SkippedItem(uri=uri, reason=f"{position}: skipped, no text in field {fields.text_field!r}")
            continue
        title = _field(record, fields.title_field) if fields.title_field else None
        title_text = str(title).strip() if isinstance(title, (str, int, float)) else ""
        metadata: dict[str, MetadataValue] = {"record_id": record_id}
        for name in fields.metadata_fields:
            value = _field(record, name)
            if value is not None:
                metadata[name] = _metadata_value(value)
        yield Document(
            uri=uri,
            title=title_text or f"{title_prefix} #{record_id}",
            blocks=[Block(text=text.strip())],
            metadata=metadata,
        )


def _field(record: Mapping[str, object], name: str) -> object:
    """The value at `name`: a key as given, else a dotted path into nested objects."""
    if name in record:
        return record[name]
    value: object = record
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _metadata_value(value: object) -> MetadataValue:
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
