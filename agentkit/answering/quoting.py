"""Evidence quotes: a passage of a source given verbatim, with its citation, as the answer.

The default model is small: on SQuAD its reply contains the gold answer for about one
answerable question in five, and grounding then removes most of its sentences as
unsupported. The sources themselves usually do hold the answer, so when the gate lets a
question through but the model's words do not stand, the answer is the passage the reader
(`agentkit.answering.reader`) picked, quoted as written and cited. A quote is grounded by
construction: it is the source's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentkit.answering.support import ends_with_abbreviation, printable

# Quotes longer than this many characters are cut at a word boundary (and marked with ...).
MAX_QUOTE_CHARS = 400
ELLIPSIS = "..."
# A Markdown heading underline or rule glued to the sentence that follows it ("----- Text").
_RULE_PREFIX = re.compile(r"^(?:[-=_*#~]{3,}\s*)+")


@dataclass(frozen=True)
class Quote:
    """A passage of source `number` (1-based, as in the prompt) and how much of the question it holds."""

    number: int
    text: str
    question_coverage: float
    evidence: frozenset[str] = frozenset()  # the passage's terms with its title's and table header's
    holds_asked_kind: bool = False  # it holds the kind of thing the question asks for (a flag, a version)


def quoted_answer(quote: Quote) -> str:
    """The quote as an answer: the source's passage with its [n] mark (control characters out)."""
    text = printable(quote.text).rstrip()
    if text.endswith((".", "!", "?")) and not text.endswith(ELLIPSIS) and not ends_with_abbreviation(text):
        return f"{text[:-1].rstrip()} [{quote.number}]{text[-1]}"
    return f"{text} [{quote.number}]"


def shortened(text: str) -> str:
    """`text` on one line, without a leading rule, cut at a word boundary past MAX_QUOTE_CHARS."""
    flat = _RULE_PREFIX.sub("", " ".join(text.split()))
    if len(flat) <= MAX_QUOTE_CHARS:
        return flat
    cut = flat[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return f"{cut} {ELLIPSIS}"
