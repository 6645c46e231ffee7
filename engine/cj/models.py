"""The CJ side's stored rows: batch upload, batch state, essays, comparison pairs, and the
aliases under which a resubmitted comparison is awaited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.cj.states import BatchStateEnum, UploadStatus
from engine.store.rows import Row, table

__all__ = [
    "BatchState",
    "BatchUpload",
    "ComparisonPair",
    "CorrelationAlias",
    "Essay",
    "GenerationMode",
    "PairOutcome",
]


class GenerationMode(StrEnum):
    COVERAGE = "coverage"
    RESAMPLING = "resampling"


class PairOutcome(StrEnum):
    ESSAY_A = "essay_a"
    ESSAY_B = "essay_b"
    ERROR = "error"


@table("cj_batch_uploads", key="cj_batch_id")
@dataclass(frozen=True, slots=True, kw_only=True)
class BatchUpload(Row):
    cj_batch_id: int
    bos_batch_id: str
    status: UploadStatus
    grade_scale: str
    expected_essay_count: int
    student_count: int
    anchor_count: int
    created_at: datetime
    completed_at: datetime | None = None
    processing_metadata: Mapping[str, Any] = field(default_factory=dict)


@table("cj_batch_states", key="cj_batch_id")
@dataclass(frozen=True, slots=True, kw_only=True)
class BatchState(Row):
    """Counters: ``submitted`` pairs went out, ``completed`` came back with a winner, ``failed``
    came back with an error. ``total_budget`` never changes once set."""

    cj_batch_id: int
    state: BatchStateEnum
    total_budget: int | None = None
    total_comparisons: int = 0
    submitted_comparisons: int = 0
    completed_comparisons: int = 0
    failed_comparisons: int = 0
    current_iteration: int = 0
    last_activity_at: datetime | None = None
    partial_scoring_triggered: bool = False
    completion_threshold_pct: int = 95
    essay_count: int = 0  # students and anchors; fixed at creation
    processing_metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def callbacks_received(self) -> int:
        return self.completed_comparisons + self.failed_comparisons


@table("cj_essays", key="essay_key", indexes=("cj_batch_id",))
@dataclass(frozen=True, slots=True, kw_only=True)
class Essay(Row):
    essay_key: str  # "<cj_batch_id>:<essay_id>"
    cj_batch_id: int
    essay_id: str
    is_anchor: bool
    text: str
    known_grade: str | None = None
    anchor_ref_id: str | None = None
    bt_score: float | None = None
    bt_se: float | None = None
    rank: int | None = None
    grade: str | None = None
    confidence_label: str | None = None

    @staticmethod
    def key(cj_batch_id: int, essay_id: str) -> str:
        return f"{cj_batch_id}:{essay_id}"


@table("cj_comparison_pairs", key="correlation_id", indexes=("cj_batch_id",))
@dataclass(frozen=True, slots=True, kw_only=True)
class ComparisonPair(Row):
    """One comparison, one row, however often it is sent: ``correlation_id`` is its key and
    the id of its first request. A resubmission (``engine.cj.callback_deadline``) sends it again
    under a new id, which becomes ``live_correlation_id`` (None: the key itself is awaited) and
    gets a ``CorrelationAlias`` row; only the live id's callback counts. ``abandoned_reason``
    says why a comparison finished without a result (its batch was finalised first)."""

    correlation_id: str
    cj_batch_id: int
    essay_a_id: str
    essay_b_id: str
    iteration: int
    generation_mode: GenerationMode
    submitted_at: datetime
    outcome: PairOutcome | None = None
    confidence: float | None = None
    justification: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    attempts: int = 0
    completed_at: datetime | None = None
    provider: str | None = None
    model: str | None = None
    response_time_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    live_correlation_id: str | None = None
    resubmissions: int = 0
    resubmitted_at: datetime | None = None
    abandoned_reason: str | None = None

    @property
    def awaited_correlation_id(self) -> str:
        """The id whose callback counts now: the latest resubmission's, else the key."""
        return self.live_correlation_id or self.correlation_id

    @property
    def awaited_since(self) -> datetime:
        """When the awaited request was sent: the latest (re)submission."""
        return self.resubmitted_at or self.submitted_at

    @property
    def pair_key(self) -> tuple[str, str]:
        """The normalised (sorted) pair: the same for A/B and B/A."""
        a, b = self.essay_a_id, self.essay_b_id
        return (a, b) if a <= b else (b, a)

    @property
    def has_result(self) -> bool:
        return self.outcome is not None

    def winner_loser(self) -> tuple[str, str] | None:
        if self.outcome is PairOutcome.ESSAY_A:
            return self.essay_a_id, self.essay_b_id
        if self.outcome is PairOutcome.ESSAY_B:
            return self.essay_b_id, self.essay_a_id
        return None


@table("cj_correlation_aliases", key="correlation_id", indexes=("cj_batch_id",))
@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationAlias(Row):
    """A resubmission's correlation id, pointing at the pair it was sent for."""

    correlation_id: str
    pair_correlation_id: str
    cj_batch_id: int
