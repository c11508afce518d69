"""The package works installed without its source tree: migrations travel inside the wheel.

Builds a wheel of the project, installs it into a scratch folder, and runs the CLI from
there in another working directory (the repository is not importable from it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(REPO_ROOT), "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheels.glob("agentkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "agentkit/store/migrations/versions/0001_initial_schema.py" in names
    assert "agentkit/store/migrations/env.py" in names
    assert "agentkit/answering/answerability.json" in names  # the calibrated gate travels with the code
    assert any(name.startswith("connectors/") for name in names)

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Install\n\nThe Frobnicator installs with frob-setup 2.4.\n")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "AGENTKIT_HOME": str(tmp_path / "home")}

    def agentkit(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "agentkit", *args], cwd=workdir, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    located = subprocess.run(
        [sys.executable, "-c", "import agentkit; print(agentkit.__file__)"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert located.startswith(str(site))
    agentkit("db", "upgrade")
    agentkit("create", "packaged", "--embedder", "hashing-64")
    agentkit("add", "packaged", str(docs))
    assert "frob-setup 2.4" in agentkit("search", "packaged", "Frobnicator install", "--json")
    calibrated = subprocess.run(
        [sys.executable, "-c", "from agentkit.answering.answerability import shipped_model; print(shipped_model().calibration)"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert "SQuAD" in calibrated
