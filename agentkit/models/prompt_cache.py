"""A disk cache of llama.cpp's state after an agent's fixed system prompt.

Every answer's prompt starts with the same system turn (instructions and persona, a few hundred
tokens). In one process llama-cpp-python already keeps the KV cache of the last prompt and
re-evaluates only what differs; a new process (each `agentkit ask`) would evaluate the system
turn again, on a 2-core CPU the largest part of a cold answer's prompt evaluation. So the
state after the system turn is saved once, and a fresh process loads it instead.

File layout (no pickle): `AKPC1\\n`, the token count (uint32, little-endian), the tokens
(int32 each), then llama.cpp's own state bytes (`llama_state_get_data`). The file is named by
a hash of the model file (path, size, modification time), the context size, the llama-cpp-python
version and the tokens, and is loaded only into a fresh context whose prompt starts with those
exact tokens. Any failure to read or load falls back to evaluating the prompt, as without a cache.
"""

from __future__ import annotations

import ctypes
import hashlib
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentkit.atomic_files import write_bytes_atomically
from agentkit.store.database import resolve_home

MAGIC = b"AKPC1\n"
CACHE_FOLDER = Path("cache") / "llama-prompts"
# Files kept per model and context size: one per distinct system prompt in use.
KEEP_FILES = 16
# Prefixes shorter than this are cheaper to evaluate than to read from disk.
MIN_PREFIX_TOKENS = 32


def state_file(model_path: str, context_window: int, tokens: Sequence[int]) -> Path:
    """Where the state after `tokens` for this model and context size is cached."""
    import llama_cpp

    status = Path(model_path).stat()
    model_key = hashlib.sha256(
        f"{Path(model_path).resolve()}\n{status.st_size}\n{status.st_mtime_ns}\n{context_window}\n"
        f"{llama_cpp.__version__}".encode()
    ).hexdigest()[:16]
    prefix_key = hashlib.sha256(struct.pack(f"<{len(tokens)}i", *tokens)).hexdigest()[:24]
    return resolve_home(None) / CACHE_FOLDER / model_key / f"{prefix_key}.state"


def restore_prefix(llm: Any, path: Path, tokens: Sequence[int]) -> bool:
    """Load the cached state after `tokens` into `llm` (a fresh `llama_cpp.Llama`); False when
    there is none or it does not fit, leaving `llm` fresh."""
    import llama_cpp
    import numpy as np

    try:
        content = path.read_bytes()
    except OSError:
        return False
    header = len(MAGIC) + 4
    if not content.startswith(MAGIC) or len(content) < header:
        return False
    (count,) = struct.unpack_from("<I", content, len(MAGIC))
    if count != len(tokens) or len(content) < header + 4 * count:
        return False
    stored = np.frombuffer(content, dtype="<i4", count=count, offset=header)
    if stored.tolist() != list(tokens):
        return False
    state = content[header + 4 * count :]
    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(state)) != len(state):
        llm.reset()
        return False
    llm.input_ids[:count] = stored
    llm.n_tokens = count
    llm._requires_eval = True  # llama-cpp-python's flag: logits come from a restored state
    return True


def save_prefix(llm: Any, path: Path, tokens: Sequence[int]) -> None:
    """Evaluate `tokens` in `llm` (fresh) and cache the resulting state at `path`."""
    import llama_cpp

    llm.eval(list(tokens))
    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
    if written <= 0 or written > size:
        return
    content = MAGIC + struct.pack("<I", len(tokens)) + struct.pack(f"<{len(tokens)}i", *tokens)
    write_bytes_atomically(path, content + bytes(memoryview(buffer)[:written]))
    _forget_old_files(path.parent)


def _forget_old_files(folder: Path) -> None:
    files = sorted(folder.glob("*.state"), key=lambda file: file.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        old.unlink(missing_ok=True)
