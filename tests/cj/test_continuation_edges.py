"""The continuation rules at their edges: each threshold at, just below and just above its
value, each rule with the smallest input that triggers it (the survivors of `nox -s mutants`)."""

from __future__ import annotations

import pytest

from engine.cj.continuation import (
    ContinuationContext,
    ContinuationDecision,
    build_context,
    decide,
)
from engine.settings import Settings

DEFAULTS = Settings.for_simulation()  # stability after 12 callbacks, change <= 0.025, rate >= 0.8
D = ContinuationDecision


def _context(completed, failed=0, submitted=None, cap=100, change=None):
    return build_context(
        completed=completed,
        failed=failed,
        submitted=completed + failed if submitted is None else submitted,
        schedule_cap=cap,
        max_score_change=change,
        settings=DEFAULTS,
    )


def test_every_field_of_a_minimal_context_is_exact():
    ctx = _context(3, failed=1, submitted=5, cap=10, change=0.5)
    assert ctx.as_fields() == {
        "callbacks_received": 4,
        "submitted": 5,
        "completed": 3,
        "failed": 1,
        "schedule_cap": 10,
        "pairs_remaining": 5,
        "callbacks_reached_cap": False,
        "budget_exhausted": False,
        "success_rate": 0.75,
        "zero_successes": False,
        "below_success_threshold": True,
        "max_score_change": 0.5,
        "stability_passed": False,
    }


def test_no_callbacks_yet_has_no_success_rate_and_is_not_a_failure():
    ctx = _context(0, submitted=0, cap=10)
    assert (ctx.success_rate, ctx.zero_successes, ctx.below_success_threshold) == (
        None,
        False,
        False,
    )
    assert decide(ctx) is D.REQUEST_MORE_COMPARISONS


def test_one_failed_callback_is_zero_successes():
    ctx = _context(0, failed=1, cap=10)
    assert ctx.zero_successes is True
    assert _context(1, cap=10).zero_successes is False


@pytest.mark.parametrize(
    ("completed", "failed", "below"),
    [(79, 21, True), (4, 1, False), (81, 19, False)],  # 0.79, exactly 0.8, 0.81
)
def test_the_success_rate_threshold_is_inclusive(completed, failed, below):
    assert _context(completed, failed=failed, cap=1000).below_success_threshold is below


@pytest.mark.parametrize(
    ("callbacks", "stable"),
    [(11, False), (12, True), (13, True)],  # MIN_COMPARISONS_FOR_STABILITY_CHECK = 12
)
def test_stability_needs_at_least_the_minimum_callbacks(callbacks, stable):
    ctx = _context(callbacks, change=0.01)
    assert ctx.stability_passed is stable
    assert decide(ctx) is (D.FINALIZE_SCORING if stable else D.REQUEST_MORE_COMPARISONS)


@pytest.mark.parametrize(
    ("change", "stable"),
    [(0.0249, True), (0.025, True), (0.0251, False)],  # SCORE_STABILITY_THRESHOLD = 0.025
)
def test_a_score_change_equal_to_the_threshold_is_stable(change, stable):
    assert _context(20, change=change).stability_passed is stable


@pytest.mark.parametrize(
    ("submitted", "remaining", "exhausted"),
    [(9, 1, False), (10, 0, True), (11, 0, True)],  # schedule cap 10
)
def test_pairs_remaining_and_the_exhausted_budget(submitted, remaining, exhausted):
    ctx = _context(0, submitted=submitted, cap=10)
    assert (ctx.pairs_remaining, ctx.budget_exhausted) == (remaining, exhausted)


@pytest.mark.parametrize(
    ("callbacks", "reached"),
    [(9, False), (10, True), (11, True)],  # schedule cap 10
)
def test_callbacks_reach_the_cap_when_equal_to_it(callbacks, reached):
    assert _context(callbacks, submitted=callbacks, cap=10).callbacks_reached_cap is reached


def test_one_pair_remaining_is_enough_to_request_more():
    assert decide(_context(9, cap=10, change=0.5)) is D.REQUEST_MORE_COMPARISONS


def test_a_single_failed_callback_at_the_cap_finalises_as_a_failure():
    assert decide(_context(0, failed=1, cap=1)) is D.FINALIZE_FAILURE


def test_no_pairs_remaining_without_a_cap_hit_is_a_no_op():
    # build_context never makes this context (no pairs remaining means the budget is exhausted);
    # decide() is tested on its own table, so its last rule is reached by a direct context.
    ctx = ContinuationContext(
        callbacks_received=5,
        submitted=5,
        completed=5,
        failed=0,
        schedule_cap=10,
        pairs_remaining=0,
        callbacks_reached_cap=False,
        budget_exhausted=False,
        success_rate=1.0,
        zero_successes=False,
        below_success_threshold=False,
        max_score_change=0.5,
        stability_passed=False,
    )
    assert decide(ctx) is D.NO_OP
