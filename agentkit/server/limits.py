"""Per-process limits: token-bucket rate limits and the bounded queue of answers.

Generation is CPU-bound, so a process answers `concurrency` questions at once on its own
threads and lets at most `queue_length` more wait; anything beyond is refused at once with a
Retry-After estimate, never left hanging. llama.cpp is not thread-safe: answers of local
models also take one process-wide lock, so `concurrency` above 1 only overlaps retrieval
and remote (OpenAI-compatible) generation.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from agentkit.server.keys import Rate

T = TypeVar("T")


class RateLimited(Exception):
    """Too many requests; `retry_after_s` says when one more would pass."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueFull(RateLimited):
    """Every answering slot and queue place of this process is taken."""


class RateLimiter:
    """Token buckets by name ("key:12", "client:10.0.0.1"), refilled continuously."""

    def __init__(self, *, max_buckets: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last refill)
        self._lock = threading.Lock()
        self._max_buckets = max_buckets

    def take(self, name: str, rate: Rate, *, what: str) -> None:
        """Spend one token of `name`'s bucket or raise `RateLimited`."""
        per_second = rate.requests / rate.seconds
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(rate.requests), now))
            tokens = min(float(rate.requests), tokens + (now - last) * per_second)
            if tokens < 1:
                self._buckets[name] = (tokens, now)
                wait = math.ceil((1 - tokens) / per_second)
                raise RateLimited(f"rate limit of {what} ({rate}) reached; retry in {wait} s", wait)
            if len(self._buckets) >= self._max_buckets and name not in self._buckets:
                self._buckets.clear()  # bounded memory under an address flood; limits restart
            self._buckets[name] = (tokens - 1, now)


class AnswerQueue:
    """Runs answers on `concurrency` threads with at most `queue_length` waiting."""

    def __init__(self, *, concurrency: int, queue_length: int) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + queue_length
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="agentkit-answer")
        self._lock = threading.Lock()
        self._pending = 0
        self._mean_s = 2.0  # moving average of an answer's duration, for Retry-After
        self.model_lock = threading.Lock()
        self.closed = False

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Queue `work` or raise `QueueFull` at once."""
        with self._lock:
            if self.closed:
                raise QueueFull("the server is shutting down", 5)
            if self._pending >= self.capacity:
                wait = max(1, math.ceil(self._mean_s * (self._pending + 1) / self.concurrency))
                raise QueueFull(
                    f"all {self.concurrency} answering slots and {self.capacity - self.concurrency} "
                    f"queue places are taken; retry in {wait} s",
                    wait,
                )
            self._pending += 1

        def run() -> T:
            started = time.monotonic()
            try:
                return work()
            finally:
                with self._lock:
                    self._pending -= 1
                    self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - started)

        try:
            return self._executor.submit(run)
        except RuntimeError:  # the executor shut down between the check and now
            with self._lock:
                self._pending -= 1
            raise QueueFull("the server is shutting down", 5) from None

    def shutdown(self) -> None:
        """Refuse new answers and wait for those queued or in flight to finish."""
        with self._lock:
            self.closed = True
        self._executor.shutdown(wait=True)
