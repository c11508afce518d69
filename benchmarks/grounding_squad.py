"""Benchmark: does grounding make the default model abstain when it should and answer when it can?

Data: SQuAD 2.0 dev as shipped in `../shared/data/squad_v2/dev-v2.0.json` (16 Wikipedia
articles, about half of the questions unanswerable). The articles are split in two halves with
a fixed seed: the answerability model is fitted on one half (`calibrate`) and the tables are
reported on the other (`report`), so the reported numbers are not fitted to the questions
they are measured on.

For each half an agent is built over its paragraphs (one Markdown file per paragraph, ingested
by the files connector like any user folder), a fixed-seed sample of answerable and
unanswerable questions is written as a QA jsonl file, and the questions are asked through the
agent's normal path (`Agent.evaluate`, the same code as `agentkit eval`), once per grounding
mode. The agent uses hybrid retrieval, top_k 3 and at most 64 answer tokens (the CPU is the
limit: about 3-6 s per generated answer on 2 cores).

    python benchmarks/grounding_squad.py report             # the tables: off / balanced / strict
    python benchmarks/grounding_squad.py calibrate          # fit on the calibration half, print bars
    python benchmarks/grounding_squad.py calibrate --write  # ... and ship it (agentkit/answerability.json)
    python benchmarks/grounding_squad.py collect            # raw replies of the calibration half

Model replies are cached in the work folder, keyed by the exact prompt. The prompt does not
depend on the grounding mode, so every mode sees the very same replies (which isolates what
grounding changes), and a second run is quick. Latency figures of a run that hit the cache
are not the model's; `--no-cache` disables the cache.
"""


from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agentkit.models.generators import ChatMessage, Generator  # noqa: E402

SQUAD_PATH = REPO_ROOT.parent / "shared" / "data" / "squad_v2" / "dev-v2.0.json"
DEFAULT_WORK_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "agentkit-grounding-squad"
SPLIT_SEED = 2024
SAMPLE_SEED = 7
BENCH_TOP_K = 3
BENCH_MAX_ANSWER_TOKENS = 64


@dataclass(frozen=True)
class SquadQuestion:
    qid: str
    article: str
    paragraph: int
    question: str
    answers: tuple[str, ...]
    answerable: bool

    @property
    def source_name(self) -> str:
        return paragraph_file_name(self.article, self.paragraph)

    def to_qa_line(self) -> dict[str, object]:
        line: dict[str, object] = {"id": self.qid, "question": self.question}
        if self.answerable:
            line["answer"] = list(self.answers)
            line["source"] = self.source_name
        else:
            line["answerable"] = False
            line["source"] = self.source_name
        return line


def paragraph_file_name(article: str, paragraph: int) -> str:
    return f"{article}__p{paragraph:03d}.md"


def load_squad(path: Path = SQUAD_PATH) -> list[dict[str, object]]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: this benchmark needs ../shared/data/squad_v2/dev-v2.0.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    articles: list[dict[str, object]] = data["data"]
    return articles


