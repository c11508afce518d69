"""The ONNX embedder: a sentence-transformers model run by onnxruntime, without torch.

Registered as two embedder kinds: `onnx-int8:TARGET` (MatMul weights quantized to int8) and
`onnx:TARGET` (fp32, the same vectors as sentence-transformers). TARGET is `default` (the
bundled all-MiniLM-L6-v2) or a sentence-transformers model folder with mean or CLS pooling.
The first use exports the model to ONNX from its local files (`agentkit.models.onnx_export`,
which needs torch once) and caches the file under the agentkit home's `models/onnx/`;
afterwards loading and embedding need only onnxruntime, tokenizers and numpy, so answering
a question never imports torch.

Texts are tokenized by the model's own `tokenizer.json` (the `tokenizers` library), truncated
to the model's `max_seq_length` and padded per batch only to the batch's longest text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentkit.errors import EmbedderError
from agentkit.models import cpu_threads
from agentkit.models.embedders import DEFAULT_EMBEDDER_ID, Embedder
from agentkit.models.onnx_export import (
    INPUT_NAMES,
    ensure_onnx_model,
    max_sequence_length,
)
from agentkit.models.sentence_transformer import default_embedder_path
from agentkit.store.database import resolve_home

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import onnxruntime

ONNX_CACHE_FOLDER = Path("models") / "onnx"


class OnnxEmbedder(Embedder):
    """A model folder's tokenizer plus its exported ONNX graph, run on the CPU.

    Batches hold up to 32 texts and 4,096 characters of padded text: long texts go two or three
    at a time, sentences many. onnxruntime's arena grows to the largest batch's attention
    buffers and keeps them; after a call that grew it past a question's size it is handed back
    (`_release_scratch`), or an ingest's buffers would stay under the language model for the
    life of the process. On 300 SciFact abstracts and the demo's paragraphs and lines the arena
    kept 37 MB, against 222 MB with the batches of 8 used before, at the same speed
    (`benchmarks/embedder_batches.py`).
    """

    batch_size = 32
    batch_characters = 4096
    # A batch of at most this many tokens (rows x longest) leaves the arena small.
    SMALL_BATCH_TOKENS = 512

    def __init__(self, model_path: Path, onnx_path: Path, *, embedder_id: str) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:
            raise EmbedderError(
                "the ONNX embedder needs onnxruntime and tokenizers; run: pip install onnxruntime tokenizers"
            ) from error
        tokenizer_path = model_path / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise EmbedderError(
                f"{tokenizer_path} is missing: the ONNX embedder needs a fast tokenizer file; use the "
                "sentence-transformers embedder for this model"
            )
        self.embedder_id = embedder_id
        self._grown = False
        self.model_path = model_path
        self.onnx_path = onnx_path
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_sequence_length(model_path))
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads.batch_threads()
        options.inter_op_num_threads = 1
        # Waiting threads sleep instead of spinning: on a busy machine spinning threads steal
        # the cores the working ones need (llama.cpp's OpenMP threads spin only ~0.1 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = onnxruntime.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise EmbedderError(
                f"cannot load the ONNX model {onnx_path}: {error}; delete it to export it again"
            ) from error
        self._inputs = {node.name for node in self._session.get_inputs()}
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        input_ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        feeds = {
            "input_ids": input_ids,
            "attention_mask": np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64),
            "token_type_ids": np.zeros_like(input_ids),
        }
        self._grown = self._grown or input_ids.size > self.SMALL_BATCH_TOKENS
        return self._run(feeds)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        vectors = super().embed(texts, progress=progress)
        if self._grown:
            self._release_scratch()
        return vectors

    def _run(self, feeds: dict[str, np.ndarray], options: onnxruntime.RunOptions | None = None) -> np.ndarray:
        vectors: np.ndarray = self._session.run(
            None, {name: feeds[name] for name in INPUT_NAMES if name in self._inputs}, options
        )[0]
        return vectors

    def _release_scratch(self) -> None:
        """Shrink onnxruntime's arena to what it started with: one tiny run with arena shrinkage
        (onnxruntime frees unused arena chunks only at the end of a run that asks for it)."""
        import numpy as np
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        ids = np.array([self._tokenizer.encode("").ids], dtype=np.int64)
        self._run({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}, options)
        self._grown = False


def onnx_cache_folder() -> Path:
    """`models/onnx` inside the agentkit home (AGENTKIT_HOME or the default home)."""
    return resolve_home(None) / ONNX_CACHE_FOLDER


def _model_folder(target: str) -> Path:
    if target == DEFAULT_EMBEDDER_ID:
        return Path(default_embedder_path())
    folder = Path(target).expanduser()
    if not folder.is_dir():
        raise EmbedderError(
            f"embedder folder {target} does not exist; give 'default' or the folder of a "
            "sentence-transformers model after 'onnx:' or 'onnx-int8:'"
        )
    return folder.resolve()


def load_onnx(target: str) -> OnnxEmbedder:
    """The `onnx` embedder kind: fp32 ONNX of `target` ('default' or a model folder)."""
    folder = _model_folder(target)
    return OnnxEmbedder(
        folder, ensure_onnx_model(folder, onnx_cache_folder(), quantized=False), embedder_id=target
    )


def load_onnx_int8(target: str) -> OnnxEmbedder:
    """The `onnx-int8` embedder kind: int8-quantized ONNX of `target`."""
    folder = _model_folder(target)
    return OnnxEmbedder(
        folder, ensure_onnx_model(folder, onnx_cache_folder(), quantized=True), embedder_id=target
    )
