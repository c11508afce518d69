"""Answerability: how likely it is, from retrieval evidence alone, that the sources answer a question.

The gate before generation (`agentkit.answering.grounding.should_attempt_answer`) asks this module for a
probability and compares it with the grounding mode's bar. The probability is a logistic
regression over a handful of evidence features, fitted on data rather than guessed:
`benchmarks/grounding_squad.py calibrate` fits it (`agentkit.answerability_fit`) on the
calibration half of SQuAD 2.0 dev (answerable against adversarially unanswerable questions)
and writes the weights to `answerability.json` beside this module, which ships inside the
package.

The features (`FEATURE_NAMES`), all computed from the question's weighted terms
(`agentkit.answering.support`) and the retrieved hits:

- coverage of the question by the best two-sentence window, the best single sentence and
  the best whole chunk;
- how many of the question's terms the best window lacks, how many of those are names or
  numbers, how many are in no retrieved chunk at all, and how many are elsewhere in the
  window's own chunk (a word swapped for another the passage also mentions);
- whether the question negates and the window does not, and comparison words of the question
  ("largest", "first", "before") that the window lacks (SQuAD's writers made questions
  unanswerable exactly that way);
- the cosine similarity of the best hit and its margin over the second, and the margin of
  the ranking score;
- the number of question terms.

Every number here is cheap: nothing loads a model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from agentkit.answering.support import (
    SourceEvidence,
    Terms,
    coverage,
    extract_terms,
    split_sentences,
    word_tokens,
)
from agentkit.errors import AnswerabilityModelError
from agentkit.models.embedders import BUNDLED_EMBEDDER_IDS, DEFAULT_EMBEDDER_ID
from agentkit.results import SearchHit

MODEL_PATH = Path(__file__).with_name("answerability.json")

FEATURE_NAMES: tuple[str, ...] = (
    "window_coverage",
    "sentence_coverage",
    "chunk_coverage",
    "missing_terms",
    "missing_names_numbers",
    "missing_everywhere",
    "missing_but_in_chunk",
    "negation_mismatch",
    "comparisons_missing",
    "full_coverage",
    "one_missing",
    "top_similarity",
    "similarity_margin",
    "score_margin",
    "log_question_terms",
)

COMPARISON_WORDS = frozenset(
    """
    most least more less fewer greater larger smaller higher lower highest lowest largest
    smallest biggest best worst first last earliest latest oldest newest longest shortest
    before after only
    """.split()
)


@dataclass(frozen=True)
class Evidence:
    """The features of one question against its hits, plus where the best window is."""

    features: tuple[float, ...]
    best_source: int  # 1-based number of the hit holding the best window
    window_coverage: float

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, self.features, strict=True))


@dataclass(frozen=True)
class AnswerabilityModel:
    """A logistic regression over standardised features."""

    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    calibration: str = ""

    def probability(self, features: Sequence[float]) -> float:
        z = self.bias
        for value, mean, scale, weight in zip(features, self.means, self.scales, self.weights, strict=True):
            z += weight * (value - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(FEATURE_NAMES),
            "means": [round(v, 6) for v in self.means],
            "scales": [round(v, 6) for v in self.scales],
            "weights": [round(v, 6) for v in self.weights],
            "bias": round(self.bias, 6),
            "calibration": self.calibration,
        }

    @classmethod
    def from_json(cls, data: dict[str, object], *, where: str) -> AnswerabilityModel:
        if data.get("features") != list(FEATURE_NAMES):
            raise AnswerabilityModelError(
                f"{where} was fitted on other features; rerun benchmarks/grounding_squad.py calibrate"
            )
        try:
            columns = [tuple(float(v) for v in data[key]) for key in ("means", "scales", "weights")]  # type: ignore[union-attr]
            bias = float(data["bias"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as error:
            raise AnswerabilityModelError(f"{where} is malformed ({error}); reinstall agentkit") from error
        if any(len(column) != len(FEATURE_NAMES) for column in columns) or min(columns[1]) <= 0:
            raise AnswerabilityModelError(f"{where} is malformed (wrong sizes or scales); reinstall agentkit")
        return cls(*columns, bias=bias, calibration=str(data.get("calibration", "")))


# The features that depend on the embedder's cosine scale. The model fitted with them holds
# only for the embedder it was calibrated with; for any other one a model fitted without them
# (words and ranks only) is used.
SIMILARITY_FEATURES = frozenset({"top_similarity", "similarity_margin"})


@lru_cache(maxsize=4)
def shipped_model(embedder_id: str = DEFAULT_EMBEDDER_ID) -> AnswerabilityModel:
    """The model calibrated on SQuAD 2.0 that ships with agentkit, for an agent's embedder."""
    try:
        data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
        models = data["models"]
        which = "with_similarity" if embedder_id in BUNDLED_EMBEDDER_IDS else "words_only"
        return AnswerabilityModel.from_json(models[which], where=f"{MODEL_PATH} ({which})")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AnswerabilityModelError(f"cannot read {MODEL_PATH} ({error!r}); reinstall agentkit") from error


def measure_evidence(
    terms: Terms,
    question: str,
    hits: Sequence[SearchHit],
    sources: Sequence[SourceEvidence],
    similarities: Sequence[float],
) -> Evidence:
    """The features of `question` (with its `terms`) against `hits`, prepared as `sources`.

    `similarities` holds each hit's cosine similarity (0 where only words matched).
    """
    weights = terms.weights
    best_coverage, best_number, best_window, best_text = -1.0, 1, frozenset[str](), ""
    sentence_coverage = chunk_coverage = 0.0
    everywhere: set[str] = set()
    for hit, source in zip(hits, sources, strict=True):
        everywhere |= source.terms
        chunk_coverage = max(chunk_coverage, coverage(terms, source.terms))
        for window, text in zip(source.windows, source.window_texts, strict=True):
            value = coverage(terms, window)
            if value > best_coverage + 1e-9:
                best_coverage, best_number, best_window, best_text = value, source.number, window, text
        for sentence in split_sentences(hit.text):
            sentence_coverage = max(sentence_coverage, coverage(terms, frozenset(extract_terms(sentence).weights)))
    best_coverage = max(best_coverage, 0.0)
    chunk_terms = sources[best_number - 1].terms if sources else frozenset()
    missing = [term for term in weights if term not in best_window]
    question_words = {word.lower() for word in word_tokens(question)}
    window_words = {word.lower() for word in word_tokens(best_text)}
    top = sorted(similarities, reverse=True) + [0.0, 0.0]
    scores = [hit.score for hit in hits] + [0.0, 0.0]
    features = (
        best_coverage,
        sentence_coverage,
        chunk_coverage,
        float(len(missing)),
        float(sum(1 for term in missing if term in terms.names or term in terms.numbers)),
        float(sum(1 for term in weights if term not in everywhere)),
        float(sum(1 for term in missing if term in chunk_terms)),
        float("not" in weights and "not" not in best_window),
        float(len((question_words & COMPARISON_WORDS) - window_words)),
        float(best_coverage >= 1.0 - 1e-9),
        float(len(missing) == 1),
        float(top[0]),
        float(top[0] - top[1]),
        float(scores[0] - scores[1]),
        math.log1p(len(weights)),
    )
    return Evidence(features=features, best_source=best_number, window_coverage=best_coverage)
