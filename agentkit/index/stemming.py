"""The one Snowball English stemmer that lexical search and grounding share.

BM25 (`agentkit.index.lexical`) and sentence support (`agentkit.answering.support`) must reduce a
word to the same stem, or a claim and the passage that backs it would be matched by different
rules. PyStemmer is imported on first use: it is needed only once text is searched or grounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from agentkit.errors import AgentkitError


def stem_words(words: Sequence[str]) -> list[str]:
    """The Snowball English stem of each word, in order."""
    stems: list[str] = _stemmer().stemWords(list(words))
    return stems


@lru_cache(maxsize=1)
def _stemmer() -> Any:  # PyStemmer ships no type hints
    try:
        import Stemmer
    except ImportError as error:
        raise AgentkitError(
            "agentkit needs PyStemmer for lexical search and grounding; run: pip install PyStemmer"
        ) from error
    return Stemmer.Stemmer("english")
