"""How `Embedder.embed` cuts texts into batches: sorted by length, at most `batch_size` rows
and, when `batch_characters` is set, at most that many characters of padded text."""

from __future__ import annotations

import numpy as np

from tests.fakes import FakeEmbedder


class RecordingEmbedder(FakeEmbedder):
    """The hashing fake, remembering the texts of each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed_batch(texts)


def test_long_texts_go_a_few_at_a_time_and_short_ones_many() -> None:
    embedder = RecordingEmbedder()
    embedder.batch_size = 32
    embedder.batch_characters = 1000
    short = [f"line {n:03d}" for n in range(40)]  # 8 characters each
    long = [f"{n} " + "x" * 300 for n in range(5)]  # about 302 characters each
    texts = long[:2] + short + long[2:]
    vectors = embedder.embed(texts)
    assert [len(batch) for batch in embedder.batches] == [32, 8, 3, 2]
    assert all(len(batch) * max(map(len, batch)) <= 1000 for batch in embedder.batches)
    assert np.allclose(vectors, embedder.embed(list(reversed(texts)))[::-1])  # each text its own row


def test_a_text_longer_than_the_budget_still_gets_a_batch() -> None:
    embedder = RecordingEmbedder()
    embedder.batch_characters = 10
    assert embedder.embed(["a" * 50, "b" * 60]).shape[0] == 2
    assert [len(batch) for batch in embedder.batches] == [1, 1]


def test_without_a_budget_batches_are_counted_in_rows() -> None:
    embedder = RecordingEmbedder()
    embedder.batch_size = 4
    embedder.embed([f"text {n}" * (n + 1) for n in range(10)])
    assert [len(batch) for batch in embedder.batches] == [4, 4, 2]
