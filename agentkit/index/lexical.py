"""The lexical side of retrieval: a BM25 index over one agent's chunks, and its file format.

`tokenize` turns text into terms (lowercase unicode words, common English function words
dropped, Snowball English stems from `agentkit.index.stemming`, shared with grounding);
`LexicalIndex` keeps the term counts of every chunk, answers BM25 queries, follows chunks being
added and removed, and saves itself atomically without pickle (the file format is
`agentkit.index.lexical_file`).

Why an index of our own rather than a library or the database's full-text search: SQLite FTS5
ranks with its own BM25 variant and PostgreSQL's `ts_rank` is not BM25 at all, so database
search would rank differently on the two back ends agentkit supports. This module ranks the
same everywhere, works offline, and needs only numpy, scipy and PyStemmer. The SQL database
stays the source of truth: the index holds chunk ids and term counts only, and is rebuilt from
chunk texts whenever it is missing, unreadable or out of step.

Scoring is Okapi BM25 with the non-negative idf `log(1 + (N - df + 0.5) / (df + 0.5))`; a query
term given twice counts twice. Weights are computed at query time from the current collection
statistics, so `add` and `remove` never rescore the whole index: they are buffered and folded
into the posting arrays on the next search or save. After any sequence of changes, searches
return exactly what an index built from scratch over the same chunks returns.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentkit.errors import LexicalIndexError
from agentkit.index.lexical_file import StoredLexicalIndex, read_index_file, write_index_file
from agentkit.index.stemming import stem_words

if TYPE_CHECKING:
    import numpy as np

# Stored in every index file; change it whenever `tokenize` changes what it returns.
TOKENIZER_ID = "words-lower/stop-en-1/snowball-english"
DEFAULT_K1 = 0.9
DEFAULT_B = 0.4

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKENIZE_SLICE = 2048

# Function words that carry no topic. The list is short on purpose: words such as "not",
# "no", "after" or "without", which change the meaning of a claim, stay searchable.
STOPWORDS = frozenset(
    """
    a an and are as at be been but by for from had has have he her his i if in into is it
    its of on or our she so such than that the their them then there these they this those
    to was we were which who will with you your
    """.split()
)


def tokenize(text: str) -> list[str]:
    """The terms of `text`: lowercase words, stopwords dropped, Snowball English stems."""
    words = [word for word in _WORD.findall(text.lower()) if word not in STOPWORDS]
    return stem_words(words)


@dataclass
class _PendingBatch:
    """Chunks added since the last fold: postings in chunk order, as flat arrays."""

    chunk_ids: np.ndarray  # int64[m]
    lengths: np.ndarray  # int32[m]
    posting_chunks: np.ndarray  # int32[nnz], position of the chunk within the batch
    posting_terms: np.ndarray  # int32[nnz]
    posting_counts: np.ndarray  # int32[nnz]
    dropped: set[int] = field(default_factory=set)


class LexicalIndex:
    """BM25 over chunks, keyed by chunk id. Create with `build` or `load`.

    Folded-in chunks live in slots (rows); postings are grouped by term (CSR by term). A
    removed chunk's postings are deleted and its slot left empty until a third of the slots
    are empty, then slots are renumbered.
    """

    def __init__(self, *, k1: float = DEFAULT_K1, b: float = DEFAULT_B) -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        import numpy as np

        self.k1 = float(k1)
        self.b = float(b)
        # The caller's label of the collection state the saved file reflects (see `save`).
        self.version: int | None = None
        self._terms: list[str] = []
        self._term_ids: dict[str, int] = {}
        # word -> term id; stopwords map to distinct negative ids so that they never collide.
        self._word_terms: dict[str, int] = {}
        self._slot_of: dict[int, int] = {}
        self._slot_chunk_ids = np.zeros(0, dtype=np.int64)
        self._slot_lengths = np.zeros(0, dtype=np.int32)
        self._term_offsets = np.zeros(1, dtype=np.int64)
        self._posting_rows = np.zeros(0, dtype=np.int32)
        self._posting_counts = np.zeros(0, dtype=np.int32)
        self._slot_norms = np.zeros(0, dtype=np.float64)
        self._vacated_slots: list[int] = []
        self._empty_slot_count = 0
        self._pending: list[_PendingBatch] = []
        self._pending_batch_of: dict[int, int] = {}

    @classmethod
    def build(
        cls,
        chunk_ids: Sequence[int],
        texts: Sequence[str],
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> LexicalIndex:
        """An index over the given chunks (texts in the same order as their ids)."""
        index = cls(k1=k1, b=b)
        index.add(chunk_ids, texts)
        index._fold_in()
        return index

    def __len__(self) -> int:
        return len(self._slot_of) + len(self._pending_batch_of)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._slot_of or chunk_id in self._pending_batch_of

    def chunk_ids(self) -> set[int]:
        """The ids of all indexed chunks (a new set)."""
        return set(self._slot_of) | set(self._pending_batch_of)

    def add(self, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
        """Index chunks; a chunk id that is already indexed is replaced by the new text."""
        import numpy as np

        if len(chunk_ids) != len(texts):
            raise ValueError(
                f"add() got {len(chunk_ids)} chunk ids but {len(texts)} texts; pass one text per chunk id"
            )
        ids = [int(chunk_id) for chunk_id in chunk_ids]
        if len(set(ids)) != len(ids):
            duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
            raise ValueError(f"add() got chunk ids more than once: {duplicates[:10]}")
        if not ids:
            return
        self.remove(ids)
        term_parts, count_parts, chunk_parts, length_parts = [], [], [], []
        for start in range(0, len(texts), _TOKENIZE_SLICE):
            # Slices keep the Python lists small; their counts go to numpy at once.
            term_lists, count_lists = self._count_terms(texts[start : start + _TOKENIZE_SLICE])
            sizes = np.fromiter(map(len, term_lists), dtype=np.int64, count=len(term_lists))
            total = int(sizes.sum())
            terms = np.fromiter(_flatten(term_lists), dtype=np.int32, count=total)
            counts = np.fromiter(_flatten(count_lists), dtype=np.int32, count=total)
            chunks = np.repeat(np.arange(start, start + len(term_lists), dtype=np.int32), sizes)
            is_term = terms >= 0  # negative ids are stopwords: they are not counted at all
            term_parts.append(terms[is_term])
            count_parts.append(counts[is_term])
            chunk_parts.append(chunks[is_term])
            length_parts.append(
                np.bincount(chunk_parts[-1] - start, weights=count_parts[-1], minlength=len(term_lists))
            )
        batch = _PendingBatch(
            chunk_ids=np.asarray(ids, dtype=np.int64),
            lengths=np.concatenate(length_parts).astype(np.int32),
            posting_chunks=_joined(chunk_parts),
            posting_terms=_joined(term_parts),
            posting_counts=_joined(count_parts),
        )
        batch_number = len(self._pending)
        self._pending.append(batch)
        for chunk_id in ids:
            self._pending_batch_of[chunk_id] = batch_number

    def remove(self, chunk_ids: Iterable[int]) -> int:
        """Forget chunks; ids that are not indexed are ignored. Returns how many were removed."""
        removed = 0
        for raw_id in chunk_ids:
            chunk_id = int(raw_id)
            batch_number = self._pending_batch_of.pop(chunk_id, None)
            if batch_number is not None:
                self._pending[batch_number].dropped.add(chunk_id)
                removed += 1
                continue
            slot = self._slot_of.pop(chunk_id, None)
            if slot is not None:
                self._vacated_slots.append(slot)
                removed += 1
        return removed

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The `k` best chunks for `query` as (chunk id, BM25 score), best first.

        Only chunks sharing at least one term with the query are returned; ties are broken
        by the smaller chunk id so that results are reproducible.
        """
        import numpy as np

        if k <= 0:
            return []
        scores = self._slot_scores(query)
        if scores is None:
            return []
        candidates = np.flatnonzero(scores)
        if len(candidates) > k:
            # Keep every candidate tied with the k-th score, then order exactly.
            kth_score = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[scores[candidates] >= kth_score]
        candidate_ids = self._slot_chunk_ids[candidates]
        order = np.lexsort((candidate_ids, -scores[candidates]))[:k]
        return [(int(candidate_ids[i]), float(scores[candidates[i]])) for i in order]

    def score_chunks(self, query: str, chunk_ids: Iterable[int]) -> dict[int, float]:
        """The BM25 score of each given chunk for `query` (0.0: no shared term); chunks that
        are not indexed are left out."""
        self._fold_in()
        slots = {int(chunk_id): self._slot_of.get(int(chunk_id)) for chunk_id in chunk_ids}
        scores = self._slot_scores(query)
        return {
            chunk_id: 0.0 if scores is None else float(scores[slot])
            for chunk_id, slot in slots.items()
            if slot is not None
        }

    def _slot_scores(self, query: str) -> np.ndarray | None:
        """BM25 score per slot for `query`; None when no query term is indexed."""
        import numpy as np

        query_counts = Counter(tokenize(query))
        self._fold_in()
        chunk_count = len(self._slot_of)
        row_parts: list[np.ndarray] = []
        weight_parts: list[np.ndarray] = []
        for stem, query_count in query_counts.items():
            term_id = self._term_ids.get(stem)
            if term_id is None:
                continue
            start, end = self._term_offsets[term_id], self._term_offsets[term_id + 1]
            if start == end:
                continue
            document_frequency = float(end - start)
            idf = np.log1p((chunk_count - document_frequency + 0.5) / (document_frequency + 0.5))
            rows = self._posting_rows[start:end]
            frequencies = self._posting_counts[start:end].astype(np.float64)
            weights = (idf * (self.k1 + 1.0) * query_count) * frequencies
            weights /= frequencies + self._slot_norms[rows]
            row_parts.append(rows)
            weight_parts.append(weights)
        if not row_parts:
            return None
        scores: np.ndarray = np.bincount(
            np.concatenate(row_parts),
            weights=np.concatenate(weight_parts),
            minlength=len(self._slot_chunk_ids),
        )
        return scores

    def save(self, path: Path, *, version: int | None = None) -> None:
        """Write the index to `path` atomically (temporary file, fsync, rename).

        `version` is the caller's label for the state of the collection the index reflects
        (agentkit stores the agent's SQL `index_version`); `load` gives it back as `.version`.
        """

        self._fold_in()
        self._compact_slots()
        self.version = version
        stored = StoredLexicalIndex(
            tokenizer=TOKENIZER_ID,
            k1=self.k1,
            b=self.b,
            version=version,
            terms=self._terms,
            chunk_ids=self._slot_chunk_ids,
            lengths=self._slot_lengths,
            term_offsets=self._term_offsets,
            posting_rows=self._posting_rows,
            posting_counts=self._posting_counts,
        )
        write_index_file(Path(path), stored)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        """Read an index written by `save`; raises `LexicalIndexError` if it is unusable."""

        stored = read_index_file(Path(path), tokenizer=TOKENIZER_ID)
        index = cls(k1=stored.k1, b=stored.b)
        index.version = stored.version
        index._terms = stored.terms
        index._term_ids = {term: term_id for term_id, term in enumerate(stored.terms)}
        index._slot_chunk_ids = stored.chunk_ids
        index._slot_lengths = stored.lengths
        index._term_offsets = stored.term_offsets
        index._posting_rows = stored.posting_rows
        index._posting_counts = stored.posting_counts
        index._slot_of = {int(chunk_id): slot for slot, chunk_id in enumerate(stored.chunk_ids)}
        index._update_statistics()
        return index

    def _count_terms(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
        """Per text, its term ids (stopwords negative) and their counts, without repeats."""
        word_terms = self._word_terms
        term_lists: list[list[int]] = []
        count_lists: list[list[int]] = []
        for text in texts:
            word_counts = Counter(_WORD.findall(text.lower()))
            unknown = set(word_counts).difference(word_terms)
            if unknown:
                self._learn_words(unknown)
            term_ids = list(map(word_terms.__getitem__, word_counts))
            counts = list(word_counts.values())
            if len(set(term_ids)) != len(term_ids):  # two words with one stem
                merged: Counter[int] = Counter()
                for term_id, count in zip(term_ids, counts, strict=True):
                    merged[term_id] += count
                term_ids, counts = list(merged), list(merged.values())
            term_lists.append(term_ids)
            count_lists.append(counts)
        return term_lists, count_lists

    def _learn_words(self, words: Iterable[str]) -> None:
        """Give new words their term ids (stemming each distinct word once)."""
        word_list = sorted(words)
        for word, stem in zip(word_list, stem_words(word_list), strict=True):
            if word in STOPWORDS:
                self._word_terms[word] = -1 - len(self._word_terms)
                continue
            term_id = self._term_ids.get(stem)
            if term_id is None:
                term_id = self._term_ids[stem] = len(self._terms)
                self._terms.append(stem)
            self._word_terms[word] = term_id

    def _fold_in(self) -> None:
        """Apply buffered removals and additions to the posting arrays."""
        import numpy as np

        if not self._pending and not self._vacated_slots:
            return
        if self._vacated_slots:
            self._drop_slots(np.asarray(self._vacated_slots, dtype=np.int64))
            self._vacated_slots = []
        batches = [_without_dropped(batch) for batch in self._pending]
        self._pending = []
        self._pending_batch_of = {}
        if batches:
            self._append_chunks(batches)
        if self._empty_slot_count * 3 > len(self._slot_chunk_ids):
            self._compact_slots()
        self._update_statistics()

    def _drop_slots(self, slots: np.ndarray) -> None:
        import numpy as np

        self._slot_lengths[slots] = 0
        self._empty_slot_count += len(slots)
        vacated = np.zeros(len(self._slot_chunk_ids), dtype=bool)
        vacated[slots] = True
        keep = ~vacated[self._posting_rows]
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        self._term_offsets = kept_before[self._term_offsets]
        self._posting_rows = self._posting_rows[keep]
        self._posting_counts = self._posting_counts[keep]

    def _append_chunks(self, batches: list[_PendingBatch]) -> None:
        """Give new chunks slots at the end and merge their postings into the term groups."""
        import numpy as np

        first_slot = len(self._slot_chunk_ids)
        batch_starts = np.cumsum([first_slot] + [len(b.chunk_ids) for b in batches])
        new_ids = np.concatenate([b.chunk_ids for b in batches])
        new_terms = np.concatenate([b.posting_terms for b in batches])
        new_rows = np.concatenate(
            [
                b.posting_chunks.astype(np.int32) + start
                for b, start in zip(batches, batch_starts, strict=False)
            ]
        )
        new_counts = np.concatenate([b.posting_counts for b in batches])
        vocabulary_size = len(self._terms)
        if len(new_terms):
            # A stable counting sort by term keeps each term's postings in slot order.
            import scipy.sparse

            order_matrix = scipy.sparse.coo_matrix(
                (np.arange(len(new_terms), dtype=np.int32), (new_terms, np.zeros_like(new_terms))),
                shape=(vocabulary_size, 1),
            )
            order_matrix.has_canonical_format = True  # no repeats to sum: keep every entry
            order = order_matrix.tocsr().data
            del order_matrix
            new_terms, new_rows, new_counts = new_terms[order], new_rows[order], new_counts[order]
            del order
        old_offsets = self._term_offsets
        old_sizes = np.zeros(vocabulary_size, dtype=np.int64)
        old_sizes[: len(old_offsets) - 1] = np.diff(old_offsets)
        group_ends = np.cumsum(old_sizes)
        if len(self._posting_rows) == 0:  # a first build: nothing to merge with
            self._posting_rows, self._posting_counts = new_rows.astype(np.int32), new_counts
        else:
            insert_at = group_ends[new_terms]
            self._posting_rows = np.insert(self._posting_rows, insert_at, new_rows)
            self._posting_counts = np.insert(self._posting_counts, insert_at, new_counts)
        sizes = old_sizes + np.bincount(new_terms, minlength=vocabulary_size)
        self._term_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._slot_chunk_ids = np.concatenate([self._slot_chunk_ids, new_ids])
        self._slot_lengths = np.concatenate([self._slot_lengths] + [b.lengths for b in batches])
        for slot, chunk_id in enumerate(new_ids.tolist(), start=first_slot):
            self._slot_of[chunk_id] = slot

    def _compact_slots(self) -> None:
        """Renumber slots so that no empty slot remains; forget terms no chunk uses."""
        import numpy as np

        if self._empty_slot_count:
            occupied = np.zeros(len(self._slot_chunk_ids), dtype=bool)
            occupied[list(self._slot_of.values())] = True
            new_slot = np.cumsum(occupied, dtype=np.int64) - 1
            self._posting_rows = new_slot[self._posting_rows].astype(np.int32)
            self._slot_chunk_ids = self._slot_chunk_ids[occupied]
            self._slot_lengths = self._slot_lengths[occupied]
            self._slot_of = {int(c): slot for slot, c in enumerate(self._slot_chunk_ids)}
            self._empty_slot_count = 0
        sizes = np.diff(self._term_offsets)
        used = np.flatnonzero(sizes)
        if len(used) < len(self._terms):
            self._terms = [self._terms[term_id] for term_id in used.tolist()]
            self._term_ids = {term: term_id for term_id, term in enumerate(self._terms)}
            self._word_terms = {}
            self._term_offsets = np.concatenate([[0], np.cumsum(sizes[used])]).astype(np.int64)
        self._update_statistics()

    def _update_statistics(self) -> None:
        """Per-slot length normalisation `k1 * (1 - b + b * length / average length)`."""
        chunk_count = len(self._slot_of)
        total_length = int(self._slot_lengths.sum(dtype="int64"))
        average_length = total_length / chunk_count if chunk_count and total_length else 1.0
        self._slot_norms = self.k1 * (1.0 - self.b + self.b * (self._slot_lengths / average_length))


def _without_dropped(batch: _PendingBatch) -> _PendingBatch:
    """The batch less the chunks removed again before it was folded in."""
    import numpy as np

    if not batch.dropped:
        return batch
    keep_chunks = ~np.isin(batch.chunk_ids, np.fromiter(batch.dropped, dtype=np.int64))
    new_position = np.cumsum(keep_chunks, dtype=np.int64) - 1
    keep_postings = keep_chunks[batch.posting_chunks]
    return _PendingBatch(
        chunk_ids=batch.chunk_ids[keep_chunks],
        lengths=batch.lengths[keep_chunks],
        posting_chunks=new_position[batch.posting_chunks[keep_postings]].astype(np.int32),
        posting_terms=batch.posting_terms[keep_postings],
        posting_counts=batch.posting_counts[keep_postings],
    )


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """One array of the parts, without a copy when there is a single part."""
    import numpy as np

    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _flatten(lists: list[list[int]]) -> Iterable[int]:
    for values in lists:
        yield from values


__all__ = [
    "DEFAULT_B",
    "DEFAULT_K1",
    "STOPWORDS",
    "TOKENIZER_ID",
    "LexicalIndex",
    "LexicalIndexError",
    "tokenize",
]
