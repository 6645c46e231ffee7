"""What the fake provider server says: scripted answers and their two wire dialects.

``Answer`` and ``BatchItem`` values are the script a test hands to ``FakeProviderServer``; the
rendering functions write one answer as the Anthropic Messages or OpenAI Responses API would,
bodies and error envelopes alike. ``Usage`` holds the normalised counts (``input_tokens`` is the
*uncached* input); Anthropic reports cache reads and writes beside ``input_tokens``, OpenAI
inside it. ``Limits`` is what the rate-limit headers of every model-call answer say, rendered in
each provider's header names: Anthropic's resets as RFC 3339 instants, OpenAI's as Go-style
durations (``6m0s``). The model lookup (``GET /v1/models/{id}``) answers in each dialect too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = [
    "Answer",
    "BatchItem",
    "Limits",
    "Usage",
    "anthropic_error",
    "anthropic_message",
    "canceled",
    "dropped",
    "errored",
    "expired",
    "go_duration",
    "malformed_json",
    "missing_winner",
    "model_body",
    "model_not_found",
    "openai_error",
    "openai_response",
    "overloaded",
    "presented_key",
    "quota_exhausted",
    "rate_limit_headers",
    "rate_limited",
    "refusal",
    "server_error",
    "slow",
    "succeeded",
    "truncated",
    "unauthorized",
    "verdict",
    "verdict_object",
]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 120  # uncached
    output_tokens: int = 40
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """What the rate-limit headers say: counts left, and seconds until each limit resets."""

    requests_limit: int = 50
    requests_remaining: int = 49
    requests_reset_s: float = 1.2
    tokens_limit: int = 40_000
    tokens_remaining: int = 39_000
    tokens_reset_s: float = 360.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One scripted answer to a model call. ``winner="auto"``: decided by the server from a hash
    of the request's user content, so a repeated comparison gets the same verdict."""

    kind: Literal[
        "verdict", "http_error", "truncated", "missing_winner", "malformed", "refusal", "drop"
    ]
    winner: str = "Essay A"
    justification: str = "Essay A argues more clearly and supports each claim."
    confidence: float = 4
    usage: Usage = Usage()
    delay_s: float = 0.0
    status: int = 200
    error: str = ""  # which error body: rate_limit, quota, overloaded, server, auth
    headers: tuple[tuple[str, str], ...] = ()
    stop_reason: str = "max_tokens"  # truncated: Anthropic's stop reason
    incomplete_reason: str | None = "max_output_tokens"  # truncated: OpenAI's reason


def verdict(winner: str = "Essay A", *, usage: Usage = Usage(), confidence: float = 4) -> Answer:
    return Answer(kind="verdict", winner=winner, usage=usage, confidence=confidence)


def slow(delay_s: float) -> Answer:
    """A verdict sent only after ``delay_s`` (longer than the client's timeout, in tests)."""
    return Answer(kind="verdict", delay_s=delay_s)


def rate_limited(*, retry_after: str | None = None, retry_after_ms: str | None = None) -> Answer:
    headers = [("retry-after", retry_after)] if retry_after is not None else []
    headers += [("retry-after-ms", retry_after_ms)] if retry_after_ms is not None else []
    return Answer(kind="http_error", status=429, error="rate_limit", headers=tuple(headers))


def quota_exhausted() -> Answer:
    """Anthropic's spend-limit 429; OpenAI's ``insufficient_quota`` 429 (no ``retry-after``)."""
    return Answer(kind="http_error", status=429, error="quota")


def overloaded(*, retry_after: str | None = None) -> Answer:
    """Anthropic's 529 ``overloaded_error``; OpenAI's 503 ``server_is_overloaded``."""
    headers = (("retry-after", retry_after),) if retry_after is not None else ()
    return Answer(kind="http_error", status=529, error="overloaded", headers=headers)


def server_error(status: int = 500) -> Answer:
    return Answer(kind="http_error", status=status, error="server")


def unauthorized() -> Answer:
    """A 401 whose message echoes the key it was sent, as OpenAI's does (masked) and worse."""
    return Answer(kind="http_error", status=401, error="auth")


def truncated(
    *,
    stop_reason: str = "max_tokens",
    incomplete_reason: str | None = "max_output_tokens",
    usage: Usage = Usage(),
) -> Answer:
    """A billed failure: the answer hit the token limit, with ``usage`` as the provider bills."""
    return Answer(
        kind="truncated", stop_reason=stop_reason, incomplete_reason=incomplete_reason, usage=usage
    )


def missing_winner() -> Answer:
    return Answer(kind="missing_winner")


def malformed_json() -> Answer:
    return Answer(kind="malformed")


def refusal() -> Answer:
    return Answer(kind="refusal")


def dropped() -> Answer:
    """The connection is closed without an answer."""
    return Answer(kind="drop")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One request's fate in a batch."""

    kind: Literal["succeeded", "errored", "expired", "canceled"]
    answer: Answer | None = None
    error_type: str = "invalid_request_error"
    status: int = 400


def succeeded(answer: Answer | None = None) -> BatchItem:
    return BatchItem("succeeded", answer or verdict())


def errored(error_type: str = "invalid_request_error", status: int = 400) -> BatchItem:
    return BatchItem("errored", error_type=error_type, status=status)


def expired() -> BatchItem:
    return BatchItem("expired")


def canceled() -> BatchItem:
    return BatchItem("canceled")


# ---- rendering ---------------------------------------------------------------------------


def verdict_object(answer: Answer) -> dict[str, Any]:
    data: dict[str, Any] = {"justification": answer.justification, "confidence": answer.confidence}
    if answer.kind != "missing_winner":
        data["winner"] = answer.winner
    return data


