"""The gate before generation: decide from retrieval evidence whether to call the model at all.

`should_attempt_answer` looks at the retrieval evidence. Hard checks first: the question must
name something to look for; the best cosine similarity between the question and a chunk must reach a floor, a
name or number of the question must appear in some retrieved source, and one two-sentence
window must hold at least half of the question's weighted terms. Then the answerability
model (`agentkit.answering.answerability`) turns the evidence into a probability that the sources
answer the question, and the mode's bar decides. That model is a logistic regression
fitted on SQuAD 2.0 (`benchmarks/grounding_squad.py calibrate`): unanswerable SQuAD
questions were written to sit next to a paragraph that almost answers them, by swapping
one word ("largest" for "smallest", another name, a negation), so the features say what
the best window lacks and how. When the gate says no, the model is not called at all and
the answer is an abstention that lists the closest sources. `strict` sets a higher bar
than `balanced` (`thresholds_for`; the trade-off is documented on `GroundingThresholds`).

The answerability model assumes hybrid retrieval (the agent's `ask` path): `score_margin` is
a margin of the fused score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.answering.answerability import AnswerabilityModel, measure_evidence, shipped_model
from agentkit.answering.grounding import DEFAULT_THRESHOLDS, GroundingThresholds, prepare_sources
from agentkit.answering.support import question_terms
from agentkit.results import SearchHit


@dataclass(frozen=True)
class GateDecision:
    """Whether retrieval found enough evidence to try an answer, and the numbers behind it."""

    answer: bool
    reason: str
    retrieval_score: float = 0.0
    question_coverage: float = 0.0
    best_source: int | None = None
    answerability: float | None = None
    features: tuple[float, ...] = ()  # the answerability features (`agentkit.answering.answerability`)


def hit_similarity(hit: SearchHit) -> float:
    """The cosine similarity of a hit: `dense_score` when set (hybrid), else `score`."""
    if hit.dense_score is not None:
        return float(hit.dense_score)
    if hit.lexical_score is not None:
        return 0.0  # a lexical-only hit carries no cosine; its words are checked instead
    return float(hit.score)


def should_attempt_answer(
    question: str,
    hits: Sequence[SearchHit],
    thresholds: GroundingThresholds = DEFAULT_THRESHOLDS,
    model: AnswerabilityModel | None = None,
) -> GateDecision:
    """Decide from retrieval evidence alone whether the model should be asked at all.

    `model` scores answerability (`agentkit.answering.answerability`); None means the one shipped for
    the default embedder (an agent passes the one for its own embedder).
    """
    if not hits:
        return GateDecision(False, "nothing was retrieved")
    retrieval_score = max(hit_similarity(hit) for hit in hits)
    terms = question_terms(question)
    evidence = prepare_sources(hits)
    measured = measure_evidence(terms, question, hits, evidence, [hit_similarity(hit) for hit in hits])
    probability = (model or shipped_model()).probability(measured.features)

    def decide(answer: bool, reason: str) -> GateDecision:
        return GateDecision(
            answer,
            reason,
            retrieval_score,
            measured.window_coverage,
            measured.best_source,
            probability,
            measured.features,
        )

    def refuse(reason: str) -> GateDecision:
        return decide(False, reason)

    if not terms:
        return refuse("the question names nothing to look for")
    if retrieval_score < thresholds.min_retrieval_score:
        return refuse(
            f"best retrieval similarity {retrieval_score:.2f} is below {thresholds.min_retrieval_score:.2f}"
        )
    everywhere = frozenset().union(*(source.terms for source in evidence))
    absent = sorted(term.lstrip("#") for term in terms.names | terms.numbers if term not in everywhere)
    if absent:
        return refuse(f"no source mentions {', '.join(absent)}")
    if measured.window_coverage < thresholds.min_question_coverage:
        return refuse(
            f"no source passage holds enough of the question ({measured.window_coverage:.2f} < "
            f"{thresholds.min_question_coverage:.2f})"
        )
    if probability < thresholds.min_answerability:
        return refuse(
            f"the sources probably do not answer this (answerability {probability:.2f} < "
            f"{thresholds.min_answerability:.2f})"
        )
    return decide(True, "retrieval evidence is sufficient")
