"""Reading zip archives in memory while refusing hostile ones.

`SafeZip` owns the checks that make an untrusted zip safe to read: it never extracts to disk,
and it refuses — with `UnsafeArchiveError` naming the archive and the entry — names that
could escape a folder (``..`` components, absolute paths, drive letters, backslash traversal,
NUL bytes), symlink entries, too many members, members or totals too large, compression
ratios typical of zip bombs, and zips nested too deep. Sizes declared in the headers are
checked first, then every member is read through a bounded reader that counts the bytes it
really inflates and stops at the cap, so a header that lies about its size gains nothing.

Whole-archive trouble that is not hostile (not a zip, a damaged directory, encrypted entries)
raises `ArchiveError`. A member whose data is damaged (bad CRC, broken deflate stream, fewer
bytes than declared) raises `UnreadableItemError` for that member alone, so the caller can
skip it and read the rest; a member holding more than its header declares is hostile.
Budgets (member count, total bytes) are shared by an archive and the zips opened inside it.
"""

from __future__ import annotations

import copy
import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from connectors.base import ConnectorError, UnreadableItemError

_MEBIBYTE = 1024 * 1024
_READ_CHUNK = 256 * 1024
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


class ArchiveError(ConnectorError):
    """A whole archive cannot be read: not a zip, a damaged directory, encrypted entries."""


class UnsafeArchiveError(ArchiveError):
    """An archive looks hostile (path traversal, symlinks, zip bomb); nothing of it is read."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps applied to one archive and every zip opened inside it.

    `max_ratio` applies to members that inflate to more than `ratio_floor_bytes`: small files
    of repeated text legitimately compress very well. `max_depth` counts zips inside zips:
    the archive itself is depth 0.
    """

    max_members: int = 10_000
    max_member_bytes: int = 100 * _MEBIBYTE
    max_total_bytes: int = 1024 * _MEBIBYTE
    max_ratio: float = 200.0
    ratio_floor_bytes: int = _MEBIBYTE
    max_depth: int = 3


DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class ArchiveMember:
    """One file of an archive: its checked, '/'-separated path and its declared size."""

    path: str
    declared_size: int
    _info: zipfile.ZipInfo = field(repr=False, compare=False)


@dataclass
class _Budget:
    """What an archive and the zips inside it have used so far, against the same limits."""

    limits: ArchiveLimits
    members_seen: int = 0
    bytes_read: int = 0


