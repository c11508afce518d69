"""Tests for connectors.safe_zip: in-memory zip reading that refuses hostile archives."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from connectors.base import ConnectorError, UnreadableItemError
from connectors.safe_zip import (
    ArchiveError,
    ArchiveLimits,
    UnsafeArchiveError,
    open_zip_bytes,
    open_zip_file,
)


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def with_declared_size(data: bytes, name: str, size: int) -> bytes:
    """The archive with `name`'s uncompressed size rewritten in both headers (a lying header)."""
    patched = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    patched[info.header_offset + 22 : info.header_offset + 26] = size.to_bytes(4, "little")
    position = patched.find(b"PK\x01\x02")
    while position != -1:
        name_length = int.from_bytes(patched[position + 28 : position + 30], "little")
        if patched[position + 46 : position + 46 + name_length] == name.encode():
            patched[position + 24 : position + 28] = size.to_bytes(4, "little")
        position = patched.find(b"PK\x01\x02", position + 4)
    return bytes(patched)


def with_flag(data: bytes, flag: int) -> bytes:
    """The archive with a general-purpose flag bit set on every entry, in both headers."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = patched.find(signature)
        while position != -1:
            flags = int.from_bytes(patched[position + offset : position + offset + 2], "little")
            patched[position + offset : position + offset + 2] = (flags | flag).to_bytes(2, "little")
            position = patched.find(signature, position + 4)
    return bytes(patched)


def read_all(data: bytes, *, limits: ArchiveLimits | None = None) -> dict[str, bytes]:
    with open_zip_bytes(data, name="test.zip", limits=limits or ArchiveLimits()) as archive:
        return {member.path: archive.read(member) for member in archive.members}


def test_reads_members_in_memory_without_folders() -> None:
    data = make_zip({"Workspace/": b"", "Workspace/Page.md": b"# Page\n", "notes.txt": b"hi"})
    assert read_all(data) == {"Workspace/Page.md": b"# Page\n", "notes.txt": b"hi"}


def test_backslash_separators_become_slashes() -> None:
    assert read_all(make_zip({"Folder\\Page.md": b"text"})) == {"Folder/Page.md": b"text"}


@pytest.mark.parametrize(
    "name",
    [
        "../evil.md",
        "pages/../../evil.md",
        "/etc/passwd",
        "C:/Windows/evil.md",
        "C:evil.md",
        "..\\evil.md",
        "pages\\..\\..\\evil.md",
    ],
)
def test_names_that_escape_the_folder_are_refused(name: str) -> None:
    data = make_zip({"ok.md": b"fine", name: b"evil"})
    with pytest.raises(UnsafeArchiveError) as caught:
        open_zip_bytes(data, name="slip.zip")
    message = str(caught.value)
    assert "slip.zip" in message and repr(name) in message and "refused" in message


def test_nul_byte_in_a_name_is_refused() -> None:
    data = make_zip({"innocentXhidden.md": b"text"}).replace(b"innocentX", b"innocent\x00")
    with pytest.raises(UnsafeArchiveError, match="NUL byte"):
        open_zip_bytes(data, name="nul.zip")


def test_symlink_entries_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("Workspace/link.md")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link") as caught:
        open_zip_bytes(buffer.getvalue(), name="link.zip")
    assert "Workspace/link.md" in str(caught.value)


def test_too_many_members_is_refused_with_the_default_cap() -> None:
    data = make_zip({f"page {index}.md": b"" for index in range(10_001)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(UnsafeArchiveError, match="more than 10,000 entries"):
        open_zip_bytes(data, name="many.zip")


def test_high_compression_ratio_is_refused_from_the_header() -> None:
    data = make_zip({"bomb.txt": b"\0" * 5_000_000})
    with pytest.raises(UnsafeArchiveError, match="compression ratio") as caught:
        open_zip_bytes(data, name="bomb.zip")
    assert "bomb.txt" in str(caught.value)


def test_bomb_whose_header_lies_is_stopped_while_reading() -> None:
    data = with_declared_size(make_zip({"bomb.txt": b"\0" * 5_000_000}), "bomb.txt", 1000)
    with open_zip_bytes(data, name="liar.zip") as archive:
        with pytest.raises(UnsafeArchiveError, match="inflates more than 200 times"):
            archive.read(archive.members[0])


def test_oversize_member_whose_header_lies_is_stopped_at_the_cap() -> None:
    data = with_declared_size(make_zip({"big.bin": os.urandom(300_000)}), "big.bin", 1000)
    limits = ArchiveLimits(max_member_bytes=100_000)
    with open_zip_bytes(data, name="liar.zip", limits=limits) as archive:
        assert archive.members[0].declared_size == 1000
        with pytest.raises(UnsafeArchiveError, match="more than 100,000 bytes"):
            archive.read(archive.members[0])


def test_member_holding_more_than_declared_is_refused_even_under_the_caps() -> None:
    data = with_declared_size(make_zip({"page.md": os.urandom(5000)}), "page.md", 1000)
    with open_zip_bytes(data, name="liar.zip") as archive:
        with pytest.raises(UnsafeArchiveError, match="declares 1,000 bytes but holds 5,000"):
            archive.read(archive.members[0])


def test_member_holding_less_than_declared_is_damaged_not_hostile() -> None:
    data = with_declared_size(make_zip({"page.md": os.urandom(1000)}), "page.md", 2000)
    with open_zip_bytes(data, name="short.zip") as archive:
        with pytest.raises(UnreadableItemError, match="holds 1,000 of the 2,000 bytes"):
            archive.read(archive.members[0])


def test_declared_oversize_member_is_refused_at_open() -> None:
    data = make_zip({"big.bin": os.urandom(2000)})
    with pytest.raises(UnsafeArchiveError, match="declares 2,000 bytes"):
        open_zip_bytes(data, name="big.zip", limits=ArchiveLimits(max_member_bytes=1000))


def test_total_size_cap_counts_every_member() -> None:
    data = make_zip({f"part {index}.bin": os.urandom(1500) for index in range(3)})
    with pytest.raises(UnsafeArchiveError, match="more than 3,000 bytes in all"):
        open_zip_bytes(data, name="total.zip", limits=ArchiveLimits(max_total_bytes=3000))


def test_nested_zips_beyond_the_depth_cap_are_refused() -> None:
    data = make_zip({"page.md": b"deepest"})
    for level in range(4):
        data = make_zip({f"level {level}.zip": data}, compression=zipfile.ZIP_STORED)
    archive = open_zip_bytes(data, name="nested.zip")
    for _ in range(3):
        archive = archive.open_nested(archive.members[0])
    assert archive.depth == 3
    with pytest.raises(UnsafeArchiveError, match="nested more than 3 deep"):
        archive.open_nested(archive.members[0])


def test_nested_zips_share_the_member_budget() -> None:
    inner = make_zip({"a.md": b"a", "b.md": b"b", "c.md": b"c"})
    outer = make_zip({"inner.zip": inner, "x.md": b"x", "y.md": b"y"})
    with open_zip_bytes(outer, name="outer.zip", limits=ArchiveLimits(max_members=5)) as archive:
        member = next(member for member in archive.members if member.path == "inner.zip")
        with pytest.raises(UnsafeArchiveError, match="outer.zip › inner.zip"):
            archive.open_nested(member)


def test_encrypted_entries_give_a_clear_error() -> None:
    data = with_flag(make_zip({"secret.md": b"text"}), 0x1)
    with pytest.raises(ArchiveError, match="encrypted") as caught:
        open_zip_bytes(data, name="locked.zip")
    assert not isinstance(caught.value, UnsafeArchiveError)
    assert "secret.md" in str(caught.value)


@pytest.mark.parametrize("content", [b"not a zip at all", make_zip({"page.md": b"x" * 500})[:-30]])
def test_not_a_zip_or_a_truncated_one_gives_a_clear_error(content: bytes) -> None:
    with pytest.raises(ArchiveError, match="not a zip archive, or a damaged one") as caught:
        open_zip_bytes(content, name="broken.zip")
    assert isinstance(caught.value, ConnectorError)
    assert "broken.zip" in str(caught.value)


def test_damaged_member_data_is_unreadable_but_other_members_are_read() -> None:
    text = b"Some page text that compresses. " * 50
    data = bytearray(make_zip({"bad.md": text, "good.md": b"fine"}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("bad.md")
    start = info.header_offset + 30 + len("bad.md")
    data[start + 5 : start + 15] = bytes(10)
    with open_zip_bytes(bytes(data), name="damaged.zip") as archive:
        bad, good = sorted(archive.members, key=lambda member: member.path)
        with pytest.raises(UnreadableItemError, match="damaged") as caught:
            archive.read(bad)
        assert "bad.md" in str(caught.value)
        assert archive.read(good) == b"fine"


def test_utf8_names_without_the_utf8_flag_are_decoded() -> None:
    cyrillic = "Заметки.md"
    placeholder = "x" * (len(cyrillic.encode()) - 3) + ".md"
    data = make_zip({placeholder: b"text"}).replace(placeholder.encode(), cyrillic.encode())
    assert read_all(data) == {cyrillic: b"text"}


def test_open_zip_file_reads_from_disk_and_names_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(make_zip({"page.md": b"text"}))
    with open_zip_file(path) as archive:
        assert archive.name == "export.zip"
        assert [archive.read(member) for member in archive.members] == [b"text"]
    with pytest.raises(ArchiveError, match="missing.zip"):
        open_zip_file(tmp_path / "missing.zip")
