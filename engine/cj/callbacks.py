"""Callbacks from LPS: match, classify, and count, inside one locked transaction (PR 1, PR 4).

A callback is matched to its pair by correlation id (the pair's key, else the alias a
resubmission left, see ``engine.cj.callback_deadline``), then classified, in this order:

* **invalid**: the envelope or result does not validate; counted and logged, never raised;
* **orphan**: no pair has that correlation id; counted in ``cj_orphan_callbacks_total`` and logged
  as a structured record (the legacy toggle raises instead, as the original did);
* **duplicate**: the pair already has a result, or the id is no longer the one the pair awaits
  (a late original after a resubmission: logged with ``superseded=True``); ignored and counted;
* **late**: the batch is already finalised; recorded, not applied (legacy: applied anyway);
* **applied**: the pair gets its winner or error and the batch counters move by one.

Records name the comparison by its pair key (``ids.correlation_id``); when the callback came
under a resubmission's id, that id is the field ``callback_correlation_id``.

The pair row and the batch-state row are both read ``FOR UPDATE`` and held until commit, pair
first, so concurrent deliveries of one callback cannot both apply, and concurrent callbacks of
one batch cannot lose counter updates. ``LEGACY_COUNTERS_WITHOUT_LOCK`` drops the batch-state
lock and so brings the lost updates back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from engine.cj.completion import completion_plan
from engine.cj.context import CJContext
from engine.cj.models import BatchState, ComparisonPair, PairOutcome
from engine.cj.repository import find_pair, get_batch_state, save_batch_state
from engine.cj.states import BatchStateEnum
from engine.contracts import EventEnvelope, LLMComparisonResultV1
from engine.ports import Tx
from engine.store.rows import evolve

__all__ = [
    "AppliedOutcome",
    "CallbackDisposition",
    "CallbackOutcome",
    "OrphanCallback",
    "ResultFields",
    "apply_outcome",
    "handle_callback",
    "record_outcome",
]


class OrphanCallback(LookupError):
    """Raised only under ``LEGACY_ORPHAN_CALLBACKS_RAISE``: the original's behaviour."""


