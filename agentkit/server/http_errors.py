"""Exceptions as HTTP errors: a status, a type and a message, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from agentkit.errors import (
    AgentBusyError,
    AgentExistsError,
    AgentkitError,
    AgentNotFoundError,
    ConversationNotFoundError,
    EmbedderError,
    FeedbackTargetNotFoundError,
    GeneratorError,
    IndexNeedsRepairError,
    SourceNotFoundError,
)
from agentkit.server.access import ApiError
from agentkit.server.keys import ApiKeyNotFoundError
from agentkit.server.limits import RateLimited

logger = logging.getLogger("agentkit.server")

BUSY_RETRY_AFTER_S = 5
_NOT_FOUND = (
    AgentNotFoundError,
    SourceNotFoundError,
    ConversationNotFoundError,
    ApiKeyNotFoundError,
    FeedbackTargetNotFoundError,
)
_UNAVAILABLE = (IndexNeedsRepairError, GeneratorError, EmbedderError)
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    411: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


def http_error(error: BaseException) -> tuple[int, str, str, int | None]:
    """(status, type, message, Retry-After seconds or None) for any exception."""
    if isinstance(error, ApiError):
        return error.status, error.kind, error.message, error.retry_after_s
    if isinstance(error, RateLimited):
        return 429, "rate_limit_error", str(error), error.retry_after_s
    if isinstance(error, AgentBusyError):
        return 503, "agent_busy", str(error), BUSY_RETRY_AFTER_S
    if isinstance(error, _NOT_FOUND):
        return 404, "not_found_error", str(error), None
    if isinstance(error, AgentExistsError):
        return 409, "conflict_error", str(error), None
    if isinstance(error, _UNAVAILABLE):
        return 503, "service_unavailable", str(error), None
    if isinstance(error, AgentkitError):
        return 400, "invalid_request_error", str(error), None
    logger.error("unexpected error while answering a request", exc_info=error)
    return 500, "server_error", "internal server error; the server log has the details", None


def type_for_status(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(error: BaseException) -> dict[str, Any]:
    _, kind, message, _ = http_error(error)
    return {"error": {"type": kind, "message": message}}
