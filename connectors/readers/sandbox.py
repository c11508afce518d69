"""Parsing untrusted files in bounded worker processes, so no file can take the agent down.

`ParserPool.parse` sends a file's bytes to a worker process (`connectors.readers.parse_worker`)
and returns the `ParsedFile` it answers, as plain JSON: no objects cross the pipe. Each worker
runs under an address-space cap (RLIMIT_AS) and, per file, a CPU-time cap (RLIMIT_CPU); the
parent adds a wall-clock timeout and kills a worker that passes it. A file that passes a bound,
crashes its parser or answers nonsense raises `UnreadableItemError` naming the file and the
bound, which connectors record as a skipped item; the next file gets a fresh worker. Workers
are reused across files (starting one costs a Python start-up), run in their own session (a
Ctrl-C of the terminal reaches the agent, which then closes them) and exit when the agent's
end of their pipe closes.

`ParseLimits.from_environment` reads the bounds (defaults in brackets):

- ``AGENTKIT_PARSE_MEMORY_MB`` [2048]: the address space of a worker;
- ``AGENTKIT_PARSE_CPU_S`` [60]: CPU seconds for one file;
- ``AGENTKIT_PARSE_TIMEOUT_S`` [120]: wall-clock seconds for one file;
- ``AGENTKIT_PARSE_MAX_TEXT_MB`` [32]: the text one file may yield (and the size of a plain
  text or Markdown file, checked before it is read);
- ``AGENTKIT_PARSE_ISOLATION`` [on]: ``off`` parses inside the agent's own process with none of
  these guards but the text bound (for debugging a reader; never for files from strangers).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from connectors.base import ConnectorError, UnreadableItemError
from connectors.readers.parsing import ParsedFile, parse_content, parsed_from_json

_MEBIBYTE = 1024 * 1024
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on parsing one file; see the module docstring for the environment variables."""

    memory_bytes: int = 2048 * _MEBIBYTE
    cpu_seconds: float = 60.0
    timeout_seconds: float = 120.0
    max_text_bytes: int = 32 * _MEBIBYTE
    isolated: bool = True

    @classmethod
    def from_environment(cls) -> ParseLimits:
        """The limits set by the ``AGENTKIT_PARSE_*`` variables, defaults for the others.

        Raises `ConnectorError` naming a variable whose value is not a positive number.
        """
        defaults = cls()
        isolation = os.environ.get("AGENTKIT_PARSE_ISOLATION", "on").strip().lower()
        if isolation not in ("on", "off", "1", "0", "true", "false", "yes", "no"):
            raise ConnectorError(f"AGENTKIT_PARSE_ISOLATION={isolation!r}: use on or off")
        return cls(
            memory_bytes=int(
                _positive("AGENTKIT_PARSE_MEMORY_MB", defaults.memory_bytes / _MEBIBYTE) * _MEBIBYTE
            ),
            cpu_seconds=_positive("AGENTKIT_PARSE_CPU_S", defaults.cpu_seconds),
            timeout_seconds=_positive("AGENTKIT_PARSE_TIMEOUT_S", defaults.timeout_seconds),
            max_text_bytes=int(
                _positive("AGENTKIT_PARSE_MAX_TEXT_MB", defaults.max_text_bytes / _MEBIBYTE) * _MEBIBYTE
            ),
            isolated=isolation in ("on", "1", "true", "yes"),
        )


