"""When a long sync commits what it has: every N documents, every T seconds, or on a chunk bound.

A sync reads its source as a stream and commits in batches (see `agentkit.ingest.pipeline`), so a
killed `add` or `sync` keeps what it finished. Each commit also rewrites the agent's index file,
whose cost grows with the index; so a batch is committed once it holds N documents (or
`DEFAULT_CHUNKS` chunks) and also at least `MIN_GROWTH` of the chunks the agent holds, which keeps
the rewrites to a bounded share of a long sync however large the index, or once T seconds of
work have gathered, so a kill loses at most that much. A batch that has gathered `MEMORY_FACTOR`
times the chunk bound commits regardless, so memory stays bounded. The rule reads no clock but
T's, so a slow commit on a loaded machine does not change how the next batches are cut.

The settings come from the environment: `AGENTKIT_SYNC_BATCH_DOCUMENTS` (default 200) and
`AGENTKIT_SYNC_BATCH_SECONDS` (default 30).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agentkit.errors import InvalidSettingError

DOCUMENTS_VARIABLE = "AGENTKIT_SYNC_BATCH_DOCUMENTS"
SECONDS_VARIABLE = "AGENTKIT_SYNC_BATCH_SECONDS"
DEFAULT_DOCUMENTS = 200
DEFAULT_SECONDS = 30.0
DEFAULT_CHUNKS = 4000
MIN_GROWTH = 1 / 50
MEMORY_FACTOR = 4


@dataclass(frozen=True)
class Batching:
    """How much a sync gathers before it commits."""

    documents: int = DEFAULT_DOCUMENTS
    seconds: float = DEFAULT_SECONDS
    chunks: int = DEFAULT_CHUNKS

    @classmethod
    def from_environment(cls) -> Batching:
        documents = _setting(DOCUMENTS_VARIABLE, DEFAULT_DOCUMENTS, "200")
        seconds = _setting(SECONDS_VARIABLE, DEFAULT_SECONDS, "30")
        return cls(documents=max(1, int(documents)), seconds=seconds)

    def due(self, *, documents: int, chunks: int, waited_s: float, index_chunks: int) -> bool:
        """Commit now? `documents`/`chunks` are gathered and not committed, `waited_s` the work
        since the last commit, `index_chunks` the chunks the agent's index holds."""
        if documents == 0:
            return False
        if chunks >= MEMORY_FACTOR * self.chunks or waited_s >= self.seconds:
            return True
        full = documents >= self.documents or chunks >= self.chunks
        return full and chunks >= MIN_GROWTH * index_chunks


def _setting(variable: str, default: float, example: str) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise InvalidSettingError(
            f"{variable}={text!r} is not a positive number; set it to a value such as {example}, "
            f"or unset it for the default of {default:g}"
        )
    return value
