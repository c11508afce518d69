"""Hostile files: each is parsed under a bound, skipped with a reason naming it, and the rest is read.

The files come from `tests/hostile_files.py` (written on demand into tmp folders) and from the
shared PDF collection (broken, encrypted, scanned and odd-encoding files). Every test checks that
the agent's process survives, that a skipped file's reason names it, and that the good files
beside it are ingested; the ones that go through an agent also check that nothing is stored half.
Times and memory for each case are measured by `benchmarks/hostile_inputs.py`.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import threading
import time
import zlib
from pathlib import Path

import pytest

from agentkit import AgentKit
from connectors.base import Document, FetchedItem, SkippedItem
from connectors.files import FilesConnector
from connectors.readers.sandbox import ParseLimits, ParserPool
from connectors.records import RecordsConnector
from tests import hostile_files
from tests.conftest import SHARED_DATA

SHARED_PDFS = SHARED_DATA / "pdfs"
_MEBIBYTE = 1024 * 1024


def fetch(location: Path, limits: ParseLimits | None = None) -> dict[str, FetchedItem]:
    """Every item of a folder (or file), by file name."""
    return {Path(item.uri).name: item for item in FilesConnector(location, limits=limits).fetch({})}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def assert_skipped(item: FetchedItem, *words: str) -> str:
    assert isinstance(item, SkippedItem), item
    assert Path(item.uri).name in item.reason or item.uri in item.reason, item.reason
    for word in words:
        assert word in item.reason, item.reason
    return item.reason


def write_cpu_bomb_pdf(folder: Path) -> Path:
    """A 21 KB PDF whose one page holds 200,000 text operators: minutes of CPU in pypdf."""
    objects = hostile_files._page_objects(b"")
    operators = b"BT /F1 12 Tf 72 720 Td (busy) Tj ET\n" * 200_000
    objects[4] = hostile_files._stream(zlib.compress(operators, 9), extra=b"/Filter /FlateDecode ")
    path = folder / "cpu-bomb.pdf"
    path.write_bytes(hostile_files.pdf_bytes(objects))
    return path


# ----- PDF ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_shared_pdf_is_read_or_skipped_with_a_reason() -> None:
    if not SHARED_PDFS.is_dir():
        pytest.skip(f"{SHARED_PDFS} is absent")
    items = list(FilesConnector(SHARED_PDFS, include=("*.pdf",)).fetch({}))
    pdfs = sorted(SHARED_PDFS.rglob("*.pdf"))
    assert len(items) == len(pdfs)
    by_path = {item.uri: item for item in items}
    for item in items:
        if isinstance(item, SkippedItem):
            assert item.uri in item.reason and "; " in item.reason, item.reason
        else:
            assert isinstance(item, Document) and item.text.strip()
    # Every file pypdf reads text from in a plain process is read in the worker too, except
    # the two that the check opened with their passwords (shared/data/README.md names them).
    checks = json.loads((SHARED_PDFS / "pypdf_check.json").read_text())
    with_password = {
        "py-pdf-sample-files/005-libreoffice-writer-password/libreoffice-writer-password.pdf",
        "pdfplumber-tests/pdfs/password-example.pdf",
    }
    with_text = [
        check["file"]
        for check in checks
        if check.get("text_chars_first3pages", 0) >= 20 and check["file"] not in with_password
    ]
    assert len(with_text) >= 50
    for name in with_text:
        assert isinstance(by_path[str((SHARED_PDFS / name).resolve())], Document), name
    for name in with_password:
        assert_skipped(by_path[str((SHARED_PDFS / name).resolve())], "is encrypted")


@pytest.mark.slow
def test_malformed_pdfs_are_skipped_and_the_good_ones_stored_whole(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    hostile_files.write_good_pdf(folder)
    hostile_files.write_circular_xref_pdf(folder)
    hostile_files.write_count_lie_pdf(folder)
    hostile_files.write_deep_array_pdf(folder, depth=10_000)
    hostile_files.write_inflate_bomb_pdf(folder, inflated_bytes=1024 * _MEBIBYTE)
    agent = kit.create_agent("pdfs")

    report = agent.add_source(str(folder))

    failed = {Path(item.uri).name: item.error for item in report.failed}
    assert {"count-lie.pdf", "deep-arrays.pdf", "inflate-bomb.pdf"} <= set(failed)
    for name, reason in failed.items():
        assert name in reason
    assert "cyclic" in failed["count-lie.pdf"]
    assert "inflates past pypdf's size limit" in failed["inflate-bomb.pdf"]
    assert report.added == 5 - len(failed) >= 2  # good.pdf, and circular-xref.pdf, which pypdf repairs
    assert agent.counts()["documents"] == report.added
    assert agent.doctor().healthy
    assert agent.search("harbour tides", k=1)[0].title
    again = agent.sync()
    assert again.total("unchanged") == report.added and again.total("added") == 0


def test_a_folder_of_hostile_files_is_ingested_without_them(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "guide.md").write_text("# Tides\n\nHigh tide in the harbour comes twice a day.\n")
    hostile_files.write_good_pdf(folder)
    hostile_files.write_count_lie_pdf(folder)
    hostile_files.write_deep_array_pdf(folder)
    hostile_files.write_docx_entity_bomb(folder)
    hostile_files.write_text_cases(folder)
    agent = kit.create_agent("mixed")

    report = agent.add_source(str(folder))

    failed = {Path(item.uri).name for item in report.failed}
    assert {"count-lie.pdf", "deep-arrays.pdf", "utf16-no-bom.txt", "nul-bytes.txt"} <= failed
    assert report.added >= 2 and report.added + len(failed) == 8
    assert agent.counts()["documents"] == report.added
    assert agent.doctor().healthy
    assert "twice a day" in agent.search("when is high tide", k=1)[0].text


def test_a_file_turned_hostile_keeps_its_stored_version(kit: AgentKit, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    guide = folder / "guide.md"
    guide.write_text("# Tides\n\nHigh tide in the harbour comes twice a day.\n")
    agent = kit.create_agent("kept")
    assert agent.add_source(str(folder)).added == 1
    chunks = agent.counts()["chunks"]

    guide.write_bytes(hostile_files.docx_bytes())  # now binary: skipped with a reason
    report = agent.sync()

    [failed] = report.failed
    assert failed.uri == str(guide.resolve()) and "binary" in failed.error
    assert report.total("removed") == 0
    assert agent.counts() == {"sources": 1, "documents": 1, "chunks": chunks}
    assert agent.doctor().healthy
    assert "twice a day" in agent.search("when is high tide", k=1)[0].text


def test_a_parse_past_the_wall_clock_bound_is_stopped_and_the_next_file_is_read(tmp_path: Path) -> None:
    bomb = write_cpu_bomb_pdf(tmp_path)
    good = hostile_files.write_good_pdf(tmp_path)
    pool = ParserPool(ParseLimits(timeout_seconds=5))  # the bomb needs minutes; a good file, a second
    try:
        started = time.monotonic()
        with pytest.raises(Exception, match=r"cpu-bomb\.pdf: parsing took longer than 5 s"):
            pool.parse(bomb.read_bytes(), file_type="pdf", name=str(bomb))
        assert time.monotonic() - started < 30
        assert pool.parse(good.read_bytes(), file_type="pdf", name=str(good)).blocks
        assert len(pool.started_pids) == 2  # the stopped worker was replaced
    finally:
        pool.close()


@pytest.mark.slow
def test_a_batch_past_the_cpu_bound_skips_only_the_file_at_fault(tmp_path: Path) -> None:
    write_cpu_bomb_pdf(tmp_path)
    for index in range(3):
        (tmp_path / f"note{index}.txt").write_text(f"Note {index} about tides.\n")

    items = fetch(tmp_path, ParseLimits(cpu_seconds=1, timeout_seconds=60))

    assert_skipped(items["cpu-bomb.pdf"], "more than 1 s of CPU")
    assert all(isinstance(items[f"note{index}.txt"], Document) for index in range(3))


def test_a_parse_past_the_memory_bound_is_stopped(tmp_path: Path) -> None:
    bomb = hostile_files.write_inflate_bomb_pdf(tmp_path, inflated_bytes=200 * _MEBIBYTE)
    hostile_files.write_good_pdf(tmp_path)

    items = fetch(tmp_path, ParseLimits(memory_bytes=128 * _MEBIBYTE))

    assert_skipped(items[bomb.name], "128 MiB memory bound")
    assert isinstance(items["good.pdf"], Document)


def test_a_crashing_parser_skips_its_file_and_the_agent_survives(tmp_path: Path) -> None:
    bomb = write_cpu_bomb_pdf(tmp_path)
    good = hostile_files.write_good_pdf(tmp_path)
    pool = ParserPool(ParseLimits())

    def crash_the_worker() -> None:
        while not pool.started_pids:
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(pool.started_pids[0], signal.SIGSEGV)

    crasher = threading.Thread(target=crash_the_worker)
    crasher.start()
    try:
        with pytest.raises(Exception, match=r"cpu-bomb\.pdf: the parser crashed \(SIGSEGV\)"):
            pool.parse(bomb.read_bytes(), file_type="pdf", name=str(bomb))
        assert pool.parse(good.read_bytes(), file_type="pdf", name=str(good)).blocks
    finally:
        crasher.join()
        pool.close()


# ----- text --------------------------------------------------------------------------------


def test_text_with_bad_encodings_is_read_or_skipped_with_a_reason(tmp_path: Path) -> None:
    hostile_files.write_text_cases(tmp_path)
    (tmp_path / "fine.txt").write_text("A fine file about the harbour.\n")

    items = fetch(tmp_path)

    assert_skipped(items["utf16-no-bom.txt"], "UTF-16 without a byte-order mark")
    assert_skipped(items["nul-bytes.txt"], "NUL bytes")
    invalid = items["invalid-utf8.txt"]  # charset-normalizer picks a legacy code page, or refuses
    assert isinstance(invalid, Document) or "save it as UTF-8" in assert_skipped(invalid)
    assert isinstance(items["fine.txt"], Document)


@pytest.mark.slow
def test_a_200_mb_single_line_file_is_skipped_without_being_read(tmp_path: Path) -> None:
    hostile_files.write_single_line_file(tmp_path, 200 * 1000 * 1000, name="huge.txt")
    hostile_files.write_single_line_file(tmp_path, 4 * _MEBIBYTE, name="long.txt")
    before = peak_rss_mib()

    items = fetch(tmp_path)

    assert_skipped(items["huge.txt"], "190 MiB of text, over the 32 MiB bound")
    long = items["long.txt"]
    assert isinstance(long, Document) and len(long.text) > 4_000_000
    assert peak_rss_mib() - before < 100  # the 200 MB were never read


@pytest.mark.slow
def test_a_folder_of_100_000_tiny_files_is_read_with_bounded_memory(tmp_path: Path) -> None:
    hostile_files.write_tiny_files(tmp_path, 100_000)
    before = peak_rss_mib()
    documents = skipped = 0
    for item in FilesConnector(tmp_path).fetch({}):
        documents += isinstance(item, Document)
        skipped += isinstance(item, SkippedItem)
    assert (documents, skipped) == (100_000, 0)
    assert peak_rss_mib() - before < 100  # nothing held per file (the pipeline holds its own list)


def test_symlink_loops_end_and_each_file_comes_once(tmp_path: Path) -> None:
    folder = hostile_files.write_symlink_loops(tmp_path / "loops")

    items = list(FilesConnector(folder).fetch({}))

    assert [Path(item.uri).relative_to(folder).as_posix() for item in items] == ["sub/real.txt"]


# ----- DOCX --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_docx_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    hostile_files.write_docx_zip_bomb(tmp_path, inflated_bytes=1024 * _MEBIBYTE)
    (tmp_path / "good.docx").write_bytes(hostile_files.docx_bytes())
    before = peak_rss_mib()

    items = fetch(tmp_path)

    assert_skipped(items["zip-bomb.docx"], "the archive was refused")
    assert isinstance(items["good.docx"], Document)
    assert peak_rss_mib() - before < 100


def test_a_docx_entity_bomb_is_not_expanded(tmp_path: Path) -> None:
    hostile_files.write_docx_entity_bomb(tmp_path)

    [item] = fetch(tmp_path).values()

    if isinstance(item, Document):
        assert len(item.text) < 1000 and "lollol" not in item.text
    else:
        assert_skipped(item, "entity")


# ----- records -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line_mib", [pytest.param(100, id="100MiB"), pytest.param(1024, id="1GiB", marks=pytest.mark.slow)]
)
def test_a_huge_jsonl_line_is_skipped_without_being_held(tmp_path: Path, line_mib: int) -> None:
    path = hostile_files.write_huge_jsonl_line(tmp_path, line_bytes=line_mib * _MEBIBYTE)
    before = peak_rss_mib()

    items = list(RecordsConnector(path, text_field="text", id_field="id").fetch({}))

    assert [type(item).__name__ for item in items] == ["Document", "SkippedItem", "Document"]
    assert "line 2: skipped, it is longer than 16 MiB" in items[1].reason
    assert str(path) in items[1].reason
    assert peak_rss_mib() - before < 64


def test_hostile_records_are_skipped_one_by_one(tmp_path: Path) -> None:
    path = hostile_files.write_hostile_records(tmp_path, depth=100_000)

    items = list(RecordsConnector(path, text_field="text", id_field="id", title_field="title").fetch({}))

    documents = {item.metadata["record_id"]: item for item in items if isinstance(item, Document)}
    reasons = [item.reason for item in items if isinstance(item, SkippedItem)]
    assert sorted(documents) == ["1", "5", "6", "7"]
    assert documents["1"].text == "Record one is fine."  # the duplicate did not replace it
    assert documents["5"].text == "12345"
    assert documents["6"].title == "hostile.jsonl #6"
    expected = [
        "line 2: skipped, its JSON is nested too deeply",
        "line 3: skipped, no usable id",
        "line 4: skipped, no text in field 'text'",
        "line 6: skipped, no usable id",
        "line 8: skipped, id '1' was already used by line 1",
        "line 9: skipped, it is not a JSON object",
    ]
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(f"{path} {start}"), reason


def test_pushed_records_with_duplicate_ids_in_one_batch_keep_the_first(kit: AgentKit) -> None:
    agent = kit.create_agent("records")
    report = agent.upsert_records(
        [
            {"id": 1, "text": "The first record one."},
            {"id": 1, "text": "A second record one."},
            {"id": {"nested": True}, "text": "An id of the wrong type."},
            {"id": 2, "text": ["a", "list"]},
            {"id": 3, "text": "Record three."},
        ]
    )
    assert report.added == 2
    assert len(report.failed) == 3
    assert any("already used" in item.error for item in report.failed)
    assert agent.counts()["documents"] == 2
    assert agent.doctor().healthy
