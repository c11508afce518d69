"""Rank fusion: one ranking of chunks out of a dense (vector) ranking and a lexical (BM25) one.

The fusion is a calibrated score blend: each list's scores are min-max normalised to [0, 1] over
that list, a chunk missing from a list gets 0 there, and the fused score is
`dense_weight * dense + (1 - dense_weight) * lexical`.

The blend, with `dense_weight` 0.4 over the best 100 candidates of each side, was chosen on the
BEIR SciFact *train* queries only (nDCG@10 0.735 against 0.722 for the best weighted reciprocal
rank fusion, which ignores score scales; the blend was flat between 75 and 300 candidates and
between weights 0.4 and 0.45); the test queries were used once, to report (benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The name benchmarks print for the fusion; the blend is the only one.
DEFAULT_FUSION_METHOD = "blend"
DEFAULT_DENSE_WEIGHT = 0.4
# How many candidates each side should contribute: fetch max(FUSION_CANDIDATES, k) from each.
FUSION_CANDIDATES = 100


@dataclass(frozen=True)
class FusedCandidate:
    """One chunk of the fused ranking with the component scores it came with (None: absent)."""

    chunk_id: int
    score: float
    dense_score: float | None
    lexical_score: float | None


def fuse_rankings(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    *,
    k: int,
    dense_weight: float = DEFAULT_DENSE_WEIGHT,
) -> list[FusedCandidate]:
    """The `k` best chunks of the union of two rankings, each chunk once, best first.

    `dense` and `lexical` are (chunk id, score) lists ordered best first; a chunk id repeated
    within one list keeps its first (best) position. Ties are broken by the smaller chunk id.
    """
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be between 0 and 1, got {dense_weight}")
    if k <= 0:
        return []
    dense_first = _first_occurrences(dense)
    lexical_first = _first_occurrences(lexical)
    fused = _blended_scores(dense_first, lexical_first, dense_weight)
    dense_scores = dict(dense_first)
    lexical_scores = dict(lexical_first)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [
        FusedCandidate(
            chunk_id=chunk_id,
            score=score,
            dense_score=dense_scores.get(chunk_id),
            lexical_score=lexical_scores.get(chunk_id),
        )
        for chunk_id, score in ranked
    ]


def _first_occurrences(ranking: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """The ranking with later repeats of a chunk id removed, scores as floats."""
    seen: set[int] = set()
    unique: list[tuple[int, float]] = []
    for chunk_id, score in ranking:
        if chunk_id in seen:
            continue
        seen.add(chunk_id)
        unique.append((int(chunk_id), float(score)))
    return unique


def _blended_scores(
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    dense_weight: float,
) -> dict[int, float]:
    fused: dict[int, float] = {}
    for weight, ranking in ((dense_weight, dense), (1.0 - dense_weight, lexical)):
        for chunk_id, normalised in _min_max_normalised(ranking):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * normalised
    return fused


def _min_max_normalised(ranking: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Scores mapped to [0, 1] over the list; a list of equal scores maps to 1."""
    if not ranking:
        return []
    scores = [score for _chunk_id, score in ranking]
    low, high = min(scores), max(scores)
    if high == low:
        return [(chunk_id, 1.0) for chunk_id, _score in ranking]
    span = high - low
    return [(chunk_id, (score - low) / span) for chunk_id, score in ranking]


__all__ = [
    "DEFAULT_DENSE_WEIGHT",
    "DEFAULT_FUSION_METHOD",
    "FUSION_CANDIDATES",
    "FusedCandidate",
    "fuse_rankings",
]
