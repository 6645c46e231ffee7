"""Wire contracts between the CJ and LPS sides, as the original system defined them.

* ``LLMComparisonRequest``: what CJ hands LPS for one comparison (the original's HTTP body).
* ``LLMComparisonResultV1``: the callback LPS publishes, success *or* error, never both.
* ``EventEnvelope``: the envelope every bus message travels in.
* ``ErrorDetail``: the structured error every failure carries (PR 3).
* The CJ completion and failure events.

These are pydantic models: they validate what arrives from outside (the bus, a trace file, a
provider) and serialise canonically for traces and the event log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AssessmentResultV1",
    "CJAssessmentCompletedV1",
    "CJAssessmentFailedV1",
    "ErrorDetail",
    "EssayRanking",
    "EventEnvelope",
    "LLMComparisonRequest",
    "LLMComparisonResultV1",
    "LLMConfigOverrides",
    "PromptBlock",
    "TokenUsageV1",
    "Winner",
]

Winner = Literal["Essay A", "Essay B"]
RESULT_EVENT_TYPE = "LLMComparisonResultV1"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorDetail(_Contract):
    """A classified failure. ``details`` carries at least ``error_type`` and ``retryable``; for
    provider errors also ``http_status``, ``retry_after_s``, provider error type/code and the
    provider request id."""

    error_code: str
    message: str
    correlation_id: str
    timestamp: datetime
    service: str
    operation: str
    details: dict[str, Any] = Field(default_factory=dict)
    stack_trace: str | None = None
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def error_type(self) -> str:
        return str(self.details.get("error_type", "unknown"))


class LLMConfigOverrides(_Contract):
    provider_override: str
    model_override: str | None = None
    temperature_override: float | None = None
    system_prompt_override: str | None = None
    max_tokens_override: int | None = None
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    output_verbosity: Literal["low", "medium", "high"] | None = None


class PromptBlock(_Contract):
    target: Literal["system", "user"] = "user"
    content: str
    cacheable: bool = False
    ttl: Literal["5m", "1h"] | None = None
    content_hash: str


class LLMComparisonRequest(_Contract):
    user_prompt: str
    prompt_blocks: tuple[PromptBlock, ...] = ()
    callback_topic: str
    llm_config_overrides: LLMConfigOverrides
    correlation_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class TokenUsageV1(_Contract):
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    total_tokens: int = Field(0, ge=0)


class LLMComparisonResultV1(_Contract):
    """One comparison's outcome. Success needs winner, justification and confidence; an error
    carries ``error_detail`` and nothing of the three."""

    request_id: str
    correlation_id: str
    winner: Winner | None = None
    justification: str | None = Field(None, max_length=500)
    confidence: float | None = Field(None, ge=1, le=5)
    error_detail: ErrorDetail | None = None
    provider: str
    model: str
    response_time_ms: int = Field(0, ge=0)
    token_usage: TokenUsageV1 = TokenUsageV1()
    cost_estimate: float = Field(0.0, ge=0)
    requested_at: datetime
    completed_at: datetime
    trace_id: str | None = None
    request_metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one_side(self) -> LLMComparisonResultV1:
        success = (self.winner, self.justification, self.confidence)
        if self.error_detail is not None:
            if any(value is not None for value in success):
                raise ValueError("an error result must not carry winner/justification/confidence")
        elif any(value is None for value in success):
            raise ValueError("a success result needs winner, justification and confidence")
        return self

    @property
    def is_error(self) -> bool:
        return self.error_detail is not None


class EventEnvelope(_Contract):
    event_id: str
    event_type: str
    event_timestamp: datetime
    source_service: str
    schema_version: int = 1
    correlation_id: str
    data: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)

    def result(self) -> LLMComparisonResultV1:
        """The comparison result inside (raises ``pydantic.ValidationError`` if malformed)."""
        if self.event_type != RESULT_EVENT_TYPE:
            raise ValueError(f"envelope carries {self.event_type!r}, not {RESULT_EVENT_TYPE}")
        return LLMComparisonResultV1.model_validate(self.data)


class EssayRanking(_Contract):
    essay_id: str
    is_anchor: bool
    rank: int
    bt_score: float
    bt_se: float
    grade: str | None = None
    confidence_label: str | None = None
    confidence_score: float | None = None
    known_grade: str | None = None


class CJAssessmentCompletedV1(_Contract):
    """The thin completion event: students only."""

    cj_batch_id: int
    bos_batch_id: str
    status: str
    rankings: tuple[EssayRanking, ...]


class AssessmentResultV1(_Contract):
    """The rich result: anchors included, with normalised scores and the anchor grade spread."""

    cj_batch_id: int
    bos_batch_id: str
    status: str
    rankings: tuple[EssayRanking, ...]
    normalized_scores: dict[str, float]
    anchor_grade_distribution: dict[str, int]
    ssr: float | None = None


class CJAssessmentFailedV1(_Contract):
    cj_batch_id: int
    bos_batch_id: str
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)
