"""The records connector: JSON Lines and CSV files, pushed records, and bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors import ConnectorError, Document, SkippedItem, UnchangedItem, detect_kind, open_connector
from connectors.base import PreviousFetch
from connectors.records import (
    PushedRecordsConnector,
    RecordPush,
    RecordsConnector,
    documents_from_records,
    pushed_records_location,
    pushing,
)


def write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


def fetch_all(connector: object) -> list[object]:
    assert isinstance(connector, (RecordsConnector, PushedRecordsConnector))
    return list(connector.fetch({}))


def test_jsonl_records_become_documents(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "faq.jsonl",
        [
            {"id": "a1", "question": "Refunds?", "answer": "Within 30 days.", "meta": {"team": "billing"}},
            {"id": 7, "question": "Shipping?", "answer": "Two days.", "meta": {"team": "ops"}},
        ],
    )
    connector = RecordsConnector(
        path, text_field="answer", title_field="question", id_field="id", metadata_fields=("meta.team",)
    )
    first, second = fetch_all(connector)
    assert isinstance(first, Document) and isinstance(second, Document)
    assert first.uri == f"{path.resolve()}#a1"
    assert first.title == "Refunds?"
    assert first.text == "Within 30 days."
    assert first.metadata == {"record_id": "a1", "meta.team": "billing"}
    assert second.uri.endswith("#7") and second.metadata["record_id"] == "7"


def test_without_id_or_title_fields_line_numbers_name_records(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "notes.jsonl", [{"body": "first"}, "", {"body": "third line"}])
    documents = fetch_all(RecordsConnector(path, text_field="body"))
    assert [item.uri.rsplit("#", 1)[1] for item in documents] == ["1", "3"]
    assert [item.title for item in documents] == ["notes.jsonl #1", "notes.jsonl #3"]


def test_bad_lines_are_skipped_with_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "data.jsonl",
        [
            {"id": 1, "text": "good"},
            "{not json",
            {"id": 2, "body": "no text field"},
            [1, 2],
            {"id": 1, "text": "duplicate id"},
            {"id": 3, "text": "   "},
            {"id": None, "text": "no id"},
            {"id": 4, "text": "good too"},
        ],
    )
    items = fetch_all(RecordsConnector(path, text_field="text", id_field="id"))
    documents = [item for item in items if isinstance(item, Document)]
    skipped = [item for item in items if isinstance(item, SkippedItem)]
    assert [d.metadata["record_id"] for d in documents] == ["1", "4"]
    reasons = [item.reason for item in skipped]
    assert len(reasons) == 6
    assert all(str(path.resolve()) in reason for reason in reasons)
    assert "line 2: skipped, it is not valid JSON" in reasons[0]
    assert "line 3: skipped, no text in field 'text'" in reasons[1]
    assert "line 4: skipped, it is not a JSON object" in reasons[2]
    assert "line 5: skipped, id '1' was already used by line 1" in reasons[3]
    assert "line 6" in reasons[4] and "line 7" in reasons[5] and "no usable id" in reasons[5]
    assert len({item.uri for item in items}) == len(items)  # one uri per item


def test_csv_records(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        '\ufeffsku,name,description\nX1,Kettle,Boils water.\nX2,Toaster,"Toasts, browns."\n', encoding="utf-8"
    )
    items = fetch_all(RecordsConnector(path, text_field="description", title_field="name", id_field="sku"))
    assert [(d.uri.rsplit("#", 1)[1], d.title, d.text) for d in items] == [
        ("X1", "Kettle", "Boils water."),
        ("X2", "Toaster", "Toasts, browns."),
    ]
    with pytest.raises(ConnectorError, match="no column named 'body'.*sku, name, description"):
        fetch_all(RecordsConnector(path, text_field="body"))
    broken = tmp_path / "broken.csv"
    broken.write_text("id,text\n1,ok\n2,too,many\n", encoding="utf-8")
    items = fetch_all(RecordsConnector(broken, text_field="text", id_field="id"))
    assert isinstance(items[0], Document)
    assert isinstance(items[1], SkippedItem) and "row 2" in items[1].reason


def test_whole_source_errors(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="does not exist"):
        fetch_all(RecordsConnector(tmp_path / "missing.jsonl", text_field="text"))
    other = tmp_path / "data.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"must end in \.jsonl or \.csv"):
        fetch_all(RecordsConnector(other, text_field="text"))


def test_options_are_checked(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"t": "x"}])
    options = {"text_field": "t", "id_field": "id", "metadata_fields": ["a"]}
    assert detect_kind(str(path), options) == "records"
    connector = open_connector("records", str(path), options)
    assert isinstance(connector, RecordsConnector) and connector.fields.metadata_fields == ("a",)
    with pytest.raises(ConnectorError, match="unknown option.*'include', 'txt_field'"):
        RecordsConnector.from_options(str(path), {"text_field": "t", "txt_field": "t", "include": []})
    with pytest.raises(ConnectorError, match="needs text_field"):
        RecordsConnector.from_options(str(path), {})
    with pytest.raises(ConnectorError, match="metadata_fields must be a list"):
        RecordsConnector.from_options(str(path), {"text_field": "t", "metadata_fields": "a"})


def test_documents_from_records_for_pushed_records() -> None:
    items = list(
        documents_from_records(
            [{"id": "u1", "body": "hello", "name": "Greeting"}, {"id": "u2"}, "not a mapping"],  # type: ignore[list-item]
            source_name="records://crm",
            text_field="body",
            title_field="name",
            id_field="id",
        )
    )
    assert isinstance(items[0], Document) and items[0].uri == "records://crm#u1"
    assert items[0].title == "Greeting"
    assert isinstance(items[1], SkippedItem) and "records://crm record 2" in items[1].reason
    assert isinstance(items[2], SkippedItem) and "not a mapping" in items[2].reason


def test_pushed_connector_yields_only_what_was_pushed() -> None:
    location = pushed_records_location("crm")
    assert location == "records://crm"
    with pytest.raises(ConnectorError, match="not a usable records source name"):
        pushed_records_location("a/b")
    connector = RecordsConnector.from_options(location, {"text_field": "body", "id_field": "id"})
    assert isinstance(connector, PushedRecordsConnector)
    previous = {f"{location}#{n}": PreviousFetch("hash", {}) for n in ("1", "2", "3")}
    assert list(connector.fetch(previous)) == [UnchangedItem(uri) for uri in previous]
    new = Document(uri=f"{location}#2", title="t", blocks=[])
    push = RecordPush(items=(new,), deleted_uris=frozenset({f"{location}#3"}))
    with pushing(location, push):
        assert list(connector.fetch(previous)) == [UnchangedItem(f"{location}#1"), new]
    assert len(list(connector.fetch(previous))) == 3  # the push ended with the block
