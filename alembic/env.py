"""Developer entry point for the `alembic` command: delegates to the packaged environment."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "agentkit" / "store" / "migrations" / "env.py"))
