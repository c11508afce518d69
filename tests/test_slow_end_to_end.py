"""End to end with the real models: the bundled MiniLM embedder and the bundled SmolLM2 GGUF.

Marked slow: loading torch and the embedder takes seconds and the demo corpus takes about a
minute to embed on 2 cores. One agent is built per module and shared by the tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import Agent, AgentKit
from agentkit.evaluation import check_citations

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "data" / "quillstack"
QA = Path(__file__).resolve().parent / "fixtures" / "demo_qa.jsonl"


@pytest.fixture(scope="module")
def demo_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("slow-home")
    with AgentKit(home=home) as kit:
        agent = kit.create_agent("demo")
        report = agent.add_source(str(DEMO))
        assert report.error is None and report.failed == []
        assert report.documents == len(list(DEMO.iterdir()))
        yield agent


def qa_items() -> list[dict[str, object]]:
    return [json.loads(line) for line in QA.read_text().splitlines() if line.strip()]


def test_real_embedder_retrieves_the_expected_document(demo_agent: Agent) -> None:
    answerable = [item for item in qa_items() if item.get("answerable", True)]
    found = 0
    for item in answerable:
        hits = demo_agent.search(str(item["question"]), k=5)
        if any(str(item["source"]) in hit.uri for hit in hits):
            found += 1
    assert found / len(answerable) >= 0.8, f"{found}/{len(answerable)}"


def test_real_model_answers_with_citations(demo_agent: Agent) -> None:
    answer = demo_agent.ask("What is the default port of the Quillstack web app and REST API?")
    assert not answer.abstained
    assert "7431" in answer.text and "[1]" in answer.text
    assert any("installation" in citation.uri for citation in answer.citations)
    # Every inline mark points at a chunk that holds its sentence.
    marks, supported = check_citations(answer)
    assert marks >= 1 and supported == marks


def test_real_model_stream_yields_text_then_answer(demo_agent: Agent) -> None:
    stream = demo_agent.stream("What does Quillstack error QS-1004 mean?")
    pieces = list(stream)
    assert pieces and stream.answer is not None
    assert stream.answer.citations


def test_unrelated_question_abstains(demo_agent: Agent) -> None:
    answer = demo_agent.ask("What is the capital of Australia?")
    assert answer.abstained
    assert "Canberra" not in answer.text
