"""Callbacks: exactly one ``LLMComparisonResultV1`` per queue item, success or error (PR 4).

``request_metadata`` echoes the caller's metadata plus what LPS knows: ``prompt_sha256``,
``queue_processing_mode``, ``resolved_provider``, ``attempts``, the provider's usage (cache tokens
included). A ``preferred_bundle_size`` is echoed only as the integer 1..64 that LPS honoured;
anything else a caller sent is dropped, so downstream checks can rely on the range.
"""

from __future__ import annotations

from typing import Any

from engine.contracts import (
    ErrorDetail,
    EventEnvelope,
    LLMComparisonRequest,
    LLMComparisonResultV1,
    TokenUsageV1,
)
from engine.lps.calls import ProviderVerdict, TokenUsage
from engine.lps.queue import QueueItem
from engine.ports import Runtime

__all__ = ["COST_PER_1K_TOKENS", "bundle_hint", "error_result", "success_result", "wrap"]

SOURCE_SERVICE = "llm_provider_service"
COST_PER_1K_TOKENS = {"anthropic": 0.01, "openai": 0.015, "mock": 0.0}
BUNDLE_HINT_MAX = 64


def bundle_hint(metadata: dict[str, Any] | Any) -> int | None:
    """The caller's ``preferred_bundle_size`` if it is an int in 1..64, else None."""
    hint = metadata.get("preferred_bundle_size") if isinstance(metadata, dict) else None
    if isinstance(hint, int) and not isinstance(hint, bool) and 1 <= hint <= BUNDLE_HINT_MAX:
        return hint
    return None


def _metadata(request: LLMComparisonRequest, extra: dict[str, Any]) -> dict[str, Any]:
    metadata = {
        key: value for key, value in request.metadata.items() if key != "preferred_bundle_size"
    }
    hint = bundle_hint(request.metadata)
    if hint is not None:
        metadata["preferred_bundle_size"] = hint
    metadata.update(extra)
    return metadata


def success_result(
    item: QueueItem,
    request: LLMComparisonRequest,
    verdict: ProviderVerdict,
    *,
    runtime: Runtime,
    extra: dict[str, Any],
) -> LLMComparisonResultV1:
    usage = verdict.usage
    rate = COST_PER_1K_TOKENS.get(item.provider, 0.0)
    return LLMComparisonResultV1(
        request_id=item.queue_id,
        correlation_id=item.correlation_id,
        winner=verdict.winner,
        justification=verdict.justification[:500],
        confidence=verdict.confidence,
        provider=item.provider,
        model=verdict.model,
        response_time_ms=verdict.response_time_ms,
        token_usage=TokenUsageV1(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        ),
        cost_estimate=round(usage.total_tokens / 1000.0 * rate, 8),
        requested_at=item.queued_at,
        completed_at=runtime.utcnow(),
        request_metadata=_metadata(
            request,
            {
                **extra,
                "usage": _usage_metadata(usage),
                "provider_request_id": verdict.provider_request_id,
            },
        ),
    )


def error_result(
    item: QueueItem,
    request: LLMComparisonRequest,
    detail: ErrorDetail,
    *,
    runtime: Runtime,
    extra: dict[str, Any],
    model: str | None = None,
    usage: TokenUsage | None = None,
) -> LLMComparisonResultV1:
    """An error callback. ``model`` and ``usage`` are the failed call's when the provider
    answered and billed it (a truncated or unparseable answer); otherwise the model is
    ``unknown`` and no tokens are reported."""
    metadata = dict(extra)
    token_usage = TokenUsageV1()
    cost = 0.0
    if usage is not None:
        cost = round(usage.total_tokens / 1000.0 * COST_PER_1K_TOKENS.get(item.provider, 0.0), 8)
        token_usage = TokenUsageV1(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )
        metadata["usage"] = _usage_metadata(usage)
    return LLMComparisonResultV1(
        request_id=item.queue_id,
        correlation_id=item.correlation_id,
        error_detail=detail,
        provider=item.provider,
        model=model or "unknown",
        token_usage=token_usage,
        cost_estimate=cost,
        requested_at=item.queued_at,
        completed_at=runtime.utcnow(),
        request_metadata=_metadata(request, metadata),
    )


def _usage_metadata(usage: TokenUsage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    }


def wrap(result: LLMComparisonResultV1, *, event_id: str, runtime: Runtime) -> EventEnvelope:
    return EventEnvelope(
        event_id=event_id,
        event_type="LLMComparisonResultV1",
        event_timestamp=runtime.utcnow(),
        source_service=SOURCE_SERVICE,
        correlation_id=result.correlation_id,
        data=result.model_dump(mode="json"),
    )
