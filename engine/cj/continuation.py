"""What to do when a wave's callbacks are all in (pure).

After each barrier-synchronised wave the workflow refits Bradley–Terry and builds a
``ContinuationContext``; ``decide`` turns it into one of five decisions, in this order (the
original's):

1. FINALIZE_FAILURE: the success rate is too low (or zero) *and* a cap is hit;
2. FINALIZE_SCORING: the scale is stable, or a cap is hit;
3. REQUEST_MORE_COMPARISONS: pairs remain under the schedule cap;
4. NO_OP: nothing else applies.

WAIT_FOR_CALLBACKS is returned when callbacks are still in flight; the workflow re-reads the
batch state before finalising and waits rather than finalise over callbacks it has not seen.

Stability: at least ``MIN_COMPARISONS_FOR_STABILITY_CHECK`` callbacks, the largest score change
since the previous wave's fit within ``SCORE_STABILITY_THRESHOLD``, and a success rate at or
above ``MIN_SUCCESS_RATE_THRESHOLD``. The first fit has nothing to compare with: not stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.settings import Settings

__all__ = ["ContinuationContext", "ContinuationDecision", "build_context", "decide"]


class ContinuationDecision(StrEnum):
    WAIT_FOR_CALLBACKS = "WAIT_FOR_CALLBACKS"
    FINALIZE_SCORING = "FINALIZE_SCORING"
    FINALIZE_FAILURE = "FINALIZE_FAILURE"
    REQUEST_MORE_COMPARISONS = "REQUEST_MORE_COMPARISONS"
    NO_OP = "NO_OP"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContinuationContext:
    callbacks_received: int
    submitted: int
    completed: int
    failed: int
    schedule_cap: int
    pairs_remaining: int
    callbacks_reached_cap: bool
    budget_exhausted: bool
    success_rate: float | None
    zero_successes: bool
    below_success_threshold: bool
    max_score_change: float | None
    stability_passed: bool

    @property
    def cap_hit(self) -> bool:
        return self.callbacks_reached_cap or self.budget_exhausted

    def as_fields(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def build_context(
    *,
    completed: int,
    failed: int,
    submitted: int,
    schedule_cap: int,
    max_score_change: float | None,
    settings: Settings,
) -> ContinuationContext:
    callbacks = completed + failed
    success_rate = completed / callbacks if callbacks else None
    below = success_rate is not None and success_rate < settings.MIN_SUCCESS_RATE_THRESHOLD
    stable = (
        max_score_change is not None
        and callbacks >= settings.MIN_COMPARISONS_FOR_STABILITY_CHECK
        and max_score_change <= settings.SCORE_STABILITY_THRESHOLD
        and not below
    )
    remaining = max(0, schedule_cap - submitted)
    return ContinuationContext(
        callbacks_received=callbacks,
        submitted=submitted,
        completed=completed,
        failed=failed,
        schedule_cap=schedule_cap,
        pairs_remaining=remaining,
        callbacks_reached_cap=callbacks >= schedule_cap,
        budget_exhausted=remaining == 0,
        success_rate=success_rate,
        zero_successes=callbacks > 0 and completed == 0,
        below_success_threshold=below,
        max_score_change=max_score_change,
        stability_passed=stable,
    )


def decide(ctx: ContinuationContext) -> ContinuationDecision:
    if ctx.callbacks_received < ctx.submitted:
        return ContinuationDecision.WAIT_FOR_CALLBACKS
    low_success = ctx.callbacks_received > 0 and (ctx.zero_successes or ctx.below_success_threshold)
    if low_success and ctx.cap_hit:
        return ContinuationDecision.FINALIZE_FAILURE
    if ctx.stability_passed or ctx.cap_hit:
        return ContinuationDecision.FINALIZE_SCORING
    if ctx.pairs_remaining > 0:
        return ContinuationDecision.REQUEST_MORE_COMPARISONS
    return ContinuationDecision.NO_OP
