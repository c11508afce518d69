"""Model specs -> loaded models, through one registry per kind of model.

An agent names its generator and its embedder by a spec string:

| spec | generator | embedder |
|---|---|---|
| `default` | bundled SmolLM2-135M (llama.cpp) | bundled all-MiniLM-L6-v2 |
| a catalog name | that model once pulled (`agentkit models pull NAME`) | |
| a bare path | a `.gguf` file (llama.cpp) | a sentence-transformers folder |
| `llama-cpp:PATH.gguf` | that GGUF file | |
| `openai:http://HOST:PORT/v1#MODEL` | an OpenAI-compatible server | |
| `hashing-N` / `hashing:N` | | feature hashing, N dimensions |
| `onnx:TARGET` / `onnx-int8:TARGET` | | TARGET (`default` or a folder) run by onnxruntime, fp32 / int8 |
| `KIND:TARGET` | any kind a plugin registers | any kind a plugin registers |

A generator factory is called as `factory(target, settings)` and returns a `Generator`; an
embedder factory as `factory(target)` and returns an `Embedder` (its `embedder_id` becomes the
whole spec, which the index manifest records). Plugins register factories (a class works) in the entry-point groups
`agentkit.generators` and `agentkit.embedders`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from agentkit.errors import EmbedderError, GeneratorError, ModelSpecError
from agentkit.models.catalog import catalog_model_target
from agentkit.models.embedders import DEFAULT_EMBEDDER_ID, NEW_AGENT_EMBEDDER_ID, Embedder, HashingEmbedder
from agentkit.models.generators import DEFAULT_MODEL, GenerationSettings, Generator
from agentkit.models.llama_cpp import load_llama_cpp
from agentkit.models.onnx_embedder import load_onnx, load_onnx_int8
from agentkit.models.openai_compatible import load_openai_compatible, parse_openai_target
from agentkit.models.sentence_transformer import load_sentence_transformer
from agentkit.plugins import Registry

GeneratorFactory = Callable[[str, GenerationSettings], Generator]
EmbedderFactory = Callable[[str], Embedder]

generators: Registry[GeneratorFactory] = Registry("generator", "agentkit.generators")
embedders: Registry[EmbedderFactory] = Registry("embedder", "agentkit.embedders")

LLAMA_CPP = "llama-cpp"
OPENAI = "openai"
SENTENCE_TRANSFORMERS = "sentence-transformers"
HASHING = "hashing"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"

_KIND = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):(.*)$", re.S)
_LEGACY_HASHING = re.compile(r"^hashing-(\d+)$")


def _hashing(target: str) -> Embedder:
    if not target.isdigit() or not 2 <= int(target) <= 8192:
        raise EmbedderError(f"hashing embedder dimension {target!r} must be a number from 2 to 8192")
    return HashingEmbedder(int(target))


generators.register(LLAMA_CPP, load_llama_cpp)
generators.register(OPENAI, load_openai_compatible)
embedders.register(SENTENCE_TRANSFORMERS, load_sentence_transformer)
embedders.register(HASHING, _hashing)
embedders.register(ONNX, load_onnx)
embedders.register(ONNX_INT8, load_onnx_int8)


def split_generator_spec(spec: str, *, home: str | Path | None = None) -> tuple[str, str]:
    """(kind, target) for a generator spec; a bare path, `default` or the name of a pulled
    catalog model (looked for in `home`'s models folder) is llama.cpp."""
    spec = spec.strip()
    if spec == DEFAULT_MODEL:
        return LLAMA_CPP, DEFAULT_MODEL
    if not Path(spec).expanduser().exists():  # an existing file of that name wins
        pulled = catalog_model_target(spec, home)
        if pulled is not None:
            return LLAMA_CPP, pulled
    match = _KIND.match(spec)
    if match and generators.get(match.group(1)) is not None:
        return match.group(1), match.group(2)
    if match and not Path(spec).expanduser().exists() and "/" not in match.group(1):
        raise ModelSpecError(
            f"no generator kind {match.group(1)!r} (model {spec!r}); known kinds: "
            f"{', '.join(generators.names())}, or give the path of a .gguf file"
        )
    return LLAMA_CPP, spec


def split_embedder_spec(spec: str) -> tuple[str, str]:
    """(kind, target) for an embedder spec; `default` and a bare folder are sentence-transformers."""
    spec = spec.strip()
    if spec == DEFAULT_EMBEDDER_ID:
        return SENTENCE_TRANSFORMERS, DEFAULT_EMBEDDER_ID
    legacy = _LEGACY_HASHING.match(spec)
    if legacy:
        return HASHING, legacy.group(1)
    match = _KIND.match(spec)
    if match and embedders.get(match.group(1)) is not None:
        return match.group(1), match.group(2)
    if match and not Path(spec).expanduser().exists():
        raise ModelSpecError(
            f"no embedder kind {match.group(1)!r} (embedder {spec!r}); known kinds: "
            f"{', '.join(embedders.names())}, 'hashing-N', or a sentence-transformers folder"
        )
    return SENTENCE_TRANSFORMERS, spec


def normalize_embedder_spec(spec: str) -> str:
    """The embedder spec to store for a new agent: `default` becomes `NEW_AGENT_EMBEDDER_ID`
    (agents created earlier keep `default`); an unknown kind is refused (`ModelSpecError`)."""
    spec = spec.strip()
    if spec == DEFAULT_EMBEDDER_ID:
        return NEW_AGENT_EMBEDDER_ID
    split_embedder_spec(spec)
    return spec


def normalize_generator_spec(spec: str, *, home: str | Path | None = None) -> str:
    """The spec to store for an agent: a local GGUF path (a pulled catalog model's included)
    made absolute and checked; a remote target checked for form. Raises `ModelSpecError` with
    what to give instead."""
    kind, target = split_generator_spec(spec, home=home)
    if kind == LLAMA_CPP:
        if target == DEFAULT_MODEL:
            return DEFAULT_MODEL
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ModelSpecError(f"model file {path} does not exist; give a .gguf path")
        # a bare path or a catalog name is stored as the path; `llama-cpp:PATH` keeps its kind
        return f"{LLAMA_CPP}:{path}" if spec.strip().startswith(f"{LLAMA_CPP}:") else str(path)
    if kind == OPENAI:
        parse_openai_target(target)
    return spec.strip()


def load_generator(spec: str, settings: GenerationSettings) -> Generator:
    """The generator an agent's model spec names."""
    kind, target = split_generator_spec(spec)
    factory = generators.get(kind)
    assert factory is not None  # split_generator_spec only returns registered kinds
    generator = factory(target, settings)
    if not isinstance(generator, Generator):
        raise GeneratorError(f"the {kind!r} generator plugin returned {type(generator).__name__}, not a Generator")
    return generator


def load_embedder(spec: str) -> Embedder:
    """The embedder an agent's embedder spec names."""
    kind, target = split_embedder_spec(spec)
    factory = embedders.get(kind)
    assert factory is not None
    embedder = factory(target)
    if not isinstance(embedder, Embedder):
        raise EmbedderError(f"the {kind!r} embedder plugin returned {type(embedder).__name__}, not an Embedder")
    embedder.embedder_id = spec.strip()  # what the index manifest records and checks
    return embedder
