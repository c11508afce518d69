"""The FAISS index: search, remove, atomic save/load, and the manifest checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentkit.errors import IndexCorruptError, IndexMismatchError
from agentkit.index.faiss import INDEX_FILE, IndexManifest, VectorIndex


def unit_vectors(count: int, dimension: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def manifest(**changes: object) -> IndexManifest:
    values: dict[str, object] = {
        "embedder_id": "fake", "dimension": 16, "chunker_version": "1", "count": 0, "index_version": 3,
    }
    values.update(changes)
    return IndexManifest(**values)  # type: ignore[arg-type]


def test_search_finds_the_vector_itself_and_removal_works() -> None:
    vectors = unit_vectors(50, 16)
    ids = np.arange(100, 150)
    index = VectorIndex.from_vectors(16, ids, vectors)
    hits = index.search(vectors[7], 3)
    assert hits[0][0] == 107 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert index.remove(np.array([107])) == 1
    assert 107 not in [chunk_id for chunk_id, _ in index.search(vectors[7], 5)]
    assert len(index) == 49
    assert sorted(index.ids().tolist()) == [i for i in range(100, 150) if i != 107]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    vectors = unit_vectors(20, 16)
    index = VectorIndex.from_vectors(16, np.arange(20), vectors)
    saved = index.save(tmp_path, manifest())
    assert saved.count == 20 and saved.checksum
    loaded, loaded_manifest = VectorIndex.load(tmp_path, manifest())
    assert loaded_manifest.index_version == 3
    assert loaded.search(vectors[4], 1)[0][0] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_load_refuses_another_embedder(tmp_path: Path) -> None:
    VectorIndex.from_vectors(16, np.arange(3), unit_vectors(3, 16)).save(tmp_path, manifest())
    with pytest.raises(IndexMismatchError, match="embedder"):
        VectorIndex.load(tmp_path, manifest(embedder_id="other"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_load_detects_damaged_files(tmp_path: Path, damage: str) -> None:
    VectorIndex.from_vectors(16, np.arange(30), unit_vectors(30, 16)).save(tmp_path, manifest())
    path = tmp_path / INDEX_FILE
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"not an index at all")
    else:
        path.unlink()
    with pytest.raises(IndexCorruptError):
        VectorIndex.load(tmp_path, manifest())