class CallbackDisposition(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ORPHAN = "orphan"
    LATE = "late"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    disposition: CallbackDisposition
    cj_batch_id: int | None = None
    wave_complete: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultFields:
    """What a callback (or a rejected submission) writes onto its pair."""

    outcome: PairOutcome
    confidence: float | None = None
    justification: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    attempts: int = 1
    provider: str | None = None
    model: str | None = None
    response_time_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @classmethod
    def from_result(cls, result: LLMComparisonResultV1) -> ResultFields:
        attempts = int(result.request_metadata.get("attempts", 1) or 1)
        common: dict[str, Any] = {
            "attempts": attempts,
            "provider": result.provider,
            "model": result.model,
            "response_time_ms": result.response_time_ms,
            "prompt_tokens": result.token_usage.prompt_tokens,
            "completion_tokens": result.token_usage.completion_tokens,
        }
        if result.error_detail is not None:
            return cls(
                outcome=PairOutcome.ERROR,
                error_type=result.error_detail.error_type,
                error_code=result.error_detail.error_code,
                **common,
            )
        outcome = PairOutcome.ESSAY_A if result.winner == "Essay A" else PairOutcome.ESSAY_B
        return cls(
            outcome=outcome,
            confidence=result.confidence,
            justification=result.justification,
            **common,
        )


async def handle_callback(ctx: CJContext, message: object) -> CallbackOutcome:
    """Handle one bus message from the callback topic. Never raises for bad input."""
    try:
        envelope = (
            message if isinstance(message, EventEnvelope) else EventEnvelope.model_validate(message)
        )
        result = envelope.result()
    except (ValidationError, ValueError) as exc:
        ctx.metrics.callbacks.labels(CallbackDisposition.INVALID.value).inc()
        ctx.log.append("cj.callback.invalid", problem=str(exc).splitlines()[0][:300])
        return CallbackOutcome(CallbackDisposition.INVALID)
    return await record_outcome(
        ctx,
        result.correlation_id,
        ResultFields.from_result(result),
        source_service=envelope.source_service,
    )


async def record_outcome(
    ctx: CJContext, correlation_id: str, fields: ResultFields, *, source_service: str
) -> CallbackOutcome:
    """Apply one outcome to its pair and the batch counters, or classify why not."""
    settings = ctx.settings
    async with ctx.store.transaction() as tx:
        pair = await find_pair(
            tx,
            correlation_id,
            for_update=True,
            aliases=not settings.LEGACY_NO_CALLBACK_DEADLINE,  # no resubmission, no alias
        )
        if pair is None:
            return _orphan(ctx, correlation_id, source_service)
        ids: dict[str, Any] = {
            "cj_batch_id": pair.cj_batch_id,
            "correlation_id": pair.correlation_id,
        }
        received = _received(pair, correlation_id)
        superseded = correlation_id != pair.awaited_correlation_id
        if pair.has_result or superseded:
            ctx.metrics.callbacks.labels(CallbackDisposition.DUPLICATE.value).inc()
            ctx.log.append(
                "cj.callback.duplicate",
                ids=ids,
                outcome=fields.outcome.value,
                recorded=pair.outcome.value if pair.outcome else None,
                **received,
                **({"superseded": True} if superseded else {}),
            )
            return CallbackOutcome(CallbackDisposition.DUPLICATE, pair.cj_batch_id)
        state = await get_batch_state(
            tx, pair.cj_batch_id, for_update=not settings.LEGACY_COUNTERS_WITHOUT_LOCK
        )
        if state.state.terminal and not settings.LEGACY_APPLY_LATE_CALLBACKS:
            ctx.metrics.callbacks.labels(CallbackDisposition.LATE.value).inc()
            ctx.log.append(
                "cj.callback.late",
                ids=ids,
                outcome=fields.outcome.value,
                batch_state=state.state.value,
                **received,
            )
            return CallbackOutcome(CallbackDisposition.LATE, pair.cj_batch_id)
        _, applied = await apply_outcome(ctx, tx, pair, state, fields, received=received)
    # Committed: only now is the callback a fact worth recording.
    applied.announce(ctx)
    return CallbackOutcome(CallbackDisposition.APPLIED, pair.cj_batch_id, applied.wave_complete)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedOutcome:
    """An outcome written in a transaction that has not committed yet: ``announce`` it (log
    record and metrics) once it has."""

    cj_batch_id: int
    ids: dict[str, Any]
    fields: dict[str, Any]
    success: bool
    provider: str | None
    model: str | None
    completion_pct: float
    wave_complete: bool

    def announce(self, ctx: CJContext) -> None:
        ctx.log.append("cj.callback.applied", ids=self.ids, **self.fields)
        status = "success" if self.success else "error"
        metrics = ctx.metrics
        metrics.callbacks.labels(f"applied_{status}").inc()
        metrics.comparisons.labels(status).inc()
        metrics.llm_api_calls.labels(
            self.provider or "unknown", self.model or "unknown", status
        ).inc()
        metrics.progress.labels(str(self.cj_batch_id)).set(self.completion_pct)


async def apply_outcome(
    ctx: CJContext,
    tx: Tx,
    pair: ComparisonPair,
    state: BatchState,
    fields: ResultFields,
    *,
    received: dict[str, Any] | None = None,
) -> tuple[BatchState, AppliedOutcome]:
    """Write ``fields`` onto ``pair`` and move the batch counters by one, in ``tx``.

    The caller holds ``pair``'s row lock and (unless ``LEGACY_COUNTERS_WITHOUT_LOCK``) the batch
    state's, has read ``state`` under it, and has checked that the outcome is due (no result
    yet, the awaited id, the batch not finalised unless ``LEGACY_APPLY_LATE_CALLBACKS``).
    Returns the new state, for the caller's next outcome in the same transaction."""
    assert not pair.has_result, f"pair {pair.correlation_id} already has a result"
    settings = ctx.settings
    now = ctx.runtime.utcnow()
    await tx.update(_with_result(pair, fields, now))
    success = fields.outcome is not PairOutcome.ERROR
    completed = state.completed_comparisons + (1 if success else 0)
    failed = state.failed_comparisons + (0 if success else 1)
    budget = state.total_budget or 0
    partial = state.partial_scoring_triggered or (
        budget > 0 and completed >= budget * state.completion_threshold_pct / 100
    )
    after = evolve(
        state,
        completed_comparisons=completed,
        failed_comparisons=failed,
        last_activity_at=now,
        partial_scoring_triggered=partial,
    )
    await save_batch_state(tx, state, after)
    plan = completion_plan(budget, state.essay_count, settings)
    percentage = plan.percentage(after.callbacks_received)
    applied = AppliedOutcome(
        cj_batch_id=pair.cj_batch_id,
        ids={"cj_batch_id": pair.cj_batch_id, "correlation_id": pair.correlation_id},
        fields={
            "outcome": fields.outcome.value,
            "error_type": fields.error_type,
            "attempts": fields.attempts,
            "completed": completed,
            "failed": failed,
            "submitted": after.submitted_comparisons,
            "denominator": plan.denominator,
            "completion_pct": round(percentage, 6),
            "after_finalization": state.state.terminal,
            **(received or {}),
        },
        success=success,
        provider=fields.provider,
        model=fields.model,
        completion_pct=percentage,
        wave_complete=(
            after.state is BatchStateEnum.WAITING_CALLBACKS
            and after.callbacks_received >= after.submitted_comparisons
        ),
    )
    return after, applied


def _received(pair: ComparisonPair, correlation_id: str) -> dict[str, Any]:
    """The record field naming the id a callback came under, when it is not the pair's key."""
    if correlation_id == pair.correlation_id:
        return {}
    return {"callback_correlation_id": correlation_id}


def _orphan(ctx: CJContext, correlation_id: str, source_service: str) -> CallbackOutcome:
    ctx.metrics.callbacks.labels(CallbackDisposition.ORPHAN.value).inc()
    ctx.metrics.orphan_callbacks.labels(source_service).inc()
    ctx.log.append(
        "cj.callback.orphan", ids={"correlation_id": correlation_id}, source_service=source_service
    )
    if ctx.settings.LEGACY_ORPHAN_CALLBACKS_RAISE:
        raise OrphanCallback(f"no comparison pair has correlation id {correlation_id!r}")
    return CallbackOutcome(CallbackDisposition.ORPHAN)


def _with_result(pair: ComparisonPair, fields: ResultFields, now: datetime) -> ComparisonPair:
    return evolve(
        pair,
        outcome=fields.outcome,
        confidence=fields.confidence,
        justification=fields.justification,
        error_type=fields.error_type,
        error_code=fields.error_code,
        attempts=fields.attempts,
        completed_at=now,
        provider=fields.provider,
        model=fields.model,
        response_time_ms=fields.response_time_ms,
        prompt_tokens=fields.prompt_tokens,
        completion_tokens=fields.completion_tokens,
    )
