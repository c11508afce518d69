"""Evidence quotes: the source sentence that best answers a question, quoted verbatim.

The default model is small: behind a gate that found strong evidence, its reply still holds
the right answer only about one time in five on SQuAD, and grounding then removes most of
its sentences as unsupported. The sources themselves usually do hold the answer: the
sentence of a retrieved passage that shares the most of the question's weighted terms
contains the gold answer for about 70% of answerable SQuAD questions
(`benchmarks/grounding_squad.py`). So when the gate lets a question through but no sentence
of the model's reply survives the support check, the answer is that sentence, quoted as
written and cited. A quote is grounded by construction: it is the source's own words.

A sentence only qualifies when it holds enough of the question (`MIN_QUOTE_COVERAGE`) and
says something the question does not (a sentence that merely repeats the question's words
answers nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.results import SearchHit
from agentkit.support import Terms, coverage, extract_terms, split_sentences

# A quote must hold at least half of the question's weighted terms; below that the sentence
# is about something else and quoting it would look like an answer without being one.
MIN_QUOTE_COVERAGE = 0.5
# Quotes longer than this many characters are cut at a word boundary (and marked with ...).
MAX_QUOTE_CHARS = 400
ELLIPSIS = "..."


@dataclass(frozen=True)
class Quote:
    """A sentence of source `number` (1-based, as in the prompt) and how much of the question it holds."""

    number: int
    text: str
    question_coverage: float


def best_quote(terms: Terms, sources: Sequence[SearchHit]) -> Quote | None:
    """The sentence that holds the most of the question's `terms`; None when none qualifies.

    Ties go to the better-ranked source, then to the earlier sentence.
    """
    if not terms:
        return None
    question_keys = set(terms.weights)
    best: tuple[float, int, int, str] | None = None
    for number, hit in enumerate(sources, start=1):
        for position, sentence in enumerate(split_sentences(hit.text)):
            sentence_terms = set(extract_terms(sentence).weights)
            if not sentence_terms - question_keys:
                continue  # says nothing beyond the question
            value = coverage(terms, sentence_terms)
            key = (value, -number, -position, sentence)
            if best is None or key[:3] > best[:3]:
                best = key
    if best is None or best[0] < MIN_QUOTE_COVERAGE:
        return None
    value, negative_number, _, sentence = best
    return Quote(number=-negative_number, text=_shortened(sentence), question_coverage=value)


def quoted_answer(quote: Quote) -> str:
    """The quote as an answer: the source's sentence with its [n] mark."""
    text = quote.text.rstrip()
    if text.endswith((".", "!", "?")) and not text.endswith(ELLIPSIS):
        return f"{text[:-1].rstrip()} [{quote.number}]{text[-1]}"
    return f"{text} [{quote.number}]"


def _shortened(sentence: str) -> str:
    flat = " ".join(sentence.split())
    if len(flat) <= MAX_QUOTE_CHARS:
        return flat
    cut = flat[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return f"{cut} {ELLIPSIS}"
