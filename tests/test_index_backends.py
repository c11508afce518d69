"""The vector backend conformance suite: every registered backend (FAISS, NumPy, and any a plugin
registers) must pass all of it, then an agent on each backend answers the same.

A backend is checked against a brute-force NumPy computation on random unit vectors, through
the `VectorBackend` interface only. Decisions every backend shares: adding an id the index
holds is an error (remove it first); search returns min(k, count) columns, no padding; equal
scores come in chunk-id order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentkit import AgentKit
from agentkit.errors import IndexCorruptError, IndexMismatchError, VectorIndexError
from agentkit.index.base import IndexManifest, VectorBackend, read_manifest
from agentkit.index.faiss import FaissBackend
from agentkit.index.numpy import NumpyBackend
from agentkit.index.registry import INDEX_BACKEND_VARIABLE, index_backends

DIMENSION = 24


@pytest.fixture(params=index_backends.names())
def backend(request: pytest.FixtureRequest) -> type[VectorBackend]:
    found = index_backends.get(request.param)
    assert found is not None
    return found


def unit_vectors(count: int, dimension: int = DIMENSION, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def chunk_ids(count: int, seed: int = 1) -> np.ndarray:
    """Distinct ids spread up to 2**40, as a big SQL table's row ids can be."""
    rng = np.random.default_rng(seed)
    return rng.choice(2**40, size=count, replace=False).astype(np.int64) + 1


def brute_force(
    ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def manifest(backend: type[VectorBackend], dimension: int = DIMENSION) -> IndexManifest:
    return IndexManifest(
        embedder_id="fake",
        dimension=dimension,
        chunker_version="1",
        count=0,
        index_version=7,
        backend=backend.name,
    )


def test_search_returns_the_exact_top_k_by_inner_product(backend: type[VectorBackend]) -> None:
    ids, vectors, queries = chunk_ids(300), unit_vectors(300), unit_vectors(12, seed=9)
    index = backend.from_vectors(DIMENSION, ids, vectors)
    assert len(index) == 300
    scores, found = index.search(queries, 10)
    expected_scores, expected_ids = brute_force(ids, vectors, queries, 10)
    assert found.dtype == np.int64 and scores.dtype == np.float32 and found.shape == (12, 10)
    np.testing.assert_array_equal(found, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    one = index.nearest(queries[3], 4)
    assert [chunk_id for chunk_id, _ in one] == expected_ids[3, :4].tolist()
    assert one[0][1] == pytest.approx(float(expected_scores[3, 0]), abs=1e-5)
    assert index.nearest(vectors[42], 1)[0] == (int(ids[42]), pytest.approx(1.0, abs=1e-5))


def test_ids_are_int64_chunk_ids_large_ones_included(backend: type[VectorBackend]) -> None:
    ids = np.array([1, 2**40, 2**62 + 5, 3], dtype=np.int64)
    vectors = unit_vectors(4)
    index = backend.from_vectors(DIMENSION, ids, vectors)
    assert index.ids().dtype == np.int64
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())
    for position, chunk_id in enumerate(ids.tolist()):
        assert index.nearest(vectors[position], 1)[0][0] == chunk_id
    assert index.contains(np.array([2**40, 2**40 + 1])).tolist() == [True, False]
    with pytest.raises(VectorIndexError, match="never negative"):
        index.add(np.array([-1]), unit_vectors(1))


def test_remove_by_id_and_add_a_removed_id_again(backend: type[VectorBackend]) -> None:
    ids, vectors = chunk_ids(50), unit_vectors(50)
    index = backend.from_vectors(DIMENSION, ids, vectors)
    gone = ids[[3, 17]]
    assert index.remove(np.concatenate([gone, [12345]])) == 2  # an id it does not hold is ignored
    assert index.remove(gone) == 0
    assert len(index) == 48
    assert set(index.ids().tolist()) == set(ids.tolist()) - set(gone.tolist())
    assert int(gone[0]) not in [i for i, _ in index.nearest(vectors[3], 48)]
    replacement = unit_vectors(1, seed=77)
    index.add(gone[:1], replacement)
    assert len(index) == 49
    assert index.nearest(replacement[0], 1)[0] == (int(gone[0]), pytest.approx(1.0, abs=1e-5))
    assert index.nearest(vectors[3], 1)[0][0] != int(gone[0])  # the old vector is gone with it


def test_adding_an_id_the_index_holds_is_an_error(backend: type[VectorBackend]) -> None:
    ids, vectors = np.arange(10, 20), unit_vectors(10)
    index = backend.from_vectors(DIMENSION, ids, vectors)
    with pytest.raises(VectorIndexError, match="holds chunk ids \\[15\\] already"):
        index.add(np.array([99, 15]), unit_vectors(2, seed=5))
    with pytest.raises(VectorIndexError, match="twice"):
        index.add(np.array([98, 98]), unit_vectors(2, seed=5))
    assert len(index) == 10 and index.nearest(vectors[5], 1)[0][0] == 15  # nothing was added
    with pytest.raises(ValueError, match="3 ids for 2 vectors"):
        index.add(np.array([1, 2, 3]), unit_vectors(2))


def test_k_larger_than_the_index_and_k_zero(backend: type[VectorBackend]) -> None:
    ids, vectors = chunk_ids(5), unit_vectors(5)
    index = backend.from_vectors(DIMENSION, ids, vectors)
    scores, found = index.search(unit_vectors(3, seed=4), 50)
    assert scores.shape == found.shape == (3, 5)
    assert all(sorted(row) == sorted(ids.tolist()) for row in found.tolist())
    assert (np.diff(scores, axis=1) <= 0).all()
    assert index.search(unit_vectors(2, seed=4), 0)[1].shape == (2, 0)
    assert index.nearest(vectors[0], 0) == []


def test_an_empty_index(backend: type[VectorBackend], tmp_path: Path) -> None:
    index = backend(DIMENSION)
    assert len(index) == 0 and index.ids().tolist() == []
    scores, found = index.search(unit_vectors(2), 5)
    assert scores.shape == found.shape == (2, 0)
    assert index.remove(np.array([1, 2])) == 0
    index.add(np.zeros(0, dtype=np.int64), np.zeros((0, DIMENSION), dtype=np.float32))
    assert index.save(tmp_path, manifest(backend)).count == 0
    loaded, _ = backend.load(tmp_path, manifest(backend))
    assert len(loaded) == 0 and loaded.dimension == DIMENSION
    loaded.add(np.array([5]), unit_vectors(1))
    assert loaded.nearest(unit_vectors(1)[0], 3)[0][0] == 5


def test_equal_scores_come_in_chunk_id_order(backend: type[VectorBackend]) -> None:
    same = unit_vectors(1, seed=3)
    ids = np.array([30, 10, 20, 40], dtype=np.int64)
    vectors = np.concatenate([np.repeat(same, 3, axis=0), unit_vectors(1, seed=8)])
    index = backend.from_vectors(DIMENSION, ids, vectors)
    assert [i for i, _ in index.nearest(same[0], 3)] == [10, 20, 30]


def test_save_then_load_gives_identical_results(backend: type[VectorBackend], tmp_path: Path) -> None:
    ids, vectors, queries = chunk_ids(120), unit_vectors(120), unit_vectors(6, seed=2)
    index = backend.from_vectors(DIMENSION, ids, vectors)
    index.remove(ids[:7])
    saved = index.save(tmp_path, manifest(backend))
    assert (saved.count, saved.backend, saved.index_version) == (113, backend.name, 7)
    assert read_manifest(tmp_path) == saved and (tmp_path / backend.file_name).is_file()
    loaded, loaded_manifest = backend.load(tmp_path, manifest(backend))
    assert loaded_manifest == saved and len(loaded) == 113
    assert sorted(loaded.ids().tolist()) == sorted(index.ids().tolist())
    before, after = index.search(queries, 20), loaded.search(queries, 20)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    assert backend.from_bytes(index.to_bytes()).search(queries, 20)[1].tolist() == before[1].tolist()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "garbage", "delete"])
