"""How many CPU threads the local models use, and how llama.cpp's threads wait for each other.

llama.cpp built with OpenMP (the Makefile's build, and PyPI's source build on Linux) makes its
threads meet at an OpenMP barrier after every operation of the model: hundreds per generated
token. How a thread waits there is read from the environment when libgomp loads
(`openmp_wait_defaults`, applied by `agentkit/__init__.py` before any model library loads).
Measured with `benchmarks/openmp_wait.py` on 2 cores, SmolLM2-135M Q8_0, 400-token prompt:

| wait | decode threads | quiet: prompt s / ms per token | 2 busy processes: prompt s / ms per token |
|---|---|---|---|
| OMP_WAIT_POLICY=PASSIVE (sleep at once) | 1 | 1.31 / 19.3 | 2.52 / 23.4 |
| OMP_WAIT_POLICY=PASSIVE | 2 | 1.21 / 43.4 | 2.78 / 47.9 |
| libgomp's default (spin ~3 ms) | 2 | 1.20 / 14.0 | 4.59 / 30.9 |
| GOMP_SPINCOUNT=10000 (spin ~0.1 ms) | 2 | 1.18 / 13.1 | 2.64 / 36.0 |

So: a short spin (quiet machines decode a third faster than with one passive thread, busy ones
are not held up by spinning threads), and decoding on the cores that nothing else is running
on at the moment the answer starts (`decode_threads`): two threads on a busy machine wait for
each other at every barrier.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from pathlib import Path

# libgomp's spin before a waiting thread sleeps: about 0.1 ms (its own estimate is 100,000
# rounds per millisecond).
OPENMP_SPIN_COUNT = "10000"
MAX_DECODE_THREADS = 4  # token-by-token decoding of a small model stops scaling around here
MAX_BATCH_THREADS = 8
_LOADAVG = Path("/proc/loadavg")


def openmp_wait_defaults(environ: MutableMapping[str, str]) -> None:
    """Short spinning in GNU OpenMP, passive waiting in other OpenMP runtimes; a user's own
    OMP_WAIT_POLICY or GOMP_SPINCOUNT wins (GOMP_SPINCOUNT overrides the policy in libgomp)."""
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's limit)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def batch_threads() -> int:
    """Threads for evaluating a prompt (or embedding a batch): every available core, up to 8."""
    return min(MAX_BATCH_THREADS, available_cores())


def other_running_tasks(loadavg: Path = _LOADAVG, *, samples: int = 3) -> int:
    """Tasks running or ready to run besides the calling thread (Linux's /proc/loadavg
    "running/total" field), the fewest of `samples` reads 0.5 ms apart, so that a task that
    only passes by does not count; 0 where that cannot be read."""
    counts = []
    for sample in range(samples):
        if sample:
            time.sleep(0.0005)
        try:
            running = loadavg.read_text(encoding="ascii").split()[3].split("/")[0]
            counts.append(max(0, int(running) - 1))
        except (OSError, IndexError, ValueError):
            return 0
    return min(counts)


def decode_threads(cores: int | None = None, others: int | None = None) -> int:
    """Threads for generating tokens one by one: the cores not taken by other running tasks
    at this moment, at least 1 and at most `MAX_DECODE_THREADS`."""
    cores = available_cores() if cores is None else cores
    others = other_running_tasks() if others is None else others
    return max(1, min(MAX_DECODE_THREADS, cores - others))
