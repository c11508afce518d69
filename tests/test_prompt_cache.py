"""The llama.cpp state after the system turn, cached on disk (`agentkit.models.prompt_cache`).

Slow: runs the bundled SmolLM2 GGUF. A fresh generator saves the state the first time, the
next fresh generator loads it and evaluates only the rest of the prompt, and the greedy reply
is the same either way; a damaged file is ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.models.generators import ChatMessage, GenerationSettings
from agentkit.models.llama_cpp import LlamaCppGenerator, default_model_path

pytestmark = pytest.mark.slow

SYSTEM = (
    "You are a helpful assistant. Answer the question using only the numbered sources. Cite the "
    "sources you use as [1], [2]. If the sources do not contain the answer, say you do not know. "
    "Keep answers short and never invent facts that the sources do not state."
)
MESSAGES = [
    ChatMessage("system", SYSTEM),
    ChatMessage("user", "Sources:\n[1] Ports\nThe web app listens on port 8080.\n\nQuestion: Which port?"),
]


def reply(generator: LlamaCppGenerator) -> str:
    return "".join(generator.stream(MESSAGES, max_tokens=24, temperature=0.0))


def fresh() -> LlamaCppGenerator:
    return LlamaCppGenerator(default_model_path(), context_window=GenerationSettings().context_window)


def test_a_fresh_generator_reuses_the_saved_system_turn(isolated_home: Path) -> None:
    first = fresh()
    expected = reply(first)
    files = list((isolated_home / "cache" / "llama-prompts").rglob("*.state"))
    assert len(files) == 1 and files[0].stat().st_size > 0

    second = fresh()
    assert reply(second) == expected
    prompt_tokens = len(second._llm.tokenize(second.render_prompt(MESSAGES).encode(), special=True))
    assert evaluated_prompt_tokens(second) < prompt_tokens - 32  # the system turn was loaded

    files[0].write_bytes(b"AKPC1\n" + b"\x00" * 8)  # damaged: ignored, the prompt is evaluated
    third = fresh()
    assert reply(third) == expected
    assert evaluated_prompt_tokens(third) == prompt_tokens


def evaluated_prompt_tokens(generator: LlamaCppGenerator) -> int:
    import llama_cpp

    return int(llama_cpp.llama_perf_context(generator._llm._ctx.ctx).n_p_eval)
