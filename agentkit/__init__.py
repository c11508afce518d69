"""agentkit: build local chatbots that answer from content you own, with citations.

The public API is what this module exports; the CLI uses nothing else. Heavy libraries
(torch, sentence-transformers, llama.cpp, FAISS) load only when a model or index is used.

    from agentkit import AgentKit
    kit = AgentKit()                         # $AGENTKIT_HOME or ~/.local/share/agentkit
    agent = kit.create_agent("docs")
    agent.add_source("path/to/folder")
    answer = agent.ask("How do I ...?")
    print(answer.text, [c.uri for c in answer.citations])
"""

import os

# OpenMP threads (torch, FAISS, llama.cpp) that spin while waiting make a busy laptop crawl;
# set before any of them loads. A user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agentkit.agent import Agent, SourceInfo, SourceNotFoundError  # noqa: E402
from agentkit.answering import AnswerStream
from agentkit.chunking import ChunkingSettings
from agentkit.conversation import Conversation, ConversationNotFoundError
from agentkit.embedding import Embedder, EmbedderError, HashingEmbedder
from agentkit.generation import ChatMessage, GenerationSettings, Generator, GeneratorError
from agentkit.index_store import IndexNeedsRepairError
from agentkit.ingest import FailedItem, SourceSyncReport, SyncReport
from agentkit.kit import AgentExistsError, AgentKit, AgentNotFoundError, InvalidSettingError
from agentkit.locking import AgentBusyError
from agentkit.maintenance import DoctorReport, ReindexReport
from agentkit.results import Answer, Citation, SearchHit
from agentkit.retrieval import SearchError
from connectors import ConnectorError

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentBusyError",
    "AgentExistsError",
    "AgentKit",
    "AgentNotFoundError",
    "Answer",
    "AnswerStream",
    "ChatMessage",
    "ChunkingSettings",
    "Citation",
    "ConnectorError",
    "Conversation",
    "DoctorReport",
    "ConversationNotFoundError",
    "Embedder",
    "EmbedderError",
    "FailedItem",
    "GenerationSettings",
    "Generator",
    "GeneratorError",
    "HashingEmbedder",
    "IndexNeedsRepairError",
    "InvalidSettingError",
    "ReindexReport",
    "SearchError",
    "SearchHit",
    "SourceInfo",
    "SourceNotFoundError",
    "SourceSyncReport",
    "SyncReport",
]