def split_articles(articles: Sequence[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    """Two halves of the articles, chosen with a fixed seed."""
    titles = sorted(str(article["title"]) for article in articles)
    random.Random(SPLIT_SEED).shuffle(titles)
    calibration = set(titles[: len(titles) // 2])
    return {
        "calibration": [a for a in articles if a["title"] in calibration],
        "report": [a for a in articles if a["title"] not in calibration],
    }


def questions_of(articles: Sequence[dict[str, object]]) -> list[SquadQuestion]:
    found: list[SquadQuestion] = []
    for article in articles:
        for index, paragraph in enumerate(article["paragraphs"]):  # type: ignore[arg-type]
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                found.append(
                    SquadQuestion(
                        qid=qa["id"],
                        article=str(article["title"]),
                        paragraph=index,
                        question=qa["question"].strip(),
                        answers=answers,
                        answerable=not qa["is_impossible"],
                    )
                )
    return found


def sample_questions(
    articles: Sequence[dict[str, object]], *, answerable: int, unanswerable: int
) -> list[SquadQuestion]:
    """A fixed-seed sample; a smaller sample is always a prefix of a larger one."""
    everything = sorted(questions_of(articles), key=lambda q: q.qid)
    rng = random.Random(SAMPLE_SEED)
    rng.shuffle(everything)
    picked = [q for q in everything if q.answerable][:answerable]
    picked += [q for q in everything if not q.answerable][:unanswerable]
    order = {q.qid: position for position, q in enumerate(everything)}
    return sorted(picked, key=lambda q: order[q.qid])


def write_corpus(articles: Sequence[dict[str, object]], folder: Path) -> int:
    """One Markdown file per paragraph; the article title is the document title."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for article in articles:
        title = str(article["title"]).replace("_", " ")
        for index, paragraph in enumerate(article["paragraphs"]):  # type: ignore[arg-type]
            path = folder / paragraph_file_name(str(article["title"]), index)
            body = f"---\ntitle: {title}\n---\n\n{paragraph['context'].strip()}\n"
            if not path.exists() or path.read_text(encoding="utf-8") != body:
                path.write_text(body, encoding="utf-8")
            count += 1
    return count


def write_qa_file(questions: Sequence[SquadQuestion], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for question in questions:
            handle.write(json.dumps(question.to_qa_line(), ensure_ascii=False) + "\n")


class CachingGenerator(Generator):
    """Wraps a generator; replies are stored in a jsonl file keyed by the exact prompt (with
    `cache_path` None, nothing is reused or stored: the wrapper only counts prompt tokens)."""

    def __init__(self, inner: Generator, cache_path: Path | None) -> None:
        self.inner = inner
        self.context_window = inner.context_window
        self.cache_path = cache_path
        self.replies: dict[str, str] = {}
        self.hits = 0
        self.prompt_tokens: list[int] = []  # per call, cached or not: the prompt as rendered
        if cache_path is not None and cache_path.is_file():
            for line in cache_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.replies[entry["key"]] = entry["reply"]

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        render = getattr(self.inner, "render_prompt", None)
        rendered = render(messages) if render else "\n".join(m.content for m in messages)
        self.prompt_tokens.append(self.inner.count_tokens(rendered))
        key = hashlib.sha256(
            json.dumps(
                [[m.role, m.content] for m in messages] + [max_tokens, temperature]
            ).encode("utf-8")
        ).hexdigest()
        if key in self.replies:  # empty without a cache path
            self.hits += 1
            yield self.replies[key]
            return
        parts: list[str] = []
        for piece in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature):
            parts.append(piece)
            yield piece
        reply = "".join(parts)
        if self.cache_path is None:
            return
        self.replies[key] = reply
        with self.cache_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "reply": reply}) + "\n")


def open_kit(work_dir: Path, *, cache: bool, load_model: bool = True):  # type: ignore[no-untyped-def]
    from agentkit import AgentKit
    from agentkit.models.generators import GenerationSettings
    from agentkit.models.registry import load_embedder, load_generator

    generator: Generator | None = None
    if load_model:
        generator = load_generator("default", GenerationSettings(max_answer_tokens=BENCH_MAX_ANSWER_TOKENS))
        if cache:
            generator = CachingGenerator(generator, work_dir / "reply_cache.jsonl")
    work_dir.mkdir(parents=True, exist_ok=True)
    return AgentKit(home=work_dir / "home", embedder=load_embedder("default"), generator=generator)


def build_agent(kit, half: str, articles: Sequence[dict[str, object]], work_dir: Path, *, grounding: str):  # type: ignore[no-untyped-def]
    """The agent of one half with the given grounding; created and synced on first use."""
    from agentkit import AgentNotFoundError
    from agentkit.models.generators import GenerationSettings

    name = f"squad-{half}"
    corpus = work_dir / "corpus" / half
    write_corpus(articles, corpus)
    try:
        agent = kit.get_agent(name)
    except AgentNotFoundError:
        agent = kit.create_agent(
            name,
            top_k=BENCH_TOP_K,
            grounding=grounding,
            generation=GenerationSettings(max_answer_tokens=BENCH_MAX_ANSWER_TOKENS),
        )
    agent.add_source(str(corpus))
    return agent


def collect(args: argparse.Namespace) -> None:
    """Phase-1 data for calibration: hits and the raw (ungrounded) reply of every question."""
    from agentkit.answering.prompting import build_prompt

    halves = split_articles(load_squad())
    articles = halves[args.half]
    questions = sample_questions(articles, answerable=args.answerable, unanswerable=args.unanswerable)
    work_dir: Path = args.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    kit = open_kit(work_dir, cache=True)
    agent = build_agent(kit, args.half, articles, work_dir, grounding="off")
    generator = kit.generator(agent.model, agent.generation)
    out_path = work_dir / f"collected-{args.half}.jsonl"
    done = set()
    if out_path.exists():
        done = {json.loads(line)["id"] for line in out_path.read_text().splitlines() if line.strip()}
    with out_path.open("a", encoding="utf-8") as out:
        for position, question in enumerate(questions, start=1):
            if question.qid in done:
                continue
            started = time.perf_counter()
            hits = agent.search(question.question, k=agent.top_k)
            plan = build_prompt(
                system_prompt=agent.system_prompt,
                question=question.question,
                hits=hits,
                history=(),
                context_window=generator.context_window,
                max_answer_tokens=agent.generation.max_answer_tokens,
                count_tokens=generator.count_tokens,
            )
            reply = generator.complete(
                plan.messages,
                max_tokens=agent.generation.max_answer_tokens,
                temperature=agent.generation.temperature,
            )
            record = {
                "id": question.qid,
                "question": question.question,
                "answers": list(question.answers),
                "answerable": question.answerable,
                "source": question.source_name,
                "hits": [hit.to_dict() for hit in plan.sources],
                "reply": reply,
                "seconds": round(time.perf_counter() - started, 3),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{position}/{len(questions)} {record['seconds']}s {reply[:80]!r}", flush=True)


def gate_evidence(agent, questions: Sequence[SquadQuestion]) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """What the gate sees for each question (no generation): its features, and whether its
    hard checks (everything but the answerability bar) let the question through."""
    from dataclasses import replace

    from agentkit.answering.answerability import FEATURE_NAMES, AnswerabilityModel
    from agentkit.answering.gate import should_attempt_answer
    from agentkit.answering.grounding import thresholds_for

    # The probability is not used here (the model is what calibration fits), so a neutral
    # model keeps this independent of the shipped file; a bar of 0 leaves the hard checks.
    neutral = AnswerabilityModel(
        means=(0.0,) * len(FEATURE_NAMES), scales=(1.0,) * len(FEATURE_NAMES),
        weights=(0.0,) * len(FEATURE_NAMES), bias=0.0,
    )
    hard_checks = replace(thresholds_for("balanced"), min_answerability=0.0)
    rows: list[dict[str, object]] = []
    for question in questions:
        hits = agent.search(question.question, k=agent.top_k)
        decision = should_attempt_answer(question.question, hits, hard_checks, neutral)
        rows.append(
            {
                "answerable": question.answerable,
                "features": decision.features or None,
                "hard_checks_pass": decision.answer,
                "retrieved": any(question.source_name in hit.uri for hit in hits),
            }
        )
    return rows


def _gate_passes(row: dict[str, object], probability: float, bar: float) -> bool:
    return bool(row["hard_checks_pass"]) and probability >= bar


def area_under_curve(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC: the chance that a random answerable question outscores a random unanswerable one."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    ordered = sorted(negatives)
    import bisect

    wins = sum(bisect.bisect_left(ordered, s) + 0.5 * (bisect.bisect_right(ordered, s) - bisect.bisect_left(ordered, s))
               for s in positives)
    return wins / (len(positives) * len(negatives))


def calibrate(args: argparse.Namespace) -> None:
    """Fit the answerability model on every question of the calibration half and write it
    into the package; print the trade-off its bars offer (gate only, no generation)."""
    from dataclasses import replace

    from answerability_fit import fit_logistic, without_similarity

    from agentkit.answering.answerability import MODEL_PATH

    halves = split_articles(load_squad())
    articles = halves["calibration"]
    questions = sorted(questions_of(articles), key=lambda q: q.qid)
    work_dir: Path = args.work_dir
    kit = open_kit(work_dir, cache=True, load_model=False)
    agent = build_agent(kit, "calibration", articles, work_dir, grounding="balanced")
    rows = gate_evidence(agent, questions)
    usable = [r for r in rows if r["features"] is not None]
    described = (
        f"SQuAD 2.0 dev, calibration half ({len(articles)} articles, {len(usable)} questions), "
        f"hybrid retrieval, top_k {agent.top_k}"
    )
    docs_rows: list[dict[str, object]] = []
    if args.docs_weight:
        # Documentation questions carry across: the docs calibration half, each row repeated
        # `docs_weight` times so 33 questions are not drowned by SQuAD's 2,808.
        import grounding_docs

        docs_rows = grounding_docs.gate_rows()
        usable_docs = [r for r in docs_rows if r["features"] is not None]
        usable = usable + usable_docs * args.docs_weight
        described += f", plus the Python-Markdown docs calibration half ({len(usable_docs)} questions, weight {args.docs_weight})"
    labels_used = [bool(r["answerable"]) for r in usable]
    model = replace(
        fit_logistic([r["features"] for r in usable], labels_used),  # type: ignore[misc]
        calibration=f"{described}, {agent.embedder_id} embedder",
    )
    words_only = replace(
        fit_logistic([without_similarity(r["features"]) for r in usable], labels_used),  # type: ignore[arg-type]
        calibration=f"{described}, similarity features unused (any embedder)",
    )
    if args.write:
        document = {"models": {"with_similarity": model.to_json(), "words_only": words_only.to_json()}}
        MODEL_PATH.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    probabilities = [model.probability(r["features"]) if r["features"] is not None else 0.0 for r in rows]  # type: ignore[arg-type]
    labels = [bool(r["answerable"]) for r in rows]
    answerable = sum(labels)
    print(f"calibration half: {answerable} answerable, {len(rows) - answerable} unanswerable questions")
    print(f"retrieval hit rate (top {agent.top_k}): "
          f"{sum(bool(r['retrieved']) for r in rows if r['answerable']) / answerable:.3f}")
    words_auc = area_under_curve(
        [words_only.probability(without_similarity(r["features"])) if r["features"] else 0.0 for r in rows], labels  # type: ignore[arg-type]
    )
    print(f"answerability AUC: {area_under_curve(probabilities, labels):.3f} (words only: {words_auc:.3f}); "
          f"window coverage alone: {area_under_curve([r['features'][0] if r['features'] else 0.0 for r in rows], labels):.3f}")  # type: ignore[index]
    for name, weight in sorted(zip(model.to_json()["features"], model.weights, strict=True), key=lambda t: -abs(t[1])):  # type: ignore[arg-type]
        print(f"  {name:24s} {weight:+.3f}")
    print("min_answerability  answerable passed  unanswerable stopped   (gate only)")
    for bar in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75):
        passed = [_gate_passes(r, p, bar) for r, p in zip(rows, probabilities, strict=True)]
        share_passed = sum(p for p, y in zip(passed, labels, strict=True) if y) / answerable
        share_stopped = sum(not p for p, y in zip(passed, labels, strict=True) if not y) / (len(rows) - answerable)
        docs = ""
        if docs_rows:
            docs_passed = [
                (_gate_passes(r, model.probability(r["features"]), bar) if r["features"] else False, r["answerable"])  # type: ignore[arg-type]
                for r in docs_rows
            ]
            docs = (f"   docs: {sum(p for p, y in docs_passed if y)}/{sum(1 for _, y in docs_passed if y)} passed, "
                    f"{sum(not p for p, y in docs_passed if not y)}/{sum(1 for _, y in docs_passed if not y)} stopped")
        print(f"{bar:>17.2f}  {share_passed:>17.3f}  {share_stopped:>20.3f}{docs}")


def report(args: argparse.Namespace) -> None:
    """The tables: the report half asked through `Agent.evaluate`, one column per grounding mode."""
    from agentkit.evaluation import format_comparison

    halves = split_articles(load_squad())
    articles = halves[args.half]
    questions = sample_questions(articles, answerable=args.answerable, unanswerable=args.unanswerable)
    work_dir: Path = args.work_dir
    qa_path = work_dir / f"qa-{args.half}-{args.answerable}-{args.unanswerable}.jsonl"
    write_qa_file(questions, qa_path)
    kit = open_kit(work_dir, cache=not args.no_cache)
    agent = build_agent(kit, args.half, articles, work_dir, grounding="balanced")
    if args.excerpts:
        from dataclasses import replace

        # The handle's setting, as `GenerationSettings(prompt_excerpts=N)` at create time stores it.
        agent.generation = replace(agent.generation, prompt_excerpts=args.excerpts)
    suffix = f" excerpts {args.excerpts}" if args.excerpts else ""
    reports = {}
    for mode in args.modes.split(","):
        # One index, several settings: the handle's grounding is what `agentkit create
        # --grounding` would have stored.
        agent.grounding = mode
        started = time.perf_counter()

        def show(done: int, total: int, result: object, mode: str = mode, started: float = started) -> None:
            if done % 25 == 0 or done == total:
                print(f"  [{mode}] {done}/{total} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

        reports[f"grounding: {mode}{suffix}"] = agent.evaluate(
            qa_path,
            report_path=work_dir / f"report-{args.half}-{mode}{suffix.replace(' ', '-')}.jsonl",
            progress=show,
        )
    print(f"SQuAD 2.0 dev, {args.half} half ({len(articles)} articles), {qa_path.name}, top_k={agent.top_k}, "
          f"max answer tokens={BENCH_MAX_ANSWER_TOKENS}")
    print(format_comparison(reports))
    from agentkit.answering.answerability import shipped_model

    model = shipped_model(agent.embedder_id)
    rows = gate_evidence(agent, questions)
    held_out = area_under_curve(
        [model.probability(r["features"]) if r["features"] is not None else 0.0 for r in rows],  # type: ignore[arg-type]
        [bool(r["answerable"]) for r in rows],
    )
    which = "held-out" if args.half == "report" else "calibration"
    print(f"answerability AUC on these {which} questions: {held_out:.3f}")
    (work_dir / f"tables-{args.half}.json").write_text(
        json.dumps({name: r.to_dict() for name, r in reports.items()}, indent=2), encoding="utf-8"
    )


def quotes(args: argparse.Namespace) -> None:
    """How often the reader's passage holds the gold answer (no generation): the quotes that
    balanced and strict give when the model's words do not stand."""
    from agentkit.answering.reader import read
    from agentkit.answering.support import question_terms
    from agentkit.evaluation import contains_answer

    halves = split_articles(load_squad())
    articles = halves[args.half]
    questions = [q for q in sorted(questions_of(articles), key=lambda q: q.qid) if q.answerable]
    kit = open_kit(args.work_dir, cache=True, load_model=False)
    agent = build_agent(kit, args.half, articles, args.work_dir, grounding="balanced")
    embed = kit.embedder(agent.embedder_id).embed
    counts = {"words only": 0, "with similarity": 0}
    for question in questions:
        hits = agent.search(question.question, k=agent.top_k)
        terms = question_terms(question.question)
        for label, embedder in (("words only", None), ("with similarity", embed)):
            quote = read(question.question, terms, hits, embed=embedder)
            counts[label] += bool(quote and contains_answer(quote.text, question.answers))
    for label, count in counts.items():
        print(f"{args.half} half, {len(questions)} answerable: reader passage contains gold "
              f"({label}) {count / len(questions):.1%}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    collect_parser = commands.add_parser("collect", help="store hits and raw replies for calibration")
    collect_parser.add_argument("--half", choices=["calibration", "report"], default="calibration")
    calibrate_parser = commands.add_parser("calibrate", help="fit the answerability model, print its bars")
    calibrate_parser.add_argument("--write", action="store_true", help="write agentkit/answering/answerability.json")
    calibrate_parser.add_argument("--docs-weight", type=int, default=0,
                                  help="also fit on the docs calibration half, each question this many times")
    for sub in (collect_parser, calibrate_parser,
                commands.add_parser("report", help="print the tables (grounding off vs balanced vs strict)")):
        sub.add_argument("--answerable", type=int, default=300)
        sub.add_argument("--unanswerable", type=int, default=300)
        if sub.prog.endswith("report"):
            sub.add_argument("--modes", default="off,balanced,strict", help="comma-separated grounding modes")
            sub.add_argument("--half", choices=["calibration", "report"], default="report",
                             help="which half to ask (the tables are reported on 'report')")
            sub.add_argument("--no-cache", action="store_true", help="do not reuse cached model replies")
            sub.add_argument("--excerpts", type=int, default=0,
                             help="show each source's N best passages instead of the whole chunk")
    quotes_parser = commands.add_parser("quotes", help="how often the reader's passage holds the gold answer")
    quotes_parser.add_argument("--half", choices=["calibration", "report"], default="report")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    {"collect": collect, "calibrate": calibrate, "report": report, "quotes": quotes}[args.command](args)


if __name__ == "__main__":
    main()
