"""Follow-up rewriting: follow-ups get the conversation's topic, standalone questions stay as they are."""

from __future__ import annotations

import pytest

from agentkit.answering.followup import Turn, is_follow_up, standalone_question

PASSPORT = [Turn("How do I renew a passport?", "You renew it online at the Passport Office [1].")]


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
    history = [Turn("Who was the leader of the Norse raiders?", "Rollo was their leader [1].")]
    query = standalone_question("When did he die?", history)
    assert "Rollo" in query
    assert "Norse" in query


def test_chains_of_follow_ups_keep_the_original_topic() -> None:
    history = [
        Turn("How do I renew a passport?", "Online at the Passport Office [1]."),
        Turn("How long does that take?", "About six weeks [2]."),
    ]
    query = standalone_question("and what does it cost?", history)
    assert "renew" in query and "passport" in query.lower()


def test_abstention_answers_contribute_no_names() -> None:
    history = [
        Turn(
            "Who founded Quillstack?",
            "I don't know based on the sources I have. Sources: Quillstack Handbook.",
            abstained=True,
        )
    ]
    query = standalone_question("and when?", history)
    assert "Quillstack" in query
    assert "Handbook" not in query


def test_an_abstention_is_known_by_its_flag_not_its_wording() -> None:
    # A custom abstention message that says nothing like "I don't know".
    custom = "Please ask Mrs Hudson in Accounts."
    abstained = standalone_question("and when?", [Turn("Who founded Quillstack?", custom, abstained=True)])
    assert "Quillstack" in abstained and "Hudson" not in abstained and "Accounts" not in abstained
    # An answer that happens to say "don't know" still lends its names.
    answer = "The Quillstack archive says its founders don't know the year; Ada Byrne led it [1]."
    answered = standalone_question("and when did she leave?", [Turn("Who led Quillstack?", answer)])
    assert "Ada Byrne" in answered


def test_rewriting_is_deterministic() -> None:
    first = standalone_question("and how long does that take?", PASSPORT)
    assert all(standalone_question("and how long does that take?", PASSPORT) == first for _ in range(5))


def test_context_is_bounded() -> None:
    long_question = "How do " + " ".join(f"word{i}" for i in range(40)) + " work?"
    history = [Turn(long_question, "Yes.")]
    query = standalone_question("and why?", history)
    assert len(query.split()) <= 1 + 12 + 1
