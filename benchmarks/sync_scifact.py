"""Benchmark: what does keeping an agent current cost? First ingest, unchanged sync, 1% changed.

Data: the SciFact corpus (`../shared/data/scifact/corpus.jsonl`, 5,183 abstracts), written
out as one Markdown file per abstract in a temporary folder and ingested by the files
connector like any user folder. Then:
1. `add` the folder (every chunk embedded);
2. `sync` with nothing changed (target: 0 chunks embedded, under 5% of the first ingest's time);
3. edit 1% of the files (fixed seed) and `sync` (target: only their chunks embedded).

    python benchmarks/sync_scifact.py                          # the default embedder (minutes)
    python benchmarks/sync_scifact.py --embedder hashing-384   # no model: seconds
    python benchmarks/sync_scifact.py --limit 500              # a smaller corpus

Prints a table of seconds, documents and chunks embedded per step, the time of each step's
phases (read+hash, embed, SQL write, index write) and the unchanged-sync/first-ingest ratio.
Exits 0 with a message when the shared data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agentkit import AgentKit, SyncReport  # noqa: E402

CORPUS_PATH = REPO_ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
CHANGE_SEED = 11
TARGET_RATIO = 0.05


def write_corpus(corpus: Path, folder: Path, *, limit: int | None) -> list[Path]:
    """One `<id>.md` per abstract: the title as heading, the abstract as text."""
    folder.mkdir(parents=True)
    paths: list[Path] = []
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if limit is not None and len(paths) >= limit:
                break
            record = json.loads(line)
            title = " ".join(str(record.get("title") or f"Abstract {record['_id']}").split())
            path = folder / f"{record['_id']}.md"
            path.write_text(f"# {title}\n\n{record['text'].strip()}\n", encoding="utf-8")
            paths.append(path)
    return paths


def change_files(paths: list[Path], fraction: float) -> list[Path]:
    """Append a sentence to a fixed-seed sample of the files; returns the changed ones."""
    count = max(1, round(len(paths) * fraction))
    changed = random.Random(CHANGE_SEED).sample(paths, count)
    for path in changed:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\nThis abstract was revised for the sync benchmark.\n")
    return changed


def measure(step: str, run: object) -> tuple[str, SyncReport, float]:
    assert callable(run)
    started = time.perf_counter()
    report: SyncReport = run()
    return step, report, time.perf_counter() - started


def phase(report: SyncReport, name: str) -> float:
    return sum(source.timings.get(name, 0.0) for source in report.sources)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedder", default="default", help="'default', 'hashing-N' or a model folder")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N abstracts")
    parser.add_argument("--change", type=float, default=0.01, help="fraction of files edited (default 0.01)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args()
    if not CORPUS_PATH.is_file():
        print(f"skipped: {CORPUS_PATH} is absent (the shared data folder is not here)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="agentkit-sync-bench-"))
    try:
        folder = work / "scifact"
        paths = write_corpus(CORPUS_PATH, folder, limit=args.limit)
        print(f"{len(paths)} abstracts written to {folder}; embedder {args.embedder}", flush=True)
        with AgentKit(home=work / "home") as kit:
            agent = kit.create_agent("scifact", embedder=args.embedder)
            kit.embedder(args.embedder)  # load the model before the clock starts
            results = [
                measure("first ingest", lambda: SyncReport([agent.add_source(str(folder), progress=True)]))
            ]
            results.append(measure("unchanged sync", agent.sync))
            changed = change_files(paths, args.change)
            results.append(measure(f"sync, {len(changed)} files changed", agent.sync))
            doctor = agent.doctor()
            chunks = agent.counts()["chunks"]
        print_table(results, chunks=chunks, healthy=doctor.healthy)
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_table(results: list[tuple[str, SyncReport, float]], *, chunks: int, healthy: bool) -> None:
    header = (
        f"| {'step':<26} | {'seconds':>8} | {'added':>6} | {'changed':>7} | {'unchanged':>9} | "
        f"{'chunks embedded':>15} | {'read+hash':>9} | {'embed':>8} | {'SQL write':>9} | {'index':>6} |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for step, report, seconds in results:
        totals = report.to_dict()
        print(
            f"| {step:<26} | {seconds:>8.2f} | {totals['added']:>6} | {totals['updated']:>7} | "
            f"{totals['unchanged']:>9} | {totals['chunks_embedded']:>15} | {phase(report, 'read'):>9.2f} | "
            f"{phase(report, 'embed'):>8.2f} | {phase(report, 'write'):>9.2f} | {phase(report, 'index'):>6.2f} |"
        )
    first, unchanged = results[0][2], results[1][2]
    ratio = unchanged / first if first else float("nan")
    verdict = (
        "meets" if ratio < TARGET_RATIO and results[1][1].to_dict()["chunks_embedded"] == 0 else "MISSES"
    )
    print()
    print(f"chunks in the agent: {chunks}; doctor: {'healthy' if healthy else 'UNHEALTHY'}")
    print(f"unchanged sync / first ingest = {ratio:.2%} ({verdict} the target of < {TARGET_RATIO:.0%})")


if __name__ == "__main__":
    sys.exit(main())
