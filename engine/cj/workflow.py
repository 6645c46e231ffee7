"""The CJ workflow: start a batch, and decide what follows each completed wave.

Theory of operation. Waves are barrier-synchronised: a batch submits a wave, waits in
WAITING_CALLBACKS until every callback of it is in (``completed + failed >= submitted``), then
one caller (whichever applied the last callback) runs ``continue_batch``. That takes the
batch-state row lock and re-reads the row, so two callers cannot both continue one wave, and a
batch is never finalised while callbacks it has not seen are still in flight (the "fresh read"
guard of PR 1). It refits Bradley–Terry, checks stability, and acts on ``decide``: another
wave, success, or failure. Requests and events leave only after the transaction commits.

Every submitted wave gets a callback-deadline watchdog (``engine.cj.callback_deadline``), so a
lost callback delays its wave by ``CJ_CALLBACK_DEADLINE_S``, not until the monitor's sweep.
"""

from __future__ import annotations

from engine.cj.batch_scoring import score_wave
from engine.cj.callback_deadline import watch_wave
from engine.cj.callbacks import CallbackOutcome, ResultFields, record_outcome
from engine.cj.completion import completion_plan
from engine.cj.context import SERVICE_NAME, CJContext
from engine.cj.continuation import ContinuationDecision, build_context, decide
from engine.cj.finalizer import (
    Publication,
    finalize_failure,
    finalize_scoring,
    finalize_single_essay,
    publish,
)
from engine.cj.models import PairOutcome
from engine.cj.repository import (
    essays_of,
    find_pair,
    get_batch_state,
    get_upload,
    pairs_of,
    transition_batch,
    transition_upload,
)
from engine.cj.stability import max_score_change
from engine.cj.states import BatchEvent, BatchStateEnum, UploadEvent
from engine.cj.waves import open_wave
from engine.contracts import LLMComparisonRequest
from engine.ports import ComparisonQueueFull, SubmissionRejected, Tx

# How long a request waits before it is offered again to LPS's full queue. Room comes as LPS
# finishes items, one at a time; a second of virtual time is short against a provider call.
QUEUE_FULL_RETRY_S = 1.0

__all__ = [
    "after_callback",
    "continue_batch",
    "hand_over",
    "open_first_wave",
    "start_batch",
    "submit_requests",
]


async def start_batch(ctx: CJContext, cj_batch_id: int) -> None:
    """Open the first wave of a stored batch, in a transaction of its own."""
    async with ctx.store.transaction() as tx:
        publications, requests = await open_first_wave(ctx, tx, cj_batch_id)
    await publish(ctx, publications)
    await submit_requests(ctx, requests)


async def open_first_wave(
    ctx: CJContext, tx: Tx, cj_batch_id: int
) -> tuple[list[Publication], tuple[LLMComparisonRequest, ...]]:
    """Inside ``tx``: open the first wave, or finish at once when there are fewer than two
    students. Returns what to publish and submit once ``tx`` has committed.

    A batch of anchors alone (ENG5's anchor-align test) is compared like any other: its point is
    to see how the judge orders essays whose grades are known."""
    publications: list[Publication] = []
    requests: tuple[LLMComparisonRequest, ...] = ()
    state = await get_batch_state(tx, cj_batch_id, for_update=True)
    upload = await get_upload(tx, cj_batch_id, for_update=True)
    alignment_run = upload.student_count == 0 and upload.anchor_count >= 2
    if upload.student_count < 2 and not alignment_run:
        publications = await finalize_single_essay(ctx, tx, state, upload)
    else:
        upload = await transition_upload(tx, upload, UploadEvent.START_COMPARISONS)
        state = await transition_batch(tx, state, BatchEvent.START_WAVE)
        essays = await essays_of(tx, cj_batch_id)
        budget = int(upload.processing_metadata["comparison_budget"]["max_pairs_requested"])
        plan = completion_plan(budget, len(essays), ctx.settings)
        opened = await open_wave(ctx, tx, state, upload, essays, [], plan, {})
        requests = opened.requests
        ctx.track_state(cj_batch_id, opened.state.state.value)
    return publications, requests


