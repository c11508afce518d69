"""The ONNX weights file just written leaves the page cache, so the first process to map it
holds only the pages it touches (`agentkit.models.onnx_export.drop_from_page_cache`).

Residency is read with mincore(2) on a mapping of the file: for a file mapping it reports
whether each page is in the page cache, without reading it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from agentkit.models.onnx_export import drop_from_page_cache, store_with_external_weights

if not sys.platform.startswith("linux"):
    pytest.skip("mincore and posix_fadvise as Linux has them", allow_module_level=True)


def cached_fraction(path: Path) -> float:
    """The share of `path`'s pages in the page cache."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte))
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    with open(path, "rb") as handle:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, handle.fileno(), 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vector = (ctypes.c_ubyte * pages)()
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            libc.munmap(address, size)
    return sum(byte & 1 for byte in vector) / pages


def write_model(path: Path, rows: int = 4096) -> None:
    """A one-node ONNX graph (Gather from a rows x 256 float table), inside one file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.random.default_rng(1).standard_normal((rows, 256)).astype(np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"])],
        "lookup",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [None, 256])],
        initializer=[table],
    )
    onnx.save_model(helper.make_model(graph), str(path))


def test_the_weights_file_leaves_the_page_cache_once_written(tmp_path: Path) -> None:
    source = tmp_path / "single.onnx"
    write_model(source)
    target = tmp_path / "cache" / "model-int8.onnx"
    store_with_external_weights(source, target)
    (data,) = target.parent.glob("*.data")
    assert data.stat().st_size >= 4 * 1024 * 1024
    assert cached_fraction(data) < 0.1
    data.read_bytes()  # read back: the pages return, and the graph still runs from the file
    assert cached_fraction(data) > 0.9

    import onnxruntime

    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (rows,) = session.run(None, {"ids": np.array([0, 4095], dtype=np.int64)})
    assert rows.shape == (2, 256)


def test_dropping_a_file_that_is_gone_is_quiet(tmp_path: Path) -> None:
    drop_from_page_cache(tmp_path / "missing.data")
