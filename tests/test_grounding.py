"""Grounding: the retrieval gate, sentence support, citation checking, modes and abstention."""

from __future__ import annotations

import re

import pytest

from agentkit.answering.gate import should_attempt_answer
from agentkit.answering.grounding import (
    DEFAULT_ABSTENTION_MESSAGE,
    GROUNDING_MODES,
    GroundingThresholds,
    StreamingGrounder,
    abstention_message,
    ground_answer,
    is_refusal,
)
from agentkit.answering.support import extract_terms, split_sentences
from agentkit.results import SearchHit

NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to "
    "Normandy, a region in France. They were descended from Norse raiders and pirates from "
    "Denmark, Iceland and Norway who, under their leader Rollo, agreed to swear fealty to "
    "King Charles III of West Francia."
)
HASTINGS = (
    "The Battle of Hastings was fought on 14 October 1066 between the Norman-French army of "
    "William, the Duke of Normandy, and an English army under King Harold Godwinson."
)
STEAM = "A steam engine is a heat engine that performs mechanical work using steam as its working fluid."


def hit(text: str, *, title: str = "", score: float = 0.6, n: int = 1, **scores: float) -> SearchHit:
    return SearchHit(
        chunk_id=n,
        score=score,
        text=text,
        title=title,
        uri=f"/docs/{n}.md",
        page=None,
        heading_path=(),
        anchor=None,
        document_id=n,
        source_id=1,
        dense_score=scores.get("dense_score"),
        lexical_score=scores.get("lexical_score"),
    )


SOURCES = [hit(NORMANS, title="Normans", n=1), hit(HASTINGS, title="Hastings", n=2), hit(STEAM, title="Steam", n=3)]
LOOSE = GroundingThresholds(min_retrieval_score=0.2, min_question_coverage=0.5, min_sentence_support=0.6)


# ----- the gate before generation -----------------------------------------------------------


def test_gate_refuses_when_nothing_is_retrieved() -> None:
    decision = should_attempt_answer("Who was Rollo?", [], LOOSE)
    assert not decision.answer and "nothing" in decision.reason


def test_gate_refuses_unrelated_sources() -> None:
    decision = should_attempt_answer("What is the capital of Australia?", [hit(STEAM, score=0.1)], LOOSE)
    assert not decision.answer
    assert "similarity" in decision.reason


def test_gate_refuses_when_a_key_word_of_the_question_is_in_no_passage() -> None:
    # The writer swapped "Rollo" for "Harald": every word but the name is there.
    decision = should_attempt_answer("Which leader of the Norse raiders was Harald?", SOURCES, LOOSE)
    assert decision.question_coverage < 1.0
    strict_gate = GroundingThresholds(min_retrieval_score=0.2, min_question_coverage=0.9)
    assert not should_attempt_answer("Which leader of the Norse raiders was Harald?", SOURCES, strict_gate).answer


def test_gate_accepts_a_question_the_sources_cover() -> None:
    decision = should_attempt_answer("Who was the leader of the Norse raiders?", SOURCES, LOOSE)
    assert decision.answer
    assert decision.best_source == 1
    assert decision.question_coverage == pytest.approx(1.0)


def test_gate_uses_the_dense_component_of_hybrid_hits() -> None:
    fused = [hit(NORMANS, score=0.03, dense_score=0.55, lexical_score=7.2)]
    assert should_attempt_answer("Who was the leader of the Norse raiders?", fused, LOOSE).answer
    weak = [hit(NORMANS, score=0.03, dense_score=0.05, lexical_score=7.2)]
    assert not should_attempt_answer("Who was the leader of the Norse raiders?", weak, LOOSE).answer


# ----- support and citations ----------------------------------------------------------------


def test_supported_sentence_gets_its_source_cited_inline() -> None:
    grounded = ground_answer("Rollo was the leader of the Norse.", SOURCES, question="Who led the Norse?", thresholds=LOOSE)
    assert not grounded.abstained
    assert grounded.text == "Rollo was the leader of the Norse [1]."
    assert grounded.cited_numbers == (1,)


