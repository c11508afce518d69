"""Benchmark: crawling the shared documentation site and ingesting the shared Notion exports.

Owns measuring, through the public Python API, what `agentkit add` costs for the two
connectors on real data in ../shared/data (never copied into the repository):

1. serves ``html_sites/python-markdown-doc_3.4.1-2+deb12u1/docs/`` on 127.0.0.1 and adds it
   with ``crawl`` from index.html; prints pages, seconds and pages/s (whole add, and the
   crawl part alone);
2. adds the largest Notion export (by bytes), then every export, each to a fresh agent, and
   prints a table of export, bytes, documents, chunks and seconds.

Everything runs in a temporary AGENTKIT home. The hashing embedder is the default so the
numbers measure the connectors and the pipeline, not a model; ``--embedder default`` uses the
bundled sentence-transformers model (loaded before timing starts).

Usage: .venv/bin/python benchmarks/crawl_and_notion.py [--embedder hashing-384|default]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DOC_SITE = SHARED_DATA / "html_sites" / "python-markdown-doc_3.4.1-2+deb12u1" / "docs"
NOTION_EXPORTS = SHARED_DATA / "notion_exports"


class QuietFileHandler(SimpleHTTPRequestHandler):
    """Serves a folder; answers If-Modified-Since with 304 like a real static server."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """No access log on the benchmark's output."""


@contextmanager
def served_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) and yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietFileHandler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class IngestResult:
    """One timed `add_source`: what it stored and how long it took."""

    name: str
    size_bytes: int
    documents: int
    chunks: int
    skipped: int
    seconds: float
    read_seconds: float
    error: str | None


def timed_add(
    kit: object, agent_name: str, location: str, options: dict[str, object], *, embedder: str
) -> IngestResult:
    """Create an agent, add one source to it, and time the add (model loading excluded)."""
    from agentkit import AgentKit

    assert isinstance(kit, AgentKit)
    agent = kit.create_agent(agent_name, embedder=embedder)
    started = time.perf_counter()
    report = agent.add_source(location, options=options)
    seconds = time.perf_counter() - started
    path = Path(location)
    return IngestResult(
        name=location,
        size_bytes=path.stat().st_size if path.is_file() else 0,
        documents=report.documents,
        chunks=report.chunks,
        skipped=len(report.failed),
        seconds=seconds,
        read_seconds=report.timings.get("read", report.seconds),
        error=report.error,
    )


def benchmark_crawl(kit: object, *, embedder: str, depth: int, max_pages: int) -> None:
    options: dict[str, object] = {
        "crawl": True,
        "depth": depth,
        "max_pages": max_pages,
        "allow_private_network": True,
    }
    with served_folder(DOC_SITE) as base_url:
        result = timed_add(kit, "docs-site", base_url + "/index.html", options, embedder=embedder)
    if result.error:
        print(f"crawl failed: {result.error}")
        return
    print(f"Web crawl of {DOC_SITE.parent.name}/docs (depth {depth}, embedder {embedder})")
    print(f"  pages:           {result.documents} ({result.skipped} skipped, {result.chunks} chunks)")
    print(f"  seconds:         {result.seconds:.2f} (crawl and parse: {result.read_seconds:.2f})")
    print(
        f"  pages/s:         {result.documents / result.seconds:.1f} whole add, "
        f"{result.documents / result.read_seconds:.1f} crawl and parse"
    )
    print()


def benchmark_notion(kit: object, *, embedder: str) -> None:
    exports = sorted(NOTION_EXPORTS.rglob("*.zip"))
    if not exports:
        print(f"no Notion exports under {NOTION_EXPORTS}")
        return
    largest = max(exports, key=lambda path: path.stat().st_size)
    first = timed_add(kit, "notion-largest", str(largest), {}, embedder=embedder)
    print(f"Largest Notion export: {largest.relative_to(NOTION_EXPORTS)} ({first.size_bytes:,} bytes)")
    print(
        f"  {first.documents} documents, {first.chunks} chunks in {first.seconds:.2f} s "
        f"(reading the export: {first.read_seconds:.2f} s)"
    )
    print()
    results = [
        timed_add(kit, f"notion-{number}", str(path), {}, embedder=embedder)
        for number, path in enumerate(exports)
    ]
    width = max(len(str(Path(result.name).relative_to(NOTION_EXPORTS))) for result in results)
    print(f"| {'export':<{width}} | {'bytes':>9} | documents | chunks | seconds |")
    print(f"|{'-' * (width + 2)}|{'-' * 11}|{'-' * 11}|{'-' * 8}|{'-' * 9}|")
    for result in results:
        name = str(Path(result.name).relative_to(NOTION_EXPORTS))
        documents = "error" if result.error else str(result.documents)
        print(
            f"| {name:<{width}} | {result.size_bytes:>9,} | {documents:>9} | {result.chunks:>6} | "
            f"{result.seconds:>7.3f} |"
        )
    total = sum(result.seconds for result in results)
    print(f"\n{len(results)} exports, {sum(r.documents for r in results)} documents in {total:.2f} s")
    for result in results:
        if result.error:
            print(f"  error: {result.error.split(' — ')[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--embedder", default="hashing-384", help="'hashing-N' (default hashing-384) or 'default'"
    )
    parser.add_argument("--depth", type=int, default=2, help="crawl depth (default 2 reaches all 42 pages)")
    parser.add_argument("--max-pages", type=int, default=200, help="crawl page cap")
    arguments = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} is not present (the benchmark needs the shared real data)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO_ROOT))
    from agentkit import AgentKit

    with tempfile.TemporaryDirectory(prefix="agentkit-bench-") as home, AgentKit(home=home) as kit:
        started = time.perf_counter()
        kit.embedder(arguments.embedder)  # load a model before any timing starts
        print(f"embedder {arguments.embedder} ready in {time.perf_counter() - started:.2f} s\n")
        if DOC_SITE.is_dir():
            benchmark_crawl(
                kit, embedder=arguments.embedder, depth=arguments.depth, max_pages=arguments.max_pages
            )
        else:
            print(f"skipped the crawl: {DOC_SITE} is not present\n")
        if NOTION_EXPORTS.is_dir():
            benchmark_notion(kit, embedder=arguments.embedder)
        else:
            print(f"skipped the Notion exports: {NOTION_EXPORTS} is not present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
