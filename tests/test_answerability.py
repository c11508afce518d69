"""Answerability: the evidence features, the shipped calibrated models and fitting them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentkit.answering import answerability
from agentkit.answering.answerability import (
    FEATURE_NAMES,
    SIMILARITY_FEATURES,
    AnswerabilityModel,
    measure_evidence,
    shipped_model,
)
from agentkit.errors import AnswerabilityModelError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from answerability_fit import fit_logistic, without_similarity  # noqa: E402

from agentkit.answering.gate import hit_similarity, should_attempt_answer
from agentkit.answering.grounding import GroundingThresholds, prepare_sources, thresholds_for
from agentkit.answering.support import question_terms
from tests.test_grounding import NORMANS, SOURCES, hit


def features(question: str, hits=SOURCES) -> dict[str, float]:  # type: ignore[no-untyped-def]
    evidence = measure_evidence(
        question_terms(question), question, hits, prepare_sources(hits), [hit_similarity(h) for h in hits]
    )
    return evidence.as_dict()


def test_features_measure_what_the_best_window_holds_and_lacks() -> None:
    covered = features("Who was the leader of the Norse raiders?")
    assert covered["window_coverage"] == pytest.approx(1.0) and covered["full_coverage"] == 1.0
    assert covered["missing_terms"] == 0 and covered["negation_mismatch"] == 0
    swapped = features("Who was the first leader of the Norse raiders?")
    assert swapped["comparisons_missing"] == 1 and swapped["missing_terms"] == 1 and swapped["one_missing"] == 1
    negated = features("Who was not the leader of the Norse raiders?")
    assert negated["negation_mismatch"] == 1
    unknown = features("Who was the leader of the Saxon raiders?")
    assert unknown["missing_names_numbers"] == 1 and unknown["missing_everywhere"] == 1
    assert set(covered) == set(FEATURE_NAMES)


def test_a_question_twisted_the_way_squad_writers_did_scores_lower() -> None:
    balanced = thresholds_for("balanced")
    plain = should_attempt_answer("Who was the leader of the Norse raiders?", SOURCES, balanced)
    negated = should_attempt_answer("Who was not the leader of the Norse raiders?", SOURCES, balanced)
    superlative = should_attempt_answer("Who was the first leader of the Norse raiders?", SOURCES, balanced)
    assert plain.answer and plain.answerability is not None
    assert not negated.answer and not superlative.answer
    assert negated.answerability is not None and superlative.answerability is not None
    assert max(negated.answerability, superlative.answerability) < plain.answerability
    assert "answerability" in negated.reason


def test_the_gate_uses_the_model_it_is_given() -> None:
    zeros = (0.0,) * len(FEATURE_NAMES)
    always = AnswerabilityModel(means=zeros, scales=(1.0,) * len(FEATURE_NAMES), weights=zeros, bias=10.0)
    never = AnswerabilityModel(means=zeros, scales=(1.0,) * len(FEATURE_NAMES), weights=zeros, bias=-10.0)
    question = "Who was not the leader of the Norse raiders?"  # the shipped model says no
    bars = GroundingThresholds()
    assert should_attempt_answer(question, SOURCES, bars, always).answer
    assert not should_attempt_answer("Who was the leader of the Norse raiders?", SOURCES, bars, never).answer


def test_other_embedders_get_the_model_without_similarity_features() -> None:
    default, other = shipped_model("default"), shipped_model("hashing-256")
    assert default != other
    for name, weight in zip(FEATURE_NAMES, other.weights, strict=True):
        if name in SIMILARITY_FEATURES:
            assert weight == 0.0
    assert "embedder" in default.calibration and "SQuAD" in default.calibration
    # The words-only model ignores the cosine entirely.
    near = [hit(NORMANS, score=0.5, dense_score=0.9)]
    far = [hit(NORMANS, score=0.5, dense_score=0.3)]
    question = "Who was the leader of the Norse raiders?"
    assert other.probability(features(question, near).values()) == pytest.approx(
        other.probability(features(question, far).values())
    )
    assert default.probability(features(question, near).values()) > default.probability(features(question, far).values())


def test_without_similarity_zeroes_only_the_embedder_features() -> None:
    values = tuple(float(i + 1) for i in range(len(FEATURE_NAMES)))
    cleared = without_similarity(values)
    for name, before, after in zip(FEATURE_NAMES, values, cleared, strict=True):
        assert after == (0.0 if name in SIMILARITY_FEATURES else before)


def test_fitting_learns_which_way_a_feature_points_and_round_trips_through_json() -> None:
    rows, labels = [], []
    for i in range(200):
        good = i % 2 == 0
        row = [0.0] * len(FEATURE_NAMES)
        row[0] = (0.9 if good else 0.5) + (i % 7) * 0.01  # window_coverage separates the classes
        row[7] = 0.0 if good else float(i % 3 == 0)  # negation mismatch only on unanswerable ones
        rows.append(row)
        labels.append(good)
    model = fit_logistic(rows, labels)
    assert model.weights[0] > 0 and model.weights[7] < 0
    assert model.probability(rows[0]) > 0.8 > 0.2 > model.probability(rows[1])
    again = AnswerabilityModel.from_json(json.loads(json.dumps(model.to_json())), where="test")
    assert again.probability(rows[0]) == pytest.approx(model.probability(rows[0]), abs=1e-4)


def test_fitting_refuses_data_it_cannot_learn_from() -> None:
    with pytest.raises(ValueError, match="both"):
        fit_logistic([[0.0] * len(FEATURE_NAMES)] * 3, [True, True, True])
    with pytest.raises(ValueError, match="features"):
        fit_logistic([[0.0, 1.0]], [True])


def test_a_damaged_model_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "answerability.json"
    broken.write_text('{"models": {"with_similarity": {"features": ["x"]}}}')
    monkeypatch.setattr(answerability, "MODEL_PATH", broken)
    shipped_model.cache_clear()
    try:
        with pytest.raises(AnswerabilityModelError, match="calibrate"):
            shipped_model("default")
        broken.write_text("not json")
        shipped_model.cache_clear()
        with pytest.raises(AnswerabilityModelError, match="reinstall agentkit"):
            shipped_model("default")
    finally:
        shipped_model.cache_clear()


def test_a_question_that_names_nothing_is_not_answered() -> None:
    for question in ("Who?", "What is this?"):
        decision = should_attempt_answer(question, SOURCES, thresholds_for("balanced"))
        assert not decision.answer and "nothing to look for" in decision.reason
