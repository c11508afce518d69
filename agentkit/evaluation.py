"""Evaluation: ask an agent a file of questions and measure answers, retrieval and abstention.

A QA file is JSON Lines, one question per line:
    {"question": "Who led the Norse?", "answer": "Rollo", "source": "normans.md"}
    {"question": "Who led the Saxons?", "answerable": false}

`answer` is a string or a list of accepted strings; `source` (optional) is matched as a
case-insensitive substring of a cited source's title or uri; `answerable: false` marks a
question the sources cannot answer, where the right behaviour is to abstain; `id` is an
optional label for the per-question report. Any other key is an error, so a misspelt key
never silently drops an expectation.

Metrics (`EvaluationReport.metrics`):
- answered: share of answerable questions that got an answer (not an abstention);
- contains_answer: share of answerable questions whose answer contains an accepted answer
  (after SQuAD normalisation: lowercase, no punctuation, no articles); also given over the
  answered ones only;
- token_f1: SQuAD token F1 against the best accepted answer, over answerable questions
  (an abstention scores 0);
- retrieval_hit_rate: share of questions with an expected source where that source was among
  the retrieved sources;
- abstention_precision / abstention_recall: of the abstentions, how many were on unanswerable
  questions; of the unanswerable questions, how many got an abstention;
- hallucination_rate: share of unanswerable questions that got an answer anyway;
- overall_accuracy: answerable questions answered with the right answer plus unanswerable
  questions abstained, over all questions (always abstaining scores the unanswerable share);
- citations_supported: of the inline [n] marks shown, the share whose cited chunk holds the
  sentence they stand in (`check_citations`); "-" when no answer carried a mark;
- latency p50 / p95 in seconds.
"""

from __future__ import annotations

import json
import math
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.answering.grounding import DEFAULT_THRESHOLDS
from agentkit.answering.support import (
    cited_numbers,
    extract_terms,
    prepare_source,
    score_support,
    split_sentences,
    strip_citations,
)
from agentkit.errors import EvaluationFileError
from agentkit.results import Answer, SearchHit

_ALLOWED_KEYS = frozenset({"id", "question", "answer", "source", "answerable"})
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—"}
_CITATION_MARK = re.compile(r"\[\d{1,3}\]")


@dataclass(frozen=True)
class EvaluationItem:
    """One question with its expectations."""

    question: str
    answers: tuple[str, ...] = ()
    answerable: bool = True
    source: str | None = None
    item_id: str | None = None
    line: int = 0


@dataclass(frozen=True)
class QuestionResult:
    """How the agent did on one question."""

    item: EvaluationItem
    answer_text: str
    abstained: bool
    cited_sources: tuple[str, ...]
    retrieved_expected_source: bool | None
    contains_answer: bool
    token_f1: float
    latency_s: float
    error: str | None = None
    decision: str | None = None  # why the agent answered, quoted or abstained
    citation_marks: int = 0  # inline [n] marks in the answer
    supported_marks: int = 0  # ... whose cited chunk holds the sentence they stand in

    @property
    def correct(self) -> bool:
        if self.item.answerable:
            return not self.abstained and self.contains_answer
        return self.abstained

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.item.item_id,
            "line": self.item.line,
            "question": self.item.question,
            "answerable": self.item.answerable,
            "expected_answers": list(self.item.answers),
            "expected_source": self.item.source,
            "answer": self.answer_text,
            "abstained": self.abstained,
            "correct": self.correct,
            "contains_answer": self.contains_answer,
            "token_f1": round(self.token_f1, 4),
            "retrieved_expected_source": self.retrieved_expected_source,
            "cited_sources": list(self.cited_sources),
            "latency_s": round(self.latency_s, 3),
            "decision": self.decision,
            "citation_marks": self.citation_marks,
            "supported_marks": self.supported_marks,
            "error": self.error,
        }


