"""Benchmark: how long `agentkit ask` takes, cold and warm, and where the time goes.

One run measures, on the demo knowledge base (`data/quillstack`, the questions of `make demo`):
1. `agentkit --help` (median of 5 processes);
2. cold `agentkit ask` (a new process per question, the way `make demo` runs it): wall time
   and peak RSS; the first run starts without the home's caches (the system-turn state of
   `agentkit.models.prompt_cache`, the model's Q8_0 copy), then `--cold` runs per question
   (the medians are per question: a declined one never loads the model); and how long a cold
   ask's process takes from its answer's last output to its end (its shutdown);
3. warm `agent.ask` in one process (median over the questions, `--warm` rounds), with llama.cpp's
   own counters: prompt tokens evaluated and their time, tokens generated and their time;
4. bare llama-cpp-python on the very prompts agentkit rendered (same model, context, threads,
   flash attention, sampling and answer length), alternating with (3) question by question, so the overhead of
   agentkit's generator (tokens/s against bare) is measured under the same load; and the same
   on the model file as shipped (Q4_1), which agentkit runs from a Q8_0 copy
   (`agentkit.models.gguf_requantize`).

One agent per `--embedders` spec is built first (each in the same temporary home), so the
PyTorch embedder and the ONNX one can be compared in one run:

    python benchmarks/answer_latency.py                                   # new agents' default
    python benchmarks/answer_latency.py --embedders sentence-transformers:default,default --cold 3
    python benchmarks/answer_latency.py --excerpts 0,3        # whole chunks against 3 best passages

The machine is shared and noisy: compare numbers of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agentkit import AgentKit  # noqa: E402
from agentkit.models.generators import ChatMessage, GenerationSettings, Generator  # noqa: E402
from agentkit.models.llama_cpp import default_model_path  # noqa: E402
from agentkit.models.registry import load_generator  # noqa: E402

QUESTIONS = [
    line.strip()
    for line in (REPO_ROOT / "data" / "demo_questions.txt").read_text().splitlines()
    if line.strip()
]
AGENTKIT = [sys.executable, "-m", "agentkit"]
WARM_UP = "What does Quillstack do?"  # not a measured question: its prompt is not cached


class Counters:
    """llama.cpp's prompt-evaluation and generation counters around one completion."""

    def __init__(self, llm: object) -> None:
        self.llm = llm

    def reset(self) -> None:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(self.llm._ctx.ctx)  # type: ignore[attr-defined]

    def read(self) -> dict[str, float]:
        import llama_cpp

        data = llama_cpp.llama_perf_context(self.llm._ctx.ctx)  # type: ignore[attr-defined]
        return {
            "prompt_tokens": data.n_p_eval,
            "prompt_s": data.t_p_eval_ms / 1000,
            "generated": data.n_eval,
            "generation_s": data.t_eval_ms / 1000,
        }


