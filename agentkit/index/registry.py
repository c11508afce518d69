"""Index backends by name, and the one this process uses.

`index_backends` maps a name to a `VectorBackend` class: `faiss` (the default) and `numpy` are
agentkit's; a plugin adds its own through the entry-point group `agentkit.index_backends`:

    [project.entry-points."agentkit.index_backends"]
    mybackend = "myplugin:MyBackend"

The environment variable `AGENTKIT_INDEX_BACKEND` picks the backend agents use; each index
manifest records the backend that wrote it, and a file written by another backend is treated
like one that lags SQL (rebuilt from the vectors SQL stores, see `agentkit.index.files`).

`pgvector` is not a file backend and is not registered here: an agent whose database is
PostgreSQL with pgvector keeps its index in the database (`agentkit.index.pgvector`);
`agentkit.index.pg_schema.backend_for_agent` decides which an agent uses.
"""

from __future__ import annotations

import os

from agentkit.errors import InvalidSettingError
from agentkit.index.base import VectorBackend
from agentkit.index.faiss import FaissBackend
from agentkit.index.numpy import NumpyBackend
from agentkit.plugins import PluginError, Registry

INDEX_BACKEND_VARIABLE = "AGENTKIT_INDEX_BACKEND"
DEFAULT_INDEX_BACKEND = FaissBackend.name

index_backends: Registry[type[VectorBackend]] = Registry("index backend", "agentkit.index_backends")
index_backends.register(FaissBackend.name, FaissBackend)
index_backends.register(NumpyBackend.name, NumpyBackend)


def configured_backend_name() -> str:
    """The backend named by `AGENTKIT_INDEX_BACKEND`, or the default."""
    return os.environ.get(INDEX_BACKEND_VARIABLE, "").strip() or DEFAULT_INDEX_BACKEND


def index_backend(name: str | None = None) -> type[VectorBackend]:
    """The backend class registered as `name` (default: the configured one)."""
    name = name or configured_backend_name()
    backend = index_backends.get(name)
    if backend is None:
        raise InvalidSettingError(
            f"no index backend {name!r} (set by {INDEX_BACKEND_VARIABLE} or given); known backends: "
            f"{', '.join(index_backends.names())}"
        )
    if getattr(backend, "name", None) != name:
        raise PluginError(
            f"the index backend registered as {name!r} calls itself {getattr(backend, 'name', None)!r}; "
            "its `name` must be the name it is registered under (index manifests record it)"
        )
    return backend
