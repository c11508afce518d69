"""Turning the bytes of a plain-text file into a `str`, or refusing clearly.

`decode_text` owns the decision of which encoding a text file uses: a byte-order mark wins
(UTF-8, UTF-16, UTF-32), then strict UTF-8, then the legacy encoding charset-normalizer finds
most plausible (Shift-JIS, KOI8-R, Windows-1251, ...), with Windows-1252 preferred whenever it
reads the bytes about as cleanly, and Windows-1252 when nothing is found. Binary content (NUL
bytes, many control characters) and undecodable bytes raise `UnreadableItemError` naming the
file and telling the user to save it as UTF-8. Newlines come out as ``\\n`` whatever the file
used.
"""

from __future__ import annotations

import codecs
import re

from connectors.base import UnreadableItemError

# Checked in this order: the UTF-32 LE mark starts with the UTF-16 LE mark.
_BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Control characters other than tab, newline, form feed and carriage return, which text has.
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

# More than this share of other control characters means the bytes are not text.
_MAX_CONTROL_SHARE = 0.01

# How much more garbled (in charset-normalizer's "chaos", 0 to 1) Windows-1252 may read than
# the best guess and still be preferred; measured on short French, German, Spanish, Polish,
# Russian (KOI8-R, Windows-1251), Greek, Japanese, Chinese and Korean samples.
_WESTERN_CHAOS_MARGIN = 0.1


def decode_text(content: bytes, *, name: str) -> str:
    """Decode a text file's bytes, normalising newlines to ``\\n``.

    Raises `UnreadableItemError` naming `name` for binary or undecodable content.
    """
    for mark, encoding in _BYTE_ORDER_MARKS:
        if content.startswith(mark):
            try:
                text = content[len(mark) :].decode(encoding)
            except UnicodeDecodeError as error:
                raise UnreadableItemError(
                    f"{name} starts with a {encoding.upper()} byte-order mark but is not valid "
                    f"{encoding.upper()} (bad bytes at offset {error.start + len(mark)}); "
                    "save it again as UTF-8"
                ) from None
            _refuse_binary(text, name=name)
            return normalise_newlines(text)

    if b"\x00" in content:
        raise UnreadableItemError(
            f"{name} looks like a binary file (it contains NUL bytes), not text; if it is text "
            "in UTF-16 without a byte-order mark, save it as UTF-8"
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode_legacy(content, name=name)
    _refuse_binary(text, name=name)
    return normalise_newlines(text)


def normalise_newlines(text: str) -> str:
    """Turn Windows (``\\r\\n``) and old Mac (``\\r``) line ends into ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_legacy(content: bytes, *, name: str) -> str:
    """Decode bytes that are not UTF-8 with the legacy encoding they most plausibly use."""
    for encoding in legacy_encodings(content):
        try:
            return content.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError as error:
        raise UnreadableItemError(
            f"{name} is not UTF-8 text and no legacy encoding reads it (undecodable byte "
            f"0x{content[error.start]:02x} at offset {error.start}); save it as UTF-8"
        ) from None


def legacy_encodings(content: bytes) -> list[str]:
    """Encodings to try for non-UTF-8 `content`, most plausible first (charset-normalizer).

    charset-normalizer picks almost at random among the Western code pages for short text
    (``Café déjà vu`` comes out as Baltic cp1257), so Windows-1252, by far the most common
    of them, goes first whenever it reads the bytes within `_WESTERN_CHAOS_MARGIN` of the
    best guess's "chaos" (its measure of how garbled the decoded text looks).
    """
    from charset_normalizer import from_bytes

    matches = from_bytes(content)
    best = matches.best()
    if best is None:
        return ["cp1252"]
    western = any(
        match.chaos <= best.chaos + _WESTERN_CHAOS_MARGIN and "cp1252" in match.could_be_from_charset
        for match in matches
    )
    return ["cp1252", best.encoding] if western else [best.encoding, "cp1252"]


def _refuse_binary(text: str, *, name: str) -> None:
    controls = len(_BINARY_CONTROLS.findall(text))
    if "\x00" in text or controls > max(2, len(text) * _MAX_CONTROL_SHARE):
        raise UnreadableItemError(
            f"{name} looks like a binary file (it contains {controls} control characters), "
            "not text; convert it to a plain-text file saved as UTF-8"
        )
