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

import importlib
import os
from typing import TYPE_CHECKING

from agentkit.models.cpu_threads import openmp_wait_defaults

# How OpenMP threads (llama.cpp, FAISS, torch) wait for each other: a short spin, then sleep
# (long spins make a busy laptop crawl, sleeping at once makes llama.cpp decode 3x slower on
# two threads). Set before any of them loads; a user's own setting wins.
openmp_wait_defaults(os.environ)

# Where each public name lives. Names load on first use (PEP 562), so `import agentkit` and
# `agentkit --help` stay instant, and a layer that imports `agentkit.errors` (connectors do)
# does not pull in the whole library.
_EXPORTS: dict[str, str] = {
    "Agent": "agentkit.agent",
    "AgentBusyError": "agentkit.errors",
    "AgentExistsError": "agentkit.errors",
    "AgentKit": "agentkit.kit",
    "AgentNotFoundError": "agentkit.errors",
    "AgentkitError": "agentkit.errors",
    "Answer": "agentkit.results",
    "AnswerStream": "agentkit.answering.pipeline",
    "AnswerabilityModelError": "agentkit.errors",
    "ChatMessage": "agentkit.models.generators",
    "ChatTemplateError": "agentkit.errors",
    "ChunkingSettings": "agentkit.ingest.chunking",
    "Citation": "agentkit.results",
    "ConnectorError": "agentkit.errors",
    "Conversation": "agentkit.conversation",
    "ConversationNotFoundError": "agentkit.errors",
    "DoctorReport": "agentkit.index.maintenance",
    "Embedder": "agentkit.models.embedders",
    "EmbedderError": "agentkit.errors",
    "EvaluationFileError": "agentkit.errors",
    "FailedItem": "agentkit.ingest.pipeline",
    "FeedbackTargetNotFoundError": "agentkit.errors",
    "GenerationSettings": "agentkit.models.generators",
    "Generator": "agentkit.models.generators",
    "GeneratorError": "agentkit.errors",
    "HashingEmbedder": "agentkit.models.embedders",
    "IndexNeedsRepairError": "agentkit.errors",
    "InvalidSettingError": "agentkit.errors",
    "LogEntry": "agentkit.improve.log",
    "ModelSpecError": "agentkit.errors",
    "PromptError": "agentkit.errors",
    "ReindexReport": "agentkit.index.maintenance",
    "SearchError": "agentkit.errors",
    "SearchHit": "agentkit.results",
    "SourceInfo": "agentkit.ingest.sources",
    "SourceNotFoundError": "agentkit.errors",
    "SourceSyncReport": "agentkit.ingest.pipeline",
    "SyncReport": "agentkit.ingest.pipeline",
    "VectorBackend": "agentkit.index.base",
}

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.answering.pipeline import AnswerStream
    from agentkit.conversation import Conversation
    from agentkit.errors import (
        AgentBusyError,
        AgentExistsError,
        AgentkitError,
        AgentNotFoundError,
        AnswerabilityModelError,
        ChatTemplateError,
        ConnectorError,
        ConversationNotFoundError,
        EmbedderError,
        EvaluationFileError,
        FeedbackTargetNotFoundError,
        GeneratorError,
        IndexNeedsRepairError,
        InvalidSettingError,
        ModelSpecError,
        PromptError,
        SearchError,
        SourceNotFoundError,
    )
    from agentkit.improve.log import LogEntry
    from agentkit.index.base import VectorBackend
    from agentkit.index.maintenance import DoctorReport, ReindexReport
    from agentkit.ingest.chunking import ChunkingSettings
    from agentkit.ingest.pipeline import FailedItem, SourceSyncReport, SyncReport
    from agentkit.ingest.sources import SourceInfo
    from agentkit.kit import AgentKit
    from agentkit.models.embedders import Embedder, HashingEmbedder
    from agentkit.models.generators import ChatMessage, GenerationSettings, Generator
    from agentkit.results import Answer, Citation, SearchHit

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentBusyError",
    "AgentExistsError",
    "AgentKit",
    "AgentNotFoundError",
    "AgentkitError",
    "Answer",
    "AnswerStream",
    "AnswerabilityModelError",
    "ChatMessage",
    "ChatTemplateError",
    "ChunkingSettings",
    "Citation",
    "ConnectorError",
    "Conversation",
    "ConversationNotFoundError",
    "DoctorReport",
    "Embedder",
    "EmbedderError",
    "EvaluationFileError",
    "FailedItem",
    "FeedbackTargetNotFoundError",
    "GenerationSettings",
    "Generator",
    "GeneratorError",
    "HashingEmbedder",
    "IndexNeedsRepairError",
    "InvalidSettingError",
    "LogEntry",
    "ModelSpecError",
    "PromptError",
    "ReindexReport",
    "SearchError",
    "SearchHit",
    "SourceInfo",
    "SourceNotFoundError",
    "SourceSyncReport",
    "SyncReport",
    "VectorBackend",
]


def __getattr__(name: str) -> object:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
