"""Every provider failure, classified (PR 3).

Exceptions::

    ProviderError            a provider call failed; carries a classified ErrorDetail
    WorkerCrash              (simulation only) the worker process died mid-item

Classification turns what a provider said (an HTTP status, headers, an error body, a stop
reason, an answer that does not parse) into one ``ErrorType`` with ``retryable`` and, where the
provider sent one, ``retry_after_s``. Real adapters (``engine/lps/providers``) and the simulated
provider both go through ``classify_http`` and ``classify_answer``, so the simulation exercises the
same taxonomy the live service runs.

| error_type       | from                                                | retried            |
|------------------|-----------------------------------------------------|--------------------|
| rate_limit       | 429 (not a spend or quota limit)                    | after Retry-After  |
| quota_exhausted  | 429 spend limit (Anthropic), insufficient_quota (OpenAI) | never         |
| overloaded       | 529 / overloaded_error; OpenAI 503 server_is_overloaded | with backoff   |
| server_error     | other 5xx                                           | with backoff       |
| timeout          | client timeout, 408, 504                            | with backoff       |
| connection       | connection refused or reset                         | with backoff       |
| max_tokens       | stop_reason=max_tokens, finish_reason=length, incomplete_details | never |
| invalid_response | no verdict, unparseable or invalid JSON             | never              |
| authentication   | 401, 403                                            | never              |
| client_error     | other 4xx                                           | never              |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.contracts import ErrorDetail
from engine.lps.calls import RateLimitHints, TokenUsage

__all__ = [
    "ErrorType",
    "ProviderError",
    "WorkerCrash",
    "classify_answer",
    "classify_http",
    "classify_transport",
    "parse_retry_after",
]

SERVICE = "llm_provider_service"


class ErrorType(StrEnum):
    RATE_LIMIT = "rate_limit"
    QUOTA_EXHAUSTED = "quota_exhausted"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MAX_TOKENS = "max_tokens"
    INVALID_RESPONSE = "invalid_response"
    AUTHENTICATION = "authentication"
    CLIENT_ERROR = "client_error"
    PROCESSING_TIMEOUT = "processing_timeout"  # queue hygiene, not a provider answer
    QUEUE_EXPIRED = "queue_expired"
    BATCH_EXPIRED = "batch_expired"
    UNKNOWN = "unknown"  # only under LEGACY_UNCLASSIFIED_PROVIDER_ERRORS


RETRYABLE = frozenset(
    {
        ErrorType.RATE_LIMIT,
        ErrorType.OVERLOADED,
        ErrorType.SERVER_ERROR,
        ErrorType.TIMEOUT,
        ErrorType.CONNECTION,
    }
)

ERROR_CODES = {
    ErrorType.RATE_LIMIT: "RATE_LIMIT",
    ErrorType.QUOTA_EXHAUSTED: "QUOTA_EXCEEDED",
    ErrorType.OVERLOADED: "EXTERNAL_SERVICE_ERROR",
    ErrorType.SERVER_ERROR: "EXTERNAL_SERVICE_ERROR",
    ErrorType.TIMEOUT: "TIMEOUT",
    ErrorType.CONNECTION: "CONNECTION_ERROR",
    ErrorType.MAX_TOKENS: "EXTERNAL_SERVICE_ERROR",
    ErrorType.INVALID_RESPONSE: "INVALID_RESPONSE",
    ErrorType.AUTHENTICATION: "AUTHENTICATION_ERROR",
    ErrorType.CLIENT_ERROR: "INVALID_REQUEST",
    ErrorType.PROCESSING_TIMEOUT: "PROCESSING_TIMEOUT",
    ErrorType.QUEUE_EXPIRED: "REQUEST_EXPIRED",
    ErrorType.BATCH_EXPIRED: "REQUEST_EXPIRED",
    ErrorType.UNKNOWN: "EXTERNAL_SERVICE_ERROR",
}


class ProviderError(Exception):
    """A failed provider call, already classified.

    ``usage`` and ``model`` are set when the provider answered and billed the call although it
    failed (a ``max_tokens`` truncation, an unparseable answer): the cost is real and is
    recorded. ``rate_limit`` carries what the answer's headers said about the limits (a 429
    above all), for the concurrency controller.
    """

    def __init__(
        self,
        detail: ErrorDetail,
        *,
        usage: TokenUsage | None = None,
        model: str | None = None,
        rate_limit: RateLimitHints | None = None,
    ) -> None:
        super().__init__(f"{detail.error_type}: {detail.message}")
        self.detail = detail
        self.usage = usage
        self.model = model
        self.rate_limit = rate_limit

    @property
    def error_type(self) -> str:
        return self.detail.error_type

    @property
    def retryable(self) -> bool:
        return bool(self.detail.details.get("retryable", False))


class WorkerCrash(Exception):
    """The worker died holding an item (raised only by the simulated provider). The worker is
    restarted; the item it held stays ``processing`` until the cleanup sweep expires it."""


def detail_for(
    error_type: ErrorType,
    message: str,
    *,
    correlation_id: str,
    timestamp: datetime,
    provider: str,
    operation: str = "generate_comparison",
    **details: Any,
) -> ErrorDetail:
    """An ``ErrorDetail`` with the taxonomy's ``error_type``/``retryable`` filled in."""
    return ErrorDetail(
        error_code=ERROR_CODES[error_type],
        message=message[:500],
        correlation_id=correlation_id,
        timestamp=timestamp,
        service=SERVICE,
        operation=operation,
        details={
            "error_type": error_type.value,
            "retryable": error_type in RETRYABLE,
            "provider": provider,
            **details,
        },
    )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred) or ``retry-after`` (seconds). HTTP-date
    values and nonsense are ignored (the caller falls back to backoff)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


