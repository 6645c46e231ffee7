"""SDK exceptions translated into the engine's error taxonomy, with secrets kept out.

Both official SDKs (``anthropic`` and ``openai``) are generated from one template, so their
failures have one shape, drawn here as the tree the adapters see::

    <sdk>Error                         anything else the SDK raises       -> client_error
    ├── APIError
    │   ├── APIStatusError             an HTTP 4xx/5xx answer             -> classify_http
    │   ├── APIConnectionError         connection refused, reset, dropped -> connection
    │   │   └── APITimeoutError        no answer within the timeout       -> timeout
    │   └── APIResponseValidationError an answer that is not the schema   -> invalid_response
    httpx2.TimeoutException            (raised while streaming a batch results file,
    httpx2.TransportError               outside the SDK's own wrapping)   -> timeout / connection

``translate`` returns ``None`` for anything not on the tree (a bug of ours), which the adapter
re-raises: failures are never silently reclassified.

An HTTP error is classified from what the provider really sent: the status, the response
headers (``retry-after``, ``retry-after-ms``, ``request-id``/``x-request-id``) and the whole
error body, re-read from the response because the OpenAI SDK keeps only its inner ``error``
object. Every message and detail passes through ``redact``: the adapter's own API key, and
anything shaped like a key or a bearer token, never reaches an ``ErrorDetail`` (OpenAI's 401
echoes part of the key it was sent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx2

from engine import redaction
from engine.contracts import ErrorDetail
from engine.lps.errors import (
    ErrorType,
    classify_answer,
    classify_http,
    classify_transport,
    detail_for,
)
from engine.redaction import REDACTED

__all__ = [
    "REDACTED",
    "SdkExceptions",
    "batch_item_expired",
    "batch_refused",
    "classify_batch_http",
    "invalid_answer",
    "missing_model",
    "redact",
    "translate",
]

_KEY_SHAPES = re.compile(
    r"sk-ant-[A-Za-z0-9_*.-]{6,}"  # Anthropic keys, whole or masked
    r"|sk-[A-Za-z0-9_*.-]{6,}"  # OpenAI keys, whole or masked ("sk-proj-***abcd")
    r"|(?i:bearer)\s+\S{6,}"  # an Authorization header value
    r"|(?i:x-api-key)[\"']?\s*[:=]\s*[\"']?\S{6,}"
)


@dataclass(frozen=True, slots=True)
class SdkExceptions:
    """One SDK's exception classes, as the tree above names them."""

    base: type[Exception]
    status: type[Exception]
    connection: type[Exception]
    timeout: type[Exception]
    validation: type[Exception]


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every known secret (exactly) and every key-shaped string replaced."""
    return redaction.redact(text, secrets, _KEY_SHAPES)


def _redacted(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


def _redact_detail(detail: ErrorDetail, secrets: Sequence[str]) -> ErrorDetail:
    return detail.model_copy(
        update={
            "message": redact(detail.message, secrets),
            "details": _redacted(detail.details, secrets),
        }
    )


def _response_body(response: httpx2.Response, fallback: object) -> object:
    """The error body as sent: JSON if it parses, else its text (or what the SDK kept)."""
    try:
        text = response.text
    except (httpx2.HTTPError, httpx2.StreamError, UnicodeDecodeError):
        return fallback
    try:
        return json.loads(text)
    except ValueError:
        return text or fallback


def _http_detail(
    exc: Exception, *, provider: str, correlation_id: str, timestamp: datetime
) -> ErrorDetail:
    response: httpx2.Response = getattr(exc, "response")  # noqa: B009 (typed by the SDK, not here)
    body = _response_body(response, getattr(exc, "body", None))
    headers = dict(response.headers)
    if isinstance(body, dict) and isinstance(body.get("request_id"), str):
        # Anthropic repeats the request id in the error body; the header wins when both exist.
        headers = {"request-id": body["request_id"], **headers}
    return classify_http(
        response.status_code,
        headers=headers,
        body=body,
        provider=provider,
        correlation_id=correlation_id,
        timestamp=timestamp,
    )


def translate(
    exc: BaseException,
    sdk: SdkExceptions,
    *,
    provider: str,
    correlation_id: str,
    timestamp: datetime,
    secrets: Sequence[str],
) -> ErrorDetail | None:
    """The classified, redacted ``ErrorDetail`` for an SDK failure; ``None`` if ``exc`` is not
    one (the caller re-raises it)."""
    detail: ErrorDetail
    if isinstance(exc, sdk.status):
        detail = _http_detail(
            exc, provider=provider, correlation_id=correlation_id, timestamp=timestamp
        )
    elif isinstance(exc, (sdk.timeout, httpx2.TimeoutException)):
        detail = classify_transport(
            "timeout",
            f"no answer from {provider} within the client timeout",
            provider=provider,
            correlation_id=correlation_id,
            timestamp=timestamp,
        )
    elif isinstance(exc, (sdk.connection, httpx2.TransportError)):
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        detail = classify_transport(
            "connection",
            f"connection to {provider} failed: {type(cause).__name__}",
            provider=provider,
            correlation_id=correlation_id,
            timestamp=timestamp,
        )
    elif isinstance(exc, sdk.validation):
        response: httpx2.Response | None = getattr(exc, "response", None)
        headers = response.headers if response is not None else httpx2.Headers()
        detail = classify_answer(
            "invalid_response",
            f"{provider} answered with data that does not fit its own schema: {exc}",
            provider=provider,
            correlation_id=correlation_id,
            timestamp=timestamp,
            provider_request_id=headers.get("request-id") or headers.get("x-request-id"),
        )
    elif isinstance(exc, sdk.base):
        detail = detail_for(
            ErrorType.CLIENT_ERROR,
            f"the {provider} SDK refused the call: {type(exc).__name__}: {exc}",
            correlation_id=correlation_id,
            timestamp=timestamp,
            provider=provider,
            http_status=None,
            retry_after_s=None,
        )
    else:
        return None
    return _redact_detail(detail, secrets)


def _batch_item_detail(
    error_type: ErrorType,
    message: str,
    *,
    provider: str,
    job_id: str,
    correlation_id: str,
    timestamp: datetime,
    **details: Any,
) -> ErrorDetail:
    # No HTTP status and no retry-after: the item never had an HTTP answer of its own.
    return detail_for(
        error_type,
        message,
        correlation_id=correlation_id,
        timestamp=timestamp,
        provider=provider,
        operation="batch_comparison",
        http_status=None,
        retry_after_s=None,
        **details,
        provider_batch_id=job_id,
    )


def batch_item_expired(
    result_type: str,
    *,
    provider: str,
    job_id: str,
    correlation_id: str,
    timestamp: datetime,
) -> ErrorDetail:
    """A batch item the provider never ran (``expired``, or ``canceled`` with its job)."""
    return _batch_item_detail(
        ErrorType.BATCH_EXPIRED,
        f"{provider} batch {job_id}: the request was {result_type} before it ran",
        provider=provider,
        job_id=job_id,
        correlation_id=correlation_id,
        timestamp=timestamp,
        provider_result_type=result_type,
    )


def batch_refused(
    reason: str,
    *,
    provider: str,
    job_id: str,
    correlation_id: str,
    timestamp: datetime,
    secrets: Sequence[str],
) -> ErrorDetail:
    """A batch item the provider refused without an HTTP answer (alone or with its whole job)."""
    return _batch_item_detail(
        ErrorType.CLIENT_ERROR,
        redact(f"{provider} batch {job_id} failed: {reason}", secrets),
        provider=provider,
        job_id=job_id,
        correlation_id=correlation_id,
        timestamp=timestamp,
    )


def invalid_answer(
    message: str,
    *,
    provider: str,
    correlation_id: str,
    timestamp: datetime,
    secrets: Sequence[str],
    request_id: str | None,
    stop_reason: str | None = None,
) -> ErrorDetail:
    """An HTTP-200 answer that holds no verdict (``invalid_response``), redacted."""
    return classify_answer(
        "invalid_response",
        redact(message, secrets),
        provider=provider,
        correlation_id=correlation_id,
        timestamp=timestamp,
        stop_reason=stop_reason,
        provider_request_id=request_id,
    )


def classify_batch_http(
    status: int,
    body: object,
    *,
    request_id: str | None,
    provider: str,
    correlation_id: str,
    timestamp: datetime,
    secrets: Sequence[str],
) -> ErrorDetail:
    """A batch item that failed with an HTTP error: classified like a live answer, redacted."""
    detail = classify_http(
        status,
        headers={"request-id": request_id} if request_id else {},
        body=body,
        provider=provider,
        correlation_id=correlation_id,
        timestamp=timestamp,
    )
    return _redact_detail(detail, secrets)


def missing_model(provider: str, *, correlation_id: str, timestamp: datetime) -> ErrorDetail:
    """The call names no model and the adapter has no default: nothing was sent."""
    return detail_for(
        ErrorType.CLIENT_ERROR,
        f"no model for {provider}: the call names none and the adapter has no default "
        "(pass model=)",
        correlation_id=correlation_id,
        timestamp=timestamp,
        provider=provider,
        http_status=None,
        retry_after_s=None,
    )
