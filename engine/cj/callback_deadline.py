"""Callback deadlines: a lost callback costs one deadline, not the monitor's four hours.

Theory of operation. Every comparison CJ hands to LPS is owed exactly one callback, and its wave
completes only when every callback of the wave is in. The bus can lose one (a dropped message, a
consumer that died holding it); before this module the wave then waited until the monitor's
stuck-batch sweep (``BATCH_STUCK_THRESHOLD_S``, 4 h) ended the batch. Now each submitted wave
gets a watchdog task (``watch_wave``, started once per wave by ``workflow.submit_requests``):

1. It sleeps until the earliest deadline among the wave's outstanding pairs. A pair's deadline is
   its latest (re)submission plus ``CJ_CALLBACK_DEADLINE_S``.
2. It wakes and, in one transaction, takes the row locks of the overdue pairs (sorted by
   correlation id), then the batch-state row lock: the callback handler's order, pair before
   batch, so the two never wait on each other in a cycle. ``plan`` then decides, per pair still
   without a result:

   * resubmitted fewer than ``CJ_MAX_RESUBMISSIONS`` times: send it again under a new
     correlation id. The row stays one row (pair history, positions and counters never count a
     comparison twice); the new id becomes its ``live_correlation_id`` and gets a
     ``CorrelationAlias``. A callback under any earlier id is then a superseded duplicate;
   * otherwise: record it as failed (``callback_deadline_exceeded``) through the same code as an
     error callback (``callbacks.apply_outcome``). That may complete the wave, which continues
     just as after the callback that completes it.

3. After commit it logs, hands the new requests to LPS, and sleeps until the next deadline.

It stops when the wave has no outstanding pair, or the batch has moved to a later wave or
finished. Why resubmit before failing: a lost callback says nothing about the comparison, and a
failure costs the batch a data point (and, below ``MIN_SUCCESS_RATE_THRESHOLD``, the batch).
Why a new id: the late original and the resubmission's answer must not both count, and only the
live id tells them apart. A deadline is measured from submission, so a comparison that is only
queued behind a deep LPS backlog is resubmitted too; its original's answer is then superseded.

``LEGACY_NO_CALLBACK_DEADLINE`` restores the original: no watchdog, no resubmission.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.cj.callbacks import (
    AppliedOutcome,
    CallbackDisposition,
    CallbackOutcome,
    ResultFields,
    apply_outcome,
)
from engine.cj.context import CJContext
from engine.cj.models import BatchState, ComparisonPair, PairOutcome
from engine.cj.repository import (
    add_alias,
    essays_of,
    find_pair,
    get_batch_state,
    get_pair,
    get_upload,
    outstanding_pairs,
)
from engine.cj.requests import build_request
from engine.cj.states import BatchStateEnum
from engine.contracts import LLMComparisonRequest
from engine.ports import Task, Tx
from engine.store.rows import evolve

__all__ = [
    "DEADLINE_ERROR_TYPE",
    "AwaitedPair",
    "DeadlinePlan",
    "deadline_of",
    "earliest_deadline",
    "plan",
    "resubmit_pairs",
    "watch_wave",
    "wave_watched",
]

DEADLINE_ERROR_TYPE = "callback_deadline_exceeded"
DEADLINE_FAILURE = ResultFields(
    outcome=PairOutcome.ERROR,
    error_type=DEADLINE_ERROR_TYPE,
    error_code="CALLBACK_DEADLINE_EXCEEDED",
    attempts=0,  # how many provider calls LPS made for it is unknown: no callback said
)
# Stored times are whole microseconds, so a sleep to a deadline can wake a microsecond short
# of it; the watchdog then sleeps at least this long, and every wake moves the clock on.
WAKE_S_MIN = 0.001


# --------------------------------------------------------------------------------------------
# The decision (pure)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AwaitedPair:
    """What the deadline rule needs of an outstanding pair."""

    correlation_id: str  # the pair's key
    awaited_since: datetime  # its latest (re)submission
    resubmissions: int

    @classmethod
    def of(cls, pair: ComparisonPair) -> AwaitedPair:
        return cls(
            correlation_id=pair.correlation_id,
            awaited_since=pair.awaited_since,
            resubmissions=pair.resubmissions,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlinePlan:
    """What to do now: pair keys to resubmit and to fail (each sorted), and when to look again
    (None: no pair is left waiting)."""

    resubmit: tuple[str, ...] = ()
    fail: tuple[str, ...] = ()
    next_deadline: datetime | None = None

    @property
    def due(self) -> tuple[str, ...]:
        """Every pair past its deadline, sorted: the row locks to take, in this order."""
        return tuple(sorted((*self.resubmit, *self.fail)))


def deadline_of(pair: AwaitedPair, deadline_s: float) -> datetime:
    return pair.awaited_since + timedelta(seconds=deadline_s)


def earliest_deadline(pairs: Iterable[AwaitedPair], deadline_s: float) -> datetime | None:
    """When the first of ``pairs`` falls due (None for no pairs)."""
    return min((deadline_of(pair, deadline_s) for pair in pairs), default=None)


def plan(
    pairs: Iterable[AwaitedPair], *, now: datetime, deadline_s: float, max_resubmissions: int
) -> DeadlinePlan:
    """Decide, at ``now``, for each outstanding pair: wait (before its deadline), resubmit
    (at or past it, fewer than ``max_resubmissions`` resubmissions so far) or fail (at or past
    it, none left). A pair resubmitted now is next due at ``now + deadline_s``."""
    assert deadline_s > 0, deadline_s
    assert max_resubmissions >= 0, max_resubmissions
    resubmit: list[str] = []
    fail: list[str] = []
    waiting: list[datetime] = []
    for pair in sorted(pairs, key=lambda p: p.correlation_id):
        deadline = deadline_of(pair, deadline_s)
        if now < deadline:
            waiting.append(deadline)
        elif pair.resubmissions < max_resubmissions:
            resubmit.append(pair.correlation_id)
        else:
            fail.append(pair.correlation_id)
    if resubmit:
        waiting.append(now + timedelta(seconds=deadline_s))
    return DeadlinePlan(
        resubmit=tuple(resubmit), fail=tuple(fail), next_deadline=min(waiting, default=None)
    )


def wave_watched(state: BatchState, iteration: int) -> bool:
    """Whether wave ``iteration`` is still the one its batch waits for."""
    return state.state is BatchStateEnum.WAITING_CALLBACKS and state.current_iteration == iteration


# --------------------------------------------------------------------------------------------
# The watchdog (orchestration)
# --------------------------------------------------------------------------------------------


class Deliver(Protocol):
    """Hands requests to LPS; a rejected one is recorded as a failed comparison."""

    async def __call__(
        self, ctx: CJContext, requests: tuple[LLMComparisonRequest, ...], /
    ) -> None: ...


class Resume(Protocol):
    """Continues a batch whose wave an outcome completed (``workflow.after_callback``)."""

    async def __call__(self, ctx: CJContext, outcome: CallbackOutcome, /) -> None: ...


@dataclass(frozen=True, slots=True)
class _Wave:
    cj_batch_id: int
    iteration: int


_Record = tuple[str, dict[str, Any], dict[str, Any]]  # kind, ids, fields


@dataclass(frozen=True, slots=True)
class _Enforced:
    """One wake's work, committed: what to log (in order), hand to LPS and continue."""

    records: tuple[_Record | AppliedOutcome, ...] = ()
    requests: tuple[LLMComparisonRequest, ...] = ()
    wave_complete: bool = False
    next_deadline: datetime | None = None


