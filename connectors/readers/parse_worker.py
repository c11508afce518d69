"""The parse worker: a child process that reads untrusted file bytes under resource limits.

Run as ``python -m connectors.readers.parse_worker LIMITS_JSON`` by `connectors.readers.sandbox`,
never by hand. At start it caps its own address space (RLIMIT_AS) and disables core dumps; then
it serves requests one after another on stdin/stdout until stdin closes:

- request: one JSON line ``{"files": [{"file_type": ..., "name": ..., "size": N}, ...],
  "cpu_seconds": S}`` followed by the files' raw bytes, one after the other (read by the parent
  with the user's permissions);
- answer: one JSON line ``{"answers": [...]}``, one per file in order: ``{"ok": true,
  "parsed": {...}}`` (see `parsed_to_json`) or ``{"ok": false, "reason": "..."}``, where the
  reason ``"memory"`` means the file passed the memory bound.

Before each request the soft CPU limit (RLIMIT_CPU) is moved to "CPU used so far + S", so the
kernel stops a batch that spins (SIGXCPU). After a `MemoryError` the worker answers the batch
and exits, so the next file gets a fresh process. Anything a library prints goes to
stderr, never into the answers: the answers use a private copy of the original stdout.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import BinaryIO

from connectors.base import UnreadableItemError
from connectors.readers.parsing import parse_content, parsed_to_json

try:  # POSIX only; elsewhere the worker still isolates crashes, without kernel limits
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

_MAX_HEADER_BYTES = 64 * 1024


def main(argv: list[str]) -> int:
    """Serve requests until stdin closes; returns the exit status."""
    limits = json.loads(argv[1]) if len(argv) > 1 else {}
    _apply_memory_limit(int(limits.get("memory_bytes", 0)))
    max_text_chars = int(limits.get("max_text_chars", 32 * 1024 * 1024))
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from parsers land on stderr
    requests = sys.stdin.buffer
    while True:
        header = requests.readline(_MAX_HEADER_BYTES)
        if not header:
            return 0
        request = json.loads(header)
        files = request["files"]
        contents = [_read_exactly(requests, int(file["size"])) for file in files]
        if any(content is None for content in contents):
            return 0
        _apply_cpu_limit(float(request.get("cpu_seconds", 0)))
        batch: list[dict[str, object]] = []
        restart = False
        for index, file in enumerate(files):
            content = contents[index]
            contents[index] = None  # let each file's bytes go once read
            answer, out_of_memory = _answer(content or b"", file, max_text_chars=max_text_chars)
            batch.append(answer)
            restart = restart or out_of_memory
        answers.write(json.dumps({"answers": batch}, ensure_ascii=False).encode("utf-8") + b"\n")
        answers.flush()
        if restart:
            return 0


def _answer(
    content: bytes, request: dict[str, object], *, max_text_chars: int
) -> tuple[dict[str, object], bool]:
    name = str(request["name"])
    try:
        parsed = parse_content(
            content, file_type=str(request["file_type"]), name=name, max_text_chars=max_text_chars
        )
    except UnreadableItemError as error:
        return {"ok": False, "reason": str(error)}, False
    except MemoryError:
        return {"ok": False, "reason": "memory"}, True
    except RecursionError:
        return {
            "ok": False,
            "reason": f"{name} is nested too deeply to parse (a malformed or hostile file); the file was skipped",
        }, False
    except Exception as error:  # a parser bug: report it, keep serving
        return {
            "ok": False,
            "reason": f"{name} could not be parsed ({type(error).__name__}: {error}); the file was skipped",
        }, False
    try:
        return {"ok": True, "parsed": parsed_to_json(parsed)}, False
    except MemoryError:
        return {"ok": False, "reason": "memory"}, True


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(min(remaining, 1024 * 1024))
        if not part:
            return None
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _apply_memory_limit(memory_bytes: int) -> None:
    if resource is None:
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_bytes > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError):  # a platform that refuses (macOS ignores RLIMIT_AS)
        pass


def _apply_cpu_limit(cpu_seconds: float) -> None:
    if resource is None or cpu_seconds <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + cpu_seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
