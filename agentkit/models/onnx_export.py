"""Exporting a sentence-transformers model folder to ONNX, once, into a cache folder.

The ONNX embedder (`agentkit.models.onnx_embedder`) runs a model with onnxruntime alone; this
module makes the file it runs. The export reads only the local model folder (never a hub): the
transformer is traced with torch together with the model's mean or CLS pooling, so the ONNX
graph returns one sentence vector per text. The int8 variant quantizes the MatMul weights
per channel (dynamic quantization): measured on all-MiniLM-L6-v2, cosine 0.991 or more to the
fp32 vectors on 256 SciFact abstracts, where quantizing every op per tensor gave 0.90.

torch and transformers are needed only here, the first time a model is used; the cached file
is keyed by the model folder and its weights' size and modification time, so an updated model
is exported again.

The weights are stored in a data file beside the graph (ONNX external data), which onnxruntime
maps instead of reading: a process then holds only the pages it touches (of the word-embedding
table, the rows of the tokens it sees) and never the model twice while the session is built.
Measured on the int8 MiniLM: loading and one query +28 MB peak RSS against +113 MB with the
weights inside the graph file, the same vectors to the bit. The data file just written is
dropped from the page cache (`drop_from_page_cache`), or the first process to map it would hold
far more of it than it touches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

from agentkit.atomic_files import fsync_directory
from agentkit.errors import EmbedderError

ONNX_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
# Bumped when the exported files change, so older cached files are not reused.
# 2: the weights in a data file beside the graph (1: inside it, converted without re-exporting).
EXPORT_FORMAT = 2
# Tensors smaller than this stay inside the graph file.
EXTERNAL_DATA_THRESHOLD = 1024


def pooling_mode(model_path: Path) -> str:
    """'mean' or 'cls', from the model folder's sentence-transformers pooling config."""
    config_path = model_path / "1_Pooling" / "config.json"
    if not config_path.is_file():
        return "mean"  # sentence-transformers' own default for a bare transformer folder
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    raise EmbedderError(
        f"{config_path}: only mean or CLS pooling can run on ONNX; use the sentence-transformers "
        "embedder (give the folder path without 'onnx:') for this model"
    )


def max_sequence_length(model_path: Path) -> int:
    """The model's `max_seq_length` (sentence_bert_config.json), 512 when not given."""
    config_path = model_path / "sentence_bert_config.json"
    if config_path.is_file():
        value = json.loads(config_path.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return 512


def cached_onnx_path(
    model_path: Path, cache_folder: Path, *, quantized: bool, export_format: int = EXPORT_FORMAT
) -> Path:
    """Where the ONNX file of this model folder lives in the cache (it may not exist yet)."""
    fingerprint = hashlib.sha256(f"{export_format}\n{model_path.resolve()}\n".encode())
    for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
        weights = model_path / name
        if weights.is_file():
            status = weights.stat()
            fingerprint.update(f"{name}:{status.st_size}:{status.st_mtime_ns}\n".encode())
    variant = "int8" if quantized else "fp32"
    return cache_folder / f"{model_path.name}-{fingerprint.hexdigest()[:16]}" / f"model-{variant}.onnx"


def ensure_onnx_model(model_path: Path, cache_folder: Path, *, quantized: bool) -> Path:
    """The cached ONNX graph for `model_path` (its weights beside it), exported (and quantized)
    first if missing. A file cached by an older agentkit (format 1) is converted, not exported."""
    target = cached_onnx_path(model_path, cache_folder, quantized=quantized)
    if target.is_file():
        return target
    fp32 = cached_onnx_path(model_path, cache_folder, quantized=False)
    if quantized and _convert_legacy(model_path, cache_folder, target, quantized=True):
        return target
    if not fp32.is_file() and not _convert_legacy(model_path, cache_folder, fp32, quantized=False):
        with tempfile.TemporaryDirectory(dir=_made(fp32.parent)) as scratch:
            exported = Path(scratch) / "model.onnx"
            _export(model_path, exported)
            store_with_external_weights(exported, fp32)
    if quantized:
        with tempfile.TemporaryDirectory(dir=_made(target.parent)) as scratch:
            output = Path(scratch) / "model.onnx"
            _quantize(fp32, output)
            store_with_external_weights(output, target)
    return target


def store_with_external_weights(source: Path, target: Path) -> None:
    """Save the single-file ONNX model `source` as the graph `target` plus a data file beside it.

    The data file is named by a digest of `source`, and written before the graph: a graph
    found in the cache always has its own weights, even while another process stores the
    same model."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    content = source.read_bytes()
    data_name = f"{target.stem}-{hashlib.sha256(content).hexdigest()[:16]}.data"
    model = onnx.load_from_string(content)
    del content
    convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location=data_name, size_threshold=EXTERNAL_DATA_THRESHOLD
    )
    with tempfile.TemporaryDirectory(dir=_made(target.parent)) as scratch:
        graph = Path(scratch) / target.name
        onnx.save_model(model, str(graph))
        for written in (Path(scratch) / data_name, graph):
            with open(written, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(Path(scratch) / data_name, target.parent / data_name)
        os.replace(graph, target)
    fsync_directory(target.parent)
    drop_from_page_cache(target.parent / data_name)


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to drop the (written, fsynced) file's pages from its page cache.

    A file just written sits in the page cache in large folios, and a process that maps it
    gets a whole folio for every row it touches: the first `agentkit ask` after an export held
    42 MB of the int8 weights file, against 6-9 MB once the file was read back from disk in
    small read-around pieces (peak RSS 424 -> 390 MB). Best effort: without posix_fadvise
    (macOS, Windows) or on a file system that ignores it, nothing changes.
    """
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _convert_legacy(model_path: Path, cache_folder: Path, target: Path, *, quantized: bool) -> bool:
    """Store a format-1 file (weights inside the graph) as `target`, then delete it. False when
    there is none. The vectors stay the same: the graph and weights are unchanged."""
    legacy = cached_onnx_path(model_path, cache_folder, quantized=quantized, export_format=1)
    if not legacy.is_file():
        return False
    store_with_external_weights(legacy, target)
    legacy.unlink(missing_ok=True)  # a process still running it keeps its open copy
    return True


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _export(model_path: Path, destination: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError as error:
        raise EmbedderError(
            "exporting the embedder to ONNX needs torch and transformers once; run: "
            "pip install torch transformers"
        ) from error
    mode = pooling_mode(model_path)
    transformers_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True)
    except Exception as error:  # transformers raises many kinds; all mean "cannot load"
        raise EmbedderError(f"cannot load the model at {model_path} for ONNX export: {error}") from error
    model.eval()

    class PooledModel(torch.nn.Module):
        """The transformer and its pooling in one graph: token ids in, one vector per text out."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if mode == "cls":
                return hidden[:, 0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    axes[OUTPUT_NAME] = {0: "batch"}
    # The tracer warns about Python conditionals in the attention mask code; the graph is
    # checked against sentence-transformers instead (tests/test_onnx_embedder.py).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PooledModel(),
            (sample, torch.ones_like(sample), torch.zeros_like(sample)),
            str(destination),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )


def _quantize(fp32: Path, destination: Path) -> None:
    """Write the int8 model of `fp32` as one file at `destination`, in a scratch folder
    (quantize_dynamic writes scratch files beside its output)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise EmbedderError("quantizing the ONNX embedder needs onnx; run: pip install onnx") from error
    logging.disable(logging.WARNING)  # its advice to pre-process the model, on the root logger
    try:
        quantize_dynamic(
            str(fp32),
            str(destination),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        logging.disable(logging.NOTSET)