def watch_wave(
    ctx: CJContext,
    requests: Sequence[LLMComparisonRequest],
    *,
    deliver: Deliver,
    resume: Resume,
) -> Task[None] | None:
    """Start the watchdog of the wave whose requests these are (call once per wave, after the
    wave's transaction has committed). None under the legacy toggle or for no requests."""
    if ctx.settings.LEGACY_NO_CALLBACK_DEADLINE or not requests:
        return None
    first = requests[0].correlation_id
    return ctx.runtime.spawn(
        _watch(ctx, first, len(requests), deliver, resume), name=f"cj-callback-deadline:{first}"
    )


async def _watch(ctx: CJContext, first: str, size: int, deliver: Deliver, resume: Resume) -> None:
    settings = ctx.settings
    async with ctx.store.transaction() as tx:
        # A wave of resubmissions (a resumed run's) carries new ids: find its pair by alias.
        pair = await find_pair(tx, first)
        assert pair is not None, f"wave request {first} has no stored pair"
        wave = _Wave(pair.cj_batch_id, pair.iteration)
        pending = await outstanding_pairs(tx, wave.cj_batch_id, iteration=wave.iteration)
    next_deadline = earliest_deadline(map(AwaitedPair.of, pending), settings.CJ_CALLBACK_DEADLINE_S)
    # Each wake acts on an overdue pair, finds one answered, or (once per deadline) wakes a
    # microsecond early: a bound that a wave of ``size`` pairs cannot reach.
    wakes_max = 2 * size * (settings.CJ_MAX_RESUBMISSIONS + 2) + 2
    for _ in range(wakes_max):
        if next_deadline is None:
            return
        wait_s = (next_deadline - ctx.runtime.utcnow()).total_seconds()
        await ctx.runtime.sleep(max(wait_s, WAKE_S_MIN))
        enforced = await _enforce(ctx, wave)
        for record in enforced.records:
            if isinstance(record, AppliedOutcome):
                record.announce(ctx)
            else:
                kind, ids, fields = record
                ctx.log.append(kind, ids=ids, **fields)
        ctx.metrics.resubmissions.inc(len(enforced.requests))
        await deliver(ctx, enforced.requests)
        if enforced.wave_complete:
            await resume(ctx, CallbackOutcome(CallbackDisposition.APPLIED, wave.cj_batch_id, True))
        next_deadline = enforced.next_deadline
    raise AssertionError(
        f"callback-deadline watchdog of batch {wave.cj_batch_id} wave {wave.iteration} woke "
        f"{wakes_max} times for {size} pairs without finishing"
    )


