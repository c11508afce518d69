"""Evidence quotes: which source sentence answers a question when the model's reply does not."""

from __future__ import annotations

from agentkit.answering.quoting import MAX_QUOTE_CHARS, quoted_answer
from agentkit.answering.reader import read as best_quote
from agentkit.answering.support import question_terms
from tests.test_grounding import HASTINGS, NORMANS, STEAM, hit


def test_the_sentence_holding_most_of_the_question_is_quoted_with_its_source_number() -> None:
    sources = [hit(STEAM, n=1), hit(NORMANS, n=2), hit(HASTINGS, n=3)]
    quote = best_quote("Who was the leader of the Norse raiders?", question_terms("Who was the leader of the Norse raiders?"), sources)
    assert quote is not None
    assert quote.number == 2
    assert quote.text.startswith("They were descended from Norse raiders")
    assert quoted_answer(quote).endswith("King Charles III of West Francia [2].")


def test_a_date_question_quotes_the_sentence_with_the_date() -> None:
    quote = best_quote("When was the Battle of Hastings fought?", question_terms("When was the Battle of Hastings fought?"), [hit(NORMANS), hit(HASTINGS, n=2)])
    assert quote is not None and quote.number == 2 and "14 October 1066" in quote.text


def test_no_quote_when_no_sentence_holds_half_of_the_question() -> None:
    assert best_quote("What is the capital of Australia?", question_terms("What is the capital of Australia?"), [hit(NORMANS), hit(STEAM, n=2)]) is None


def test_a_sentence_that_only_repeats_the_question_is_not_an_answer() -> None:
    echo = hit("The Lumo kettle boils.")
    assert best_quote("The Lumo kettle boils?", question_terms("The Lumo kettle boils?"), [echo]) is None


def test_ties_go_to_the_better_ranked_source() -> None:
    same = "The Lumo kettle boils 4 litres in 6 minutes."
    quote = best_quote("How fast does the Lumo kettle boil?", question_terms("How fast does the Lumo kettle boil?"), [hit(same, n=1), hit(same, n=2)])
    assert quote is not None and quote.number == 1


def test_long_sentences_are_cut_at_a_word_boundary() -> None:
    long_sentence = "The Lumo kettle boils water " + "very quietly and " * 60 + "fast."
    quote = best_quote("How does the Lumo kettle boil water?", question_terms("How does the Lumo kettle boil water?"), [hit(long_sentence)])
    assert quote is not None
    assert len(quote.text) <= MAX_QUOTE_CHARS + 4 and quote.text.endswith(" ...")
    assert quoted_answer(quote).endswith("... [1]")


def test_a_when_question_prefers_the_sentence_with_a_date() -> None:
    source = hit("The Zorblat bridge opened to traffic after a long delay. The Zorblat bridge opened to traffic in 1932.")
    question = "When did the Zorblat bridge open to traffic?"
    quote = best_quote(question, question_terms(question), [source])
    assert quote is not None and "1932" in quote.text


def test_a_who_question_prefers_the_sentence_naming_someone() -> None:
    source = hit("The Zorblat bridge was designed with great care. Ada Brunel designed the Zorblat bridge in 1930.")
    question = "Who designed the Zorblat bridge?"
    quote = best_quote(question, question_terms(question), [source])
    assert quote is not None and "Ada Brunel" in quote.text


def test_a_quote_drops_the_sources_own_marks_and_keeps_abbreviations_whole() -> None:
    source = hit("Rollo swore fealty to the king in 911 [4]. The treaty was signed near the U.S.")
    question = "When did Rollo swear fealty to the king?"
    quote = best_quote(question, question_terms(question), [source])
    assert quote is not None and quoted_answer(quote) == "Rollo swore fealty to the king in 911 [1]."
    question = "Where was the treaty signed?"
    quote = best_quote(question, question_terms(question), [source])
    assert quote is not None and quoted_answer(quote) == "The treaty was signed near the U.S. [1]"


def test_a_table_row_is_quoted_on_its_own() -> None:
    table = hit(
        "Settings of the server.\n\n| Key | Default | Meaning |\n|---|---|---|\n"
        "| `storage.backend` | `sqlite` | Where data lives |\n"
        "| `attachments.max_size` | `64 MB` | Largest attachment size |\n"
    )
    question = "What is the largest attachment size by default?"
    quote = best_quote(question, question_terms(question), [table])
    assert quote is not None and quote.text == "| `attachments.max_size` | `64 MB` | Largest attachment size |"


def test_the_documents_title_and_the_tables_header_count_towards_the_question() -> None:
    config = hit(
        "| Key | Default | Meaning |\n|---|---|---|\n| `limits.max_attachment_mb` | `64` | Largest attachment |",
        title="Zorblat configuration",
    )
    other = hit("Zorblat listens on port 7431.", title="Zorblat installation", n=2)
    question = "How large can an attachment be in Zorblat by default?"
    quote = best_quote(question, question_terms(question), [other, config])
    assert quote is not None and quote.number == 2 and "64" in quote.text


def test_a_heading_underline_glued_to_the_sentence_is_not_quoted() -> None:
    source = hit("Upgrading\n---------\nQuillstack 4.x can only migrate databases from 3.8.4.")
    question = "Which version can Quillstack 4.x migrate databases from?"
    quote = best_quote(question, question_terms(question), [source])
    assert quote is not None and quote.text.startswith("Quillstack 4.x can only migrate")


def test_neither_the_title_nor_the_title_line_makes_every_sentence_an_answer() -> None:
    guide = hit(
        "Quillstack Box QB-200: Hardware Guide and Warranty Document QB-200-HG, revision C, September 2024. "
        "The box keeps the last 14 nightly exports on the drive. "
        "The QB-200 comes with a hardware warranty of 36 months from delivery.",
        title="Quillstack Box QB-200: Hardware Guide and Warranty",
    )
    question = "How long is the hardware warranty of the Quillstack Box QB-200?"
    quote = best_quote(question, question_terms(question), [guide])
    assert quote is not None and "36 months" in quote.text


def test_how_long_wants_a_duration_not_any_number() -> None:
    guide = hit(
        "The Zorblat Box ZB-9 is a small server with Zorblat 4.2 preinstalled. "
        "Every Zorblat Box ZB-9 has a warranty of 36 months.",
        title="Zorblat Box ZB-9 guide",
    )
    question = "How long is the warranty of the Zorblat Box ZB-9?"
    quote = best_quote(question, question_terms(question), [guide])
    assert quote is not None and "36 months" in quote.text
