"""The batch monitor: recovery only (the workflow finishes healthy batches itself).

Every ``BATCH_MONITOR_INTERVAL_S`` (5 minutes) on the runtime clock:

* a batch in GENERATING_PAIRS or WAITING_CALLBACKS with no activity for
  ``BATCH_STUCK_THRESHOLD_S`` (4 hours) is stuck. With at least ``FORCED_RECOVERY_MIN_PROGRESS``
  (80%) of its completion denominator in, it is scored (COMPLETE_FORCED_RECOVERY); otherwise it
  fails with ``stuck_timeout_insufficient_progress``;
* a batch waiting on a wave whose callbacks are all in (its continuation never ran) is continued;
* a batch still INITIALIZING after ``BATCH_INITIALIZING_TIMEOUT_S`` never got its first wave
  (its creation failed half way, as only ``LEGACY_NON_ATOMIC_BATCH_CREATION`` allows): it is
  failed with ``initialization_incomplete`` instead of waiting forever. Under the legacy toggle
  the monitor does not look at such batches, as the original did not.
"""

from __future__ import annotations

from engine.cj.completion import completion_plan
from engine.cj.context import CJContext
from engine.cj.finalizer import Publication, finalize_failure, finalize_scoring, publish
from engine.cj.models import BatchState
from engine.cj.repository import get_batch_state, get_upload
from engine.cj.states import BatchStateEnum, UploadEvent
from engine.cj.workflow import continue_batch
from engine.ports import Tx

__all__ = ["monitor_loop", "sweep"]

ACTIVE = (BatchStateEnum.GENERATING_PAIRS, BatchStateEnum.WAITING_CALLBACKS)


async def monitor_loop(ctx: CJContext) -> None:
    while True:
        await ctx.runtime.sleep(ctx.settings.BATCH_MONITOR_INTERVAL_S)
        await sweep(ctx)


async def sweep(ctx: CJContext) -> None:
    watched: tuple[BatchStateEnum, ...] = ACTIVE
    if not ctx.settings.LEGACY_NON_ATOMIC_BATCH_CREATION:
        watched = (*ACTIVE, BatchStateEnum.INITIALIZING)
    async with ctx.store.transaction() as tx:
        candidates = [s.cj_batch_id for s in await tx.select(BatchState) if s.state in watched]
    stuck = 0
    for cj_batch_id in candidates:
        outcome = await _check(ctx, cj_batch_id)
        stuck += outcome == "stuck"
        if outcome == "wave_complete":
            await continue_batch(ctx, cj_batch_id)
    ctx.metrics.stuck_detected.set(stuck)


async def _check(ctx: CJContext, cj_batch_id: int) -> str:
    settings = ctx.settings
    async with ctx.store.transaction() as tx:
        state = await get_batch_state(tx, cj_batch_id, for_update=True)
        idle_s = (
            (ctx.runtime.utcnow() - state.last_activity_at).total_seconds()
            if state.last_activity_at
            else 0.0
        )
        if state.state is BatchStateEnum.INITIALIZING:
            if idle_s < settings.BATCH_INITIALIZING_TIMEOUT_S:
                return "healthy"
            publications = await _fail_initializing(ctx, tx, state, idle_s)
        elif state.state not in ACTIVE:
            return "done"
        elif idle_s < settings.BATCH_STUCK_THRESHOLD_S:
            complete = (
                state.state is BatchStateEnum.WAITING_CALLBACKS
                and 0 < state.submitted_comparisons <= state.callbacks_received
            )
            return "wave_complete" if complete else "healthy"
        else:
            publications = await _recover_stuck(ctx, tx, state, idle_s)
    await publish(ctx, publications)
    return "stuck"


async def _fail_initializing(
    ctx: CJContext, tx: Tx, state: BatchState, idle_s: float
) -> list[Publication]:
    upload = await get_upload(tx, state.cj_batch_id, for_update=True)
    ctx.log.append(
        "cj.monitor.stuck",
        ids={"cj_batch_id": state.cj_batch_id},
        idle_s=idle_s,
        progress=0.0,
        state=state.state.value,
    )
    ctx.metrics.stuck_failed.inc()
    return await finalize_failure(
        ctx, tx, state, upload, reason="initialization_incomplete", details={"idle_s": idle_s}
    )


async def _recover_stuck(
    ctx: CJContext, tx: Tx, state: BatchState, idle_s: float
) -> list[Publication]:
    settings = ctx.settings
    upload = await get_upload(tx, state.cj_batch_id, for_update=True)
    plan = completion_plan(state.total_budget or 0, upload.expected_essay_count, settings)
    progress = state.callbacks_received / plan.denominator if plan.denominator else 0.0
    ctx.log.append(
        "cj.monitor.stuck",
        ids={"cj_batch_id": state.cj_batch_id},
        idle_s=idle_s,
        progress=round(progress, 6),
        state=state.state.value,
    )
    if progress >= settings.FORCED_RECOVERY_MIN_PROGRESS:
        ctx.metrics.stuck_recovered.inc()
        return await finalize_scoring(
            ctx,
            tx,
            state,
            upload,
            event=UploadEvent.COMPLETE_FORCED_RECOVERY,
            reason="forced_recovery",
        )
    ctx.metrics.stuck_failed.inc()
    return await finalize_failure(
        ctx,
        tx,
        state,
        upload,
        reason="stuck_timeout_insufficient_progress",
        details={"progress": progress, "idle_s": idle_s},
    )