def test_wrong_model_citation_is_dropped_and_right_one_added() -> None:
    grounded = ground_answer(
        "The battle was fought in 1066 [3].", SOURCES, question="When was Hastings fought?", thresholds=LOOSE
    )
    assert grounded.text == "The battle was fought in 1066 [2]."
    report = grounded.sentence_reports[0]
    assert report.model_citations == (3,) and report.dropped_citations == (3,)


def test_answer_from_memory_is_an_abstention() -> None:
    grounded = ground_answer("Canberra.", SOURCES, question="What is the capital of Australia?", thresholds=LOOSE)
    assert grounded.abstained and grounded.text == ""
    longer = ground_answer(
        "The capital of Australia is Canberra [1].", SOURCES, question="What is the capital of Australia?", thresholds=LOOSE
    )
    assert longer.abstained


def test_numbers_missing_from_the_source_make_a_sentence_unsupported() -> None:
    grounded = ground_answer(
        "The Battle of Hastings was fought in 1067.", SOURCES, question="When?", thresholds=LOOSE
    )
    assert grounded.abstained
    assert grounded.sentence_reports[0].missing == ("#1067",)


def test_balanced_removes_unsupported_sentences() -> None:
    raw = "Rollo was the leader of the Norse raiders [2]. He later became the first King of Sweden."
    grounded = ground_answer(raw, SOURCES, question="Who led the Norse?", mode="balanced", thresholds=LOOSE)
    assert not grounded.abstained
    assert grounded.text == "Rollo was the leader of the Norse raiders [1]."
    assert [r.supported for r in grounded.sentence_reports] == [True, False]
    assert "removed 1" in grounded.reason


def test_strict_abstains_on_any_unsupported_sentence() -> None:
    raw = "Rollo was the leader of the Norse raiders. He later became the first King of Sweden."
    grounded = ground_answer(raw, SOURCES, question="Who led the Norse?", mode="strict", thresholds=LOOSE)
    assert grounded.abstained
    assert "1 of 2" in grounded.reason
    fully_supported = ground_answer(
        "Rollo was the leader of the Norse raiders.", SOURCES, question="Who?", mode="strict", thresholds=LOOSE
    )
    assert not fully_supported.abstained


def test_off_returns_the_reply_as_written_with_every_prompt_source() -> None:
    raw = "Canberra is the capital [7]."
    grounded = ground_answer(raw, SOURCES, question="Capital of Australia?", mode="off", thresholds=LOOSE)
    assert grounded.text == raw and not grounded.abstained
    assert grounded.cited_numbers == (1, 2, 3)


@pytest.mark.parametrize("mode", ["strict", "balanced", "off"])
def test_model_refusal_is_an_abstention_in_every_mode(mode: str) -> None:
    grounded = ground_answer(
        "I don't know; the sources do not mention it.", SOURCES, question="Who?", mode=mode, thresholds=LOOSE  # type: ignore[arg-type]
    )
    assert grounded.abstained


def test_filler_sentences_are_dropped_without_abstaining() -> None:
    grounded = ground_answer(
        "Sure! Rollo was the leader of the Norse raiders.", SOURCES, question="Who?", mode="strict", thresholds=LOOSE
    )
    assert not grounded.abstained
    assert grounded.text == "Rollo was the leader of the Norse raiders [1]."
    assert grounded.sentence_reports[0].filler


def test_empty_reply_and_no_sources_abstain() -> None:
    assert ground_answer("   ", SOURCES, question="Who?", thresholds=LOOSE).abstained
    assert ground_answer("Rollo led them.", [], question="Who?", thresholds=LOOSE).abstained


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="grounding must be one of"):
        ground_answer("x", SOURCES, question="q", mode="loose")  # type: ignore[arg-type]


REPLIES = [
    "Rollo was the leader of the Norse raiders [2]. He later became the first King of Sweden.",
    "Sure! Rollo was the leader of the Norse raiders.",
    "I don't know. Rollo was the leader of the Norse raiders.",
    "[1] I apologize, the sources do not say.",
    "The battle was fought in 1066. [3] Rollo led the Norse raiders [1]. He later became the",
    "Canberra.",
    "",
]


