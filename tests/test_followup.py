"""Follow-up rewriting: follow-ups get the conversation's topic, standalone questions stay as they are."""

from __future__ import annotations

import pytest

from agentkit.answering.followup import is_follow_up, standalone_question
from agentkit.models.generators import ChatMessage

PASSPORT = [
    ChatMessage("user", "How do I renew a passport?"),
    ChatMessage("assistant", "You renew it online at the Passport Office [1]."),
]


def test_without_history_the_question_is_unchanged() -> None:
    assert standalone_question("and how long does that take?", []) == "and how long does that take?"


def test_follow_up_with_demonstrative_gets_the_previous_topic() -> None:
    query = standalone_question("and how long does that take?", PASSPORT)
    assert query.startswith("how long does that take?")
    assert "renew" in query and "passport" in query


@pytest.mark.parametrize(
    "question",
    [
        "What about children?",
        "Why?",
        "How much does it cost?",
        "Is there a fee?",
        "And for diplomats?",
        "How long?",
        "what about those?",
    ],
)
def test_follow_up_shapes_are_recognised(question: str) -> None:
    assert is_follow_up(question)
    assert "passport" in standalone_question(question, PASSPORT).lower()


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Which Python versions does agentkit support?",
        "Is there a limit on upload size?",
        "Who wrote the report that started the inquiry?",
    ],
)
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not is_follow_up(question)
    assert standalone_question(question, PASSPORT) == question


def test_pronoun_takes_names_from_the_previous_answer() -> None:
    history = [
        ChatMessage("user", "Who was the leader of the Norse raiders?"),
        ChatMessage("assistant", "Rollo was their leader [1]."),
    ]
    query = standalone_question("When did he die?", history)
    assert "Rollo" in query
    assert "Norse" in query


def test_chains_of_follow_ups_keep_the_original_topic() -> None:
    history = [
        ChatMessage("user", "How do I renew a passport?"),
        ChatMessage("assistant", "Online at the Passport Office [1]."),
        ChatMessage("user", "How long does that take?"),
        ChatMessage("assistant", "About six weeks [2]."),
    ]
    query = standalone_question("and what does it cost?", history)
    assert "renew" in query and "passport" in query.lower()


def test_abstention_answers_contribute_no_names() -> None:
    history = [
        ChatMessage("user", "Who founded Quillstack?"),
        ChatMessage("assistant", "I don't know based on the sources I have. Sources: Quillstack Handbook."),
    ]
    query = standalone_question("and when?", history)
    assert "Quillstack" in query
    assert "Handbook" not in query


def test_rewriting_is_deterministic() -> None:
    first = standalone_question("and how long does that take?", PASSPORT)
    assert all(standalone_question("and how long does that take?", PASSPORT) == first for _ in range(5))


def test_context_is_bounded() -> None:
    long_question = "How do " + " ".join(f"word{i}" for i in range(40)) + " work?"
    history = [ChatMessage("user", long_question), ChatMessage("assistant", "Yes.")]
    query = standalone_question("and why?", history)
    assert len(query.split()) <= 1 + 12 + 1
