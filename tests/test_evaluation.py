"""Evaluation: QA file parsing with clear errors, answer scoring, metrics, tables and reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agentkit.errors import EvaluationFileError
from agentkit.evaluation import (
    EvaluationItem,
    contains_answer,
    evaluate,
    format_comparison,
    normalize_answer,
    read_qa_file,
    token_f1,
)
from agentkit.results import Answer, Citation, SearchHit


def _write(path: Path, *lines: object) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_reads_answerable_and_unanswerable_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "qa.jsonl",
        {"question": "Who led the Norse?", "answer": "Rollo", "source": "normans.md"},
        "",
        {"question": "Who led the Saxons?", "answerable": False, "id": 7},
        {"question": "Name one", "answer": ["Rollo", "Rolf"]},
    )
    items = read_qa_file(path)
    assert [item.line for item in items] == [1, 3, 4]
    assert items[0] == EvaluationItem("Who led the Norse?", ("Rollo",), True, "normans.md", None, 1)
    assert not items[1].answerable and items[1].item_id == "7"
    assert items[2].answers == ("Rollo", "Rolf")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"answer": "x"}), '"question" must be a non-empty string'),
        (json.dumps({"question": "q?"}), 'give an expected "answer"'),
        (json.dumps({"question": "q?", "answerable": "no"}), '"answerable" must be true or false'),
        (json.dumps({"question": "q?", "answerable": False, "answer": "x"}), "cannot have an"),
        (json.dumps({"question": "q?", "answer": 3}), "must be a string or a list"),
        (json.dumps({"question": "q?", "answer": "x", "sorce": "a"}), "unknown key(s) sorce"),
        (json.dumps({"question": "q?", "answer": "x", "source": ""}), '"source" must be'),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "qa.jsonl", {"question": "fine?", "answer": "yes"}, line)
    with pytest.raises(EvaluationFileError) as raised:
        read_qa_file(path)
    assert f"{path}, line 2" in str(raised.value)
    assert message in str(raised.value)


def test_missing_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EvaluationFileError, match="no such file"):
        read_qa_file(tmp_path / "absent.jsonl")
    with pytest.raises(EvaluationFileError, match="holds no questions"):
        read_qa_file(_write(tmp_path / "empty.jsonl", ""))


def test_squad_normalisation_and_scores() -> None:
    assert normalize_answer("The  Normans, of France! [1]") == "normans of france"
    assert contains_answer("They came in the 10th century [2].", ["10th century"])
    assert not contains_answer("They came in 1910.", ["10"])
    assert token_f1("Rollo", ["Rollo"]) == 1.0
    assert token_f1("the leader Rollo", ["Rollo", "nobody"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("", ["Rollo"]) == 0.0


def _hit(title: str, uri: str) -> SearchHit:
    return SearchHit(1, 0.9, "text", title, uri, None, (), None, 1, 1)


def test_evaluate_computes_every_metric(tmp_path: Path) -> None:
    items = [
        EvaluationItem("q1", ("Rollo",), True, "normans"),
        EvaluationItem("q2", ("1066",), True, "hastings"),
        EvaluationItem("q3", answerable=False),
        EvaluationItem("q4", answerable=False),
    ]
    citation = Citation.from_hit(1, _hit("Normans", "/docs/normans.md"))
    replies = {
        "q1": Answer("Rollo led them [1].", [citation]),
        "q2": Answer("I don't know.", [citation], abstained=True),
        "q3": Answer("Canberra.", [citation]),
        "q4": Answer("I don't know.", [], abstained=True),
    }
    report_path = tmp_path / "report" / "per-question.jsonl"
    report = evaluate(lambda q: replies[q], items, report_path=report_path, label="test")
    metrics = report.metrics
    assert metrics["answered"] == 0.5
    assert metrics["contains_answer"] == 0.5
    assert metrics["contains_answer_when_answered"] == 1.0
    assert metrics["retrieval_hit_rate"] == 0.5  # normans cited, hastings never retrieved
    assert metrics["abstention_precision"] == 0.5
    assert metrics["abstention_recall"] == 0.5
    assert metrics["hallucination_rate"] == 0.5
    assert metrics["overall_accuracy"] == 0.5
    assert metrics["latency_p50_s"] is not None
    lines = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert [line["correct"] for line in lines] == [True, False, False, True]
    assert report.to_dict()["metrics"]["questions"] == 4


def test_retrieve_callable_measures_retrieval_independently_of_citations() -> None:
    items = [EvaluationItem("q", ("x",), True, "hastings")]
    report = evaluate(
        lambda q: Answer("I don't know.", [], abstained=True),
        items,
        retrieve=lambda q: [_hit("Battle of Hastings", "/docs/hastings.md")],
    )
    assert report.metrics["retrieval_hit_rate"] == 1.0


def test_a_failing_question_is_recorded_not_fatal() -> None:
    def ask(question: str) -> Answer:
        raise RuntimeError("model crashed")

    report = evaluate(ask, [EvaluationItem("q", ("x",))])
    assert report.metrics["errors"] == 1
    assert "model crashed" in (report.results[0].error or "")


def test_comparison_table_has_one_column_per_report() -> None:
    items = [EvaluationItem("q", ("Rollo",)), EvaluationItem("u", answerable=False)]
    off = evaluate(lambda q: Answer("Rollo."), items, label="off")
    on = evaluate(lambda q: Answer("Rollo." if q == "q" else "", abstained=q == "u"), items, label="balanced")
    table = format_comparison({"off": off, "balanced": on})
    header, rule, *rows = table.splitlines()
    assert "off" in header and "balanced" in header
    hallucination = next(row for row in rows if row.startswith("hallucination rate"))
    assert hallucination.split()[-2:] == ["100.0%", "0.0%"]
    assert off.format_table().count("\n") == len(rows) + 1


# ----- agent.evaluate and `agentkit eval` (hashing embedder, scripted model) ---------------

from click.testing import CliRunner  # noqa: E402

from agentkit.cli.app import cli  # noqa: E402
from tests.fakes import ScriptedGenerator  # noqa: E402

QA_LINES = [
    {"question": "Which port does the Zorblat daemon listen on?", "answer": "7421", "source": "ports.md"},
    {"question": "What is the capital of Australia?", "answerable": False},
]


def _docs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    (root / "nodes.md").write_text("# Cluster size\n\nA Zorblat cluster holds at most 12 nodes.\n")
    return root


def test_agent_evaluate_measures_grounded_answers(kit, tmp_path: Path, scripted_generator: ScriptedGenerator) -> None:  # type: ignore[no-untyped-def]
    agent = kit.create_agent("zorblat")
    agent.add_source(str(_docs(tmp_path / "docs")))
    qa = _write(tmp_path / "qa.jsonl", *QA_LINES)
    scripted_generator.enqueue("It listens on port 7421 [2].")
    report = agent.evaluate(qa, report_path=tmp_path / "per-question.jsonl")
    metrics = report.metrics
    assert metrics["answered"] == 1.0 and metrics["contains_answer"] == 1.0
    assert metrics["retrieval_hit_rate"] == 1.0
    assert metrics["abstention_recall"] == 1.0 and metrics["hallucination_rate"] == 0.0
    assert len(scripted_generator.prompts) == 1  # the unanswerable question never reached the model
    lines = [json.loads(line) for line in (tmp_path / "per-question.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    # The report says why: the answered question passed the gate and its sentence was
    # supported; the other one was stopped by the gate.
    answered, stopped = sorted(lines, key=lambda line: line["abstained"])
    assert "gate: retrieval evidence is sufficient" in answered["decision"]
    assert "grounding: every sentence is supported" in answered["decision"]
    assert stopped["decision"].startswith("gate: ") and "sufficient" not in stopped["decision"]


def test_eval_command_prints_table_json_and_report(tmp_path: Path, local_model_is: Callable[[ScriptedGenerator], None]) -> None:
    scripted = ScriptedGenerator()
    local_model_is(scripted)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), catch_exceptions=False)

    assert run("create", "zorblat", "--embedder", "hashing-128").exit_code == 0
    assert run("add", "zorblat", str(_docs(tmp_path / "docs"))).exit_code == 0
    qa = _write(tmp_path / "qa.jsonl", *QA_LINES)
    scripted.enqueue("It listens on port 7421 [1].")
    result = run("eval", "zorblat", str(qa), "--report", str(tmp_path / "report.jsonl"))
    assert result.exit_code == 0, result.output
    assert "hallucination rate" in result.output and "100.0%" in result.output
    assert (tmp_path / "report.jsonl").is_file()
    scripted.enqueue("It listens on port 7421 [1].")
    as_json = json.loads(run("eval", "zorblat", str(qa), "--json").output)
    assert as_json["metrics"]["questions"] == 2

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?"}\n')
    failed = runner.invoke(cli, ["eval", "zorblat", str(bad)])
    assert failed.exit_code != 0
    assert f"{bad}, line 1" in failed.output


def test_citation_check_counts_marks_whose_chunk_holds_the_sentence() -> None:
    from agentkit.evaluation import check_citations
    from agentkit.results import Citation

    def cite(n: int, text: str) -> Citation:
        return Citation(n=n, title="t", uri=f"/d/{n}.md", page=None, chunk_id=n, score=1.0, text=text)

    sources = [cite(1, "The Zorblat daemon listens on port 7421."), cite(2, "A cluster holds at most 12 nodes.")]
    right = Answer("The daemon listens on port 7421 [1]. A cluster holds at most 12 nodes [2].", sources)
    assert check_citations(right) == (2, 2)
    wrong = Answer("The daemon listens on port 7421 [2]. It was written in 1999 [1].", sources)
    assert check_citations(wrong) == (2, 0)
    dangling = Answer("The daemon listens on port 7421 [3].", sources)
    assert check_citations(dangling) == (1, 0)
    report = evaluate(lambda q: wrong if q == "a" else right, [EvaluationItem("a", ("7421",)), EvaluationItem("b", ("7421",))])
    assert report.metrics["citations_supported"] == 0.5
    assert "[n] marks whose chunk holds the sentence" in report.format_table()
