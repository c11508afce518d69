"""Benchmark: one-query exact search on ordinary pages against huge pages, by index size.

For each size, the same random unit vectors go into two bare FAISS `IndexIDMap2(IndexFlatIP)`
indexes, one left on ordinary 4 KiB pages (as FAISS allocates them) and one moved to huge
pages with `agentkit.index.huge_pages.advise_huge_pages`, and into agentkit's `FaissBackend`,
which moves them itself at its second search (and checks arguments and orders results on
every search); the three are searched in turns, one thread, k=10. Also printed: how long
agentkit's second search took (it includes the move) and how many MB the kernel gave as huge
pages.

    python benchmarks/huge_pages.py
    python benchmarks/huge_pages.py --sizes 10000,100000 --queries 500
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agentkit.index.faiss import FaissBackend, vector_memory  # noqa: E402
from agentkit.index.huge_pages import advise_huge_pages, huge_page_bytes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,10000,30000,100000,300000")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    import faiss
    import numpy as np

    faiss.omp_set_num_threads(1)
    random = np.random.default_rng(0)
    print(
        "| vectors | MB | bare FAISS, 4 KiB pages p50 ms | bare FAISS, huge pages p50 ms | huge / 4 KiB "
        "| agentkit FaissBackend p50 ms | its second search ms (moves them) | huge MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in (int(part) for part in args.sizes.split(",")):
        vectors = random.standard_normal((size, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = np.arange(1, size + 1, dtype=np.int64)
        bare = faiss.IndexIDMap2(faiss.IndexFlatIP(384))
        bare.add_with_ids(vectors, ids)
        huge = faiss.IndexIDMap2(faiss.IndexFlatIP(384))
        huge.add_with_ids(vectors, ids)
        advise_huge_pages(*vector_memory(huge))
        ours = FaissBackend(384)
        ours.add(ids, vectors)
        del vectors
        queries = random.standard_normal((args.queries + 2, 384)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        ours.search(queries[:1], 10)
        started = time.perf_counter()
        ours.search(queries[1:2], 10)
        second_ms = (time.perf_counter() - started) * 1000
        timings: dict[str, list[float]] = {"bare": [], "huge": [], "ours": []}
        for number, query in enumerate(queries[2:]):
            turns = [("bare", bare.search), ("huge", huge.search), ("ours", ours.search)]
            for name, search in turns[number % 3 :] + turns[: number % 3]:
                started = time.perf_counter()
                search(query.reshape(1, -1), 10)
                timings[name].append((time.perf_counter() - started) * 1000)
        address, nbytes = ours.vector_memory()
        plain, moved, agentkit = (statistics.median(timings[name]) for name in ("bare", "huge", "ours"))
        print(
            f"| {size} | {nbytes / 1e6:.0f} | {plain:.2f} | {moved:.2f} | {moved / plain:.2f} | {agentkit:.2f} "
            f"| {second_ms:.1f} | {huge_page_bytes(address, nbytes) / 1e6:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