async def continue_batch(ctx: CJContext, cj_batch_id: int) -> ContinuationDecision | None:
    """Run continuation for a batch whose wave may be complete. Returns the decision, or None
    when the batch is not waiting for callbacks (another caller got there first)."""
    publications: list[Publication] = []
    requests: tuple[LLMComparisonRequest, ...] = ()
    settings = ctx.settings
    async with ctx.store.transaction() as tx:
        state = await get_batch_state(tx, cj_batch_id, for_update=True)
        if state.state is not BatchStateEnum.WAITING_CALLBACKS:
            return None
        if state.callbacks_received < state.submitted_comparisons:
            ctx.log.append(
                "cj.continuation",
                ids={"cj_batch_id": cj_batch_id},
                decision=ContinuationDecision.WAIT_FOR_CALLBACKS.value,
                callbacks=state.callbacks_received,
                submitted=state.submitted_comparisons,
            )
            return ContinuationDecision.WAIT_FOR_CALLBACKS
        upload = await get_upload(tx, cj_batch_id, for_update=True)
        essays = await essays_of(tx, cj_batch_id)
        pairs = await pairs_of(tx, cj_batch_id)
        previous = state.processing_metadata.get("bt_scores")
        scored = score_wave(essays, pairs, alpha=settings.BT_ALPHA, previous=previous)
        change = max_score_change(previous, scored.scores)
        plan = completion_plan(state.total_budget or 0, len(essays), settings)
        context = build_context(
            completed=state.completed_comparisons,
            failed=state.failed_comparisons,
            submitted=state.submitted_comparisons,
            schedule_cap=plan.schedule_cap,
            max_score_change=change,
            settings=settings,
        )
        decision = decide(context)
        flags = dict(scored.coverage_flags)
        metadata = dict(state.processing_metadata)
        # No standard errors at a wave (their inverse is cubic in the batch size, and nothing
        # decided here needs them): bt_se_summary and bt_se_inflated come with the final scoring.
        metadata.update(
            bt_scores=dict(scored.scores),
            last_scored_iteration=state.current_iteration,
            last_score_change=change,
            bt_quality_flags=flags,
        )
        state = await transition_batch(
            tx, state, BatchEvent.START_WAVE, processing_metadata=metadata
        )
        reason = "stable" if context.stability_passed else "cap_reached"
        if decision is ContinuationDecision.REQUEST_MORE_COMPARISONS:
            opened = await open_wave(ctx, tx, state, upload, essays, pairs, plan, scored.scores)
            if opened.requests:
                requests, state = opened.requests, opened.state
            else:  # nothing left to compare under the cap: finish now, not at the monitor
                low = context.zero_successes or context.below_success_threshold
                decision = (
                    ContinuationDecision.FINALIZE_FAILURE
                    if low
                    else ContinuationDecision.FINALIZE_SCORING
                )
                reason = "no_more_pairs"
        if decision is ContinuationDecision.FINALIZE_SCORING:
            event = (
                UploadEvent.COMPLETE_STABLE
                if context.stability_passed
                else UploadEvent.COMPLETE_MAX_COMPARISONS
            )
            publications = await finalize_scoring(
                ctx, tx, state, upload, event=event, reason=reason
            )
        elif decision is ContinuationDecision.FINALIZE_FAILURE:
            publications = await finalize_failure(
                ctx,
                tx,
                state,
                upload,
                reason="low_success_rate",
                details={
                    "success_rate": context.success_rate,
                    "callbacks": context.callbacks_received,
                },
            )
        elif decision is ContinuationDecision.NO_OP:
            state = await transition_batch(tx, state, BatchEvent.AWAIT_CALLBACKS)
        ctx.track_state(cj_batch_id, _current_state(decision, state.state).value)
    _record(ctx, cj_batch_id, decision, context.as_fields(), flags)
    await publish(ctx, publications)
    await submit_requests(ctx, requests)
    return decision