class SafeZip:
    """An open zip archive whose names and sizes passed the safety checks.

    Open one with `open_zip_file` or `open_zip_bytes`; `members` lists its files (folders
    left out); `read` returns a member's bytes; `open_nested` opens a member that is a zip.
    """

    def __init__(self, archive: zipfile.ZipFile, *, name: str, depth: int, budget: _Budget) -> None:
        self.name = name
        self.depth = depth
        self._archive = archive
        self._budget = budget
        self.members: list[ArchiveMember] = _checked_members(archive, name=name, budget=budget)

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the archive (and the file it was read from)."""
        self._archive.close()

    def read(self, member: ArchiveMember) -> bytes:
        """The member's bytes, inflated through a bounded reader.

        Raises `UnsafeArchiveError` when the member or the archive's total passes its cap, when
        the member inflates far more than its compressed size, or when its header lied about
        its size; raises `UnreadableItemError` when its data is damaged.
        """
        limits = self._budget.limits
        info = member._info
        remaining_total = limits.max_total_bytes - self._budget.bytes_read
        bound = min(limits.max_member_bytes, remaining_total)
        chunks: list[bytes] = []
        produced = 0
        try:
            with self._archive.open(_unchecked_copy(info, size=bound + 1)) as stream:
                for chunk in _chunks(stream):
                    produced += len(chunk)
                    self._budget.bytes_read += len(chunk)
                    if produced > bound:
                        raise self._too_big(member, produced_over=bound)
                    self._check_ratio(member, produced)
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            raise UnreadableItemError(
                f"{self.name}: entry {member.path!r} is damaged and cannot be inflated "
                f"({error}); download the export again"
            ) from None
        data = b"".join(chunks)
        if produced < info.file_size:
            raise UnreadableItemError(
                f"{self.name}: entry {member.path!r} is damaged: it holds {produced:,} of the "
                f"{info.file_size:,} bytes it declares; download the export again"
            )
        if produced > info.file_size:
            raise UnsafeArchiveError(
                f"{self.name}: entry {member.path!r} declares {info.file_size:,} bytes but "
                f"holds {produced:,}; the archive's headers lie, so it was refused — "
                "download the export again from its source"
            )
        if zlib.crc32(data) != info.CRC:
            raise UnreadableItemError(
                f"{self.name}: entry {member.path!r} is damaged (its CRC-32 checksum does not "
                "match); download the export again"
            )
        return data

    def open_nested(self, member: ArchiveMember) -> SafeZip:
        """Open a member that is itself a zip, with the same limits and shared budgets.

        Raises `UnsafeArchiveError` past the nesting cap and `ArchiveError` when the member
        is not a readable zip.
        """
        depth = self.depth + 1
        nested_name = f"{self.name} › {member.path}"
        if depth > self._budget.limits.max_depth:
            raise UnsafeArchiveError(
                f"{nested_name}: zips are nested more than {self._budget.limits.max_depth} "
                "deep, as zip bombs are; the archive was refused — unpack it yourself if you "
                "trust it"
            )
        try:
            content = self.read(member)
        except UnreadableItemError as error:
            raise ArchiveError(str(error)) from None
        return _open(io.BytesIO(content), name=nested_name, depth=depth, budget=self._budget)

    def _check_ratio(self, member: ArchiveMember, produced: int) -> None:
        limits = self._budget.limits
        compressed = max(member._info.compress_size, 1)
        if produced > limits.ratio_floor_bytes and produced > limits.max_ratio * compressed:
            raise UnsafeArchiveError(
                f"{self.name}: entry {member.path!r} inflates more than "
                f"{limits.max_ratio:g} times its compressed size ({compressed:,} bytes), as zip "
                "bombs do; the archive was refused"
            )

    def _too_big(self, member: ArchiveMember, *, produced_over: int) -> UnsafeArchiveError:
        limits = self._budget.limits
        if produced_over < limits.max_member_bytes:
            return UnsafeArchiveError(
                f"{self.name}: entry {member.path!r} takes the archive past "
                f"{limits.max_total_bytes:,} bytes in all; the archive was refused — split "
                "the export into smaller ones"
            )
        return UnsafeArchiveError(
            f"{self.name}: entry {member.path!r} inflates to more than "
            f"{limits.max_member_bytes:,} bytes (its header declared "
            f"{member.declared_size:,}); the archive was refused"
        )


def open_zip_file(path: Path, *, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> SafeZip:
    """Open the zip file at `path` for safe in-memory reading (nothing is extracted)."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ArchiveError(
            f"{path}: cannot open the archive ({error.strerror or error}); check the path"
        ) from None
    try:
        return _open(handle, name=path.name, depth=0, budget=_Budget(limits))
    except BaseException:
        handle.close()
        raise


