"""The reader: which passage of the sources answers the question, by what the question asks for."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentkit.answering.grounding import ground_answer
from agentkit.answering.quoting import quoted_answer
from agentkit.answering.reader import AnswerKind, answer_units, asked_kind, holds_new, read
from agentkit.answering.support import question_terms
from tests.fakes import FakeEmbedder
from tests.test_grounding import hit

SMARTY = """The SmartyPants extension converts ASCII dashes, quotes and ellipses to their HTML entity equivalents.

But how do you specify which angled quotes SmartyPants should convert?

The following options are provided to configure the output:

Option | Default value | Description
smart_dashes | True | whether to convert dashes
smart_angled_quotes | False | whether to convert angled quotes
smart_ellipses | True | whether to convert ellipses"""

KETTLE = """Error E4 means the water tank is empty or the tank sensor is dirty; refill the tank.

Specifications:
- Water tank capacity: 1.8 liters
- Power: 2200 W"""

CLI = """To load a Python-Markdown extension from the command line use the -x (or --extension) option.
For example, to load an extension with the entry point name myext, run the following command:
python -m markdown -x myext input.txt"""


def read_one(question: str, *sources: str, titles: tuple[str, ...] = ()) -> str:
    hits = [hit(text, n=n, title=titles[n - 1] if titles else "") for n, text in enumerate(sources, start=1)]
    quote = read(question, question_terms(question), hits)
    assert quote is not None, question
    return quote.text


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which option turns << and >> into guillemets?", AnswerKind.OPTION),
        ("What setting should I use instead of force_linenos?", AnswerKind.OPTION),
        ("In which release did the footnotes extension get a back-link title option?", AnswerKind.VERSION),
        ("Since which version can I set the CSS class?", AnswerKind.VERSION),
        ("What extra package do I need for CodeHilite to colour code?", AnswerKind.PACKAGE),
        ("What do I write in my Markdown to define an abbreviation?", AnswerKind.MARKUP),
        ("How big is the water tank?", AnswerKind.NUMBER),
        ("What port does the server listen on?", AnswerKind.NUMBER),
        ("How long is the warranty?", AnswerKind.DURATION),
        ("When was the Battle of Hastings fought?", AnswerKind.DATE),
        ("How do I turn on an extension from the command line?", AnswerKind.HOW_TO),
        ("Why is the script named markdown_py?", None),
    ],
)
def test_what_a_question_asks_for(question: str, kind: AnswerKind | None) -> None:
    assert asked_kind(question) is kind


def test_holds_new_ignores_what_the_question_names_already() -> None:
    question = "Does force_linenos still work in 2.5?"
    assert not holds_new(AnswerKind.OPTION, "force_linenos was removed.", question)
    assert holds_new(AnswerKind.OPTION, "Use line_numbers instead of force_linenos.", question)
    assert holds_new(AnswerKind.VERSION, "It was removed in 2.6.", question)
    assert not holds_new(AnswerKind.VERSION, "Version 2.5 changed it.", question)


def test_an_option_question_is_answered_by_the_table_row_not_by_a_question_on_the_page() -> None:
    text = read_one("Which option turns << and >> into angled quotes with SmartyPants?", SMARTY)
    assert text == "smart_angled_quotes | False | whether to convert angled quotes"


def test_a_question_from_the_page_is_never_the_answer() -> None:
    page = "How do you specify which angled quotes SmartyPants should convert?\n\nSee the options below."
    quote = read(
        "How do you specify which angled quotes SmartyPants should convert?",
        question_terms("How do you specify which angled quotes SmartyPants should convert?"),
        [hit(page)],
    )
    assert quote is None or not quote.text.endswith("?")


def test_a_size_question_is_answered_by_the_specification_line() -> None:
    assert read_one("How big is the water tank of the kettle?", KETTLE, titles=("Kettle manual",)) == (
        "Water tank capacity: 1.8 liters"
    )


def test_code_lines_come_with_the_sentence_that_introduces_them() -> None:
    units = answer_units(1, hit(CLI))
    code = [unit for unit in units if unit.kind == "code"]
    assert code and all(unit.text.startswith("For example") for unit in code)
    assert not any(unit.text.startswith("python -m") for unit in units)  # never a bare code line


def test_a_lead_in_is_offered_with_the_items_it_introduces() -> None:
    page = "The supported extensions include:\n\n- Abbreviations\n- Attribute Lists\n- Definition Lists"
    units = {unit.text for unit in answer_units(1, hit(page))}
    assert "The supported extensions include: Abbreviations; Attribute Lists; Definition Lists" in units
    text = read_one("Which extensions do I get with extra? The supported extensions", page)
    assert not text.endswith(":")


def test_a_version_stated_only_in_the_heading_is_quoted_with_the_heading() -> None:
    question = "Since which release can I set the CSS class of the toc div with toc_class?"
    notes = hit("The toc extension now accepts a toc_class parameter to set the CSS class of the div.",
                title="Release notes - Python-Markdown 3.4.1 documentation")
    notes = replace(notes, heading_path=("Python-Markdown 3.4 Release Notes", "New features"))
    quote = read(question, question_terms(question), [notes])
    assert quote is not None and quote.text.startswith("Python-Markdown 3.4 Release Notes: ")
    # The site-wide version in every page title is not the answer.
    plain = hit(notes.text, title="Release notes - Python-Markdown 3.4.1 documentation")
    quote = read(question, question_terms(question), [plain])
    assert quote is not None and "3.4.1" not in quote.text


def test_the_flag_question_prefers_the_sentence_with_the_flag() -> None:
    assert "-x (or --extension)" in read_one("How do I load an extension from the command line?", CLI)


def test_similarity_from_an_embedder_is_used_when_given() -> None:
    embedder = FakeEmbedder()
    question = "Which option turns << and >> into angled quotes with SmartyPants?"
    quote = read(question, question_terms(question), [hit(SMARTY)], embed=embedder.embed)
    assert quote is not None and "smart_angled_quotes" in quote.text
    assert question in embedder.embedded_texts


def test_flags_and_code_spans_survive_grounding() -> None:
    sources = [hit(CLI)]
    reply = "Use the -x (or --extension) option, as in python -m markdown -x myext input.txt [1]."
    grounded = ground_answer(reply, sources, question="How do I load an extension from the command line?", mode="balanced")
    assert not grounded.abstained
    assert "-x (or --extension)" in grounded.text and "python -m markdown -x myext input.txt" in grounded.text


def test_a_reply_that_drops_the_flag_gives_way_to_the_passage() -> None:
    question = "Which option loads an extension from the command line?"
    sources = [hit(CLI)]
    anchor = read(question, question_terms(question), sources)
    assert anchor is not None and anchor.holds_asked_kind
    grounded = ground_answer(
        "The option of the command line loads an extension [1].", sources, question=question, mode="balanced", anchor=anchor
    )
    assert grounded.abstained  # off the anchor: the pipeline then quotes the passage
    assert "-x" in quoted_answer(anchor)


def test_prompt_excerpts_show_each_chunks_best_passages_and_grounding_still_reads_the_chunk(kit, scripted_generator, fake_embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from agentkit.answering.reader import excerpts

    question = "What option of SmartyPants converts angled quotes?"
    (shown,) = excerpts(question, question_terms(question), [hit(SMARTY)], per_source=2)
    assert shown is not None and "smart_angled_quotes | False" in shown and len(shown) < len(SMARTY) / 2

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "smarty.md").write_text("# SmartyPants\n\n" + SMARTY + "\n")
    agent = kit.create_agent("docs", embedder="hashing-128")
    agent.add_source(str(folder))
    agent.generation = replace(agent.generation, prompt_excerpts=2)
    generator = scripted_generator
    generator.enqueue("Set smart_angled_quotes to True [1].")
    fake_embedder.embedded_texts.clear()
    stream = agent.stream(question)
    answer = stream.finish()
    # The excerpts and the reader score the same passages: each is embedded once per answer.
    passages = [text for text in fake_embedder.embedded_texts if text != question]
    assert passages and len(passages) == len(set(passages))
    assert stream.trace.gate is not None and stream.trace.gate.answer, stream.trace.gate
    prompt = generator.prompts[-1][-1].content
    assert "smart_angled_quotes | False" in prompt and "smart_ellipses" not in prompt
    assert not answer.abstained and "smart_angled_quotes" in answer.text


def test_a_passage_overlapping_chunks_share_is_shown_once_and_a_chunk_with_nothing_new_is_left_out() -> None:
    from agentkit.answering.prompting import build_prompt
    from agentkit.answering.reader import excerpts

    warranty = "The kettle has a warranty of 24 months from delivery."
    extension = "An extended warranty adds 12 months for EUR 15."
    deadline = "It must be bought within 30 days of delivery."
    returns = "An unused kettle may be returned within 14 days of delivery."
    first = hit("\n".join((warranty, extension, deadline)), n=1, title="Kettle guide")
    overlapping = hit("\n".join((extension, deadline, returns)), n=2, title="Kettle guide")
    repeated = hit("\n".join((warranty, extension)), n=3, title="Kettle guide")
    other = hit(KETTLE, n=4, title="Kettle manual")
    sources = [first, overlapping, repeated, other]
    question = "How long is the warranty of the kettle?"

    shown = excerpts(question, question_terms(question), sources, per_source=3)
    assert shown[0] is not None and all(s in shown[0] for s in (warranty, extension, deadline))
    assert shown[1] == returns  # what the first chunk showed is not shown twice
    assert shown[2] == ""  # nothing new: left out of the prompt
    plan = build_prompt(
        system_prompt="Answer from the sources.", question=question, hits=sources, history=[],
        context_window=2048, max_answer_tokens=128, count_tokens=lambda text: len(text.split()),
        excerpts=shown,
    )
    assert [h.chunk_id for h in plan.sources] == [1, 2, 4]  # numbered [1] [2] [3] as the prompt shows them
    prompt = plan.messages[-1].content
    assert prompt.count(extension) == 1 and prompt.count(warranty) == 1
    assert "[3] Kettle manual" in prompt and "[4]" not in prompt


def test_a_heading_that_repeats_the_title_is_shown_once() -> None:
    from agentkit.answering.prompting import format_source

    source = replace(hit("Port 7431.", title="Installing"), heading_path=("Installing", "Default ports"), page=2)
    assert format_source(1, source).splitlines()[0] == "[1] Installing > Default ports, page 2"
    nested = replace(hit("x", title="Guide"), heading_path=("Setup", "Setup", "Ports"))
    assert format_source(2, nested).splitlines()[0] == "[2] Guide > Setup > Ports"
