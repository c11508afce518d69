"""Benchmark: how the ONNX embedder batches texts, and what onnxruntime's arena keeps after.

onnxruntime keeps the largest batch's buffers (attention scores grow with rows x tokens^2) in
its arena for as long as the session lives: after an ingest, in a process that then loads the
language model, that is memory nobody uses. Each setting runs in its own process over three
kinds of text: SciFact abstracts (long, truncated at 256 tokens), paragraphs of the demo
knowledge base (chunk-sized) and its single lines (sentence-sized), and reports the seconds
and the growth of anonymous memory (RssAnon) after all three:

    python benchmarks/embedder_batches.py                  # needs ../shared/data/scifact
    python benchmarks/embedder_batches.py --repeats 3 --abstracts 600

Settings: batches of 8 rows (agentkit before), of 32 rows and at most 4,096 characters of
padded text (agentkit now), and the same with and without handing the arena back after
each call (`OnnxEmbedder._release_scratch`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCIFACT = REPO_ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
DEMO = REPO_ROOT / "data" / "quillstack"

# (label, rows per batch, characters per batch or 0, hand the arena back)
SETTINGS = [
    ("8 rows (before)", 8, 0, False),
    ("32 rows, 4,096 characters", 32, 4096, False),
    ("32 rows, 4,096 characters, arena handed back (now)", 32, 4096, True),
]


def anonymous_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def texts(abstracts: int) -> dict[str, list[str]]:
    with SCIFACT.open(encoding="utf-8") as handle:
        docs = [json.loads(line) for _, line in zip(range(abstracts), handle, strict=False)]
    pages = [path.read_text(encoding="utf-8") for path in sorted(DEMO.rglob("*.md"))]
    paragraphs = [p.strip() for page in pages for p in page.split("\n\n") if len(p.strip()) > 40]
    lines = [line.strip() for page in pages for line in page.splitlines() if len(line.strip()) > 20]
    return {
        "abstracts": [f"{doc['title']} {doc['text']}" for doc in docs],
        "paragraphs": paragraphs,
        "lines": lines,
    }


def child(rows: int, characters: int, release: bool, abstracts: int) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from agentkit.models.registry import load_embedder

    embedder = load_embedder("onnx-int8:default")
    embedder.batch_size = rows
    embedder.batch_characters = characters or None
    if not release:
        embedder._release_scratch = lambda: None  # type: ignore[method-assign]
    embedder.embed(["warm up"])
    before = anonymous_mb()
    result: dict[str, float] = {}
    for name, batch in texts(abstracts).items():
        started = time.perf_counter()
        embedder.embed(batch)
        result[name] = time.perf_counter() - started
    result["anon_mb"] = anonymous_mb() - before
    print(json.dumps(result))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the settings (default 2)")
    parser.add_argument("--abstracts", type=int, default=300, help="SciFact abstracts (default 300)")
    args = parser.parse_args()
    if not SCIFACT.is_file():
        raise SystemExit(f"{SCIFACT} is missing: this benchmark reads the shared SciFact corpus")
    counts = {name: len(batch) for name, batch in texts(args.abstracts).items()}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in SETTINGS}
    for _ in range(args.repeats):
        for label, rows, characters, release in SETTINGS:
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(rows), str(characters), "1" if release else "0", str(args.abstracts)],
                capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=False,
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"medians of {args.repeats}; texts: " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    print("| batches | abstracts s | paragraphs s | lines s | arena kept (RssAnon growth) MB |")
    print("|---|---|---|---|---|")
    for label, results in runs.items():
        cells = [f"{statistics.median(r[name] for r in results):.2f}" for name in counts]
        print(f"| {label} | {' | '.join(cells)} | {statistics.median(r['anon_mb'] for r in results):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
