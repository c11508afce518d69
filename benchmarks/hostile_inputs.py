"""Benchmark: hostile files against the bounded parse worker, one table row per case.

Each case writes its files into a scratch folder (`tests/hostile_files.py`), reads them through
the connector that would ingest them (files or records) in a fresh Python process, and reports
what happened, the wall-clock time, and the peak resident memory of that process (the agent
side) and of its parse workers. The rows are the table in `docs/SECURITY.md`.

    .venv/bin/python benchmarks/hostile_inputs.py                    # every case but 10^6 files
    .venv/bin/python benchmarks/hostile_inputs.py --only tiny-files --tiny-files 1000000 \
        --hard-links --tmp /dev/shm     # a million names in RAM, without a million inodes
    .venv/bin/python benchmarks/hostile_inputs.py --only shared-pdfs small-text

`shared-pdfs` and `small-text` also run with AGENTKIT_PARSE_ISOLATION=off: the cost of the
worker. Cases that need `../shared/data` say so and are left out when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from connectors.base import Document, SkippedItem  # noqa: E402
from connectors.files import FilesConnector  # noqa: E402
from connectors.records import RecordsConnector  # noqa: E402
from tests import hostile_files  # noqa: E402

SHARED_PDFS = REPO_ROOT.parent / "shared" / "data" / "pdfs"
MIB = 1024 * 1024


def write_cpu_bomb_pdf(folder: Path) -> Path:
    objects = hostile_files._page_objects(b"")
    operators = b"BT /F1 12 Tf 72 720 Td (busy) Tj ET\n" * 200_000
    objects[4] = hostile_files._stream(zlib.compress(operators, 9), extra=b"/Filter /FlateDecode ")
    path = folder / "cpu-bomb.pdf"
    path.write_bytes(hostile_files.pdf_bytes(objects))
    return path


def write_small_text(folder: Path, count: int = 2000) -> Path:
    for index in range(count):
        (folder / f"note{index:05d}.txt").write_text(
            f"Note {index}. A small text file about topic {index % 37}.\nSecond line.\n"
        )
    return folder


# name -> (what the input is, bound(s) that apply, environment, how to build, how to read)
Case = tuple[str, str, dict[str, str], Callable[[Path, argparse.Namespace], Path], str]
DEFAULT_BOUNDS = "worker: 2 GiB address space, 60 s CPU, 120 s wall, 32 MiB text"
CASES: dict[str, Case] = {
    "shared-pdfs": (
        "116 PDFs of shared/data/pdfs (broken, encrypted, scanned, CJK/Arabic) + 44 other files",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: SHARED_PDFS,
        "files",
    ),
    "small-text": (
        "2,000 small .txt files",
        DEFAULT_BOUNDS + "; batches of 64 files",
        {},
        lambda folder, options: write_small_text(folder),
        "files",
    ),
    "circular-xref": (
        "PDF: xref /Prev pointing at itself, object stream /Extends itself",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_circular_xref_pdf(folder),
        "files",
    ),
    "count-lie": (
        "PDF: /Count 1,000,000,000, page tree listing itself as a kid",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_count_lie_pdf(folder),
        "files",
    ),
    "deep-arrays": (
        "PDF: arrays nested 10,000 deep in the page resources",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_deep_array_pdf(folder, depth=10_000),
        "files",
    ),
    "inflate-bomb": (
        "PDF: 1 MB content stream that inflates to 1 GiB",
        DEFAULT_BOUNDS + "; pypdf's own 75 MB inflate cap",
        {},
        lambda folder, options: hostile_files.write_inflate_bomb_pdf(folder, inflated_bytes=1024 * MIB),
        "files",
    ),
    "inflate-bomb-128": (
        "PDF: content stream that inflates to 200 MiB, worker capped at 128 MiB",
        "AGENTKIT_PARSE_MEMORY_MB=128",
        {"AGENTKIT_PARSE_MEMORY_MB": "128"},
        lambda folder, options: hostile_files.write_inflate_bomb_pdf(folder, inflated_bytes=200 * MIB),
        "files",
    ),
    "cpu-bomb": (
        "PDF: 21 KB, one page of 200,000 text operators (minutes of pypdf CPU)",
        "AGENTKIT_PARSE_CPU_S=10",
        {"AGENTKIT_PARSE_CPU_S": "10"},
        lambda folder, options: write_cpu_bomb_pdf(folder),
        "files",
    ),
    "parser-crash": (
        "fault: the parse worker dies of SIGSEGV mid-file (the cpu-bomb PDF, killed after 0.5 s)",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: write_cpu_bomb_pdf(folder),
        "files-crash",
    ),
    "invalid-utf8": (
        "text: invalid UTF-8 bytes",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_text_cases(folder)["invalid-utf8.txt"],
        "files",
    ),
    "utf16-no-bom": (
        "text: UTF-16 without a byte-order mark",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_text_cases(folder)["utf16-no-bom.txt"],
        "files",
    ),
    "nul-bytes": (
        "text: NUL bytes",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_text_cases(folder)["nul-bytes.txt"],
        "files",
    ),
    "one-line-200mb": (
        "text: one 200 MB line",
        "32 MiB of text per file (AGENTKIT_PARSE_MAX_TEXT_MB)",
        {},
        lambda folder, options: hostile_files.write_single_line_file(folder, 200 * 1000 * 1000),
        "files",
    ),
    "one-line-30mb": (
        "text: one 30 MB line (under the bound: read)",
        DEFAULT_BOUNDS,
        {},
        lambda folder, options: hostile_files.write_single_line_file(folder, 30 * 1000 * 1000),
        "files",
    ),
    "tiny-files": (
        "text: N tiny files in folders of 10,000",
        DEFAULT_BOUNDS + "; batches of 64 files",
        {},
        lambda folder, options: hostile_files.write_tiny_files(
            folder, options.tiny_files, hard_links=options.hard_links
        ),
        "files",
    ),
    "symlink-loops": (
        "folder: links to itself, its parent, each other, nowhere and /",
        "no link is followed out of the folder or twice",
        {},
        lambda folder, options: hostile_files.write_symlink_loops(folder / "loops"),
        "files",
    ),
    "docx-zip-bomb": (
        "DOCX: a part of 1 GiB of zeros (1 MB compressed)",
        "safe_zip: 100 MiB a part, 256 MiB in all, ratio 200:1",
        {},
        lambda folder, options: hostile_files.write_docx_zip_bomb(folder, inflated_bytes=1024 * MIB),
        "files",
    ),
    "docx-entity-bomb": (
        "DOCX: billion-laughs entities in document.xml",
        "python-docx parser: entities not resolved; libxml2 amplification cap",
        {},
        lambda folder, options: hostile_files.write_docx_entity_bomb(folder),
        "files",
    ),
    "jsonl-1gb-line": (
        "JSONL: one 1 GiB line between two good records",
        "16 MiB a line (AGENTKIT_RECORDS_MAX_LINE_MB), read past in 1 MiB pieces",
        {},
        lambda folder, options: hostile_files.write_huge_jsonl_line(folder, line_bytes=1024 * MIB),
        "records",
    ),
    "jsonl-hostile": (
        "JSONL: 100,000-deep nesting, wrong types, duplicate ids, a non-object line",
        "Python's JSON recursion limit; per-record checks",
        {},
        lambda folder, options: hostile_files.write_hostile_records(folder),
        "records",
    ),
}
BASELINES = ("shared-pdfs", "small-text")


def run_case(name: str, options: argparse.Namespace) -> dict[str, object]:
    """Build and read one case in this process; measure it."""
    _, _, _, build, reader = CASES[name]
    scratch = Path(tempfile.mkdtemp(prefix=f"hostile-{name}-", dir=options.tmp))
    try:
        location = build(scratch, options)
        started = time.perf_counter()
        if reader == "records":
            items = RecordsConnector(location, text_field="text", id_field="id").fetch({})
        else:
            items = FilesConnector(location).fetch({})
        if reader == "files-crash":
            threading.Thread(target=_crash_first_worker, daemon=True).start()
        documents = skipped = 0
        reasons: list[str] = []
        for item in items:
            if isinstance(item, Document):
                documents += 1
            elif isinstance(item, SkippedItem):
                skipped += 1
                if len(reasons) < 2 and item.reason not in reasons:
                    reasons.append(
                        item.reason.replace(str(scratch) + "/", "").replace(str(location) + "/", "")
                    )
        seconds = time.perf_counter() - started
        from connectors.readers.sandbox import _close_pools

        _close_pools()  # the workers are waited for, so their peak memory is counted
        return {
            "documents": documents,
            "skipped": skipped,
            "reasons": reasons,
            "seconds": seconds,
            "agent_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _crash_first_worker() -> None:
    from connectors.readers.sandbox import ParseLimits, shared_pool

    pool = shared_pool(ParseLimits.from_environment())
    while not pool.started_pids:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(pool.started_pids[0], signal.SIGSEGV)


def measure(name: str, options: argparse.Namespace, *, extra_env: dict[str, str]) -> dict[str, object]:
    """Run one case in a fresh Python process, so peak memory is that case's alone."""
    environment = {**os.environ, **CASES[name][2], **extra_env}
    command = [sys.executable, __file__, "--case", name, "--tiny-files", str(options.tiny_files)]
    if options.tmp:
        command += ["--tmp", options.tmp]
    if options.hard_links:
        command.append("--hard-links")
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        return {"error": f"exit {finished.returncode}: {finished.stderr.strip()[-300:]}"}
    return json.loads(finished.stdout.strip().splitlines()[-1])


