"""Hostile and malformed files, written on demand, for tests/test_hostile_files.py and
benchmarks/hostile_inputs.py.

Every generator writes into a folder the caller owns and returns the path. Nothing here reads
the network or keeps large data in memory: big files are streamed or sparse.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path

_MEBIBYTE = 1024 * 1024


# ----- PDF ---------------------------------------------------------------------------------


def pdf_bytes(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"", xref: bool = True) -> bytes:
    """A PDF file of numbered `objects` (object n is objects[n-1]) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        for offset in offsets:
            out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R " % (len(objects) + 1, root) + trailer_extra + b">>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def _stream(data: bytes, *, extra: bytes = b"") -> bytes:
    return b"<< /Length %d " % len(data) + extra + b">>\nstream\n" + data + b"\nendstream"


def _page_objects(content: bytes, *, count: int = 1, resources: bytes = b"") -> list[bytes]:
    """Catalog (1), Pages (2), Page (3), Font (4), content stream (5)."""
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 4 0 R >> " + resources + b">> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        _stream(content),
    ]


def _text_content(text: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"


def write_good_pdf(
    folder: Path, name: str = "good.pdf", text: str = "A safe page about harbour tides."
) -> Path:
    path = folder / name
    path.write_bytes(pdf_bytes(_page_objects(_text_content(text))))
    return path


def write_circular_xref_pdf(folder: Path) -> Path:
    """An xref section whose /Prev points back at itself, and an object stream that /Extends itself."""
    objects = _page_objects(_text_content("Circular cross references."))
    objects.append(_stream(b"6 0 ", extra=b"/Type /ObjStm /N 1 /First 4 /Extends 6 0 R "))
    body = pdf_bytes(objects)
    start = int(body.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    body = body.replace(b"/Root 1 0 R ", b"/Root 1 0 R /Prev %d " % start)
    path = folder / "circular-xref.pdf"
    path.write_bytes(body)
    return path


def write_count_lie_pdf(folder: Path) -> Path:
    """A page tree that claims a billion pages and lists itself as its own kid."""
    objects = _page_objects(_text_content("The count lies."))
    objects[1] = b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 1000000000 >>"
    path = folder / "count-lie.pdf"
    path.write_bytes(pdf_bytes(objects))
    return path


def write_deep_array_pdf(folder: Path, depth: int = 10_000) -> Path:
    """A page whose resources hold arrays nested `depth` deep."""
    nested = b"[" * depth + b"]" * depth
    objects = _page_objects(_text_content("Deeply nested arrays."), resources=b"/Deep " + nested + b" ")
    path = folder / "deep-arrays.pdf"
    path.write_bytes(pdf_bytes(objects))
    return path


def write_inflate_bomb_pdf(folder: Path, inflated_bytes: int = 1024 * _MEBIBYTE) -> Path:
    """A page whose content stream is `inflated_bytes` of spaces deflated to about 1/1000."""
    compressor = zlib.compressobj(9)
    piece = b" " * _MEBIBYTE
    parts = [compressor.compress(b"BT /F1 12 Tf 72 720 Td (Bomb) Tj ET\n")]
    for _ in range(inflated_bytes // _MEBIBYTE):
        parts.append(compressor.compress(piece))
    parts.append(compressor.flush())
    objects = _page_objects(b"")
    objects[4] = _stream(b"".join(parts), extra=b"/Filter /FlateDecode ")
    path = folder / "inflate-bomb.pdf"
    path.write_bytes(pdf_bytes(objects))
    return path


# ----- text --------------------------------------------------------------------------------


def write_text_cases(folder: Path) -> dict[str, Path]:
    """Small text files with bad encodings: each is read or skipped with a reason."""
    cases = {
        "invalid-utf8.txt": b"caf\xc3 na\xefve \xff\xfe\x80 broken bytes in the middle of a line\n",
        "utf16-no-bom.txt": "Tide tables for the harbour, in UTF-16.\n".encode("utf-16-le"),
        "nul-bytes.txt": b"some text\x00\x00\x00 with NUL bytes\x00 inside\n",
    }
    paths = {}
    for name, content in cases.items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
    return paths


def write_single_line_file(folder: Path, size: int, name: str = "one-line.txt") -> Path:
    """One line of `size` bytes of words and no newline, written in pieces."""
    path = folder / name
    piece = b"word " * (_MEBIBYTE // 5)
    with path.open("wb") as stream:
        remaining = size
        while remaining > 0:
            stream.write(piece[: min(remaining, len(piece))])
            remaining -= len(piece)
    return path


def write_tiny_files(folder: Path, count: int, *, per_folder: int = 10_000, hard_links: bool = False) -> Path:
    """`count` one-line text files in sub-folders of `per_folder` files each.

    With `hard_links`, every name is a hard link to one file: a million names cost a million
    directory entries, not a million inodes and pages (for a RAM disk on a small machine).
    """
    first: Path | None = None
    for index in range(count):
        sub = folder / f"part{index // per_folder:04d}"
        if index % per_folder == 0:
            sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"n{index:07d}.txt"
        if hard_links and first is not None:
            os.link(first, path)
            continue
        with open(path, "w") as stream:
            stream.write(f"Note {index} about topic {index % 97}.\n")
        first = path
    return folder


def write_symlink_loops(folder: Path) -> Path:
    """A folder with links to itself, to its parent, to each other and nowhere; plus one real file."""
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "real.txt").write_text("The only real file in the loops.\n")
    os.symlink(".", folder / "self")
    os.symlink("..", folder / "sub" / "up")
    os.symlink(folder, folder / "sub" / "absolute-root")
    os.symlink("b-link", folder / "a-link")
    os.symlink("a-link", folder / "b-link")
    os.symlink("missing", folder / "dangling.txt")
    os.symlink("/", folder / "filesystem-root")
    return folder


# ----- DOCX --------------------------------------------------------------------------------


def docx_bytes(text: str = "A Word file about harbour tides.") -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _replace_part(
    content: bytes, part: str, replacement: bytes | None, *, extra: tuple[str, int] | None = None
) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(content)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info) if info.filename != part or replacement is None else replacement
            target.writestr(info.filename, data)
        if extra is not None:
            name, size = extra
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with target.open(info, "w", force_zip64=True) as stream:
                piece = b"\x00" * _MEBIBYTE
                for _ in range(size // _MEBIBYTE):
                    stream.write(piece)
    return out.getvalue()


def write_docx_zip_bomb(folder: Path, inflated_bytes: int = 1024 * _MEBIBYTE) -> Path:
    """A valid .docx plus a media part that inflates to `inflated_bytes` of zeros."""
    path = folder / "zip-bomb.docx"
    path.write_bytes(_replace_part(docx_bytes(), "", None, extra=("word/media/image1.png", inflated_bytes)))
    return path


def write_docx_entity_bomb(folder: Path) -> Path:
    """A .docx whose document.xml declares a billion-laughs entity and uses it in a paragraph."""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{level} "{("&lol" + (str(level - 1) if level > 1 else "") + ";") * 10}">'
        for level in range(1, 10)
    ]
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<!DOCTYPE w:document [{''.join(entities)}]>\n"
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Before &lol9; after</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>Laughs in a Word file.</w:t></w:r></w:p></w:body></w:document>"
    ).encode()
    path = folder / "entity-bomb.docx"
    path.write_bytes(_replace_part(docx_bytes(), "word/document.xml", xml))
    return path


# ----- records -----------------------------------------------------------------------------


def write_huge_jsonl_line(folder: Path, line_bytes: int = 1024 * _MEBIBYTE) -> Path:
    """Three records, the second one line of `line_bytes` (a sparse run of NUL bytes: no disk used)."""
    path = folder / "huge-line.jsonl"
    with path.open("wb") as stream:
        stream.write(b'{"id": "first", "text": "The first record is fine."}\n')
        stream.write(b'{"id": "huge", "text": "')
        stream.seek(line_bytes, os.SEEK_CUR)
        stream.write(b'"}\n')
        stream.write(b'{"id": "last", "text": "The last record is fine too."}\n')
    return path


def write_hostile_records(folder: Path, depth: int = 100_000) -> Path:
    """Deeply nested JSON, wrong types and duplicate ids among good records."""
    nested = "[" * depth + "]" * depth
    lines = [
        '{"id": 1, "text": "Record one is fine."}',
        '{"id": 2, "text": ' + nested + "}",
        '{"id": [3], "text": "An id that is a list."}',
        '{"id": 4, "text": {"not": "a string"}}',
        '{"id": 5, "text": 12345}',
        '{"id": true, "text": "An id that is a boolean."}',
        '{"id": 6, "text": "Record six.", "title": ["a", "list"]}',
        '{"id": 1, "text": "A duplicate of record one."}',
        '"just a string"',
        '{"id": 7, "text": "Record seven is fine."}',
    ]
    path = folder / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
