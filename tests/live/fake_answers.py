"""What the fake provider server says: scripted answers and their two wire dialects.

``Answer`` and ``BatchItem`` values are the script a test hands to ``FakeProviderServer``; the
rendering functions write one answer as the Anthropic Messages or OpenAI Responses API would,
bodies and error envelopes alike. ``Usage`` holds the normalised counts (``input_tokens`` is the
*uncached* input); Anthropic reports cache reads and writes beside ``input_tokens``, OpenAI
inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Answer",
    "BatchItem",
    "Usage",
    "anthropic_error",
    "anthropic_message",
    "canceled",
    "dropped",
    "errored",
    "expired",
    "malformed_json",
    "missing_winner",
    "openai_error",
    "openai_response",
    "overloaded",
    "presented_key",
    "quota_exhausted",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One scripted answer to a model call."""

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
    *, stop_reason: str = "max_tokens", incomplete_reason: str | None = "max_output_tokens"
) -> Answer:
    return Answer(kind="truncated", stop_reason=stop_reason, incomplete_reason=incomplete_reason)


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