def _plan(ctx: CJContext, pairs: Iterable[ComparisonPair], now: datetime) -> DeadlinePlan:
    settings = ctx.settings
    return plan(
        (AwaitedPair.of(pair) for pair in pairs),
        now=now,
        deadline_s=settings.CJ_CALLBACK_DEADLINE_S,
        max_resubmissions=settings.CJ_MAX_RESUBMISSIONS,
    )


async def _enforce(ctx: CJContext, wave: _Wave) -> _Enforced:
    """Resubmit or fail the wave's overdue pairs, in one transaction holding their row locks
    and the batch-state row lock."""
    settings = ctx.settings
    async with ctx.store.transaction() as tx:
        pending = await outstanding_pairs(tx, wave.cj_batch_id, iteration=wave.iteration)
        if not pending:
            return _Enforced()  # every callback is in: the wave is done with
        seen = _plan(ctx, pending, ctx.runtime.utcnow())
        if not seen.due:
            return _Enforced(next_deadline=seen.next_deadline)
        locked = [await get_pair(tx, key, for_update=True) for key in seen.due]
        state = await get_batch_state(tx, wave.cj_batch_id, for_update=True)
        if not wave_watched(state, wave.iteration):
            return _Enforced()
        # Decide again on the locked rows: a callback may have landed while we waited.
        overdue = [p for p in locked if p is not None and not p.has_result]
        now = ctx.runtime.utcnow()
        decided = _plan(ctx, overdue, now)
        by_key = {p.correlation_id: p for p in overdue}
        records: list[_Record | AppliedOutcome] = []
        wave_complete = False
        for key in decided.fail:
            pair = by_key[key]
            ids = {"cj_batch_id": pair.cj_batch_id, "correlation_id": key}
            records.append(
                (
                    "cj.pair.deadline_failed",
                    ids,
                    {
                        "live_correlation_id": pair.awaited_correlation_id,
                        "resubmissions": pair.resubmissions,
                        "iteration": pair.iteration,
                        "waited_s": round((now - pair.awaited_since).total_seconds(), 6),
                    },
                )
            )
            state, applied = await apply_outcome(ctx, tx, pair, state, DEADLINE_FAILURE)
            records.append(applied)
            wave_complete = applied.wave_complete  # the last one sees the final counters
        resubmitted = [by_key[k] for k in decided.resubmit]
        requests = await resubmit_pairs(ctx, tx, resubmitted, now, records)
        # Pairs not yet due when we looked keep their deadlines; those we resubmitted have
        # theirs in ``decided``.
        not_due = (AwaitedPair.of(p) for p in pending if p.correlation_id not in seen.due)
        later = [earliest_deadline(not_due, settings.CJ_CALLBACK_DEADLINE_S)]
        later.append(decided.next_deadline)
        return _Enforced(
            records=tuple(records),
            requests=requests,
            wave_complete=wave_complete,
            next_deadline=min((d for d in later if d is not None), default=None),
        )


async def resubmit_pairs(
    ctx: CJContext,
    tx: Tx,
    pairs: Sequence[ComparisonPair],
    now: datetime,
    records: list[_Record | AppliedOutcome],
) -> tuple[LLMComparisonRequest, ...]:
    """Give each pair a new live correlation id (and its alias) and build its request. The
    caller holds the pairs' row locks and hands the requests to LPS after commit."""
    if not pairs:
        return ()
    cj_batch_id = pairs[0].cj_batch_id
    upload = await get_upload(tx, cj_batch_id)
    by_id = {essay.essay_id: essay for essay in await essays_of(tx, cj_batch_id)}
    requests = []
    for pair in pairs:  # sorted by key: new ids are drawn in a fixed order
        new_id = ctx.next_correlation_id()
        resubmitted = evolve(
            pair,
            live_correlation_id=new_id,
            resubmissions=pair.resubmissions + 1,
            resubmitted_at=now,
        )
        await tx.update(resubmitted)
        await add_alias(tx, pair, new_id)
        requests.append(
            build_request(
                evolve(resubmitted, correlation_id=new_id),
                upload,
                by_id,
                wave_size=len(pairs),
                settings=ctx.settings,
            )
        )
        records.append(
            (
                "cj.pair.resubmitted",
                {"cj_batch_id": cj_batch_id, "correlation_id": pair.correlation_id},
                {
                    "new_correlation_id": new_id,
                    "previous_correlation_id": pair.awaited_correlation_id,
                    "resubmission": resubmitted.resubmissions,
                    "iteration": pair.iteration,
                },
            )
        )
    return tuple(requests)
