"""The agentkit CLI with a counting embedder, for fault tests that kill or starve a process.

`python -m tests.fault_cli ARGS...` runs `agentkit ARGS...` with the embedder kind `counting`
registered: `counting:N` is the hashing embedder of N dimensions that appends, before each batch
it embeds, the number of texts to the file named by `AGENTKIT_TEST_EMBED_LOG` (one line per
batch, so the count survives a SIGKILL), and sleeps `AGENTKIT_TEST_EMBED_DELAY_S` seconds per
batch so that a test can catch the process between two commits. Tests register the same kind
in-process with `counting_embedders()`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentkit.models.embedders import Embedder, HashingEmbedder
from agentkit.models.registry import embedders

LOG_VARIABLE = "AGENTKIT_TEST_EMBED_LOG"
DELAY_VARIABLE = "AGENTKIT_TEST_EMBED_DELAY_S"
KIND = "counting"


class CountingEmbedder(HashingEmbedder):
    def __init__(self, dimension: int) -> None:
        super().__init__(dimension)
        self.batch_size = 64
        log = os.environ.get(LOG_VARIABLE)
        self.log = Path(log) if log else None
        self.delay_s = float(os.environ.get(DELAY_VARIABLE) or 0)

    def embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        if self.log is not None and texts:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(f"{len(texts)}\n")
        if self.delay_s:
            time.sleep(self.delay_s)
        return super().embed_batch(texts)


def counting_embedder(target: str) -> Embedder:
    return CountingEmbedder(int(target))


def embedded_count(log: Path) -> int:
    """Texts embedded by every process that wrote to `log`."""
    if not log.exists():
        return 0
    return sum(int(line) for line in log.read_text(encoding="utf-8").split())


@contextmanager
def counting_embedders() -> Iterator[None]:
    with embedders.registered(KIND, counting_embedder):
        yield


def main() -> None:
    from agentkit.cli.app import main as agentkit_main

    embedders.register(KIND, counting_embedder, replace=True)
    agentkit_main()


if __name__ == "__main__":
    main()