def anthropic_message(answer: Answer, model: str, number: int) -> dict[str, Any]:
    usage = answer.usage
    tool_input: dict[str, Any] = verdict_object(answer)
    stop_reason = "tool_use"
    if answer.kind == "truncated":
        tool_input, stop_reason = {"winner": answer.winner}, answer.stop_reason
    content: list[dict[str, Any]] = [
        {"type": "tool_use", "id": f"toolu_{number:04d}", "name": "record_judgement",
         "input": tool_input}
    ]  # fmt: skip
    if answer.kind == "refusal":
        content, stop_reason = [{"type": "text", "text": "I can't judge these."}], "refusal"
    return {
        "id": f"msg_{number:04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage.cache_write_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "service_tier": "standard",
        },
    }


def openai_response(answer: Answer, model: str, number: int) -> dict[str, Any]:
    usage = answer.usage
    text = json.dumps(verdict_object(answer))
    status, incomplete = "completed", None
    if answer.kind == "truncated":
        text = text[: len(text) // 2]
        status, incomplete = "incomplete", {"reason": answer.incomplete_reason}
    part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
    if answer.kind == "refusal":
        part = {"type": "refusal", "refusal": "I can't judge these."}
    prompt_tokens = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "id": f"resp_{number:04d}",
        "object": "response",
        "created_at": 1_790_000_000 + number,
        "status": status,
        "incomplete_details": incomplete,
        "error": None,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{number:04d}",
                "status": status,
                "role": "assistant",
                "content": [part],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {
                "cached_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
            },
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt_tokens + usage.output_tokens,
        },
    }


def anthropic_error(answer: Answer, request_id: str, key: str) -> tuple[int, dict[str, Any]]:
    kinds = {
        "rate_limit": (
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit.",
        ),
        "quota": ("rate_limit_error", "You have reached your monthly spend limit."),
        "overloaded": ("overloaded_error", "Overloaded"),
        "server": ("api_error", "Internal server error"),
        "auth": ("authentication_error", f"invalid x-api-key: {key}"),
    }
    error_type, message = kinds[answer.error]
    error: dict[str, Any] = {"type": error_type, "message": message}
    if answer.error == "quota":
        error["details"] = {"error_code": "enforced_spend_limit_reached"}
    return answer.status, {"type": "error", "error": error, "request_id": request_id}


def openai_error(answer: Answer, key: str) -> tuple[int, dict[str, Any]]:
    masked = f"{key[:8]}{'*' * 12}{key[-4:]}"
    kinds = {
        "rate_limit": (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests."),
        "quota": (429, "insufficient_quota", "insufficient_quota", "You exceeded your quota."),
        "overloaded": (503, "service_unavailable_error", "server_is_overloaded",
                       "The server is overloaded. Please try again later."),
        "server": (answer.status, "server_error", None, "The server had an error."),
        "auth": (401, "invalid_request_error", "invalid_api_key",
                 f"Incorrect API key provided: {masked}."),
    }  # fmt: skip
    status, error_type, code, message = kinds[answer.error]
    return status, {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def presented_key(headers: dict[str, str]) -> str:
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip() or "none-sent"


def model_not_found(dialect: str, model: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """The 404 of a model lookup for a model the provider does not serve."""
    if dialect == "anthropic":
        error = {"type": "not_found_error", "message": f"model: {model}"}
        return 404, {"type": "error", "error": error, "request_id": request_id}
    message = f"The model '{model}' does not exist or you do not have access to it."
    error = {"message": message, "type": "invalid_request_error", "param": None,
             "code": "model_not_found"}  # fmt: skip
    return 404, {"error": error}


def model_body(dialect: str, model: str) -> dict[str, Any]:
    """A model lookup's answer (``GET /v1/models/{id}``)."""
    if dialect == "anthropic":
        return {"type": "model", "id": model, "display_name": model,
                "created_at": "2026-01-01T00:00:00Z", "lifecycle": "active"}  # fmt: skip
    return {"id": model, "object": "model", "created": 1_790_000_000, "owned_by": "system"}


def go_duration(seconds: float) -> str:
    """``seconds`` as Go prints a duration: ``120ms``, ``1.2s``, ``6m0s``, ``1h0m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{round(secs, 6):g}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    return f"{int(hours)}h{text}" if hours else text


def rate_limit_headers(dialect: str, limits: Limits, now: datetime) -> list[tuple[str, str]]:
    """The rate-limit headers of one answer, in the provider's own names and formats."""
    if dialect == "anthropic":

        def instant(seconds: float) -> str:
            return (now + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

        prefix = "anthropic-ratelimit-"
        return [
            (f"{prefix}requests-limit", str(limits.requests_limit)),
            (f"{prefix}requests-remaining", str(limits.requests_remaining)),
            (f"{prefix}requests-reset", instant(limits.requests_reset_s)),
            (f"{prefix}tokens-limit", str(limits.tokens_limit)),
            (f"{prefix}tokens-remaining", str(limits.tokens_remaining)),
            (f"{prefix}tokens-reset", instant(limits.tokens_reset_s)),
        ]
    return [
        ("x-ratelimit-limit-requests", str(limits.requests_limit)),
        ("x-ratelimit-limit-tokens", str(limits.tokens_limit)),
        ("x-ratelimit-remaining-requests", str(limits.requests_remaining)),
        ("x-ratelimit-remaining-tokens", str(limits.tokens_remaining)),
        ("x-ratelimit-reset-requests", go_duration(limits.requests_reset_s)),
        ("x-ratelimit-reset-tokens", go_duration(limits.tokens_reset_s)),
    ]
