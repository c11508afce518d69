"""The ONNX embedder against the sentence-transformers one, on the bundled MiniLM.

Slow: the first use exports the model with torch (seconds to a minute on 2 cores). Checked:
the exported file is cached in the home, the fp32 vectors equal sentence-transformers', the
int8 vectors stay within cosine 0.98 (a one-letter text
gave 0.9799: the bound is for sentences), batches sorted by length give each text its own row,
and a fresh process embeds a query through the cached file without importing torch.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.errors import EmbedderError
from agentkit.models.registry import load_embedder

pytestmark = pytest.mark.slow

TEXTS = [
    "Quillstack listens on port 8080 by default.",
    "Reset the admin password.",
    "The hardware warranty of the Quillstack Box QB-200 lasts two years from the date of purchase, "
    "and it covers the power supply, the fan and the storage drive. " * 4,
    "Which port does the REST API use?",
]


def test_onnx_vectors_match_sentence_transformers(isolated_home: Path) -> None:
    reference = load_embedder("default").embed(TEXTS)
    fp32 = load_embedder("onnx:default")
    int8 = load_embedder("onnx-int8:default")
    assert fp32.embedder_id == "onnx:default" and int8.embedder_id == "onnx-int8:default"
    assert fp32.dimension == int8.dimension == reference.shape[1]
    assert (fp32.embed(TEXTS) * reference).sum(axis=1).min() > 0.9999
    assert (int8.embed(TEXTS) * reference).sum(axis=1).min() >= 0.98
    assert list((isolated_home / "models" / "onnx").rglob("model-int8.onnx"))
    one_by_one = [fp32.embed_query(text) for text in TEXTS]
    assert (fp32.embed(TEXTS) * one_by_one).sum(axis=1).min() > 0.9999
    # int8 activations are quantized per batch tensor, so a text's vector moves a little with
    # its batch (measured 0.989 alone against batched): still within the bound.
    alone = [int8.embed_query(text) for text in TEXTS]
    assert (int8.embed(TEXTS) * alone).sum(axis=1).min() >= 0.98


def test_a_cached_model_answers_without_torch(isolated_home: Path) -> None:
    load_embedder("onnx-int8:default")  # exported and cached here
    script = (
        "import sys\n"
        "from agentkit.models.registry import load_embedder\n"
        "vector = load_embedder('onnx-int8:default').embed_query('port of the REST API')\n"
        "print(vector.shape[0], 'torch' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.split() == ["384", "False"]


def test_a_missing_folder_is_named(isolated_home: Path, tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="nothing-here.*onnx"):
        load_embedder(f"onnx:{tmp_path / 'nothing-here'}")
