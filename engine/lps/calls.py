"""What crosses the Provider port: one comparison call and its verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.contracts import PromptBlock

__all__ = ["ProviderCall", "ProviderVerdict", "RateLimitHints", "TokenUsage"]

Winner = Literal["Essay A", "Essay B"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCall:
    """One comparison, rendered and ready to send."""

    correlation_id: str
    provider: str
    model: str
    system_prompt: str
    user_prompt: str
    prompt_sha256: str
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    output_verbosity: str | None = None
    prompt_blocks: tuple[PromptBlock, ...] = ()
    custom_id: str = ""  # the queue id: how batch results find their request
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenUsage:
    """Token counts normalised across providers: ``prompt_tokens`` includes cached tokens."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitHints:
    """What a provider's response headers said about its rate limits, read by the adapter.

    Anthropic sends ``anthropic-ratelimit-{requests,tokens}-{remaining,reset}`` (reset as an
    RFC 3339 instant); OpenAI sends ``x-ratelimit-{remaining,reset}-{requests,tokens}`` (reset
    as a duration such as ``6m0s``). Both send ``retry-after`` (seconds) and, sometimes,
    ``retry-after-ms``. The adapter turns every reset into seconds from the response on the
    runtime clock, so the engine never parses a header or reads a wall clock. ``None``: the
    header was absent or unreadable.
    """

    requests_remaining: int | None = None
    tokens_remaining: int | None = None
    requests_reset_s: float | None = None
    tokens_reset_s: float | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderVerdict:
    """A parsed judgement."""

    winner: Winner
    justification: str
    confidence: float  # 1..5, as the model said it
    model: str
    usage: TokenUsage
    response_time_ms: int
    provider_request_id: str | None = None
    stop_reason: str | None = None
    rate_limit: RateLimitHints | None = None
