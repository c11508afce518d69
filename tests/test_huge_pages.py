"""A large FAISS index searched more than once has its vectors in huge pages
(`agentkit.index.huge_pages`); a small one, or one searched once, keeps ordinary pages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from agentkit.index.faiss import FaissBackend
from agentkit.index.huge_pages import HUGE_PAGE, MIN_BYTES, advise_huge_pages, huge_page_bytes

THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")

if not sys.platform.startswith("linux"):
    pytest.skip("transparent huge pages are Linux's", allow_module_level=True)
if not THP_SETTING.is_file() or "[never]" in THP_SETTING.read_text():
    pytest.skip("transparent huge pages are off on this machine", allow_module_level=True)


def filled_index(count: int, seed: int = 0) -> FaissBackend:
    vectors = np.random.default_rng(seed).standard_normal((count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissBackend(384)
    index.add(np.arange(1, count + 1, dtype=np.int64), vectors)
    return index


def test_a_large_index_moves_to_huge_pages_at_its_second_search() -> None:
    index = filled_index(24_000)  # 37 MB of vectors
    address, size = index.vector_memory()
    assert size == 24_000 * 384 * 4 >= MIN_BYTES
    query = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    # Deltas: a mapping the vectors share may hold another allocation's huge pages.
    before = huge_page_bytes(address, size)
    first = index.search(query, 5)
    assert huge_page_bytes(address, size) == before
    second = index.search(query, 5)
    assert huge_page_bytes(address, size) - before >= size - 2 * HUGE_PAGE
    assert np.array_equal(first[1], second[1]) and np.array_equal(first[0], second[0])

    more = np.random.default_rng(1).standard_normal((4_000, 384)).astype(np.float32)
    more /= np.linalg.norm(more, axis=1, keepdims=True)
    index.add(np.arange(30_001, 34_001, dtype=np.int64), more)  # the vectors move to a new array
    moved, grown = index.vector_memory()
    assert grown == 28_000 * 384 * 4
    before = huge_page_bytes(moved, grown)
    index.search(query, 5)
    index.search(query, 5)
    assert huge_page_bytes(moved, grown) - before >= grown - 2 * HUGE_PAGE


def test_a_small_index_keeps_ordinary_pages() -> None:
    index = filled_index(8_000)  # 12 MB: too little to gain from huge pages
    address, size = index.vector_memory()
    assert size < MIN_BYTES
    query = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    before = huge_page_bytes(address, size)
    for _ in range(3):
        index.search(query, 5)
    assert huge_page_bytes(address, size) == before


def test_advice_on_less_than_one_huge_page_is_refused() -> None:
    assert advise_huge_pages(HUGE_PAGE + 4096, HUGE_PAGE - 8192) is False
    assert FaissBackend(384).vector_memory() == (0, 0)
