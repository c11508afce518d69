"""Extracting page-numbered, cleaned text blocks from PDF files with pypdf.

`read_pdf_file` owns reading one PDF: opening it (pypdf is imported inside), decrypting it
when it is encrypted, extracting each page's text, cleaning that text (ligatures, hyphenated
line breaks, running page numbers, whitespace) and splitting it into paragraph `Block`s that
carry the 1-based `page` they came from. It returns a `PdfContent` (metadata title + blocks).
`read_pdf` returns just the blocks and `pdf_title` just the title, for callers that need one.

Whole-file failures raise `UnreadableItemError` naming the file and what to do: a corrupt or
truncated file, an encrypted file without the right password, a file with no text layer at
all (scanned pages: run OCR first). A page that fails on its own is skipped.
`MemoryError` is never taken for damage: it reaches the parse worker
(`connectors.readers.parse_worker`), which reports the memory bound.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.base import Block, UnreadableItemError

if TYPE_CHECKING:
    from pypdf import PdfReader

_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00ad": None,
        "\x00": None,
    }
)
_HYPHENATED_BREAK = re.compile(r"([^\W\d_]+)-[ \t]*\n[ \t]*([a-z][^\W\d_]*)")
_CONTROL_CHARACTERS = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")
_RUNNING_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-\u2013\u2014\s]*\d{1,4}[-\u2013\u2014\s]*(?:(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^(?:[-*\u2022\u25aa\u25cf\u2013]|\(?\d{1,3}[.)]|[a-z][.)])\s")
_SENTENCE_END = (".", "!", "?", ":", ";")
_PLACEHOLDER_TITLES = frozenset({"untitled", "title", "document", "untitled document", "slide 1"})
_FILE_NAME_SUFFIXES = (".doc", ".docx", ".pdf", ".dvi", ".tex", ".indd", ".qxd", ".txt", ".rtf")


@dataclass(frozen=True)
class PdfContent:
    """What a PDF yields: its metadata title (when it has a useful one) and its text blocks."""

    title: str | None
    blocks: list[Block]


def read_pdf(content: bytes, *, name: str, password: str | None = None) -> list[Block]:
    """The text blocks of a PDF, each with its 1-based `page`; see `read_pdf_file`."""
    return read_pdf_file(content, name=name, password=password).blocks


def pdf_title(content: bytes) -> str | None:
    """The title stored in a PDF's metadata, or None when it has none or cannot be read."""
    try:
        with _quiet_pypdf():
            reader = _open(content, name="PDF")
            if reader.is_encrypted and not _try_decrypt(reader, password=None):
                return None
            return _metadata_title(reader)
    except UnreadableItemError:
        return None


def read_pdf_file(content: bytes, *, name: str, password: str | None = None) -> PdfContent:
    """Read a whole PDF: title from its metadata and paragraph blocks page by page.

    Raises `UnreadableItemError` for a corrupt, locked or text-less file.
    """
    with _quiet_pypdf():
        reader = _open(content, name=name)
        if reader.is_encrypted and not _try_decrypt(reader, password=password, name=name):
            if password:
                raise UnreadableItemError(
                    f"{name} is encrypted and the password given does not open it; check the "
                    "password, or save a decrypted copy (e.g. qpdf --decrypt) and add that"
                )
            raise UnreadableItemError(
                f"{name} is encrypted; save a decrypted copy (e.g. qpdf --decrypt "
                "--password=PASSWORD in.pdf out.pdf) and add that instead"
            )
        try:
            page_count = len(reader.pages)
        except MemoryError:  # the worker's memory bound: not a damaged file
            raise
        except Exception as error:  # many types for a broken page tree
            raise UnreadableItemError(
                f"{name} is damaged: its page list cannot be read ({_describe(error)}); "
                "re-export or re-download the PDF"
            ) from None
        if page_count == 0:
            raise UnreadableItemError(f"{name} has no pages; re-export or re-download the PDF")

        blocks: list[Block] = []
        failed_pages: list[int] = []
        bomb_pages: list[int] = []
        for page_number in range(1, page_count + 1):
            try:
                raw_text = reader.pages[page_number - 1].extract_text()
            except MemoryError:  # the worker's memory bound: not a damaged file
                raise
            except Exception as error:  # one damaged page must not lose the others
                failed_pages.append(page_number)
                if type(error).__name__ == "LimitReachedError":  # pypdf's inflate cap
                    bomb_pages.append(page_number)
                continue
            for paragraph in split_paragraphs(clean_page_text(raw_text or "")):
                blocks.append(Block(text=paragraph, page=page_number))
        title = _metadata_title(reader)

    if not blocks:
        if bomb_pages:
            raise UnreadableItemError(
                f"{name}: page {bomb_pages[0]} holds a stream that inflates past pypdf's size "
                "limit, as decompression bombs do, and no page yields text; the file was skipped"
            )
        if len(failed_pages) == page_count:
            raise UnreadableItemError(
                f"{name}: text could not be extracted from any of its {page_count} page(s); "
                "the file may be damaged: re-export or re-download it"
            )
        raise UnreadableItemError(
            f"{name} has no extractable text (scanned?); run OCR first, e.g. "
            "ocrmypdf in.pdf out.pdf, and add the result"
        )
    return PdfContent(title=title, blocks=blocks)


