"""Every error agentkit raises for a user to read, under one base class.

`AgentkitError` is what the CLI (and the HTTP server) catches: its message is meant for a person
as it is (it names the file, URL, agent or setting and says what to do), and its `exit_code`
is the status the CLI exits with: 1 for a user error, 75 (EX_TEMPFAIL, "try again later") when
another process holds the agent, so a cron `agentkit sync --due` can retry.

This module imports nothing from agentkit or connectors, so every layer can raise these errors
without an import loop.
"""

from __future__ import annotations

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL


class AgentkitError(Exception):
    """Base of every error whose message is meant for the user."""

    exit_code: int = EXIT_USER_ERROR


# --- agents and settings -------------------------------------------------------------------


class AgentNotFoundError(AgentkitError):
    """No agent has that name."""


class AgentExistsError(AgentkitError):
    """An agent with that name exists already."""


class InvalidSettingError(AgentkitError, ValueError):
    """A setting is out of range or unknown; the message says what is allowed."""


class AgentBusyError(AgentkitError):
    """Another process is writing to the same agent; try again later."""

    exit_code = EXIT_TEMPFAIL


class SourceNotFoundError(AgentkitError):
    """No source with that id belongs to the agent."""


class ConversationNotFoundError(AgentkitError):
    """No conversation with that id belongs to the agent."""


class FeedbackTargetNotFoundError(AgentkitError):
    """No logged question or answer message with that id (for that agent)."""


# --- sources -------------------------------------------------------------------------------


class ConnectorError(AgentkitError):
    """A whole source could not be read; the message names it and says what to do."""


class UnreadableItemError(AgentkitError):
    """One item (a file, a page, an archive entry) could not be read.

    Readers raise it with a message that names the item and says what to do; connectors turn
    it into a `SkippedItem` so the rest of the source is still ingested.
    """


# --- models --------------------------------------------------------------------------------


class ModelSpecError(AgentkitError):
    """A model spec names no registered kind, or its kind cannot use it."""


class EmbedderError(AgentkitError):
    """An embedder could not be loaded or used; the message says what to install or fix."""


class GeneratorError(AgentkitError):
    """A model could not be loaded or run; the message names the file or URL and what to do."""


class ChatTemplateError(GeneratorError):
    """The model's chat template could not be rendered."""


# --- index and search ----------------------------------------------------------------------


class VectorIndexError(AgentkitError):
    """Base for problems with a stored vector index."""


class IndexMismatchError(VectorIndexError):
    """The stored index was built for another embedder, dimension or chunker."""


class IndexCorruptError(VectorIndexError):
    """The index file is missing, truncated or does not match its manifest."""


class LexicalIndexError(AgentkitError):
    """A lexical index file is missing, damaged or from another version; rebuild it."""


class IndexNeedsRepairError(AgentkitError):
    """The agent's index cannot be used as it is; the message names the command that fixes it."""


class SearchError(AgentkitError):
    """A search could not run (bad mode, bad k)."""


# --- storage -------------------------------------------------------------------------------


class StorageError(AgentkitError):
    """The database or the index folder could not be written or reached; what was committed
    before stays intact, and running the command again finishes the work."""

    exit_code = EXIT_TEMPFAIL


class StorageFullError(StorageError):
    """The disk holding the database or an index file has no space left."""


class DatabaseUnavailableError(StorageError):
    """The connection to the database server was lost (it restarted, or the network dropped)."""


# --- answering -----------------------------------------------------------------------------


class PromptError(AgentkitError, ValueError):
    """The prompt cannot be built within the model's context window; the message says what to change."""


class AnswerabilityModelError(AgentkitError, RuntimeError):
    """The shipped answerability model is missing or malformed."""


class EvaluationFileError(AgentkitError, ValueError):
    """A QA file cannot be read; the message names the file, the line and what to fix."""


# --- model downloads -----------------------------------------------------------------------


class ModelDownloadError(AgentkitError):
    """A model file could not be downloaded or failed its checksum; the message names the URL
    and says what to do (a partial download is kept so that the same command resumes it)."""
