"""Benchmark: how llama.cpp's OpenMP threads should wait, and how many should decode.

llama.cpp (built with OpenMP, as the Makefile and PyPI's source build do on Linux) makes its
threads meet at an OpenMP barrier after every operation of the model's graph: hundreds per
generated token. How a thread waits there is set by the environment when libgomp loads
(`OMP_WAIT_POLICY`, `GOMP_SPINCOUNT`), so each setting runs in its own child process: bare
llama-cpp-python on the bundled model (the Q8_0 copy agentkit runs), one prompt of
`--prompt-tokens` tokens evaluated whole, then `--tokens` tokens decoded greedily one by one.
Settings alternate, `--repeats` rounds, on a quiet machine and then with `--busy` processes
that keep cores busy (another program, a build, a second agent):

    python benchmarks/openmp_wait.py                     # quiet, then 2 busy processes
    python benchmarks/openmp_wait.py --busy 0,1,2 --repeats 5

Prints, per load and setting, the prompt's seconds, milliseconds per generated token (median)
and CPU seconds the child used (spinning costs CPU that other programs could have had).
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

# (label, environment, decoding threads); prompts are always evaluated with every core.
SETTINGS: list[tuple[str, dict[str, str], int]] = [
    ("OMP_WAIT_POLICY=PASSIVE (agentkit before)", {"OMP_WAIT_POLICY": "PASSIVE"}, 1),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    ("libgomp default (spin ~3 ms)", {}, 2),
    ("GOMP_SPINCOUNT=10000 (~0.1 ms)", {"GOMP_SPINCOUNT": "10000"}, 1),
    ("GOMP_SPINCOUNT=10000 (~0.1 ms, agentkit now)", {"GOMP_SPINCOUNT": "10000"}, 2),
]
_OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "KMP_BLOCKTIME")


def child(model_path: str, decode_threads: int, prompt_tokens: int, tokens: int) -> None:
    """One measurement in this process: prints a JSON line."""
    import numpy as np
    from llama_cpp import Llama

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    llm = Llama(
        model_path=model_path,
        n_ctx=2048,
        n_threads=decode_threads,
        n_threads_batch=cores,
        seed=7,
        verbose=False,
    )
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8") * 4
    prompt = llm.tokenize(text.encode("utf-8"), special=True)[:prompt_tokens]
    vocabulary = llm.n_vocab()
    cpu_started = time.process_time()
    started = time.perf_counter()
    llm.eval(prompt)
    prompt_s = time.perf_counter() - started
    per_token = []
    for _ in range(tokens):
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(vocabulary,))
        token = int(np.argmax(logits))
        started = time.perf_counter()
        llm.eval([token])
        per_token.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "prompt_s": prompt_s,
                "token_ms": 1000 * statistics.median(per_token),
                "cpu_s": time.process_time() - cpu_started,
            }
        )
    )


def measure(model_path: str, environment: dict[str, str], threads: int, args: argparse.Namespace) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in _OPENMP_VARIABLES}
    env.update(environment)
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            model_path,
            str(threads),
            str(args.prompt_tokens),
            str(args.tokens),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--busy", default="0,2", help="busy processes per phase, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the settings (default 3)")
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=40, help="tokens decoded per measurement")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO_ROOT))
    from agentkit.models.gguf_requantize import q8_0_copy
    from agentkit.models.llama_cpp import default_model_path

    model_path = q8_0_copy(default_model_path())
    print(f"model {Path(model_path).name}; {os.cpu_count()} cores; medians of {args.repeats}")
    print("| busy processes | setting | decode threads | prompt s | ms per token | CPU s |")
    print("|---|---|---|---|---|---|")
    for busy in [int(n) for n in args.busy.split(",") if n.strip()]:
        burners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)
        ]
        try:
            time.sleep(1 if busy else 0)
            results: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(SETTINGS))}
            for _ in range(args.repeats):
                for number, (_label, environment, threads) in enumerate(SETTINGS):
                    results[number].append(measure(model_path, environment, threads, args))
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
        for number, (label, _environment, threads) in enumerate(SETTINGS):
            runs = results[number]
            print(
                f"| {busy} | {label} | {threads} | "
                f"{statistics.median(r['prompt_s'] for r in runs):.2f} | "
                f"{statistics.median(r['token_ms'] for r in runs):.1f} | "
                f"{statistics.median(r['cpu_s'] for r in runs):.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