def clean_page_text(raw_text: str) -> str:
    """Normalise one page's extracted text, keeping one line per extracted line.

    Ligatures become letters, soft hyphens and control characters go, a word hyphenated across
    a line break is joined (unless the page spells the word with a hyphen elsewhere), runs of
    spaces shrink to one, and a lone page number on the first or last line is dropped.
    """
    text = raw_text.replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)
    text = _CONTROL_CHARACTERS.sub(" ", text)
    text = _join_hyphenated_words(text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = _strip_blank_ends(lines)
    if lines and _RUNNING_PAGE_NUMBER.match(lines[-1]):
        lines.pop()
    if lines and _RUNNING_PAGE_NUMBER.match(lines[0]):
        lines.pop(0)
    return "\n".join(_strip_blank_ends(lines))


def _strip_blank_ends(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    while end > start and not lines[end - 1]:
        end -= 1
    return lines[start:end]


def _join_hyphenated_words(text: str) -> str:
    """Join ``infor-`` + ``mation`` across a line break, keeping the line count."""

    def join(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        if f"{left}-{right}" in text and f"{left}{right}" not in text:
            return match.group(0)  # a real compound such as "self-hosted"
        return f"{left}{right}\n"

    return _HYPHENATED_BREAK.sub(join, text)


def split_paragraphs(page_text: str) -> list[str]:
    """Join a page's lines into paragraphs.

    Blank lines always separate paragraphs. Lines are also split before list items, after a
    list item's short last line, and after a line that ends a sentence and is clearly shorter
    than the page's full lines (the last line of a paragraph); other line breaks are layout
    and become spaces.
    """
    lines = page_text.split("\n")
    lengths = sorted(len(line) for line in lines if line)
    if not lengths:
        return []
    # With few lines there is no telling full lines from short ones: every line counts as short.
    full_width = lengths[int(len(lengths) * 0.9) - 1] if len(lengths) >= 5 else 10**6

    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line:
            _close(current, paragraphs)
            continue
        if current and _LIST_MARKER.match(line):
            _close(current, paragraphs)
        current.append(line)
        is_short = len(line) < 0.75 * full_width
        if is_short and (line.endswith(_SENTENCE_END) or _LIST_MARKER.match(current[0])):
            _close(current, paragraphs)
    _close(current, paragraphs)
    return paragraphs


def _close(current: list[str], paragraphs: list[str]) -> None:
    if current:
        paragraphs.append(" ".join(current))
        current.clear()


def _open(content: bytes, *, name: str) -> PdfReader:
    from pypdf import PdfReader

    if b"%PDF" not in content[:1024]:
        raise UnreadableItemError(
            f"{name} is not a PDF (it does not start with %PDF); check the file, or rename it "
            "if it is another type"
        )
    from pypdf.errors import DependencyError

    try:
        return PdfReader(io.BytesIO(content), strict=False)
    except DependencyError:
        raise _needs_cryptography(name) from None
    except MemoryError:  # the worker's memory bound: not a damaged file
        raise
    except Exception as error:  # pypdf raises many types for damaged files
        raise UnreadableItemError(
            f"{name} is a damaged or truncated PDF ({_describe(error)}); re-export or re-download it"
        ) from None


def _try_decrypt(reader: PdfReader, *, password: str | None, name: str = "PDF") -> bool:
    """Decrypt with the password, or with the empty password most restricted PDFs use."""
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    for candidate in dict.fromkeys([password or "", ""]):
        try:
            if reader.decrypt(candidate) != PasswordType.NOT_DECRYPTED:
                return True
        except DependencyError:
            raise _needs_cryptography(name) from None
        except MemoryError:  # the worker's memory bound: not a damaged file
            raise
        except Exception:  # unsupported or damaged encryption
            return False
    return False


def _needs_cryptography(name: str) -> UnreadableItemError:
    return UnreadableItemError(
        f"{name} is encrypted with AES, which needs the 'cryptography' package; install it "
        "(pip install cryptography) and sync again"
    )


def _metadata_title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        raw_title = metadata.title if metadata is not None else None
    except MemoryError:  # the worker's memory bound: not a damaged file
        raise
    except Exception:  # damaged metadata never blocks the text
        return None
    if not isinstance(raw_title, str):
        return None
    title = " ".join(raw_title.replace("\x00", "").split())
    lowered = title.lower()
    # Titles a program filled in (a file name, "Untitled") say nothing about the document.
    if (
        len(title) < 2
        or lowered in _PLACEHOLDER_TITLES
        or lowered.startswith("microsoft word -")
        or lowered.endswith(_FILE_NAME_SUFFIXES)
    ):
        return None
    return title


def _describe(error: Exception) -> str:
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs or warns about every glitch it repairs; users cannot act on them."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
