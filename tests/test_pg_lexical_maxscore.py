"""MaxScore top-k (the pgvector backend's BM25 search) against brute force, without a database.

The search must return exactly what scoring every chunk would (ties by the smaller id) while
reading the postings of as few terms as the score bounds allow.
"""

from __future__ import annotations

import math

import numpy as np

from agentkit.index.lexical import DEFAULT_B, DEFAULT_K1
from agentkit.index.pg_lexical import QueryTerm, top_k_by_max_score


def corpus(chunks: int, vocabulary: int, seed: int) -> list[list[int]]:
    random = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocabulary + 1) ** 1.07
    weights /= weights.sum()
    return [random.choice(vocabulary, size=int(random.integers(5, 40)), p=weights).tolist() for _ in range(chunks)]


def test_max_score_equals_brute_force_and_reads_fewer_postings() -> None:
    chunks = corpus(3000, 2000, seed=4)
    postings: dict[int, dict[int, int]] = {}
    for chunk_id, words in enumerate(chunks):
        for word in words:
            postings.setdefault(word, {}).setdefault(chunk_id, 0)
            postings[word][chunk_id] += 1
    average = sum(map(len, chunks)) / len(chunks)
    random = np.random.default_rng(11)
    zipf = 1.0 / np.arange(1, 2001) ** 1.07
    zipf /= zipf.sum()
    read_terms = total_terms = 0
    for _ in range(60):
        # Queries as people type them: a mix of common and rarer words of the same vocabulary.
        words = sorted(set(random.choice(2000, size=int(random.integers(1, 7)), p=zipf).tolist()))
        words = [word for word in words if word in postings]
        if not words:
            continue
        terms = sorted(
            (
                QueryTerm(
                    str(word),
                    1,
                    len(postings[word]),
                    math.log1p((len(chunks) - len(postings[word]) + 0.5) / (len(postings[word]) + 0.5)),
                    position,
                )
                for position, word in enumerate(words)
            ),
            key=lambda term: (term.frequency, term.term),
        )

        def full_scores(ids: list[int], terms: list[QueryTerm] = terms) -> dict[int, float]:
            scores: dict[int, float] = {}
            for chunk_id in ids:
                score = 0.0
                for term in sorted(terms, key=lambda t: t.position):
                    count = postings[int(term.term)].get(chunk_id, 0)
                    if count:
                        norm = DEFAULT_K1 * (1.0 - DEFAULT_B + DEFAULT_B * (len(chunks[chunk_id]) / average))
                        score += term.idf * (DEFAULT_K1 + 1.0) * term.weight * count / (count + norm)
                scores[chunk_id] = score
            return scores

        everything = full_scores(sorted({c for term in terms for c in postings[int(term.term)]}))
        read: list[str] = []

        def postings_of(term: QueryTerm, read: list[str] = read) -> list[int]:
            read.append(term.term)
            return sorted(postings[int(term.term)])

        for k in (1, 10, 100):
            read.clear()
            found = top_k_by_max_score(terms, k, postings_of, full_scores)
            expected = sorted(everything.items(), key=lambda item: (-item[1], item[0]))[:k]
            assert found == expected
            if k == 10:
                read_terms += len(read)
                total_terms += len(terms)
    assert read_terms < 0.7 * total_terms  # the bounds spared most common terms' postings (109 of 208)


def test_max_score_of_no_terms_or_no_k_is_empty() -> None:
    assert top_k_by_max_score([], 10, lambda term: [], lambda ids: {}) == []
