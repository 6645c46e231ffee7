"""Finishing a batch: success, failure, or too few essays. Each sets ``completed_at`` and
returns the events to publish once the transaction has committed.

Success and failure also account for every comparison still owed a callback: it is marked
abandoned (``abandoned_reason="batch_finalized"``, one ``cj.pair.abandoned`` record each), so
that every submitted comparison ends with a result, a recorded failure or a reason. A callback
that arrives for it later is still only "late". ``LEGACY_NO_CALLBACK_DEADLINE`` leaves pairs
unmarked, as the original did.

Lock order: the caller holds the batch-state row lock, and marking takes pair row locks, the
reverse of the callback handler's order (pair, then batch). A wait cycle needs a callback for
an outstanding pair in flight at the instant of finalisation; continuation finalises only when
every callback is in, so only the monitor's stuck-batch sweep can meet one, and the callback
deadline watchdog settles every pair long before a batch counts as stuck.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from engine.cj.batch_scoring import score_batch
from engine.cj.context import CJContext
from engine.cj.models import BatchState, BatchUpload
from engine.cj.repository import (
    essays_of,
    get_pair,
    outstanding_pairs,
    pairs_of,
    transition_batch,
    transition_upload,
)
from engine.cj.states import BatchEvent, UploadEvent
from engine.contracts import (
    AssessmentResultV1,
    CJAssessmentCompletedV1,
    CJAssessmentFailedV1,
    EssayRanking,
    EventEnvelope,
)
from engine.ports import Tx
from engine.store.rows import evolve

__all__ = [
    "ABANDONED_BATCH_FINALIZED",
    "Publication",
    "abandon_outstanding",
    "finalize_failure",
    "finalize_scoring",
    "finalize_single_essay",
    "publish",
]


ABANDONED_BATCH_FINALIZED = "batch_finalized"


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    envelope: EventEnvelope


async def publish(ctx: CJContext, publications: list[Publication]) -> None:
    for publication in publications:
        await ctx.bus.publish(publication.topic, publication.envelope)


async def abandon_outstanding(ctx: CJContext, tx: Tx, cj_batch_id: int, reason: str) -> int:
    """Mark every pair of the batch still owed a callback as abandoned for ``reason``; returns
    how many. Each pair is re-read under its row lock, so a result committed meanwhile (possible
    under ``LEGACY_COUNTERS_WITHOUT_LOCK``) is never overwritten."""
    if ctx.settings.LEGACY_NO_CALLBACK_DEADLINE:
        return 0
    abandoned = 0
    for candidate in await outstanding_pairs(tx, cj_batch_id):
        pair = await get_pair(tx, candidate.correlation_id, for_update=True)
        if pair is None or pair.has_result or pair.abandoned_reason is not None:
            continue
        await tx.update(evolve(pair, abandoned_reason=reason))
        ctx.log.append(
            "cj.pair.abandoned",
            ids={"cj_batch_id": cj_batch_id, "correlation_id": pair.correlation_id},
            reason=reason,
        )
        abandoned += 1
    return abandoned


def _log_finalized(
    ctx: CJContext, state: BatchState, upload: BatchUpload, reason: str, **outcome: Any
) -> None:
    """The one ``cj.batch.finalized`` record: the batch's final counts, plus what the outcome
    adds (scores and alignment on success, the details of a failure). Reports read it."""
    ctx.log.append(
        "cj.batch.finalized",
        ids={"cj_batch_id": state.cj_batch_id},
        status=upload.status.value,
        reason=reason,
        iterations=state.current_iteration,
        submitted=state.submitted_comparisons,
        completed=state.completed_comparisons,
        failed=state.failed_comparisons,
        **outcome,
    )


async def finalize_scoring(
    ctx: CJContext,
    tx: Tx,
    state: BatchState,
    upload: BatchUpload,
    *,
    event: UploadEvent,
    reason: str,
) -> list[Publication]:
    """Score, rank and grade the batch; upload COMPLETE_*, state COMPLETED."""
    settings = ctx.settings
    state = await transition_batch(tx, state, BatchEvent.FINALIZE)
    ctx.track_state(state.cj_batch_id, state.state.value)
    essays = await essays_of(tx, state.cj_batch_id)
    pairs = await pairs_of(tx, state.cj_batch_id)
    scored = score_batch(essays, pairs, alpha=settings.BT_ALPHA, grade_scale=upload.grade_scale)
    quality = scored.quality
    if quality.bt_se_inflated:
        ctx.metrics.se_inflated_batches.inc()
    rankings = []
    for essay in essays:
        projection = scored.projections.get(essay.essay_id)
        updated = replace(
            essay,
            bt_score=scored.scores[essay.essay_id],
            bt_se=scored.ses[essay.essay_id],
            rank=scored.ranks[essay.essay_id],
            grade=projection.grade if projection else None,
            confidence_label=projection.label.value if projection else None,
        )
        await tx.update(updated)
        rankings.append(
            EssayRanking(
                essay_id=essay.essay_id,
                is_anchor=essay.is_anchor,
                rank=scored.ranks[essay.essay_id],
                bt_score=scored.scores[essay.essay_id],
                bt_se=scored.ses[essay.essay_id],
                grade=updated.grade,
                confidence_label=updated.confidence_label,
                confidence_score=projection.confidence if projection else None,
                known_grade=essay.known_grade,
            )
        )
    rankings.sort(key=lambda r: r.rank)
    now = ctx.runtime.utcnow()
    upload = await transition_upload(tx, upload, event, completed_at=now)
    metadata = dict(state.processing_metadata)
    metadata.update(
        final_reason=reason,
        bt_se_summary=quality.se_summary(),
        bt_quality_flags=quality.flags(),
        ssr=quality.ssr,
    )
    state = await transition_batch(tx, state, BatchEvent.COMPLETE, processing_metadata=metadata)
    ctx.track_state(state.cj_batch_id, state.state.value)
    ctx.metrics.iterations.observe(state.current_iteration)
    await abandon_outstanding(ctx, tx, state.cj_batch_id, ABANDONED_BATCH_FINALIZED)

    alignment = scored.alignment
    _log_finalized(
        ctx,
        state,
        upload,
        reason,
        ssr=quality.ssr,
        kendall_tau=alignment.kendall_tau if alignment else None,
        inversions=alignment.inversion_count if alignment else None,
        zero_win_anchors=len(alignment.zero_win_anchors) if alignment else None,
    )
    students = tuple(r for r in rankings if not r.is_anchor)
    grades: dict[str, int] = {}
    for essay in essays:
        if essay.is_anchor and essay.known_grade:
            grades[essay.known_grade] = grades.get(essay.known_grade, 0) + 1
    correlation = upload.bos_batch_id
    thin = CJAssessmentCompletedV1(
        cj_batch_id=state.cj_batch_id,
        bos_batch_id=upload.bos_batch_id,
        status=upload.status.value,
        rankings=students,
    )
    rich = AssessmentResultV1(
        cj_batch_id=state.cj_batch_id,
        bos_batch_id=upload.bos_batch_id,
        status=upload.status.value,
        rankings=tuple(rankings),
        normalized_scores=_normalised(scored.scores),
        anchor_grade_distribution=grades,
        ssr=quality.ssr,
    )
    return [
        Publication(
            settings.CJ_COMPLETED_TOPIC,
            ctx.envelope("CJAssessmentCompletedV1", correlation, thin.model_dump(mode="json")),
        ),
        Publication(
            settings.CJ_RESULT_TOPIC,
            ctx.envelope("AssessmentResultV1", correlation, rich.model_dump(mode="json")),
        ),
    ]


async def finalize_failure(
    ctx: CJContext,
    tx: Tx,
    state: BatchState,
    upload: BatchUpload,
    *,
    reason: str,
    details: dict[str, Any],
) -> list[Publication]:
    """Upload ERROR_PROCESSING, state FAILED, with the reason recorded."""
    now = ctx.runtime.utcnow()
    metadata = dict(state.processing_metadata)
    metadata["failed_reason"] = {"reason": reason, "timestamp": now.isoformat(), "details": details}
    state = await transition_batch(tx, state, BatchEvent.FAIL, processing_metadata=metadata)
    ctx.track_state(state.cj_batch_id, state.state.value)
    upload = await transition_upload(tx, upload, UploadEvent.FAIL_PROCESSING, completed_at=now)
    await abandon_outstanding(ctx, tx, state.cj_batch_id, ABANDONED_BATCH_FINALIZED)
    _log_finalized(ctx, state, upload, reason, details=details)
    event = CJAssessmentFailedV1(
        cj_batch_id=state.cj_batch_id,
        bos_batch_id=upload.bos_batch_id,
        reason=reason,
        details=details,
    )
    return [
        Publication(
            ctx.settings.CJ_FAILED_TOPIC,
            ctx.envelope(
                "CJAssessmentFailedV1", upload.bos_batch_id, event.model_dump(mode="json")
            ),
        )
    ]


async def finalize_single_essay(
    ctx: CJContext, tx: Tx, state: BatchState, upload: BatchUpload
) -> list[Publication]:
    """Fewer than two students: nothing to compare. COMPLETE_INSUFFICIENT_ESSAYS."""
    now = ctx.runtime.utcnow()
    state = await transition_batch(tx, state, BatchEvent.FINALIZE)
    state = await transition_batch(tx, state, BatchEvent.COMPLETE)
    ctx.track_state(state.cj_batch_id, state.state.value)
    upload = await transition_upload(tx, upload, UploadEvent.INSUFFICIENT_ESSAYS, completed_at=now)
    essays = [e for e in await essays_of(tx, state.cj_batch_id) if not e.is_anchor]
    rankings = tuple(
        EssayRanking(essay_id=e.essay_id, is_anchor=False, rank=1, bt_score=0.0, bt_se=0.0)
        for e in essays
    )
    _log_finalized(ctx, state, upload, "insufficient_essays")  # no wave ran: counts are 0
    thin = CJAssessmentCompletedV1(
        cj_batch_id=state.cj_batch_id,
        bos_batch_id=upload.bos_batch_id,
        status=upload.status.value,
        rankings=rankings,
    )
    return [
        Publication(
            ctx.settings.CJ_COMPLETED_TOPIC,
            ctx.envelope(
                "CJAssessmentCompletedV1", upload.bos_batch_id, thin.model_dump(mode="json")
            ),
        )
    ]


def _normalised(scores: dict[str, float] | Any) -> dict[str, float]:
    """Scores mapped linearly onto [0, 1] (all 0.5 when they do not spread)."""
    values = list(scores.values())
    low, high = min(values), max(values)
    if high - low <= 0:
        return dict.fromkeys(scores, 0.5)
    return {essay: (score - low) / (high - low) for essay, score in scores.items()}