def test_a_damaged_file_is_refused(backend: type[VectorBackend], tmp_path: Path, damage: str) -> None:
    index = backend.from_vectors(DIMENSION, chunk_ids(30), unit_vectors(30))
    index.save(tmp_path, manifest(backend))
    path = tmp_path / backend.file_name
    content = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(content[: len(content) // 2])
    elif damage == "flip a byte":
        path.write_bytes(content[:100] + bytes([content[100] ^ 0xFF]) + content[101:])
    elif damage == "garbage":
        path.write_bytes(b"not an index at all")
    else:
        path.unlink()
    with pytest.raises(IndexCorruptError):
        backend.load(tmp_path, manifest(backend))


@pytest.mark.parametrize("content", [b"", b"not an index at all", b"\x93NUMPY\x01\x00garbage"])
def test_bytes_that_are_not_an_index_are_refused_even_without_a_checksum(
    backend: type[VectorBackend], content: bytes
) -> None:
    with pytest.raises(IndexCorruptError):
        backend.from_bytes(content)
    whole = backend.from_vectors(DIMENSION, chunk_ids(30), unit_vectors(30)).to_bytes()
    with pytest.raises(IndexCorruptError):
        backend.from_bytes(whole[: len(whole) // 2])


def test_a_dimension_mismatch_is_refused(backend: type[VectorBackend], tmp_path: Path) -> None:
    index = backend.from_vectors(DIMENSION, chunk_ids(10), unit_vectors(10))
    with pytest.raises(IndexMismatchError, match="dimension"):
        index.add(np.array([1]), unit_vectors(1, dimension=DIMENSION + 1))
    with pytest.raises(IndexMismatchError, match="dimension"):
        index.search(unit_vectors(1, dimension=DIMENSION - 1), 3)
    index.save(tmp_path, manifest(backend))
    with pytest.raises(IndexMismatchError, match="dimension"):
        backend.load(tmp_path, manifest(backend, dimension=DIMENSION * 2))


def test_verify_compares_the_ids_held_with_the_ids_expected(backend: type[VectorBackend]) -> None:
    index = backend.from_vectors(DIMENSION, np.array([1, 2, 3]), unit_vectors(3))
    check = index.verify(np.array([2, 3, 4, 5]))
    assert (check.vectors, check.missing, check.extra, check.duplicates, check.exact) == (3, 2, 1, 0, False)
    assert index.verify(np.array([3, 1, 2])).exact


# ----- an agent on each backend --------------------------------------------------------------


QUERIES = ["anchors hold the ship", "copper cables", "how are bolts tightened", "lighthouse"]


def write_corpus(folder: Path) -> None:
    folder.mkdir()
    topics = {
        "anchors": "Anchors hold a ship in place. An anchor is dropped to the sea floor.",
        "bolts": "Bolts are tightened with a wrench. A bolt and a nut hold two plates together.",
        "cables": "Copper cables carry current. Cables are insulated with rubber.",
        "lighthouses": "A lighthouse warns ships of rocks. Its lamp turns all night.",
    }
    for name, text in topics.items():
        sections = "\n\n".join(f"## Part {i}\n\n{text} Part {i} of the {name} notes." for i in range(3))
        (folder / f"{name}.md").write_text(f"# {name.title()}\n\n{sections}\n", encoding="utf-8")


Answers = list[list[tuple[int, str, float]]]


def answers(kit: AgentKit, name: str) -> Answers:
    """(chunk id, text, score) of the hits of every query in dense and hybrid mode."""
    agent = kit.get_agent(name)  # a fresh agent object: its indexes are loaded again
    return [
        [(hit.chunk_id, hit.text, hit.score) for hit in agent.search(query, k=6, mode=mode)]
        for query in QUERIES
        for mode in ("dense", "hybrid")
    ]


def assert_same_answers(found: Answers, expected: Answers) -> None:
    """The same chunks in the same order, scores equal to float32 precision (backends may sum
    in another order)."""
    assert [[hit[:2] for hit in hits] for hits in found] == [[hit[:2] for hit in hits] for hits in expected]
    for hits, expected_hits in zip(found, expected, strict=True):
        assert [hit[2] for hit in hits] == pytest.approx([hit[2] for hit in expected_hits], abs=1e-5)


def test_an_agent_answers_the_same_on_every_backend_and_switching_rebuilds(
    kit: AgentKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    write_corpus(folder)
    index_folder = kit.index_folder(kit.create_agent("docs").index_key)

    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "numpy")
    kit.get_agent("docs").add_source(str(folder))
    assert read_manifest(index_folder).backend == "numpy"  # type: ignore[union-attr]
    assert (index_folder / NumpyBackend.file_name).is_file()
    assert not (index_folder / FaissBackend.file_name).exists()
    assert kit.get_agent("docs").doctor().healthy
    on_numpy = answers(kit, "docs")
    assert all(on_numpy) and on_numpy[0][0][1].startswith("Anchors")

    # FAISS reads a file NumPy wrote as one that lags: rebuilt from SQL, same answers
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "faiss")
    assert_same_answers(answers(kit, "docs"), on_numpy)
    doctor = kit.get_agent("docs").doctor()
    assert not doctor.healthy and "written by the 'numpy' index backend" in doctor.problems[0]
    assert kit.get_agent("docs").sync().to_dict()["chunks_embedded"] == 0  # rewrites the file only
    assert read_manifest(index_folder).backend == "faiss"  # type: ignore[union-attr]
    assert not (index_folder / NumpyBackend.file_name).exists()
    assert kit.get_agent("docs").doctor().healthy
    assert_same_answers(answers(kit, "docs"), on_numpy)

    # a write under the other backend rebuilds from SQL and applies the change
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "numpy")
    (folder / "bolts.md").unlink()
    kit.get_agent("docs").sync()
    assert read_manifest(index_folder).backend == "numpy"  # type: ignore[union-attr]
    assert kit.get_agent("docs").doctor().healthy
    on_numpy = answers(kit, "docs")
    assert not any("Bolts" in text for hits in on_numpy for _, text, _ in hits)
    monkeypatch.setenv(INDEX_BACKEND_VARIABLE, "faiss")
    assert_same_answers(answers(kit, "docs"), on_numpy)