@pytest.mark.parametrize("mode", GROUNDING_MODES)
@pytest.mark.parametrize("reply", REPLIES)
def test_a_reply_streamed_word_by_word_is_grounded_as_the_whole_reply_is(reply: str, mode: str) -> None:
    whole = ground_answer(reply, SOURCES, question="Who led the Norse?", mode=mode, thresholds=LOOSE)  # type: ignore[arg-type]
    grounder = StreamingGrounder(SOURCES, question="Who led the Norse?", mode=mode, thresholds=LOOSE)
    words = re.findall(r"\S+\s*", reply)
    shown = [piece for end in range(1, len(words) + 1) for piece in grounder.feed("".join(words[:end]))]
    shown.extend(grounder.feed(reply, final=True))
    assert grounder.result() == whole
    if not whole.abstained:
        assert "".join(shown) == whole.text


def test_every_citation_points_to_a_source_holding_the_claim() -> None:
    raw = "Rollo led the Norse raiders [2][3]. The Battle of Hastings was fought in 1066 [1]."
    grounded = ground_answer(raw, SOURCES, question="q", thresholds=LOOSE)
    assert grounded.text == "Rollo led the Norse raiders [1]. The Battle of Hastings was fought in 1066 [2]."
    assert grounded.cited_numbers == (1, 2)


# ----- messages and text handling ----------------------------------------------------------


def test_abstention_message_is_configurable() -> None:
    assert abstention_message(None) == DEFAULT_ABSTENTION_MESSAGE
    assert abstention_message("  ") == DEFAULT_ABSTENTION_MESSAGE
    assert abstention_message("Ask the help desk.") == "Ask the help desk."


def test_refusal_detection() -> None:
    assert is_refusal("I'm sorry, but the sources do not contain that.")
    assert is_refusal("There is no information about it.")
    assert not is_refusal("Rollo was the leader.")


def test_sentence_splitting_keeps_citations_and_abbreviations() -> None:
    text = "Rollo led them. [1] Dr. Smith wrote it in 1066 [2]. What else?\n\n- a list item"
    assert split_sentences(text) == [
        "Rollo led them. [1]",
        "Dr. Smith wrote it in 1066 [2].",
        "What else?",
        "- a list item",
    ]


def test_terms_normalise_numbers_names_and_negation() -> None:
    terms = extract_terms("The Normans never won three battles in 1,066 or the 10th century.")
    assert {"#3", "#1066", "#10th"} <= terms.numbers
    assert "norman" in terms.names
    assert "not" in terms.weights


# ----- through the agent (fake embedder, scripted model) -----------------------------------

from pathlib import Path  # noqa: E402

from agentkit import AgentKit  # noqa: E402
from tests.fakes import ScriptedGenerator  # noqa: E402


def _kettle_agent(kit: AgentKit, tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "brew.md").write_text("# Brewing\n\nThe Lumo kettle boils 4 litres in 6 minutes.\n")
    (docs / "descale.md").write_text("# Descaling\n\nDescale the Lumo kettle with citric acid every month.\n")
    agent = kit.create_agent(str(settings.pop("name", "brew")), **settings)  # type: ignore[arg-type]
    agent.add_source(str(docs))
    return agent


def test_new_agents_ground_by_default(kit: AgentKit, tmp_path: Path) -> None:
    assert _kettle_agent(kit, tmp_path).grounding == "balanced"


def test_agent_abstains_without_calling_the_model_when_sources_lack_the_topic(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path)
    answer = agent.ask("What is the capital of Australia?")
    assert answer.abstained
    assert answer.text == DEFAULT_ABSTENTION_MESSAGE
    assert answer.citations  # the closest sources are still listed
    assert scripted_generator.prompts == []