class RecordingGenerator(Generator):
    """The real generator; remembers each rendered prompt, its wall time and llama.cpp counters."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.counters = Counters(inner._llm)  # type: ignore[attr-defined]
        self.calls: list[dict[str, object]] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        call: dict[str, object] = {
            "prompt": self.inner.render_prompt(messages),  # type: ignore[attr-defined]
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        self.counters.reset()
        started = time.perf_counter()
        text = []
        try:
            for piece in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature):
                text.append(piece)
                yield piece
        finally:  # also when grounding stops the model early (the stream is closed)
            call["wall_s"] = time.perf_counter() - started
            call.update(self.counters.read())
            call["text"] = "".join(text)
            call["decode_threads"] = self.inner.decode_threads  # type: ignore[attr-defined]
            self.calls.append(call)


def bare_completion(
    llm: object, counters: Counters, call: dict[str, object], repeat_penalty: float
) -> dict[str, float]:
    """The same prompt through llama-cpp-python alone, as many tokens as agentkit generated."""
    counters.reset()
    started = time.perf_counter()
    for _piece in llm.create_completion(  # type: ignore[attr-defined]
        call["prompt"],
        max_tokens=max(1, int(call["generated"])),  # type: ignore[call-overload]
        temperature=call["temperature"],
        repeat_penalty=repeat_penalty,
        stream=True,
    ):
        pass
    result = counters.read()
    result["wall_s"] = time.perf_counter() - started
    return result


def process_seconds_and_rss(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process, run under /usr/bin/time: a child
    forked from this process would count this process's memory as its own."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as report:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", report.name, *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
        return seconds, int(Path(report.name).read_text().split()[-1]) / 1024


def exit_seconds(command: list[str], env: dict[str, str]) -> float:
    """Seconds from a child's last output to its end: what the process does after answering
    (closing, the interpreter's own shutdown), its output unbuffered so each line comes as printed."""
    child = subprocess.Popen(
        command, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert child.stdout is not None
    last = time.perf_counter()
    while os.read(child.stdout.fileno(), 65536):
        last = time.perf_counter()
    child.wait()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {child.returncode}")
    return time.perf_counter() - last


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--embedders", default="default", help="embedder specs of the agents, comma-separated"
    )
    parser.add_argument(
        "--excerpts",
        default="0",
        help="prompt_excerpts values, comma-separated: one agent per embedder and value (0: whole chunks)",
    )
    parser.add_argument("--cold", type=int, default=3, help="cold asks per agent (default 3)")
    parser.add_argument("--warm", type=int, default=2, help="warm rounds over the questions (default 2)")
    parser.add_argument(
        "--sweep", action="store_true", help="also compare llama.cpp thread and batch settings"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="agentkit-answer-bench-"))
    home = work / "home"
    env = {**os.environ, "AGENTKIT_HOME": str(home)}
    os.environ["AGENTKIT_HOME"] = str(home)  # the ONNX export is cached here, before the clock
    print(f"load average {os.getloadavg()[0]:.1f}; {len(QUESTIONS)} demo questions")

    variants = [
        (spec.strip(), int(excerpts))
        for spec in args.embedders.split(",")
        if spec.strip()
        for excerpts in args.excerpts.split(",")
        if excerpts.strip()
    ]
    specs = [f"{spec}, excerpts {excerpts}" for spec, excerpts in variants]
    with AgentKit(home=home) as kit:
        for number, (spec, excerpts) in enumerate(variants):
            kit.create_agent(
                f"demo{number}", embedder=spec, generation=GenerationSettings(prompt_excerpts=excerpts)
            ).add_source(str(REPO_ROOT / "data" / "quillstack"))
            print(f"agent demo{number}: embedder {kit.get_agent(f'demo{number}').embedder_id}, "
                  f"prompt excerpts {excerpts}", flush=True)

    help_runs = sorted(process_seconds_and_rss([*AGENTKIT, "--help"], env) for _ in range(5))
    print(
        f"\n`agentkit --help`: median {statistics.median(s for s, _ in help_runs):.2f} s, "
        f"{statistics.median(m for _, m in help_runs):.0f} MB"
    )

    print(
        "\n| cold `agentkit ask` (a new process) | first s (system-turn state and model copy made) "
        "| median s per question, then loaded | peak RSS MB, first / then |"
    )
    print("|---|---|---|---|")
    cache = home / "cache"
    for number, spec in enumerate(specs):
        shutil.rmtree(cache, ignore_errors=True)  # the prompt state and the model's Q8_0 copy
        first = process_seconds_and_rss([*AGENTKIT, "ask", f"demo{number}", QUESTIONS[0]], env)
        per_question = {
            question: [
                process_seconds_and_rss([*AGENTKIT, "ask", f"demo{number}", question], env)
                for _ in range(args.cold)
            ]
            for question in QUESTIONS
        }
        medians = " / ".join(f"{statistics.median(s for s, _ in runs):.2f}" for runs in per_question.values())
        # The first run also makes the model's Q8_0 copy and the prompt state: reported apart.
        peak = max(m for runs in per_question.values() for _, m in runs)
        print(f"| embedder {spec} | {first[0]:.2f} | {medians} | {first[1]:.0f} / {peak:.0f} |", flush=True)
    print("(questions in order: " + "; ".join(QUESTIONS) + ")")
    exits = [exit_seconds([*AGENTKIT, "ask", "demo0", QUESTIONS[0]], env) for _ in range(max(args.cold, 1))]
    print(f"cold ask, from the answer's last output to the process's end: median {statistics.median(exits) * 1000:.0f} ms")

    warm_table(home, specs, args.warm, sweep=args.sweep)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def warm_table(home: Path, specs: list[str], rounds: int, *, sweep: bool) -> None:
    import llama_cpp
    from llama_cpp import Llama

    settings = GenerationSettings()
    recorder = RecordingGenerator(load_generator("default", settings))
    inner = recorder.inner
    # The file agentkit runs (the bundled model's Q8_0 copy), and the file as shipped (Q4_1).
    files = {"bare llama-cpp-python": inner.model_path}  # type: ignore[attr-defined]
    if default_model_path() != inner.model_path:  # type: ignore[attr-defined]
        files["bare llama-cpp-python, shipped Q4_1 file"] = default_model_path()
    bares = {}
    for name, path in files.items():
        llm = Llama(
            model_path=path,
            n_ctx=settings.context_window,
            n_threads=inner.decode_threads,  # type: ignore[attr-defined]
            n_threads_batch=inner.batch_threads,  # type: ignore[attr-defined]
            flash_attn=True,
            seed=settings.seed,
            verbose=False,
        )
        bares[name] = (llm, Counters(llm))
    ask_seconds: dict[str, list[float]] = {spec: [] for spec in specs}
    ours: list[dict[str, object]] = []
    theirs: dict[str, list[dict[str, float]]] = {name: [] for name in bares}
    with AgentKit(home=home, generator=recorder) as kit:
        agents = [kit.get_agent(f"demo{number}") for number in range(len(specs))]
        for agent in agents:
            agent.ask(WARM_UP)  # load the embedder and indexes
        for _ in range(rounds):
            for question in QUESTIONS:
                for spec, agent in zip(specs, agents, strict=True):
                    calls_before = len(recorder.calls)
                    started = time.perf_counter()
                    agent.ask(question)
                    ask_seconds[spec].append(time.perf_counter() - started)
                    if len(recorder.calls) > calls_before:  # abstentions may skip generation
                        call = recorder.calls[-1]
                        ours.append(call)
                        for name, (llm, counters) in bares.items():
                            # the threads agentkit decoded this answer with (the cores free then)
                            llama_cpp.llama_set_n_threads(
                                llm.ctx, inner.decode_threads, inner.batch_threads  # type: ignore[attr-defined]
                            )
                            theirs[name].append(bare_completion(llm, counters, call, settings.repeat_penalty))
    print("\n| warm `agent.ask` (one process) | p50 s | max s |")
    print("|---|---|---|")
    for spec, seconds in ask_seconds.items():
        print(f"| embedder {spec} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |")
    if not ours:
        print("no question reached the generator")
        return

    def rate(tokens: float, seconds: float) -> float:
        return tokens / seconds if seconds else float("nan")

    rows = [
        (
            f"agentkit generator ({Path(inner.model_path).name})",  # type: ignore[attr-defined]
            [float(c["prompt_tokens"]) for c in ours],
            [float(c["prompt_s"]) for c in ours],
            [float(c["generated"]) for c in ours],
            [float(c["generation_s"]) for c in ours],
        ),
        *(
            (
                f"{name} ({Path(files[name]).name})",
                [t["prompt_tokens"] for t in runs],
                [t["prompt_s"] for t in runs],
                [t["generated"] for t in runs],
                [t["generation_s"] for t in runs],
            )
            for name, runs in theirs.items()
        ),
    ]
    print(
        f"\n{len(ours)} completions, same prompts; prompt tokens = tokens evaluated (a cached prefix is not)"
    )
    print(
        "| generation | prompt tokens p50 | prompt eval s p50 | prompt tok/s | generated p50 | generation s p50 | gen tok/s |"
    )
    print("|---|---|---|---|---|---|---|")
    gen_rates = []
    for name, prompt_tokens, prompt_s, generated, generation_s in rows:
        gen_rate = rate(sum(generated), sum(generation_s))
        gen_rates.append(gen_rate)
        print(
            f"| {name} | {statistics.median(prompt_tokens):.0f} | {statistics.median(prompt_s):.2f} | "
            f"{rate(sum(prompt_tokens), sum(prompt_s)):.0f} | {statistics.median(generated):.0f} | "
            f"{statistics.median(generation_s):.2f} | {gen_rate:.1f} |"
        )
    print(f"generation speed agentkit / bare llama-cpp-python on the same file: {gen_rates[0] / gen_rates[1]:.2f}")
    threads = sorted({int(c["decode_threads"]) for c in ours})  # type: ignore[call-overload]
    print(f"decode threads (the cores free when each answer started): {threads}; prompt threads {inner.batch_threads}")  # type: ignore[attr-defined]
    full = [inner.count_tokens(str(c["prompt"])) for c in ours]  # type: ignore[attr-defined]
    print(f"rendered prompt length p50 {statistics.median(full):.0f} tokens")
    if sweep:
        thread_sweep(inner.model_path, str(ours[0]["prompt"]), settings)  # type: ignore[attr-defined]