@dataclass
class EvaluationReport:
    """All results and the metrics computed from them."""

    results: list[QuestionResult] = field(default_factory=list)
    label: str = ""

    @property
    def metrics(self) -> dict[str, float | int | None]:
        return compute_metrics(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "metrics": self.metrics, "questions": len(self.results)}

    def format_table(self) -> str:
        return format_comparison({self.label or "result": self})

    def write_report(self, path: Path) -> None:
        """One JSON line per question (question, expectation, answer, verdicts, latency)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for result in self.results:
                handle.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")


def read_qa_file(path: Path) -> list[EvaluationItem]:
    """Parse a QA jsonl file; every problem names the file and the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvaluationFileError(f"{path}: no such file; give the path of a QA .jsonl file") from None
    except UnicodeDecodeError:
        raise EvaluationFileError(f"{path}: not UTF-8 text; save the QA file as UTF-8 JSON Lines") from None
    except OSError as error:
        raise EvaluationFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    items = [
        parse_qa_line(line, path=path, number=number)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    if not items:
        raise EvaluationFileError(f"{path}: holds no questions; write one JSON object per line")
    return items


def parse_qa_line(line: str, *, path: Path | str, number: int) -> EvaluationItem:
    """One QA line; `path` and `number` only label errors."""
    where = f"{path}, line {number}"
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise EvaluationFileError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(entry, dict):
        raise EvaluationFileError(f"{where}: each line must be a JSON object with a \"question\"")
    unknown = sorted(set(entry) - _ALLOWED_KEYS)
    if unknown:
        raise EvaluationFileError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_ALLOWED_KEYS))}"
        )
    question = entry.get("question")
    if not isinstance(question, str) or not question.strip():
        raise EvaluationFileError(f"{where}: \"question\" must be a non-empty string")
    answerable = entry.get("answerable", True)
    if not isinstance(answerable, bool):
        raise EvaluationFileError(f"{where}: \"answerable\" must be true or false")
    answers = _answers_of(entry.get("answer"), where=where)
    if answerable and not answers:
        raise EvaluationFileError(
            f"{where}: give an expected \"answer\" (a string or a list of strings), "
            "or mark the question \"answerable\": false"
        )
    if not answerable and answers:
        raise EvaluationFileError(f"{where}: a question marked \"answerable\": false cannot have an \"answer\"")
    source = entry.get("source")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise EvaluationFileError(f"{where}: \"source\" must be a non-empty string (part of a title or uri)")
    item_id = entry.get("id")
    if item_id is not None and not isinstance(item_id, (str, int)):
        raise EvaluationFileError(f"{where}: \"id\" must be a string or a number")
    return EvaluationItem(
        question=question.strip(),
        answers=answers,
        answerable=answerable,
        source=source.strip() if isinstance(source, str) else None,
        item_id=None if item_id is None else str(item_id),
        line=number,
    )