def _positive(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConnectorError(f"{variable}={text!r} is not a positive number; fix or unset it")
    return value


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, limits: ParseLimits) -> None:
        settings = {"memory_bytes": limits.memory_bytes, "max_text_chars": limits.max_text_bytes}
        environment = dict(os.environ)
        path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = _PACKAGE_ROOT + (os.pathsep + path if path else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connectors.readers.parse_worker", json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment,
            close_fds=True,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def send(self, header: dict[str, object], contents: list[bytes]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(header).encode("utf-8") + b"\n")
        for content in contents:
            stdin.write(content)
        stdin.flush()

    def receive(self, *, deadline: float, max_bytes: int) -> bytes | None:
        """The answer line (without its newline), or None when the worker exited first.

        Raises `TimeoutError` at `deadline` and `ValueError` past `max_bytes`.
        """
        stdout = self.process.stdout
        assert stdout is not None
        descriptor = stdout.fileno()
        waiter = selectors.DefaultSelector()  # epoll/kqueue: no FD_SETSIZE limit in busy servers
        waiter.register(descriptor, selectors.EVENT_READ)
        received = bytearray()
        try:
            while True:
                newline = received.find(b"\n")
                if newline >= 0:
                    return bytes(received[:newline])
                if len(received) > max_bytes:
                    raise ValueError(f"answer over {max_bytes} bytes")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if not waiter.select(remaining):
                    continue
                chunk = os.read(descriptor, _READ_CHUNK)
                if not chunk:
                    return None
                received += chunk
        finally:
            waiter.close()

    def exit_status(self) -> int | None:
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process stuck in the kernel
            pass
        self._close_pipes()

    def close(self) -> None:
        """Ask the worker to exit (its stdin closes), then make sure it did."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


@dataclass(frozen=True)
class ParseRequest:
    """One file to parse: its bytes, its type (see `FILE_TYPES`) and its name for messages."""

    content: bytes
    file_type: str
    name: str


class ParserPool:
    """Worker processes that parse files under `limits`, reused from one file to the next."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        # pids of workers started by this pool (for tests and measurements)
        self.started_pids: list[int] = []

    def parse(self, content: bytes, *, file_type: str, name: str) -> ParsedFile:
        """Parse `content` as `file_type` in a worker; `UnreadableItemError` says why not."""
        [result] = self.parse_many([ParseRequest(content, file_type, name)])
        if isinstance(result, UnreadableItemError):
            raise result
        return result

    def parse_many(self, requests: list[ParseRequest]) -> list[ParsedFile | UnreadableItemError]:
        """Parse several (small) files in one round trip to a worker, each result in order.

        The bounds apply to the batch as a whole; when the batch passes one, each file is
        parsed again on its own, so only the file at fault is skipped.
        """
        if not requests:
            return []
        if not self.limits.isolated:
            return [self._parse_here(request) for request in requests]
        if len(requests) == 1:
            return [self._parse_alone(requests[0])]
        try:
            results = self._run_on_a_worker(requests)
        except UnreadableItemError:
            return [self._parse_alone(request) for request in requests]
        return [
            self._parse_alone(request) if isinstance(result, _MemoryBound) else result
            for result, request in zip(results, requests, strict=True)
        ]

    def close(self) -> None:
        """Stop every idle worker (a busy one stops when its parse returns)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def _parse_here(self, request: ParseRequest) -> ParsedFile | UnreadableItemError:
        try:
            return parse_content(
                request.content,
                file_type=request.file_type,
                name=request.name,
                max_text_chars=self.limits.max_text_bytes,
            )
        except UnreadableItemError as error:
            return error

    def _parse_alone(self, request: ParseRequest) -> ParsedFile | UnreadableItemError:
        try:
            [result] = self._run_on_a_worker([request])
        except UnreadableItemError as error:
            return error
        return UnreadableItemError(str(result)) if isinstance(result, _MemoryBound) else result

    def _take(self) -> _Worker:
        with self._lock:
            if os.getpid() != self._owner_pid:  # a forked child must not share its parent's pipes
                self._idle, self._owner_pid = [], os.getpid()
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
                    return worker
        worker = _Worker(self.limits)
        self.started_pids.append(worker.pid)
        return worker

    def _run_on_a_worker(self, requests: list[ParseRequest]) -> list[ParsedFile | UnreadableItemError]:
        """Each request's result; raises `UnreadableItemError` when the batch passed a bound.

        A worker that passed a bound, died or answered nonsense is killed, never reused.
        """
        worker = self._take()
        healthy = False
        try:
            results, healthy = self._exchange(worker, requests)
            return results
        finally:
            if healthy:
                with self._lock:
                    self._idle.append(worker)
            else:
                worker.kill()

    def _exchange(
        self, worker: _Worker, requests: list[ParseRequest]
    ) -> tuple[list[ParsedFile | UnreadableItemError], bool]:
        limits = self.limits
        name = requests[0].name if len(requests) == 1 else f"a batch of {len(requests)} files"
        header = {
            "files": [
                {"file_type": request.file_type, "name": request.name, "size": len(request.content)}
                for request in requests
            ],
            "cpu_seconds": limits.cpu_seconds,
        }
        deadline = time.monotonic() + limits.timeout_seconds
        try:
            worker.send(header, [request.content for request in requests])
            line = worker.receive(
                deadline=deadline, max_bytes=len(requests) * (6 * limits.max_text_bytes + _MEBIBYTE)
            )
        except TimeoutError:
            raise UnreadableItemError(
                f"{name}: parsing took longer than {limits.timeout_seconds:g} s, the bound for one "
                "file, and was stopped; the file was skipped (raise AGENTKIT_PARSE_TIMEOUT_S if you "
                "trust it)"
            ) from None
        except ValueError:
            raise UnreadableItemError(
                f"{name}: the parser answered more text than the {limits.max_text_bytes // _MEBIBYTE} "
                "MiB bound; the file was skipped"
            ) from None
        except OSError:  # the worker closed its end: it died
            line = None
        if line is None:
            raise UnreadableItemError(self._death_reason(worker, name))
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            answer = None
        answers = answer.get("answers") if isinstance(answer, dict) else None
        if not isinstance(answers, list) or len(answers) != len(requests):
            raise UnreadableItemError(
                f"{name}: the parse worker answered something malformed; the file was skipped"
            )
        results = [
            self._result(item, name=request.name) for item, request in zip(answers, requests, strict=True)
        ]
        return results, not any(isinstance(result, _MemoryBound) for result in results)

    def _result(self, answer: object, *, name: str) -> ParsedFile | UnreadableItemError:
        if not isinstance(answer, dict):
            return UnreadableItemError(
                f"{name}: the parse worker answered something malformed; the file was skipped"
            )
        if answer.get("ok") is True:
            try:
                return parsed_from_json(answer.get("parsed"), name=name)
            except UnreadableItemError as error:
                return error
        reason = answer.get("reason")
        if reason == "memory":
            return _MemoryBound(self._memory_reason(name))
        return UnreadableItemError(reason if isinstance(reason, str) else f"{name} could not be parsed")

    def _death_reason(self, worker: _Worker, name: str) -> str:
        status = worker.exit_status()
        if status is not None and -status == signal.SIGXCPU:
            return (
                f"{name}: parsing used more than {self.limits.cpu_seconds:g} s of CPU, the bound for one "
                "file, and was stopped; the file was skipped (raise AGENTKIT_PARSE_CPU_S if you trust it)"
            )
        if status is not None and status < 0:
            try:
                signal_name = signal.Signals(-status).name
            except ValueError:
                signal_name = f"signal {-status}"
            if -status in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
                return (
                    f"{name}: the parser crashed ({signal_name}): a parser bug, or the "
                    f"{self.limits.memory_bytes // _MEBIBYTE} MiB memory bound for one file; the file "
                    "was skipped (raise AGENTKIT_PARSE_MEMORY_MB if you trust it)"
                )
            return f"{name}: the parser was stopped by {signal_name}; the file was skipped"
        return (
            f"{name}: the parse worker exited (status {status}) before answering, most likely at the "
            f"{self.limits.memory_bytes // _MEBIBYTE} MiB memory bound for one file; the file was skipped"
        )

    def _memory_reason(self, name: str) -> str:
        return (
            f"{name}: parsing needed more than the {self.limits.memory_bytes // _MEBIBYTE} MiB memory "
            "bound for one file and was stopped; the file was skipped (raise "
            "AGENTKIT_PARSE_MEMORY_MB if you trust it)"
        )


class _MemoryBound(UnreadableItemError):
    """A file passed the memory bound inside a batch: worth parsing again on its own."""


_POOLS: dict[ParseLimits, ParserPool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(limits: ParseLimits) -> ParserPool:
    """The process-wide pool for `limits` (workers are reused by every connector); closed at exit."""
    with _POOLS_LOCK:
        pool = _POOLS.get(limits)
        if pool is None:
            pool = _POOLS[limits] = ParserPool(limits)
        return pool


@atexit.register
def _close_pools() -> None:
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
    for pool in pools:
        pool.close()
