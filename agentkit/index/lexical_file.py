"""The on-disk format of a lexical (BM25) index: one `.npz` archive of plain arrays, no pickle.

Members (all one-dimensional):
- `header`: UTF-8 JSON `{"format", "tokenizer", "k1", "b", "version"}`, as uint8;
- `vocabulary`: the terms joined by newlines (terms are words, never contain one), UTF-8 uint8;
- `chunk_ids` int64 and `lengths` int32: one entry per chunk;
- `term_offsets` int64 (terms + 1), `posting_rows` int32 and `posting_counts` int32: the
  postings grouped by term (CSR by term), rows indexing `chunk_ids`.

Writes are atomic (`agentkit.atomic_files`); reads are loaded with `allow_pickle=False` and
checked for consistency, so a truncated, damaged or foreign file is a `LexicalIndexError`
and never a wrong answer.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentkit.atomic_files import write_atomically
from agentkit.errors import LexicalIndexError

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1
_REBUILD = "delete it and it will be rebuilt from the database"
_ARRAY_DTYPES = {
    "header": "uint8",
    "vocabulary": "uint8",
    "chunk_ids": "int64",
    "lengths": "int32",
    "term_offsets": "int64",
    "posting_rows": "int32",
    "posting_counts": "int32",
}


@dataclass(frozen=True)
class StoredLexicalIndex:
    """Everything a lexical index file holds."""

    tokenizer: str
    k1: float
    b: float
    version: int | None
    terms: list[str]
    chunk_ids: np.ndarray
    lengths: np.ndarray
    term_offsets: np.ndarray
    posting_rows: np.ndarray
    posting_counts: np.ndarray


def write_index_file(path: Path, stored: StoredLexicalIndex) -> None:
    """Write `stored` to `path` atomically."""
    import numpy as np


    header = {
        "format": FORMAT_VERSION,
        "tokenizer": stored.tokenizer,
        "k1": stored.k1,
        "b": stored.b,
        "version": stored.version,
    }
    arrays = {
        "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
        "vocabulary": np.frombuffer("\n".join(stored.terms).encode("utf-8"), dtype=np.uint8),
        "chunk_ids": stored.chunk_ids,
        "lengths": stored.lengths,
        "term_offsets": stored.term_offsets,
        "posting_rows": stored.posting_rows,
        "posting_counts": stored.posting_counts,
    }

    def write(temporary: Path) -> None:
        with temporary.open("wb") as stream:  # given a path, numpy would append ".npz"
            np.savez(stream, allow_pickle=False, **arrays)

    write_atomically(path, write)


def read_index_file(path: Path, *, tokenizer: str) -> StoredLexicalIndex:
    """Read and check an index file written with `tokenizer`; `LexicalIndexError` otherwise."""
    import numpy as np

    if not path.is_file():
        raise LexicalIndexError(f"{path}: lexical index file does not exist; {_REBUILD}")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name, dtype in _ARRAY_DTYPES.items():
                if name not in archive.files:
                    raise LexicalIndexError(f"{path}: lexical index lacks {name!r}; {_REBUILD}")
                array = archive[name]
                if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
                    raise LexicalIndexError(
                        f"{path}: lexical index array {name!r} has the wrong type; {_REBUILD}"
                    )
                arrays[name] = array
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
        vocabulary_text = arrays["vocabulary"].tobytes().decode("utf-8")
    except LexicalIndexError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too.
        raise LexicalIndexError(
            f"{path}: lexical index file is damaged or truncated ({error}); {_REBUILD}"
        ) from error
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise LexicalIndexError(f"{path}: not a lexical index of format {FORMAT_VERSION}; {_REBUILD}")
    if header.get("tokenizer") != tokenizer:
        raise LexicalIndexError(
            f"{path}: lexical index was built with tokenizer {header.get('tokenizer')!r}, this "
            f"version uses {tokenizer!r}; {_REBUILD}"
        )
    k1, b, version = header.get("k1"), header.get("b"), header.get("version")
    if not isinstance(k1, int | float) or not isinstance(b, int | float):
        raise LexicalIndexError(f"{path}: lexical index header lacks k1 and b; {_REBUILD}")
    if version is not None and not isinstance(version, int):
        raise LexicalIndexError(f"{path}: lexical index header has a bad version; {_REBUILD}")
    terms = vocabulary_text.split("\n") if vocabulary_text else []
    if not _consistent(arrays, terms):
        raise LexicalIndexError(f"{path}: lexical index arrays do not agree; {_REBUILD}")
    return StoredLexicalIndex(
        tokenizer=tokenizer,
        k1=float(k1),
        b=float(b),
        version=version,
        terms=terms,
        chunk_ids=arrays["chunk_ids"],
        lengths=arrays["lengths"],
        term_offsets=arrays["term_offsets"],
        posting_rows=arrays["posting_rows"],
        posting_counts=arrays["posting_counts"],
    )


def _consistent(arrays: dict[str, np.ndarray], terms: list[str]) -> bool:
    import numpy as np

    offsets, rows = arrays["term_offsets"], arrays["posting_rows"]
    chunk_count = len(arrays["chunk_ids"])
    return (
        len(offsets) == len(terms) + 1
        and offsets[0] == 0
        and offsets[-1] == len(rows) == len(arrays["posting_counts"])
        and bool(np.all(np.diff(offsets) >= 0))
        and len(arrays["lengths"]) == chunk_count
        and bool(np.all(arrays["lengths"] >= 0))
        and len(np.unique(arrays["chunk_ids"])) == chunk_count
        and len(set(terms)) == len(terms)
        and (len(rows) == 0 or (int(rows.min()) >= 0 and int(rows.max()) < chunk_count))
        and bool(np.all(arrays["posting_counts"] > 0))
    )
