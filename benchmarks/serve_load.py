"""Load on `agentkit serve` over loopback: N concurrent clients for D seconds, mixed search/ask.

Builds the demo agent (data/quillstack, default models: MiniLM embedder, SmolLM2 GGUF) in a
home folder, starts `agentkit serve` as its own process on 127.0.0.1, and runs client threads
that each loop: a search (checked: the expected document is in the top 5) or a question
through `/v1/chat/completions` (checked: the expected string is in the answer, an abstention
is counted apart, a question the demo cannot answer must abstain). A 429 is counted and its
Retry-After honoured (at most 2 s). Prints requests/s, p50/p95/p99 latency, 429s, 5xx and
wrong answers per kind; exits 1 if any request got a 5xx, failed or got a wrong answer.

    .venv/bin/python benchmarks/serve_load.py --clients 20 --seconds 60
    .venv/bin/python benchmarks/serve_load.py --home /tmp/serve-load   # keep the built agent
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "quillstack"
AGENT = "quillstack"

SEARCHES = [
    ("What is the default port of the Quillstack web app and REST API?", "installation.md"),
    ("What does Quillstack error QS-1004 mean?", "error-codes.md"),
    ("How large can an attachment be in Quillstack by default?", "configuration.md"),
    ("After how many failed sign-ins is a Quillstack account locked?", "security.md"),
    ("When was Quillstack 4.2.1 released?", "release-notes.md"),
]
# (question, expected string or None when the demo cannot answer it)
QUESTIONS = [
    ("What is the default port of the Quillstack web app and REST API?", "7431"),
    ("What is the capital of Australia?", None),
]


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    ok: int = 0
    throttled: int = 0
    server_errors: int = 0
    failures: int = 0
    wrong: int = 0
    abstained: int = 0


def build_agent(home: Path) -> None:
    if (home / "agentkit.db").exists():
        return
    from agentkit import AgentKit

    with AgentKit(home=home) as kit:
        agent = kit.create_agent(AGENT)
        report = agent.add_source(str(DEMO))
        if report.error:
            raise SystemExit(f"could not index the demo: {report.error}")


def create_key(home: Path) -> str:
    from agentkit import AgentKit
    from agentkit.server.keys import create_key as create

    with AgentKit(home=home) as kit:
        return create(kit, scope="chat", agent=AGENT)[1]


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited before it was ready")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def client_loop(
    url: str,
    key: str,
    stop_at: float,
    ask_share: float,
    seed: int,
    tallies: dict[str, Tally],
    lock: threading.Lock,
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
        while time.monotonic() < stop_at:
            kind = "ask" if rng.random() < ask_share else "search"
            started = time.monotonic()
            wrong = abstained = False
            try:
                if kind == "search":
                    query, source = rng.choice(SEARCHES)
                    response = http.get(f"/api/agents/{AGENT}/search", params={"q": query, "k": 5})
                    if response.status_code == 200:
                        wrong = not any(source in hit["uri"] for hit in response.json())
                else:
                    question, expected = rng.choice(QUESTIONS)
                    response = http.post(
                        "/v1/chat/completions",
                        json={"model": AGENT, "messages": [{"role": "user", "content": question}]},
                    )
                    if response.status_code == 200:
                        body = response.json()
                        abstained = body["agentkit"]["abstained"]
                        text = body["choices"][0]["message"]["content"]
                        wrong = (not abstained and expected not in text) if expected else not abstained
            except httpx.HTTPError:
                with lock:
                    tallies[kind].failures += 1
                continue
            elapsed_ms = (time.monotonic() - started) * 1000
            with lock:
                tally = tallies[kind]
                if response.status_code == 429:
                    tally.throttled += 1
                elif response.status_code >= 500:
                    tally.server_errors += 1
                elif response.status_code == 200:
                    tally.ok += 1
                    tally.latencies_ms.append(elapsed_ms)
                    tally.wrong += wrong
                    tally.abstained += abstained
                else:
                    tally.failures += 1
            if response.status_code == 429:
                time.sleep(min(2.0, float(response.headers.get("retry-after", "1"))))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--ask-share", type=float, default=0.3, help="Share of requests that ask (rest search)."
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--queue", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--home", type=Path, default=None, help="Keep the built agent here (default: a temp folder)."
    )
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="agentkit-serve-load-"))
    home.mkdir(parents=True, exist_ok=True)
    print(f"Building the demo agent in {home} (default models) ...", flush=True)
    build_agent(home)
    key = create_key(home)
    from agentkit.server.testing import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "AGENTKIT_HOME": str(home),
        "AGENTKIT_SERVE_CLIENT_RATE": "",  # every client is 127.0.0.1: no per-address limit here
    }
    environment.pop("AGENTKIT_DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "agentkit",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--concurrency",
        str(args.concurrency),
        "--queue",
        str(args.queue),
    ]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url, server)
        # One warm-up question per worker process loads the GGUF before the clock starts.
        for _ in range(args.workers):
            httpx.post(
                url + "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                timeout=600,
                json={"model": AGENT, "messages": [{"role": "user", "content": QUESTIONS[0][0]}]},
            )
        tallies = {"search": Tally(), "ask": Tally()}
        lock = threading.Lock()
        started = time.monotonic()
        stop_at = started + args.seconds
        threads = [
            threading.Thread(
                target=client_loop, args=(url, key, stop_at, args.ask_share, seed, tallies, lock)
            )
            for seed in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall_s = time.monotonic() - started
    finally:
        server.terminate()  # SIGTERM: uvicorn finishes answers in flight, then exits
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()

    print(
        f"\n{args.clients} clients, {args.seconds:.0f} s (wall {wall_s:.1f} s), ask share {args.ask_share}, "
        f"workers {args.workers}, concurrency {args.concurrency}, queue {args.queue}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'kind':<7}{'ok':>6}{'ok/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'429':>6}{'5xx':>5}"
        f"{'fail':>6}{'wrong':>7}{'abst.':>7}"
    )
    total = Tally()
    for kind, tally in [*tallies.items(), ("all", total)]:
        if kind != "all":
            total.latencies_ms += tally.latencies_ms
            for name in ("ok", "throttled", "server_errors", "failures", "wrong", "abstained"):
                setattr(total, name, getattr(total, name) + getattr(tally, name))
        print(
            f"{kind:<7}{tally.ok:>6}{tally.ok / wall_s:>8.2f}{percentile(tally.latencies_ms, 0.5):>9.0f}"
            f"{percentile(tally.latencies_ms, 0.95):>9.0f}{percentile(tally.latencies_ms, 0.99):>9.0f}"
            f"{tally.throttled:>6}{tally.server_errors:>5}{tally.failures:>6}{tally.wrong:>7}{tally.abstained:>7}"
        )
    clean = total.server_errors == 0 and total.failures == 0 and total.wrong == 0
    print(
        "\nNo 5xx, no failed request, no wrong answer."
        if clean
        else "\nPROBLEMS: see the 5xx/fail/wrong columns."
    )
    if total.latencies_ms:
        print(f"Mean latency of answered requests: {statistics.mean(total.latencies_ms):.0f} ms")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
