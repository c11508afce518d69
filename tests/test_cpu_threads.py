"""How many threads the local models use, and how llama.cpp's OpenMP threads wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentkit.models import cpu_threads
from agentkit.models.generators import ChatMessage
from agentkit.models.llama_cpp import LlamaCppGenerator, default_model_path


def test_openmp_threads_spin_briefly_unless_the_user_said_otherwise() -> None:
    environ: dict[str, str] = {}
    cpu_threads.openmp_wait_defaults(environ)
    assert environ == {"GOMP_SPINCOUNT": cpu_threads.OPENMP_SPIN_COUNT, "OMP_WAIT_POLICY": "PASSIVE"}

    active = {"OMP_WAIT_POLICY": "ACTIVE"}
    cpu_threads.openmp_wait_defaults(active)
    assert active == {"OMP_WAIT_POLICY": "ACTIVE"}  # GOMP_SPINCOUNT would override the user's policy

    spin = {"GOMP_SPINCOUNT": "0"}
    cpu_threads.openmp_wait_defaults(spin)
    assert spin == {"GOMP_SPINCOUNT": "0", "OMP_WAIT_POLICY": "PASSIVE"}


def test_importing_agentkit_sets_the_wait_before_any_model_library_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    script = (
        "import os, sys, agentkit\n"
        "assert 'llama_cpp' not in sys.modules and 'faiss' not in sys.modules\n"
        "print(os.environ['GOMP_SPINCOUNT'], os.environ['OMP_WAIT_POLICY'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == [cpu_threads.OPENMP_SPIN_COUNT, "PASSIVE"]


def test_running_tasks_are_read_from_proc_loadavg(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.52 0.40 0.31 3/180 4242\n")
    assert cpu_threads.other_running_tasks(loadavg) == 2  # the caller is one of the three
    loadavg.write_text("garbage\n")
    assert cpu_threads.other_running_tasks(loadavg) == 0
    assert cpu_threads.other_running_tasks(tmp_path / "missing") == 0


def test_decoding_uses_the_cores_nothing_else_runs_on() -> None:
    assert cpu_threads.decode_threads(cores=2, others=0) == 2
    assert cpu_threads.decode_threads(cores=2, others=1) == 1
    assert cpu_threads.decode_threads(cores=2, others=7) == 1  # never none
    assert cpu_threads.decode_threads(cores=1, others=0) == 1
    assert cpu_threads.decode_threads(cores=16, others=1) == cpu_threads.MAX_DECODE_THREADS
    assert 1 <= cpu_threads.batch_threads() <= cpu_threads.MAX_BATCH_THREADS
    assert cpu_threads.batch_threads() <= cpu_threads.available_cores()


@pytest.mark.skipif(not Path("/proc/loadavg").is_file(), reason="Linux reports running tasks in /proc")
def test_a_busy_process_takes_a_core_away_from_decoding() -> None:
    busy = busy_processes(1)
    try:
        assert cpu_threads.other_running_tasks() >= 1
        assert cpu_threads.decode_threads() <= max(1, cpu_threads.available_cores() - 1)
    finally:
        busy[0].kill()
        busy[0].wait()


def busy_processes(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` processes that keep a core busy each, once they show as running."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    deadline = time.monotonic() + 10
    while cpu_threads.other_running_tasks() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return busy


@pytest.mark.slow
def test_the_model_decodes_on_the_free_cores_and_answers_the_same() -> None:
    generator = LlamaCppGenerator(default_model_path(), context_window=512)
    question = [ChatMessage("user", "Sources:\n[1] The web app listens on port 8080.\n\nQuestion: Which port?")]
    quiet = generator.complete(question, max_tokens=24, temperature=0.0)
    busy = busy_processes(cpu_threads.available_cores())
    try:
        loaded = generator.complete(question, max_tokens=24, temperature=0.0)
        assert generator.decode_threads == 1
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert loaded == quiet and quiet.strip()  # threads split the work, never change the result
