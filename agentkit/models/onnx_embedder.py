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
    import numpy as np

ONNX_CACHE_FOLDER = Path("models") / "onnx"


class OnnxEmbedder(Embedder):
    """A model folder's tokenizer plus its exported ONNX graph, run on the CPU.

    Batches of 8: on 192 SciFact abstracts (int8 MiniLM) they took 10.3 CPU-s against 11.9 for
    batches of 32 and 12.6 for 16, with a peak RSS of 395 MB against 1,057 MB and 601 MB
    (onnxruntime's arena keeps the largest batch's attention buffers).
    """

    def __init__(self, model_path: Path, onnx_path: Path, *, embedder_id: str, batch_size: int = 8) -> None:
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
        self.batch_size = batch_size
        self.model_path = model_path
        self.onnx_path = onnx_path
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_sequence_length(model_path))
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads.batch_threads()
        options.inter_op_num_threads = 1
        # Waiting threads sleep instead of spinning: on a busy machine spinning threads steal
        # the cores the working ones need (the same reason llama.cpp runs with OMP passive).
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
        vectors: np.ndarray = self._session.run(
            None, {name: feeds[name] for name in INPUT_NAMES if name in self._inputs}
        )[0]
        return vectors


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