def test_agent_replaces_an_answer_from_memory_with_the_source_sentence(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path, abstention_message="Sorry, my manuals do not say.")
    scripted_generator.enqueue("The Lumo kettle boils in 2 minutes, said Dieter Rams in 1961 [1].")
    stream = agent.stream("How fast does the Lumo kettle boil?")
    shown = "".join(stream)
    answer = stream.finish()
    assert len(scripted_generator.prompts) == 1
    assert not answer.abstained
    assert answer.text == shown == "The Lumo kettle boils 4 litres in 6 minutes [1]."
    [citation] = answer.citations
    assert citation.n == 1 and "boils 4 litres in 6 minutes" in citation.text
    assert stream.trace.grounded is not None and stream.trace.grounded.quoted


def test_agent_abstains_when_the_model_does_not_know_even_if_a_quote_exists(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path, abstention_message="Sorry, my manuals do not say.")
    scripted_generator.enqueue("I don't know. The kettle is blue.")
    answer = agent.ask("How fast does the Lumo kettle boil?")
    assert answer.abstained and answer.text == "Sorry, my manuals do not say."
    scripted_generator.enqueue("Sure! I don't know.")  # the refusal need not come first
    answer = agent.ask("How fast does the Lumo kettle boil?")
    assert answer.abstained and answer.text == "Sorry, my manuals do not say."


def test_agent_fixes_citations_and_removes_unsupported_sentences(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path)
    scripted_generator.enqueue("The Lumo kettle boils 4 litres in 6 minutes [2]. It is made in Norway.")
    stream = agent.stream("How fast does the Lumo kettle boil?")
    pieces = list(stream)
    answer = stream.finish()
    assert not answer.abstained
    assert "Norway" not in answer.text and "Norway" not in "".join(pieces)
    [citation] = answer.citations
    assert f"[{citation.n}]" in answer.text
    assert "6 minutes" in citation.text and citation.uri.endswith("brew.md#brewing")


