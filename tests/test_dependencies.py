"""Every third-party module that agentkit and its connectors import is a declared dependency.

An undeclared import works on the machine that has the library by chance and fails for
everyone who installs agentkit from its metadata. Imports inside functions count too, and so
do modules named to `importlib.util.find_spec` or `importlib.import_module` (lxml is found
that way).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agentkit", "connectors")
_LOOKUPS = ("find_spec", "import_module")


def _imported_top_level_modules() -> dict[str, str]:
    """Third-party top-level module -> one file that imports it."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                    function = node.func
                    called = (
                        function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
                    )
                    if called in _LOOKUPS and isinstance(node.args[0].value, str):
                        names = [node.args[0].value]
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in (*PACKAGES, "__future__"):
                        continue
                    found.setdefault(top, str(path.relative_to(REPO_ROOT)))
    return found


def _normalized(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    return {_normalized(requirement) for requirement in requirements}


def test_every_imported_third_party_module_is_declared() -> None:
    distributions = packages_distributions()
    declared = _declared()
    undeclared = []
    for module, where in sorted(_imported_top_level_modules().items()):
        provided_by = {_normalized(name) for name in distributions.get(module, [])}
        if not provided_by & declared:
            undeclared.append(
                f"{module} (imported by {where}; provided by {sorted(provided_by) or 'nothing installed'})"
            )
    assert undeclared == []


def test_the_scan_sees_imports_inside_functions_and_find_spec() -> None:
    modules = _imported_top_level_modules()
    assert {"torch", "lxml", "protego", "charset_normalizer", "bs4"} <= set(modules)
