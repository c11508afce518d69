"""Fitting the answerability model (`agentkit.answering.answerability`) from labelled evidence.

Used by `benchmarks/grounding_squad.py calibrate`, which measures the features of every
question of SQuAD 2.0's calibration half and writes the two fitted models into
`agentkit/answerability.json`: one with every feature (for the default embedder) and one
without the embedder-dependent similarity features (for any other embedder). Nothing here
runs when an agent answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentkit.answering.answerability import FEATURE_NAMES, SIMILARITY_FEATURES, AnswerabilityModel


def without_similarity(features: Sequence[float]) -> tuple[float, ...]:
    """The features with the embedder-dependent ones set to 0 (for fitting the words-only model)."""
    return tuple(0.0 if name in SIMILARITY_FEATURES else value for name, value in zip(FEATURE_NAMES, features, strict=True))


def fit_logistic(
    rows: Sequence[Sequence[float]], labels: Sequence[bool], *, l2: float = 1.0, steps: int = 4000
) -> AnswerabilityModel:
    """Fit the model by gradient descent on standardised features (deterministic)."""
    import numpy as np

    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or len(y) != len(x):
        raise ValueError(f"expected rows of {len(FEATURE_NAMES)} features and one label per row")
    if y.min() == y.max():
        raise ValueError("calibration needs both answerable and unanswerable questions")
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-9] = 1.0
    z = (x - means) / scales
    weights = np.zeros(z.shape[1])
    bias = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ weights + bias)))
        weights -= 0.5 * (z.T @ (p - y) / len(y) + l2 * weights / len(y))
        bias -= 0.5 * float((p - y).mean())
    return AnswerabilityModel(
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        weights=tuple(float(v) for v in weights),
        bias=float(bias),
    )
