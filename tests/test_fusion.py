"""Rank fusion: the min-max score blend of a dense and a lexical ranking."""

from __future__ import annotations

import pytest

from agentkit.retrieval.fusion import FusedCandidate, fuse_rankings

DENSE = [(1, 0.9), (2, 0.8), (3, 0.5)]
LEXICAL = [(3, 12.0), (4, 6.0), (1, 2.0)]


def test_blend_normalises_each_list_and_mixes_by_weight() -> None:
    fused = fuse_rankings(DENSE, LEXICAL, k=10, dense_weight=0.4)
    scores = {candidate.chunk_id: candidate.score for candidate in fused}
    # dense: 0.9 -> 1, 0.8 -> 0.75, 0.5 -> 0; lexical: 12 -> 1, 6 -> 0.4, 2 -> 0
    assert scores == pytest.approx({1: 0.4, 2: 0.3, 3: 0.6, 4: 0.24})
    assert [candidate.chunk_id for candidate in fused] == [3, 1, 2, 4]


def test_candidates_carry_component_scores_and_are_unique() -> None:
    fused = fuse_rankings(DENSE + [(1, 0.1)], LEXICAL, k=10)
    by_id = {candidate.chunk_id: candidate for candidate in fused}
    assert len(fused) == len(by_id) == 4
    assert by_id[1] == FusedCandidate(1, by_id[1].score, dense_score=0.9, lexical_score=2.0)
    assert by_id[2].lexical_score is None and by_id[4].dense_score is None


def test_k_one_side_empty_and_equal_scores() -> None:
    assert [c.chunk_id for c in fuse_rankings(DENSE, LEXICAL, k=2)] == [3, 1]
    assert fuse_rankings(DENSE, LEXICAL, k=0) == []
    assert fuse_rankings([], [], k=5) == []
    only_dense = fuse_rankings(DENSE, [], k=5, dense_weight=0.4)
    assert [c.chunk_id for c in only_dense] == [1, 2, 3]
    same = fuse_rankings([(7, 0.3), (8, 0.3)], [], k=5, dense_weight=0.5)
    assert [c.score for c in same] == [0.5, 0.5]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="dense_weight"):
        fuse_rankings(DENSE, LEXICAL, k=3, dense_weight=1.5)