def _error_body(body: object) -> dict[str, Any]:
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    if not isinstance(body, dict):
        return {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def classify_http(
    status: int,
    *,
    headers: Mapping[str, str],
    body: object,
    provider: str,
    correlation_id: str,
    timestamp: datetime,
) -> ErrorDetail:
    """Classify an HTTP error answer (any provider)."""
    error = _error_body(body)
    provider_type = str(error.get("type") or "") or None
    provider_code = str(error.get("code") or "") or None
    nested = error.get("details") if isinstance(error.get("details"), dict) else {}
    nested_code = str(nested.get("error_code")) if nested and nested.get("error_code") else None
    message = str(error.get("message") or f"HTTP {status}")
    lowered = {key.lower(): value for key, value in headers.items()}
    request_id = lowered.get("request-id") or lowered.get("x-request-id")
    retry_after = parse_retry_after(headers)

    if status == 429:
        quota = (
            nested_code == "enforced_spend_limit_reached"
            or provider_type == "insufficient_quota"
            or provider_code in ("insufficient_quota", "credit_balance_exhausted")
        )
        error_type = ErrorType.QUOTA_EXHAUSTED if quota else ErrorType.RATE_LIMIT
    elif (
        status == 529
        or provider_type == "overloaded_error"
        or (status == 503 and provider_code == "server_is_overloaded")
    ):
        error_type = ErrorType.OVERLOADED
    elif status in (408, 504):
        error_type = ErrorType.TIMEOUT
    elif status >= 500:
        error_type = ErrorType.SERVER_ERROR
    elif status in (401, 403):
        error_type = ErrorType.AUTHENTICATION
    else:
        error_type = ErrorType.CLIENT_ERROR
    details: dict[str, Any] = {
        "http_status": status,
        "retry_after_s": retry_after if error_type in RETRYABLE else None,
        "provider_error_type": provider_type,
        "provider_error_code": nested_code or provider_code,
        "provider_request_id": request_id,
    }
    return detail_for(
        error_type,
        message,
        correlation_id=correlation_id,
        timestamp=timestamp,
        provider=provider,
        **details,
    )


def classify_transport(
    kind: str, message: str, *, provider: str, correlation_id: str, timestamp: datetime
) -> ErrorDetail:
    """A failure below HTTP: ``kind`` is ``"timeout"`` or ``"connection"``."""
    error_type = ErrorType.TIMEOUT if kind == "timeout" else ErrorType.CONNECTION
    return detail_for(
        error_type,
        message,
        correlation_id=correlation_id,
        timestamp=timestamp,
        provider=provider,
        http_status=None,
        retry_after_s=None,
    )


def classify_answer(
    problem: str,
    message: str,
    *,
    provider: str,
    correlation_id: str,
    timestamp: datetime,
    stop_reason: str | None = None,
    provider_request_id: str | None = None,
) -> ErrorDetail:
    """An HTTP-200 answer that is not a verdict: ``problem`` is ``"max_tokens"`` (truncated)
    or ``"invalid_response"`` (no verdict, unparseable, invalid winner)."""
    error_type = ErrorType.MAX_TOKENS if problem == "max_tokens" else ErrorType.INVALID_RESPONSE
    return detail_for(
        error_type,
        message,
        correlation_id=correlation_id,
        timestamp=timestamp,
        provider=provider,
        http_status=200,
        retry_after_s=None,
        stop_reason=stop_reason,
        provider_request_id=provider_request_id,
    )


def unclassified(detail: ErrorDetail) -> ErrorDetail:
    """The original's view of any provider failure (``LEGACY_UNCLASSIFIED_PROVIDER_ERRORS``):
    one undifferentiated, retryable external-service error; Retry-After kept only as the
    provider's own bounded sleep."""
    details = {
        "error_type": ErrorType.UNKNOWN.value,
        "retryable": True,
        "provider": detail.details.get("provider"),
        "http_status": detail.details.get("http_status"),
        "retry_after_s": detail.details.get("retry_after_s"),
    }
    return detail.model_copy(update={"error_code": "EXTERNAL_SERVICE_ERROR", "details": details})
