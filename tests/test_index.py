"""The stored index: manifest checks, old manifests, backend choice, and what FAISS alone does.

What every backend must do is in `tests/test_index_backends.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agentkit.errors import IndexCorruptError, IndexMismatchError, InvalidSettingError
from agentkit.index.base import MANIFEST_FILE, IndexManifest, read_manifest
from agentkit.index.faiss import INDEX_FILE, FaissBackend
from agentkit.index.numpy import NumpyBackend
from agentkit.index.registry import INDEX_BACKEND_VARIABLE, index_backend, index_backends
from agentkit.plugins import PluginError


def unit_vectors(count: int, dimension: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def manifest(**changes: object) -> IndexManifest:
    values: dict[str, object] = {
        "embedder_id": "fake",
        "dimension": 16,
        "chunker_version": "1",
        "count": 0,
        "index_version": 3,
    }
    values.update(changes)
    return IndexManifest(**values)  # type: ignore[arg-type]


def test_save_writes_the_file_then_a_manifest_that_describes_it(tmp_path: Path) -> None:
    vectors = unit_vectors(20, 16)
    saved = FaissBackend.from_vectors(16, np.arange(20), vectors).save(tmp_path, manifest())
    assert (saved.count, saved.backend, saved.index_version) == (20, "faiss", 3) and saved.checksum
    assert read_manifest(tmp_path) == saved
    loaded, loaded_manifest = FaissBackend.load(tmp_path, manifest())
    assert loaded_manifest == saved
    assert loaded.nearest(vectors[4], 1)[0][0] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_manifest_from_before_backends_loads_as_faiss(tmp_path: Path) -> None:
    vectors = unit_vectors(5, 16)
    FaissBackend.from_vectors(16, np.arange(5), vectors).save(tmp_path, manifest())
    stored = json.loads((tmp_path / MANIFEST_FILE).read_text())
    del stored["backend"]
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(stored))
    assert read_manifest(tmp_path).backend == "faiss"  # type: ignore[union-attr]
    loaded, _ = FaissBackend.load(tmp_path, manifest())
    assert loaded.nearest(vectors[2], 1)[0][0] == 2


def test_load_refuses_another_embedder(tmp_path: Path) -> None:
    FaissBackend.from_vectors(16, np.arange(3), unit_vectors(3, 16)).save(tmp_path, manifest())
    with pytest.raises(IndexMismatchError, match="embedder"):
        FaissBackend.load(tmp_path, manifest(embedder_id="other"))


def test_load_refuses_a_file_of_another_backend(tmp_path: Path) -> None:
    NumpyBackend.from_vectors(16, np.arange(3), unit_vectors(3, 16)).save(tmp_path, manifest())
    with pytest.raises(IndexMismatchError, match="'numpy' index backend"):
        FaissBackend.load(tmp_path, manifest())


def test_a_manifest_that_lies_about_the_count_is_refused(tmp_path: Path) -> None:
    saved = FaissBackend.from_vectors(16, np.arange(3), unit_vectors(3, 16)).save(tmp_path, manifest())
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({**saved.__dict__, "count": 4}))
    with pytest.raises(IndexCorruptError, match="holds 3 vectors"):
        FaissBackend.load(tmp_path, manifest())


def test_a_faiss_file_of_another_index_type_is_refused(tmp_path: Path) -> None:
    import faiss

    flat = faiss.IndexFlatIP(16)
    with pytest.raises(IndexCorruptError, match="IndexIDMap2"):
        FaissBackend.from_bytes(faiss.serialize_index(flat).tobytes())
    assert INDEX_FILE == FaissBackend.file_name == "vectors.faiss"


def test_the_backend_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INDEX_BACKEND_VARIABLE, raising=False)
    assert index_backend() is FaissBackend
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "numpy")
    assert index_backend() is NumpyBackend
    assert index_backend("faiss") is FaissBackend
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "annoy")
    with pytest.raises(InvalidSettingError, match="no index backend 'annoy'.*faiss, numpy"):
        index_backend()


def test_a_backend_must_be_registered_under_its_own_name() -> None:
    with index_backends.registered("other", NumpyBackend), pytest.raises(PluginError, match="calls itself"):
        index_backend("other")
