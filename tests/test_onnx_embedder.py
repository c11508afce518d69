"""The ONNX embedder against the sentence-transformers one, on the bundled MiniLM.

Slow: the first use exports the model with torch (seconds to a minute on 2 cores). Checked:
the exported file is cached in the home, the fp32 vectors equal sentence-transformers', the
int8 vectors stay within cosine 0.98 (a one-letter text
gave 0.9799: the bound is for sentences), batches sorted by length give each text its own row,
a fresh process embeds a query through the cached file without importing torch, and the
attention buffers of a long call are handed back when it ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_weights_live_beside_the_graph_and_an_old_single_file_is_converted(isolated_home: Path) -> None:
    """The cache holds the graph and a data file that onnxruntime maps (format 2); a home whose
    cache has the format-1 single file converts it without torch, to the same vectors."""
    import onnx

    from agentkit.models.onnx_export import cached_onnx_path

    embedder = load_embedder("onnx-int8:default")
    graph = embedder.onnx_path
    (data,) = graph.parent.glob("model-int8-*.data")
    assert graph.stat().st_size < 2_000_000 < data.stat().st_size  # the weights are outside the graph
    vectors = embedder.embed(TEXTS)

    cache = isolated_home / "models" / "onnx"
    legacy = cached_onnx_path(embedder.model_path, cache, quantized=True, export_format=1)
    legacy.parent.mkdir(parents=True)
    onnx.save_model(onnx.load(str(graph)), str(legacy))  # one file, weights inside
    graph.unlink()
    data.unlink()
    script = (
        "import sys\n"
        "from agentkit.models.registry import load_embedder\n"
        "embedder = load_embedder('onnx-int8:default')\n"
        f"embedder.embed({TEXTS!r}).tofile(sys.argv[1])\n"
        "print(embedder.onnx_path, 'torch' in sys.modules)\n"
    )
    out = isolated_home / "vectors.bin"
    result = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(graph), "False"]
    assert not legacy.exists() and graph.is_file()
    assert np.array_equal(np.fromfile(out, dtype=np.float32).reshape(vectors.shape), vectors)


def anonymous_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_the_arena_of_a_long_call_is_handed_back(isolated_home: Path) -> None:
    int8 = load_embedder("onnx-int8:default")
    long_texts = [f"Part {number}. {TEXTS[2]}" for number in range(32)]  # each past 256 tokens
    assert int8.embed(long_texts).shape == (32, int8.dimension)  # a few per batch by default
    int8.batch_characters = None  # one batch of 32, as before: about 200 MB of attention buffers
    before = anonymous_mb()
    int8.embed(long_texts)  # ... handed back when the call ends
    handed_back = anonymous_mb() - before
    int8.embed_batch(long_texts)  # the same batch alone (no end of call): its buffers stay
    kept = anonymous_mb() - before
    assert kept > handed_back + 100, (handed_back, kept)
