"""Chunking: spans are exact, budgets hold, structure is kept, overlap is there."""

from __future__ import annotations

import pytest

from agentkit.ingest.chunking import ChunkingSettings, chunk_document, count_tokens, text_for_embedding
from connectors.base import Block, Document


def make_document(blocks: list[Block]) -> Document:
    return Document(uri="doc", title="Doc", blocks=blocks)


def test_chunk_text_is_the_exact_slice_of_the_document() -> None:
    document = make_document(
        [
            Block("Intro paragraph one.", ("Guide",)),
            Block("Intro paragraph two.", ("Guide",)),
            Block("Install it with pip.", ("Guide", "Install"), page=2),
        ]
    )
    chunks = chunk_document(document, ChunkingSettings())
    assert len(chunks) == 2  # one per (heading path, page) section
    for chunk in chunks:
        assert document.text[chunk.char_start : chunk.char_end] == chunk.text
    assert chunks[0].heading_path == ("Guide",)
    assert chunks[1].heading_path == ("Guide", "Install")
    assert chunks[1].page == 2
    assert [c.ordinal for c in chunks] == [0, 1]


def test_long_sections_are_cut_within_budget_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about widget {i} in detail." for i in range(120)]
    document = make_document([Block(" ".join(sentences), ("Long",))])
    settings = ChunkingSettings(max_tokens=60, overlap_tokens=12)
    chunks = chunk_document(document, settings)
    assert len(chunks) > 5
    for chunk in chunks:
        assert count_tokens(chunk.text) <= settings.max_tokens
        assert document.text[chunk.char_start : chunk.char_end] == chunk.text
    # Windows end at sentence ends and overlap their predecessor.
    assert all(chunk.text.rstrip().endswith(".") for chunk in chunks[:-1])
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.char_start < previous.char_end
    # Every sentence is in some chunk.
    covered = " ".join(chunk.text for chunk in chunks)
    assert all(sentence in covered for sentence in sentences)


def test_empty_blocks_make_no_chunks() -> None:
    assert chunk_document(make_document([Block("   "), Block("")]), ChunkingSettings()) == []


def test_a_single_huge_word_run_still_terminates() -> None:
    document = make_document([Block("x" * 50 + " " + " ".join(["word"] * 1000))])
    chunks = chunk_document(document, ChunkingSettings(max_tokens=50, overlap_tokens=10))
    assert chunks and all(count_tokens(c.text) <= 50 for c in chunks)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        ChunkingSettings(max_tokens=8)
    with pytest.raises(ValueError):
        ChunkingSettings(max_tokens=100, overlap_tokens=60)


def test_embedding_text_carries_title_and_headings() -> None:
    text = text_for_embedding("Body.", title="Manual", heading_path=("Manual", "Setup"))
    assert text == "Manual > Setup\nBody."
