"""What crosses the Provider port: one comparison call and its verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.contracts import PromptBlock

__all__ = ["ProviderCall", "ProviderVerdict", "TokenUsage"]

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