def table_row(
    name: str, result: dict[str, object], *, label: str, bound: str, options: argparse.Namespace
) -> str:
    if "error" in result:
        return f"| {label} | {bound} | benchmark failed: {result['error']} | | |"
    happened = f"{result['documents']} read, {result['skipped']} skipped"
    reasons = result["reasons"]
    assert isinstance(reasons, list)
    if reasons:
        happened += ": " + " / ".join(_short(str(reason)) for reason in reasons)
    label = label.replace("N tiny", f"{options.tiny_files:,} tiny")
    return (
        f"| {label} | {bound} | {happened} | {float(result['seconds']):.2f} s "  # type: ignore[arg-type]
        f"| agent {float(result['agent_mib']):.0f} MiB, {_worker(float(result['worker_mib']))} |"  # type: ignore[arg-type]
    )


def _worker(mib: float) -> str:
    return f"worker {mib:.0f} MiB" if mib else "no worker"


def _short(reason: str, limit: int = 150) -> str:
    reason = reason.replace("|", "/")
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="cases to run (default: all)")
    parser.add_argument("--tiny-files", type=int, default=100_000, help="files in the tiny-files case")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: the system's)")
    parser.add_argument(
        "--hard-links", action="store_true", help="tiny files are hard links to one file (for a RAM disk)"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.case:
        print(json.dumps(run_case(options.case, options)))
        return 0
    names = options.only or list(CASES)
    if not SHARED_PDFS.is_dir() and "shared-pdfs" in names:
        print(f"({SHARED_PDFS} is absent: shared-pdfs left out)")
        names.remove("shared-pdfs")
    print("| input or fault | bound | what happened | time | peak memory |")
    print("|---|---|---|---|---|")
    for name in names:
        label, bound, _, _, _ = CASES[name]
        print(
            table_row(name, measure(name, options, extra_env={}), label=label, bound=bound, options=options),
            flush=True,
        )
        if name in BASELINES:
            result = measure(name, options, extra_env={"AGENTKIT_PARSE_ISOLATION": "off"})
            print(
                table_row(
                    name, result, label=label + " (in-process, no worker)", bound="none", options=options
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