def _current_state(decision: ContinuationDecision, state: BatchStateEnum) -> BatchStateEnum:
    if decision is ContinuationDecision.FINALIZE_SCORING:
        return BatchStateEnum.COMPLETED
    if decision is ContinuationDecision.FINALIZE_FAILURE:
        return BatchStateEnum.FAILED
    return state


def _record(
    ctx: CJContext,
    cj_batch_id: int,
    decision: ContinuationDecision,
    fields: dict[str, object],
    flags: dict[str, bool],
) -> None:
    ctx.metrics.decisions.labels(decision.value).inc()
    if flags["comparison_coverage_sparse"]:
        ctx.metrics.sparse_coverage_batches.inc()
    change = fields.get("max_score_change")
    if isinstance(change, float):
        ctx.metrics.stability_changes.observe(change)
    ctx.log.append(
        "cj.continuation",
        ids={"cj_batch_id": cj_batch_id},
        decision=decision.value,
        **fields,
        **flags,
    )


async def submit_requests(ctx: CJContext, requests: tuple[LLMComparisonRequest, ...]) -> None:
    """Hand a wave to LPS and start its callback-deadline watchdog (unless
    ``LEGACY_NO_CALLBACK_DEADLINE``). Call once per wave, after its transaction committed."""
    watch_wave(ctx, requests, deliver=hand_over, resume=after_callback)
    await hand_over(ctx, requests)


async def hand_over(ctx: CJContext, requests: tuple[LLMComparisonRequest, ...]) -> None:
    """Hand requests to LPS, in order. When its queue is full, wait for room and offer the same
    request again (backpressure: a 1,500-pair wave of a 3,000-essay batch met a queue of 1,000,
    and a third of the batch failed). A request LPS refuses for any other reason is recorded as
    a failed comparison at once (no callback will ever come for it), so the wave can still
    complete."""
    for request in requests:
        rejection = await _offer(ctx, request)
        if rejection is None:
            continue
        ctx.log.append(
            "cj.request.rejected",
            ids={"correlation_id": request.correlation_id},
            problem=str(rejection),
        )
        outcome = await record_outcome(
            ctx,
            request.correlation_id,
            ResultFields(
                outcome=PairOutcome.ERROR,
                error_type="submission_rejected",
                error_code="SUBMISSION_REJECTED",
                attempts=0,
            ),
            source_service=SERVICE_NAME,
        )
        await after_callback(ctx, outcome)


async def _offer(ctx: CJContext, request: LLMComparisonRequest) -> SubmissionRejected | None:
    """Submit one request, waiting while LPS's queue is full. Returns LPS's refusal, if any.
    After a wait the request is offered only while its pair still awaits it: a callback
    deadline may have resent it under a new id, or the batch may have finished meanwhile."""
    waited = False
    while True:
        try:
            await ctx.sink.submit(request)
            return None
        except ComparisonQueueFull as full:
            if not waited:
                ctx.log.append(
                    "cj.request.waiting_for_queue",
                    ids={"correlation_id": request.correlation_id},
                    problem=str(full),
                )
                waited = True
        except SubmissionRejected as rejected:
            return rejected
        await ctx.runtime.sleep(QUEUE_FULL_RETRY_S)
        if not await _still_awaited(ctx, request.correlation_id):
            ctx.log.append(
                "cj.request.withdrawn",
                ids={"correlation_id": request.correlation_id},
                reason="no_longer_awaited",
            )
            return None


async def _still_awaited(ctx: CJContext, correlation_id: str) -> bool:
    async with ctx.store.transaction() as tx:
        pair = await find_pair(tx, correlation_id)
    return (
        pair is not None
        and not pair.has_result
        and pair.abandoned_reason is None
        and pair.awaited_correlation_id == correlation_id
    )


async def after_callback(ctx: CJContext, outcome: CallbackOutcome) -> None:
    """Continue the batch if this callback completed its wave."""
    if outcome.wave_complete and outcome.cj_batch_id is not None:
        await continue_batch(ctx, outcome.cj_batch_id)
