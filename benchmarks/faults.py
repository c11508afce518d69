"""Faults table: each fault test run on its own, with its wall time and peak memory.

Runs each fault test (`tests/test_faults_*.py`, `tests/test_sync_batches.py`,
`tests/test_storage_failures.py`) in its own pytest
process and reports pass/fail, wall time and the peak resident memory of that process tree
(`wait4`'s `ru_maxrss`: the largest of the process and every child it waited for, so the killed
`agentkit add` runs, the PostgreSQL server's clients and the 12 concurrency workers count). The
lines the tests print (embedding counts, operation counts) are shown under the table.

    .venv/bin/python benchmarks/faults.py                      # the concurrency run lasts 20 s
    .venv/bin/python benchmarks/faults.py --concurrency-seconds 300

Each row is a test of `docs/SECURITY.md`'s "Faults" table. Root is needed for the tmpfs of the
disk-full tests (CI runs as root).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS = (
    ("killed add x3, then sync (400 docs)", "tests/test_faults_resume.py"),
    ("interrupted sync resumes (API)", "tests/test_sync_batches.py"),
    ("disk full: database / index", "tests/test_faults_disk_full.py"),
    ("database full at its page cap (no root)", "tests/test_storage_failures.py"),
    ("PostgreSQL restart: sync / search", "tests/test_faults_postgres_restart.py"),
    ("4 writers + 8 readers", "tests/test_faults_concurrency.py"),
)


def run(test: str, environment: dict[str, str]) -> tuple[bool, float, float, list[str]]:
    """(passed, seconds, peak MiB, printed lines) of one pytest run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    printed = [line for line in output.splitlines() if line.startswith(("resume:", "concurrency:"))]
    if status != 0:
        printed.append(output[-2000:])
    return status == 0, seconds, usage.ru_maxrss / 1024, printed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency-seconds", type=float, default=20.0)
    parser.add_argument("--only", default=None, help="Run only the tests whose file name contains this.")
    arguments = parser.parse_args()
    environment = {**os.environ, "AGENTKIT_FAULTS_SECONDS": f"{arguments.concurrency_seconds:g}"}
    print("| fault | test | result | time (s) | peak memory (MiB) |")
    print("|---|---|---|---|---|")
    notes: list[str] = []
    for label, test in TESTS:
        if arguments.only and arguments.only not in test:
            continue
        passed, seconds, peak, printed = run(test, environment)
        print(
            f"| {label} | `{test}` | {'pass' if passed else 'FAIL'} | {seconds:.1f} | {peak:.0f} |",
            flush=True,
        )
        notes.extend(printed)
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