def _answers_of(value: object, *, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        values: list[object] = [value]
    elif isinstance(value, list):
        values = list(value)
    else:
        raise EvaluationFileError(f"{where}: \"answer\" must be a string or a list of strings")
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise EvaluationFileError(f"{where}: every expected answer must be a non-empty string")
    return tuple(str(v).strip() for v in values)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces."""
    lowered = _CITATION_MARK.sub(" ", text).lower()
    no_punctuation = "".join(" " if ch in _PUNCTUATION else ch for ch in lowered)
    return " ".join(_ARTICLES.sub(" ", no_punctuation).split())


def contains_answer(answer: str, expected: Iterable[str]) -> bool:
    """Whether the normalised answer contains a normalised expected answer as whole words."""
    if isinstance(expected, str):  # one answer, not its characters
        expected = [expected]
    haystack = f" {normalize_answer(answer)} "
    for gold in expected:
        needle = normalize_answer(gold)
        if needle and f" {needle} " in haystack:
            return True
    return False


def token_f1(answer: str, expected: Iterable[str]) -> float:
    """The best SQuAD token F1 of `answer` against the expected answers."""
    if isinstance(expected, str):
        expected = [expected]
    predicted = normalize_answer(answer).split()
    best = 0.0
    for gold in expected:
        gold_tokens = normalize_answer(gold).split()
        if not predicted or not gold_tokens:
            best = max(best, float(predicted == gold_tokens))
            continue
        common = Counter(predicted) & Counter(gold_tokens)
        same = sum(common.values())
        if same == 0:
            continue
        precision = same / len(predicted)
        recall = same / len(gold_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def source_matches(expected: str, titles_and_uris: Iterable[str]) -> bool:
    needle = expected.lower()
    return any(needle in value.lower() for value in titles_and_uris)


def evaluate(
    ask: Callable[[str], Answer],
    items: Sequence[EvaluationItem],
    *,
    retrieve: Callable[[str], Sequence[SearchHit]] | None = None,
    explain: Callable[[str], str | None] | None = None,
    report_path: Path | None = None,
    label: str = "",
    progress: Callable[[int, int, QuestionResult], None] | None = None,
) -> EvaluationReport:
    """Ask every question, score the answers, optionally write the per-question report.

    `retrieve` gives the retrieved sources for the retrieval hit rate; without it the sources
    an answer lists (its citations, or the closest sources of an abstention) are used.
    `explain` gives why the agent answered as it did (written to the per-question report).
    """
    report = EvaluationReport(label=label)
    for position, item in enumerate(items, start=1):
        started = time.perf_counter()
        error: str | None = None
        try:
            answer = ask(item.question)
        except Exception as failure:  # one failing question must not lose the whole run
            error = f"{type(failure).__name__}: {failure}"
            answer = Answer(text="", abstained=True, question=item.question)
        latency = time.perf_counter() - started
        cited = tuple(value for c in answer.citations for value in (c.title, c.uri))
        retrieved_hit: bool | None = None
        if item.source is not None:
            if retrieve is not None:
                hits = retrieve(item.question)
                retrieved_hit = source_matches(item.source, [v for h in hits for v in (h.title, h.uri)])
            else:
                retrieved_hit = source_matches(item.source, cited)
        answered_text = "" if answer.abstained else answer.text
        marks, supported_marks = (0, 0) if answer.abstained else check_citations(answer)
        result = QuestionResult(
            item=item,
            answer_text=answer.text,
            abstained=answer.abstained,
            cited_sources=tuple(c.uri for c in answer.citations),
            retrieved_expected_source=retrieved_hit,
            contains_answer=bool(item.answers) and contains_answer(answered_text, item.answers),
            token_f1=token_f1(answered_text, item.answers) if item.answers else 0.0,
            latency_s=latency,
            error=error,
            decision=explain(item.question) if explain is not None and error is None else None,
            citation_marks=marks,
            supported_marks=supported_marks,
        )
        report.results.append(result)
        if progress is not None:
            progress(position, len(items), result)
    if report_path is not None:
        report.write_report(report_path)
    return report


def check_citations(answer: Answer) -> tuple[int, int]:
    """(inline [n] marks, marks whose cited chunk supports their sentence).

    A mark is supported when the chunk it names holds, in one two-sentence window, at least
    grounding's default `min_sentence_support` of the sentence's weighted terms, and none of
    its names, numbers or negation is missing: grounding's test of a sentence on its own,
    applied to whatever the agent showed.
    """

    by_number = {citation.n: citation for citation in answer.citations}
    marks = supported = 0
    for sentence in split_sentences(answer.text):
        terms = extract_terms(strip_citations(sentence))
        for number in cited_numbers(sentence):
            marks += 1
            citation = by_number.get(number)
            if citation is None or not terms:
                continue
            score = score_support(terms, prepare_source(number, citation.text, title=citation.title))
            if score.lexical >= DEFAULT_THRESHOLDS.min_sentence_support and not score.missing:
                supported += 1
    return marks, supported


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[position]


def compute_metrics(results: Sequence[QuestionResult]) -> dict[str, float | int | None]:
    answerable = [r for r in results if r.item.answerable]
    unanswerable = [r for r in results if not r.item.answerable]
    answered = [r for r in answerable if not r.abstained]
    abstentions = [r for r in results if r.abstained]
    with_source = [r for r in results if r.retrieved_expected_source is not None]
    latencies = [r.latency_s for r in results]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answered": _share(len(answered), len(answerable)),
        "contains_answer": _share(sum(r.contains_answer for r in answered), len(answerable)),
        "contains_answer_when_answered": _share(sum(r.contains_answer for r in answered), len(answered)),
        "token_f1": None if not answerable else sum(r.token_f1 for r in answerable) / len(answerable),
        "retrieval_hit_rate": _share(sum(bool(r.retrieved_expected_source) for r in with_source), len(with_source)),
        "abstention_precision": _share(sum(not r.item.answerable for r in abstentions), len(abstentions)),
        "abstention_recall": _share(sum(r.abstained for r in unanswerable), len(unanswerable)),
        "hallucination_rate": _share(sum(not r.abstained for r in unanswerable), len(unanswerable)),
        "overall_accuracy": _share(sum(r.correct for r in results), len(results)),
        "citation_marks": sum(r.citation_marks for r in results),
        "citations_supported": _share(sum(r.supported_marks for r in results), sum(r.citation_marks for r in results)),
        "errors": sum(r.error is not None for r in results),
        "latency_p50_s": _percentile(latencies, 0.50),
        "latency_p95_s": _percentile(latencies, 0.95),
    }


_ROWS: tuple[tuple[str, str, str], ...] = (
    ("questions", "questions (answerable / unanswerable)", "count"),
    ("answered", "answerable: answered", "pct"),
    ("contains_answer", "answerable: answer contains gold", "pct"),
    ("contains_answer_when_answered", "  ... of those answered", "pct"),
    ("token_f1", "answerable: token F1", "pct"),
    ("retrieval_hit_rate", "retrieval hit rate (expected source)", "pct"),
    ("abstention_recall", "unanswerable: abstained (recall)", "pct"),
    ("abstention_precision", "abstention precision", "pct"),
    ("hallucination_rate", "hallucination rate (unanswerable answered)", "pct"),
    ("overall_accuracy", "overall accuracy", "pct"),
    ("citations_supported", "[n] marks whose chunk holds the sentence", "pct"),
    ("latency_p50_s", "latency p50 (s)", "seconds"),
    ("latency_p95_s", "latency p95 (s)", "seconds"),
    ("errors", "errors", "count"),
)


def _cell(metrics: Mapping[str, float | int | None], key: str, kind: str) -> str:
    if key == "questions":
        return f"{metrics['questions']} ({metrics['answerable']} / {metrics['unanswerable']})"
    value = metrics.get(key)
    if value is None:
        return "-"
    if kind == "pct":
        return f"{100 * float(value):.1f}%"
    if kind == "seconds":
        return f"{float(value):.2f}"
    return str(value)


def format_comparison(reports: Mapping[str, EvaluationReport]) -> str:
    """A plain-text table with one column per report."""
    columns = list(reports)
    all_metrics = {name: reports[name].metrics for name in columns}
    rows = [("metric", *columns)]
    for key, label, kind in _ROWS:
        rows.append((label, *(_cell(all_metrics[name], key, kind) for name in columns)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(row) if i]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
