"""Follow-up questions: turn "and how long does that take?" into a query retrieval can use.

In a chat the user writes follow-ups that only make sense after the previous turn. Retrieval
sees one string, so the follow-up is completed with what the conversation was about: the
content words of the previous question (itself completed the same way, so chains of
follow-ups keep their topic) and the names and numbers of the previous answer, unless that
answer was an abstention (its message names nothing the conversation is about).

    "How do I renew a passport?" ... "and how long does that take?"
    -> "how long does that take? (renew passport)"

This is done with rules, not by asking the model. The default model (135M parameters)
rewrites questions poorly: it answers them, drops the topic or invents one, and every
rewrite would cost a model call before retrieval even starts. The rules are deterministic,
instant and testable; the model still sees the full recent history in its prompt.

A question counts as a follow-up when it starts with a connective ("and", "what about",
"also"), refers back with a pronoun or demonstrative ("it", "that", "those", "he"), or has
at most one content word of its own ("Why?", "How long?"). Anything else is taken as
standalone and returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agentkit.answering.support import FUNCTION_WORDS, NEGATIONS, normalize_number, word_tokens

MAX_CONTEXT_WORDS = 12
MAX_ANSWER_NAMES = 4

_LEADING_CONNECTIVE = re.compile(
    r"^\s*(?:and|but|also|so|then|plus|or|what\s+about|how\s+about|what\s+else|"
    r"anything\s+else|and\s+what|and\s+how|same\s+for|and\s+for|why\s+not)\b[\s,]*",
    re.IGNORECASE,
)
_ANAPHORS = frozenset(
    """
    it its it's itself they them their theirs themselves he him his himself she her hers herself
    this these those such one ones former latter same
    """.split()
)
# Words that shape a question without naming its topic; a question with no other content
# word is too short to stand alone.
_QUESTION_SHAPE_WORDS = frozenset(
    """
    how long much many often far old big large soon fast why when where who whom whose what which
    does do did is are was were can could should would will tell explain more detail details else
    mean means take takes work works cost costs happen happens need needs
    """.split()
)


@dataclass(frozen=True)
class Turn:
    """One earlier question of the conversation and the answer it got."""

    question: str
    answer: str = ""
    abstained: bool = False  # the answer was the agent's abstention, as stored with it


def turns_from(messages: Iterable[tuple[str, str, bool]]) -> list[Turn]:
    """(role, text, abstained) messages as turns: each question with the answer that followed it."""
    turns: list[Turn] = []
    for role, text, abstained in messages:
        if role == "user" and text.strip():
            turns.append(Turn(text.strip()))
        elif role == "assistant" and text.strip() and turns and not turns[-1].answer:
            turns[-1] = Turn(turns[-1].question, text.strip(), abstained)
    return turns


def standalone_question(question: str, turns: Sequence[Turn]) -> str:
    """The question as a standalone search query, using the conversation's earlier turns."""
    question = question.strip()
    turns = [turn for turn in turns if turn.question.strip()]
    if not turns or not is_follow_up(question):
        return question
    # Complete earlier questions first, so that a chain of follow-ups keeps its topic.
    topic, previous_answer = "", ""
    for turn in turns:
        asked = turn.question.strip()
        if topic and is_follow_up(asked):
            topic = _complete(asked, topic, previous_answer)
        else:
            topic = asked
        # An abstention names nothing the conversation is about.
        previous_answer = "" if turn.abstained else turn.answer.strip()
    return _complete(question, topic, previous_answer)


def is_follow_up(question: str) -> bool:
    """Whether the question leans on the previous turn (see the module docstring)."""
    if _LEADING_CONNECTIVE.match(question):
        return True
    words = [token.lower() for token in word_tokens(question)]
    for index, word in enumerate(words):
        if word in _ANAPHORS:
            return True
        if word == "that" and _demonstrative_that(words, index):
            return True
        if word == "there" and (index == 0 or words[index - 1] not in {"is", "are", "was", "were"}):
            return True
    return len(_own_content_words(question)) <= 1


def _demonstrative_that(words: Sequence[str], index: int) -> bool:
    """'that' pointing back ("does that take", "about that") rather than joining clauses."""
    if index == len(words) - 1:
        return True
    before = words[index - 1] if index > 0 else ""
    after = words[index + 1]
    return before in {"does", "do", "did", "is", "was", "about", "for", "of", "with", "like", "on"} or after in {
        "is", "was", "does", "do", "did", "take", "takes", "mean", "means", "work", "works",
        "cost", "costs", "happen", "happened", "one",
    }  # fmt: skip


def _own_content_words(text: str) -> list[str]:
    words = []
    for token in word_tokens(text):
        lowered = token.lower()
        if normalize_number(token) is not None:
            words.append(lowered)
        elif lowered not in FUNCTION_WORDS and lowered not in _QUESTION_SHAPE_WORDS:
            words.append(lowered)
    return words


def _complete(question: str, topic_question: str, answer: str) -> str:
    """`question` followed by the topic's content phrases and the answer's names."""
    cleaned = _LEADING_CONNECTIVE.sub("", question).strip() or question
    context: list[str] = []
    seen: set[str] = {word.lower() for word in word_tokens(cleaned)}

    def add(phrase: str) -> None:
        words = [w for w in phrase.split() if w.lower() not in seen]
        if words:
            context.append(" ".join(words))
            seen.update(w.lower() for w in words)

    for phrase in _content_phrases(topic_question):
        add(phrase)
    # "he", "it" often mean what was just answered: the answer's names come along.
    if answer:
        for name in _names(answer)[:MAX_ANSWER_NAMES]:
            add(name)
    words = " ".join(context).split()[:MAX_CONTEXT_WORDS]
    if not words:
        return question
    return f"{cleaned} ({' '.join(words)})"


def _content_phrases(text: str) -> list[str]:
    """Runs of consecutive content words, in order ("renew a passport" -> "renew", "passport")."""
    text = re.sub(r"\s*\((.*)\)\s*$", r" \1", text)  # an earlier completion's context counts too
    phrases: list[str] = []
    current: list[str] = []
    for token in word_tokens(text):
        lowered = token.lower()
        keep = normalize_number(token) is not None or (
            lowered not in FUNCTION_WORDS
            and lowered not in _QUESTION_SHAPE_WORDS
            and lowered not in _ANAPHORS
            and lowered not in NEGATIONS
            and len(lowered) > 1
        )
        if keep:
            current.append(token)
        elif current:
            phrases.append(" ".join(current))
            current = []
    if current:
        phrases.append(" ".join(current))
    return phrases


def _names(text: str) -> list[str]:
    """Capitalised word runs and numbers of an answer, first ones first, [n] marks ignored."""
    text = re.sub(r"\[\d{1,3}\]", " ", text)
    found: list[str] = []
    for match in re.finditer(r"\b(?:[A-Z][\w'-]*)(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'-]*)*|\b\d[\d,.]*\b", text):
        words = match.group(0).split()
        while words and (words[0].lower() in FUNCTION_WORDS or words[0].lower() in _QUESTION_SHAPE_WORDS):
            words.pop(0)
        candidate = " ".join(words)
        if not candidate:
            continue
        if candidate not in found:
            found.append(candidate)
    return found