# (n_threads, n_threads_batch, n_batch, flash attention): generation threads, prompt-evaluation
# threads, batch size; the first row is agentkit's choice on a quiet 2-core machine
SWEEP = [(2, 2, 512, True), (2, 2, 512, False), (1, 2, 512, True), (1, 1, 512, True), (2, 2, 128, True)]


def thread_sweep(model_path: str, prompt: str, settings: GenerationSettings, repeats: int = 3) -> None:
    """Bare llama.cpp on one whole prompt (no cached prefix) per setting, alternating."""
    from llama_cpp import Llama

    models = {
        setting: Llama(
            model_path=model_path,
            n_ctx=settings.context_window,
            n_threads=setting[0],
            n_threads_batch=setting[1],
            n_batch=setting[2],
            flash_attn=setting[3],
            seed=settings.seed,
            verbose=False,
        )
        for setting in SWEEP
    }
    results: dict[tuple[int, int, int, bool], list[dict[str, float]]] = {setting: [] for setting in SWEEP}
    for _ in range(repeats):
        for setting, llm in models.items():
            llm.reset()  # the whole prompt is evaluated again
            counters = Counters(llm)
            results[setting].append(
                bare_completion(
                    llm,
                    counters,
                    {"prompt": prompt, "generated": 48, "temperature": 0.0},
                    settings.repeat_penalty,
                )
            )
    print(f"\nos.cpu_count() = {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; medians of {repeats}")
    print("| n_threads | n_threads_batch | n_batch | flash attention | prompt tok/s | gen tok/s |")
    print("|---|---|---|---|---|---|")
    for (threads, batch_threads, batch, flash), runs in results.items():
        prompt_rate = statistics.median(r["prompt_tokens"] / r["prompt_s"] for r in runs if r["prompt_s"])
        gen_rate = statistics.median(r["generated"] / r["generation_s"] for r in runs if r["generation_s"])
        print(f"| {threads} | {batch_threads} | {batch} | {'on' if flash else 'off'} | {prompt_rate:.0f} | {gen_rate:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
