"""Picking a batch up after the process that ran it died (``cjsim live --resume``).

Theory of operation. The store holds the batch exactly as its last commit left it; what died
with the process is what lived only in memory: the callbacks on the bus, the LPS queue's
in-flight calls, and the watchdogs. A recorded trace holds every callback that reached the bus.
``resume_batch`` rebuilds, in this order:

1. **Answered, not applied.** A callback the trace holds for a pair still awaiting it (the
   process died between the bus and CJ's commit) is delivered again, through the same handler
   as any callback. The comparison was judged and paid for: it is not sent again.
2. **In flight.** Every pair still owed a callback is sent again, once, under a new correlation
   id (the callback deadline's resubmission: same row, an alias for the new id, so an answer
   under the old id can only ever be a superseded duplicate). Its requests are returned, not
   handed over: the caller first settles the dead process's queue items (whose error callbacks
   the aliases now mark superseded), then hands them to LPS with a fresh watchdog.
3. **Between waves.** A batch with no pair outstanding whose state still waits for callbacks
   died after its last callback and before continuation: continuation runs now.

A batch already terminal is left as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from engine.cj.callback_deadline import resubmit_pairs
from engine.cj.callbacks import AppliedOutcome, CallbackDisposition, CallbackOutcome
from engine.cj.context import CJContext
from engine.cj.repository import get_batch_state, get_pair, outstanding_pairs
from engine.cj.workflow import after_callback
from engine.contracts import EventEnvelope, LLMComparisonRequest

__all__ = ["ResumedBatch", "resume_batch"]

OnCallback = Callable[[EventEnvelope], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumedBatch:
    cj_batch_id: int
    state: str  # the batch's state after recovery
    redelivered: int  # recorded callbacks applied now
    requests: tuple[LLMComparisonRequest, ...] = ()  # to hand to LPS (``submit_requests``)


async def resume_batch(
    ctx: CJContext,
    cj_batch_id: int,
    recorded: Sequence[EventEnvelope],
    *,
    on_callback: OnCallback,
) -> ResumedBatch:
    """Recover one batch (see the module docstring); ``on_callback`` is CJ's callback handler.
    ``recorded`` are the trace's callbacks in arrival order."""
    async with ctx.store.transaction() as tx:
        state = await get_batch_state(tx, cj_batch_id)
        owed_at_death = await outstanding_pairs(tx, cj_batch_id)
    awaited = {p.awaited_correlation_id for p in owed_at_death}
    # The counters as the store holds them: the dead process may have committed a callback
    # and died before logging it, so the log learns the counters from the store here.
    ctx.log.append(
        "cj.batch.resumed",
        ids={"cj_batch_id": cj_batch_id},
        state=state.state.value,
        completed=state.completed_comparisons,
        failed=state.failed_comparisons,
        submitted=state.submitted_comparisons,
        owed=len(owed_at_death),
    )
    if state.state.terminal:
        return ResumedBatch(cj_batch_id=cj_batch_id, state=state.state.value, redelivered=0)
    redelivered = 0
    for envelope in recorded:
        if envelope.correlation_id in awaited:
            awaited.discard(envelope.correlation_id)  # a duplicate line is not applied twice
            await on_callback(envelope)
            redelivered += 1

    records: list[tuple[str, dict[str, object], dict[str, object]] | AppliedOutcome] = []
    async with ctx.store.transaction() as tx:
        # Only what the dead process left owed: a redelivered callback may have completed its
        # wave, and the next wave's pairs, just handed to LPS, are not in flight anywhere else.
        died_owing = {p.correlation_id for p in owed_at_death}
        pending = [
            p for p in await outstanding_pairs(tx, cj_batch_id) if p.correlation_id in died_owing
        ]
        # The callback handler's lock order: pairs (sorted by key), then the batch state.
        keys = sorted(p.correlation_id for p in pending)
        locked = [await get_pair(tx, key, for_update=True) for key in keys]
        state = await get_batch_state(tx, cj_batch_id, for_update=True)
        owed = [p for p in locked if p is not None and not p.has_result]
        requests = (
            ()
            if state.state.terminal
            else await resubmit_pairs(ctx, tx, owed, ctx.runtime.utcnow(), records)
        )
    for record in records:
        assert not isinstance(record, AppliedOutcome)
        kind, ids, fields = record
        ctx.log.append(kind, ids=ids, **fields)  # type: ignore[arg-type]
    ctx.log.append(
        "cj.batch.recovered",
        ids={"cj_batch_id": cj_batch_id},
        state=state.state.value,
        redelivered=redelivered,
        resent=len(requests),
    )
    if not requests and not state.state.terminal:
        # Every callback is in: the wave may be complete with its continuation never run.
        await after_callback(
            ctx, CallbackOutcome(CallbackDisposition.APPLIED, cj_batch_id, wave_complete=True)
        )
    return ResumedBatch(
        cj_batch_id=cj_batch_id,
        state=state.state.value,
        redelivered=redelivered,
        requests=requests,
    )