def open_zip_bytes(content: bytes, *, name: str, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> SafeZip:
    """Open a zip held in memory; `name` is how messages refer to it."""
    return _open(io.BytesIO(content), name=name, depth=0, budget=_Budget(limits))


def _open(source: BinaryIO, *, name: str, depth: int, budget: _Budget) -> SafeZip:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        raise ArchiveError(
            f"{name}: not a zip archive, or a damaged one ({error}); download it again, or "
            "give the folder it was unpacked to"
        ) from None
    try:
        return SafeZip(archive, name=name, depth=depth, budget=budget)
    except BaseException:
        archive.close()
        raise


def _checked_members(archive: zipfile.ZipFile, *, name: str, budget: _Budget) -> list[ArchiveMember]:
    """Check every entry's name, kind and declared size; return the files."""
    limits = budget.limits
    infos = archive.infolist()
    budget.members_seen += len(infos)
    if budget.members_seen > limits.max_members:
        raise UnsafeArchiveError(
            f"{name}: holds more than {limits.max_members:,} entries, as zip bombs do; the "
            "archive was refused — split the export into smaller ones"
        )
    members: list[ArchiveMember] = []
    declared_total = budget.bytes_read
    for info in infos:
        path = _checked_path(info, archive_name=name)
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise ArchiveError(
                f"{name}: entry {path!r} is encrypted; only unencrypted archives can be "
                "read — export again without a password, or unzip it yourself first"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchiveError(
                f"{name}: entry {path!r} is a symbolic link, which can point outside the "
                "archive; the archive was refused"
            )
        if info.is_dir() or path.endswith("/"):
            continue
        _check_declared_size(info, path=path, archive_name=name, limits=limits)
        declared_total += info.file_size
        if declared_total > limits.max_total_bytes:
            raise UnsafeArchiveError(
                f"{name}: entries declare more than {limits.max_total_bytes:,} bytes in all "
                f"(passed at {path!r}); the archive was refused — split the export into "
                "smaller ones"
            )
        members.append(ArchiveMember(path=path, declared_size=info.file_size, _info=info))
    return members


def _checked_path(info: zipfile.ZipInfo, *, archive_name: str) -> str:
    """The entry's name, decoded and '/'-separated, or `UnsafeArchiveError` if it could escape."""
    raw = info.orig_filename
    if "\x00" in raw:
        raise UnsafeArchiveError(
            f"{archive_name}: entry {raw!r} has a NUL byte in its name, a trick to hide its "
            "real name; the archive was refused"
        )
    path = _decoded_name(info).replace("\\", "/")
    if path.startswith("/"):
        problem = "is an absolute path"
    elif _DRIVE_LETTER.match(path):
        problem = "starts with a drive letter"
    elif ".." in path.split("/"):
        problem = "climbs out of the archive with '..'"
    else:
        parts = [part for part in path.split("/") if part not in ("", ".")]
        return "/".join(parts) + ("/" if path.endswith("/") else "")
    raise UnsafeArchiveError(
        f"{archive_name}: entry {raw!r} {problem}, which could write outside the target "
        "folder (zip slip); the archive was refused"
    )


def _decoded_name(info: zipfile.ZipInfo) -> str:
    """The entry name; names without the UTF-8 flag are often UTF-8 anyway (macOS, Notion)."""
    name = info.filename
    if info.flag_bits & _UTF8_NAME_FLAG:
        return name
    try:
        return name.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def _check_declared_size(
    info: zipfile.ZipInfo, *, path: str, archive_name: str, limits: ArchiveLimits
) -> None:
    if info.file_size > limits.max_member_bytes:
        raise UnsafeArchiveError(
            f"{archive_name}: entry {path!r} declares {info.file_size:,} bytes, more than "
            f"the {limits.max_member_bytes:,} allowed for one entry; the archive was refused"
        )
    compressed = max(info.compress_size, 1)
    if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * compressed:
        raise UnsafeArchiveError(
            f"{archive_name}: entry {path!r} declares a compression ratio over "
            f"{limits.max_ratio:g}:1 ({info.file_size:,} bytes from {compressed:,}), as zip "
            "bombs do; the archive was refused"
        )


def _unchecked_copy(info: zipfile.ZipInfo, *, size: int) -> zipfile.ZipInfo:
    """A copy of `info` that lets zipfile inflate up to `size` bytes and skips its CRC check.

    zipfile trusts `file_size` and stops there; with a larger bound the real length shows,
    and `SafeZip.read` compares it (and the CRC) against the header itself.
    """
    bounded = copy.copy(info)
    bounded.file_size = size
    del bounded.CRC
    return bounded


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            return
        yield chunk