def test_strict_agent_voids_a_reply_with_any_unsupported_sentence(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    from agentkit.answering.pipeline import AnsweringSettings, answer_stream
    from agentkit.models.generators import GenerationSettings

    agent = _kettle_agent(kit, tmp_path, grounding="strict")
    scripted_generator.enqueue(
        "The Lumo kettle boils 4 litres in 6 minutes. It is made in Norway. Descale it every month."
    )
    # The shipped answerability bar of `strict` is calibrated for the default embedder's
    # cosines; with the test embedder the gate is opened explicitly to reach the reply check.
    answer = answer_stream(
        question="How fast does the Lumo kettle boil?",
        search_query="How fast does the Lumo kettle boil?",
        history=(),
        search=lambda query, k: agent.search(query, k=k),
        load_generator=lambda: scripted_generator,
        settings=AnsweringSettings(
            system_prompt=agent.system_prompt,
            top_k=agent.top_k,
            grounding="strict",
            abstention_message=None,
            generation=GenerationSettings(),
            thresholds=GroundingThresholds(min_answerability=0.0),
        ),
    ).finish()
    # The model's answer is void; what is shown is the source's own sentence.
    assert "Norway" not in answer.text
    assert answer.text == "The Lumo kettle boils 4 litres in 6 minutes [1]."
    # Void from the unsupported claim on: the model was stopped there (judged at the next word).
    assert scripted_generator.words_generated == [len("The Lumo kettle boils 4 litres in 6 minutes. It is made in Norway. Descale".split())]


def test_off_streams_the_reply_as_written(kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator) -> None:
    agent = _kettle_agent(kit, tmp_path, grounding="off")
    scripted_generator.enqueue("Canberra is the capital of Australia.")
    stream = agent.stream("What is the capital of Australia?")
    assert "".join(stream) == "Canberra is the capital of Australia."
    answer = stream.finish()
    assert not answer.abstained and answer.text == "Canberra is the capital of Australia."
    assert len(answer.citations) == len(stream.trace.hits)


def test_chat_follow_up_is_rewritten_for_retrieval(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path)
    conversation = agent.chat()
    scripted_generator.enqueue("Descale the Lumo kettle with citric acid [1].", "Every month [1].")
    conversation.ask("How do I descale the Lumo kettle?")
    second = conversation.ask("and how often should I do that?")
    assert "descale" in second.search_query.lower() and "Lumo" in second.search_query
    assert not second.abstained
    assert any("monthly" in c.text or "month" in c.text for c in second.citations)


def test_balanced_streams_each_supported_sentence_as_it_completes(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path)
    scripted_generator.enqueue(
        "The Lumo kettle boils 4 litres in 6 minutes. "
        "Descale the Lumo kettle with citric acid every month."
    )
    stream = agent.stream("How fast does the Lumo kettle boil?")
    pieces = list(stream)
    answer = stream.finish()
    assert len(pieces) == 2
    assert pieces[0].startswith("The Lumo kettle boils 4 litres in 6 minutes [")
    assert pieces[1].startswith(" Descale the Lumo kettle")
    assert "".join(pieces) == answer.text
    assert {c.uri.rsplit("/", 1)[-1] for c in answer.citations} == {"brew.md#brewing", "descale.md#descaling"}


def test_balanced_stops_the_model_at_a_claim_after_the_answer_that_no_source_makes(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    """A small model that has answered often wanders off (how to cite, other sources' text):
    from the first unsupported claim on nothing is shown, and no more tokens are generated."""
    agent = _kettle_agent(kit, tmp_path)
    reply = (
        "The Lumo kettle boils 4 litres in 6 minutes. It is made in Norway. "
        "Descale the Lumo kettle with citric acid every month. To cite sources, use another format."
    )
    scripted_generator.enqueue(reply)
    answer = agent.ask("How fast does the Lumo kettle boil?")
    assert answer.text.startswith("The Lumo kettle boils 4 litres in 6 minutes [") and "Descale" not in answer.text
    # The reader stopped once "It is made in Norway." was complete (judged at the next word).
    assert scripted_generator.words_generated == [len("The Lumo kettle boils 4 litres in 6 minutes. It is made in Norway. Descale".split())]


def test_a_reply_that_starts_with_i_do_not_know_is_an_abstention(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = _kettle_agent(kit, tmp_path)
    scripted_generator.enqueue("I don't know. The Lumo kettle boils 4 litres in 6 minutes.")
    answer = agent.ask("How fast does the Lumo kettle boil?")
    assert answer.abstained and answer.text == DEFAULT_ABSTENTION_MESSAGE


def test_strict_mode_asks_more_of_the_retrieval_evidence() -> None:
    from agentkit.answering.grounding import thresholds_for

    balanced, strict = thresholds_for("balanced"), thresholds_for("strict")
    assert strict.min_answerability > balanced.min_answerability
    # A paraphrase ("give their name to" / "gave their name to", "region in France"): likely
    # enough answerable for balanced, not sure enough for strict.
    question = "What region in France did the Normans give their name to?"
    decision = should_attempt_answer(question, SOURCES, balanced)
    assert decision.answerability is not None
    assert balanced.min_answerability <= decision.answerability < strict.min_answerability
    assert decision.answer
    assert not should_attempt_answer(question, SOURCES, strict).answer


def test_a_sentence_cut_off_by_the_token_limit_does_not_void_a_strict_answer() -> None:
    raw = "Rollo was the leader of the Norse raiders [1]. He later became the first King of"
    grounded = ground_answer(raw, SOURCES, question="Who?", mode="strict", thresholds=LOOSE)
    assert not grounded.abstained
    assert grounded.text == "Rollo was the leader of the Norse raiders [1]."


BOX = (
    "Hold the rear button for 20 seconds to reset the box. The box then restarts. "
    "It installs updates automatically on Sunday nights. Its light blinks for 10 minutes meanwhile. "
    "Teams that do not want to run a server buy the box."
)


def test_a_number_must_sit_in_the_window_that_backs_the_sentence() -> None:
    sources = [hit(BOX, title="Box")]
    right = ground_answer("Hold the rear button for 20 seconds [1].", sources, question="q", thresholds=LOOSE)
    assert not right.abstained
    # 10 is in the chunk, but nowhere near the rear button.
    wrong = ground_answer("Hold the rear button for 10 seconds [1].", sources, question="q", thresholds=LOOSE)
    assert wrong.abstained


def test_a_negation_the_passage_does_not_make_is_unsupported() -> None:
    sources = [hit(BOX, title="Box")]
    wrong = ground_answer("The box does not install updates automatically.", sources, question="q", thresholds=LOOSE)
    assert wrong.abstained
    right = ground_answer("The box installs updates automatically.", sources, question="q", thresholds=LOOSE)
    assert not right.abstained


def test_bare_list_numbers_are_not_claims() -> None:
    sources = [hit(BOX, title="Box")]
    grounded = ground_answer("Hold the rear button for 20 seconds. 2. 3.", sources, question="q", thresholds=LOOSE)
    assert grounded.text == "Hold the rear button for 20 seconds [1]."
    assert [report.filler for report in grounded.sentence_reports] == [False, True, True]


def test_a_short_answer_is_judged_together_with_the_question() -> None:
    sources = [hit(BOX, title="Box")]
    question = "How long do you hold the rear button to reset the box?"
    right = ground_answer("The answer is: 20 seconds.", sources, question=question, thresholds=LOOSE)
    assert not right.abstained and right.text == "The answer is: 20 seconds [1]."
    # 10 is in the chunk, but not where the chunk speaks of the rear button.
    wrong = ground_answer("The answer is: 10.", sources, question=question, thresholds=LOOSE)
    assert wrong.abstained


def test_a_lead_in_without_its_claim_is_not_an_answer() -> None:
    sources = [hit(BOX, title="Box")]
    question = "How long do you hold the rear button to reset the box?"
    for reply in ("The source that provides the answer to this question is: [1]", "The correct response would be:"):
        grounded = ground_answer(reply, sources, question=question, thresholds=LOOSE)
        assert grounded.abstained and grounded.reason == "the reply makes no claim"
    assert is_refusal("The source I provided is not a valid answer to the question.")


PORTS = (
    "Zorblat serves its web app on port 7431 by default. Its admin console listens on port 7432. "
    "Both ports can be changed in zorblat.toml."
)


@pytest.mark.parametrize("mode", ["balanced", "strict"])
def test_a_first_claim_the_best_matching_sentence_does_not_make_gives_way_to_that_sentence(mode: str) -> None:
    from agentkit.answering.pipeline import AnsweringSettings, answer_stream
    from agentkit.models.generators import GenerationSettings
    from tests.fakes import ScriptedGenerator

    sources = [hit(PORTS, title="Zorblat ports", dense_score=0.7)]
    generator = ScriptedGenerator()
    # True of the web app, and so supported by the chunk, but not the answer to the question.
    generator.enqueue("The server uses port 7431 [1]. Both ports can be changed in zorblat.toml [1].")
    stream = answer_stream(
        question="Which port does the Zorblat admin console use?",
        search_query="Which port does the Zorblat admin console use?",
        history=(),
        search=lambda query, k: sources,
        load_generator=lambda: generator,
        settings=AnsweringSettings(
            system_prompt="Answer from the sources.",
            top_k=3,
            grounding=mode,
            abstention_message=None,
            generation=GenerationSettings(),
            thresholds=GroundingThresholds(min_answerability=0.0),
        ),
    )
    shown = "".join(stream)
    answer = stream.finish()
    assert shown == answer.text == "Its admin console listens on port 7432 [1]."
    assert stream.trace.grounded is not None and stream.trace.grounded.quoted
    assert "best-matching source sentence" in stream.trace.grounded.reason


def test_a_first_claim_that_agrees_with_the_best_matching_sentence_stands() -> None:
    from agentkit.answering.reader import read as best_quote
    from agentkit.answering.support import question_terms

    question = "Which port does the Zorblat admin console use?"
    sources = [hit(PORTS, title="Zorblat ports")]
    anchor = best_quote(question, question_terms(question), sources)
    grounded = ground_answer(
        "The admin console uses port 7432 [1]. Both ports can be changed in zorblat.toml.",
        sources,
        question=question,
        thresholds=LOOSE,
        anchor=anchor,
    )
    assert not grounded.abstained and not grounded.quoted
    assert grounded.text == "The admin console uses port 7432 [1]. Both ports can be changed in zorblat.toml [1]."
