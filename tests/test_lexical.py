"""The BM25 lexical index: tokenizing, scores, exact add/remove, and its file format."""

from __future__ import annotations

import json
import math
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agentkit.errors import LexicalIndexError
from agentkit.index.lexical import LexicalIndex, tokenize

WORDS = (
    "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega vector index cell "
    "protein gene running runs runner faiss search query answer citation record"
).split()


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 25)))


def test_tokenize_lowercases_drops_stopwords_and_stems() -> None:
    assert tokenize("The Running cells of the Proteins") == ["run", "cell", "protein"]
    assert tokenize("Café STRASSE naïve 42") == ["café", "strass", "naïv", "42"]
    assert tokenize("not no without") == ["not", "no", "without"]  # meaning-bearing, kept
    assert tokenize("") == []


def test_scores_are_okapi_bm25() -> None:
    texts = ["apple banana apple", "banana cherry", "cherry cherry cherry date"]
    index = LexicalIndex.build([10, 20, 30], texts, k1=1.2, b=0.75)
    lengths = [3, 2, 4]
    average = sum(lengths) / 3

    def expected(term_frequency: int, length: int, document_frequency: int) -> float:
        idf = math.log(1 + (3 - document_frequency + 0.5) / (document_frequency + 0.5))
        norm = term_frequency + 1.2 * (1 - 0.75 + 0.75 * length / average)
        return idf * term_frequency * 2.2 / norm

    hits = dict(index.search("cherry", 10))
    assert hits == pytest.approx({30: expected(3, 4, 2), 20: expected(1, 2, 2)})
    # Each query term adds its own weight; a repeated query term counts twice.
    both = dict(index.search("apple cherry", 10))
    assert both[10] == pytest.approx(expected(2, 3, 1))
    twice = dict(index.search("cherry cherry", 10))
    assert twice[30] == pytest.approx(2 * expected(3, 4, 2))


def test_search_orders_best_first_and_breaks_ties_by_chunk_id() -> None:
    index = LexicalIndex.build([5, 3, 9, 1], ["gene", "gene", "gene protein", "protein"])
    hits = index.search("gene", 10)
    assert [chunk_id for chunk_id, _ in hits] == [3, 5, 9]  # 3 and 5 tie: smaller id first
    assert hits[0][1] == hits[1][1] > hits[2][1]
    assert index.search("gene", 1) == hits[:1]
    assert index.search("unknownword", 5) == []
    assert index.search("the of and", 5) == []  # only stopwords
    assert index.search("gene", 0) == []


def test_score_chunks_scores_any_chunk() -> None:
    index = LexicalIndex.build([1, 2, 3], ["gene protein", "protein", "vector"])
    ranked = dict(index.search("gene protein", 10))
    assert index.score_chunks("gene protein", [3, 1, 99]) == {3: 0.0, 1: ranked[1]}
    assert index.score_chunks("unknownword", [1]) == {1: 0.0}


def test_add_replaces_an_existing_chunk_and_remove_forgets_it() -> None:
    index = LexicalIndex.build([1, 2], ["alpha beta", "gamma"])
    index.add([1], ["gamma delta"])
    assert len(index) == 2 and index.chunk_ids() == {1, 2}
    assert index.search("alpha", 5) == []
    assert {chunk_id for chunk_id, _ in index.search("gamma", 5)} == {1, 2}
    assert index.remove([2, 2, 77]) == 1
    assert 2 not in index and 1 in index
    assert [chunk_id for chunk_id, _ in index.search("gamma", 5)] == [1]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="one text per chunk id"):
        LexicalIndex.build([1, 2], ["only one"])
    with pytest.raises(ValueError, match="more than once"):
        LexicalIndex.build([1, 1], ["a", "b"])
    with pytest.raises(ValueError, match="k1"):
        LexicalIndex(k1=-1.0)


def assert_same_results(index: LexicalIndex, reference: LexicalIndex, queries: list[str]) -> None:
    assert index.chunk_ids() == reference.chunk_ids()
    assert len(index) == len(reference)
    for query in queries:
        assert index.search(query, 50) == reference.search(query, 50), query


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_sequence_of_changes_equals_a_fresh_build(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    live: dict[int, str] = {}
    index = LexicalIndex()
    queries = [" ".join(rng.sample(WORDS, 3)) for _ in range(15)] + ["running", "protein"]
    for step in range(60):
        action = rng.random()
        if action < 0.55:
            ids = rng.sample(range(300), rng.randint(1, 30))
            texts = [random_text(rng) for _ in ids]
            index.add(ids, texts)
            live.update(zip(ids, texts, strict=True))
        elif action < 0.9 and live:
            ids = rng.sample(sorted(live), rng.randint(1, max(1, len(live) // 2)))
            index.remove(ids + [10_000])
            for chunk_id in ids:
                del live[chunk_id]
        elif action < 0.95:
            index.save(tmp_path / "lexical.npz", version=step)
            index = LexicalIndex.load(tmp_path / "lexical.npz")
            assert index.version == step
        if step % 5 == 0 or step == 59:  # searching folds pending changes in
            reference = LexicalIndex.build(list(live), list(live.values()))
            assert_same_results(index, reference, queries)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rng = random.Random(7)
    ids = list(range(100, 180))
    index = LexicalIndex.build(ids, [random_text(rng) for _ in ids], k1=1.1, b=0.6)
    index.remove(ids[:30])  # leaves empty slots and unused terms, compacted on save
    path = tmp_path / "sub" / "lexical.npz"
    index.save(path, version=12)
    loaded = LexicalIndex.load(path)
    assert (loaded.k1, loaded.b, loaded.version) == (1.1, 0.6, 12)
    assert_same_results(loaded, index, ["alpha beta", "running gene", "omega"])
    assert [p.name for p in path.parent.iterdir()] == ["lexical.npz"]  # no temporary left
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no pickle needed
        assert "chunk_ids" in archive.files
    empty = LexicalIndex()
    empty.save(tmp_path / "empty.npz")
    assert len(LexicalIndex.load(tmp_path / "empty.npz")) == 0


def test_damaged_files_raise_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lexical.npz"
    with pytest.raises(LexicalIndexError, match="does not exist"):
        LexicalIndex.load(path)
    LexicalIndex.build([1, 2, 3], ["alpha beta", "gamma", "delta alpha"]).save(path)
    content = path.read_bytes()

    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(LexicalIndexError, match="damaged or truncated"):
        LexicalIndex.load(path)
    path.write_bytes(b"not an index at all")
    with pytest.raises(LexicalIndexError, match="rebuilt"):
        LexicalIndex.load(path)

    def rewrite(change: dict[str, np.ndarray]) -> None:
        with np.load(tmp_path / "good.npz", allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        arrays.update(change)
        with path.open("wb") as stream:
            np.savez(stream, **arrays)

    (tmp_path / "good.npz").write_bytes(content)
    header = {"format": 1, "tokenizer": "another", "k1": 0.9, "b": 0.4, "version": None}
    rewrite({"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)})
    with pytest.raises(LexicalIndexError, match="tokenizer"):
        LexicalIndex.load(path)
    rewrite({"posting_rows": np.array([0, 1, 2, 99, 0], dtype=np.int32)})
    with pytest.raises(LexicalIndexError, match="do not agree"):
        LexicalIndex.load(path)
    rewrite({"lengths": np.array([1.0, 2.0, 3.0])})
    with pytest.raises(LexicalIndexError, match="wrong type"):
        LexicalIndex.load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("header.npy", b"garbage")
    with pytest.raises(LexicalIndexError):
        LexicalIndex.load(path)
