"""Backing an index's vectors with transparent huge pages, so a search scans them faster.

An exact search reads every stored vector once per query: at 100,000 MiniLM vectors, 154 MB
spread over 37,500 ordinary 4 KiB pages, and the processor's address-translation cache holds
only a few thousand of those. In 2 MiB pages the same scan took a third less time (one query,
one thread, bare FAISS: 8.5 -> 5.5 ms at 100k vectors, 3.7 -> 2.0 ms at 30k, 20.3 -> 16.4 ms
at 300k; no gain at 10k, 15 MB; `benchmarks/huge_pages.py`).

Linux gives them to memory that asks (`madvise(MADV_HUGEPAGE)`, honoured unless transparent
huge pages are off) and turns memory already written into them on request (`MADV_COLLAPSE`,
Linux 6.1 and later): about 0.3 ms per MB (44 ms at 100k), once. A process that searches an
index once would pay more than it gains, so `HugePageAdvisor` asks at an index's second
search, and again only when the vectors move (a sync that grew the index reallocates them).
Elsewhere, or when the kernel refuses, nothing changes: the pages stay ordinary.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from pathlib import Path

HUGE_PAGE = 2 * 1024 * 1024
# Below this the gain was lost in the noise (none at 8 or 15 MB; a quarter at 46 MB).
MIN_BYTES = 32 * 1024 * 1024
MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
# A process that searches once (one `agentkit ask`) never pays for the move.
ADVISE_AT_SEARCH = 2


def advise_huge_pages(address: int, size: int) -> bool:
    """Ask Linux to back the whole 2 MiB pages inside [address, address + size) with huge
    pages, now. True when the kernel agreed; False elsewhere or when it refused."""
    start = -(-address // HUGE_PAGE) * HUGE_PAGE
    end = (address + size) // HUGE_PAGE * HUGE_PAGE
    if end <= start or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return False
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    if madvise(start, end - start, MADV_HUGEPAGE) != 0:
        return False  # huge pages are off, or this kernel has none
    # Without MADV_COLLAPSE (before Linux 6.1) the advice alone lets the kernel's background
    # collapser convert the range later.
    return madvise(start, end - start, MADV_COLLAPSE) == 0


def huge_page_bytes(address: int, size: int) -> int:
    """How much of the memory around [address, address + size) Linux holds in huge pages: the
    AnonHugePages of every mapping that overlaps it, from /proc/self/smaps (advice splits a
    mapping, so the range may span several; a mapping may also hold other allocations).
    0 where there is no such file. For tests and benchmarks."""
    try:
        lines = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return 0
    total = 0
    overlaps = False
    for line in lines:
        first = line.split(maxsplit=1)[0]
        if "-" in first and ":" not in first:
            low, high = (int(part, 16) for part in first.split("-"))
            overlaps = low < address + size and address < high
        elif overlaps and first == "AnonHugePages:":
            total += int(line.split()[1]) * 1024
    return total


class HugePageAdvisor:
    """Decides when one index's vector memory is worth moving to huge pages: at its second
    search, when it is at least `MIN_BYTES`, and once per place and size of that memory."""

    def __init__(self) -> None:
        self._seen: tuple[int, int] | None = None
        self._searches = 0

    def before_search(self, size: int, address: Callable[[], int]) -> None:
        """`size`: the vectors' bytes; `address()`: where they start (asked only from `MIN_BYTES`)."""
        if size < MIN_BYTES:
            return
        place = (address(), size)
        if self._seen != place:
            self._seen = place
            self._searches = 0
        self._searches += 1
        if self._searches == ADVISE_AT_SEARCH:
            advise_huge_pages(*place)
