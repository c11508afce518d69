"""The shortcuts issue 15 added to the ask path keep their meaning.

- a new agent asked for the default embedder records the ONNX int8 MiniLM; an explicit spec is
  kept as given, and an agent stored with `default` still loads the PyTorch model;
- every spec of the bundled MiniLM gets the answerability model calibrated with similarity;
- opening a database already at head skips Alembic, and the packaged head it reads from the
  revision files is Alembic's own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentkit import AgentKit
from agentkit.answering.answerability import shipped_model
from agentkit.models.embedders import NEW_AGENT_EMBEDDER_ID
from agentkit.models.registry import SENTENCE_TRANSFORMERS, normalize_embedder_spec, split_embedder_spec
from agentkit.store import make_engine
from agentkit.store.migrate import _packaged_head, ensure_schema, head_revision


def test_new_agents_get_the_onnx_default(kit: AgentKit) -> None:
    assert kit.create_agent("plain").embedder_id == NEW_AGENT_EMBEDDER_ID == "onnx-int8:default"
    assert kit.create_agent("torch", embedder="sentence-transformers:default").embedder_id == (
        "sentence-transformers:default"
    )
    assert kit.create_agent("hashed", embedder="hashing-64").embedder_id == "hashing-64"
    # what agents created before the change stored keeps meaning the PyTorch model
    assert split_embedder_spec("default") == (SENTENCE_TRANSFORMERS, "default")
    assert normalize_embedder_spec(" default ") == NEW_AGENT_EMBEDDER_ID


def test_every_bundled_minilm_spec_uses_the_similarity_model() -> None:
    with_similarity = shipped_model("default")
    for spec in ("onnx-int8:default", "onnx:default", "sentence-transformers:default"):
        assert shipped_model(spec) == with_similarity
    assert shipped_model("hashing-64") != with_similarity


def test_packaged_head_is_alembics_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'agentkit.db'}")
    ensure_schema(engine)  # a new database: Alembic upgrades it
    assert _packaged_head() == head_revision(engine)
    ensure_schema(engine)  # already at head: one SELECT


def test_opening_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agentkit.db'}"
    ensure_schema(make_engine(url))
    script = (
        "import sys\n"
        "from agentkit.store import make_engine\n"
        "from agentkit.store.migrate import ensure_schema\n"
        f"ensure_schema(make_engine({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"
