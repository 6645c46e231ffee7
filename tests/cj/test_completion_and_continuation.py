"""The completion plan and the continuation decision, as pure functions."""

from __future__ import annotations

import pytest

from engine.cj.completion import completion_plan, normalise_budget
from engine.cj.continuation import ContinuationDecision, build_context, decide
from engine.settings import Settings

DEFAULTS = Settings.for_simulation()


@pytest.mark.parametrize(
    ("budget", "n", "overrides", "cap", "denominator"),
    [
        (120, 4, {}, 6, 6),  # every pair once, then done
        (288, 24, {}, 276, 276),
        (288, 24, {"MAX_RESAMPLING_PASSES_FOR_REGULAR_NET": 1}, 288, 288),
        (100, 24, {}, 100, 100),
        (120, 3, {}, 15, 15),  # a small net: 3 pairs, then four resampling passes
        (288, 24, {"LEGACY_COMPLETION_DENOMINATOR": True}, 288, 276),
    ],
)
def test_the_schedule_cap_and_the_denominator(budget, n, overrides, cap, denominator):
    plan = completion_plan(budget, n, DEFAULTS.with_overrides(**overrides))
    assert (plan.schedule_cap, plan.denominator) == (cap, denominator)


def test_the_fixed_plan_schedules_exactly_what_it_divides_by():
    for n in range(2, 40):
        for budget in (1, 10, 50, 120, 288, 1000):
            plan = completion_plan(budget, n, DEFAULTS)
            assert plan.schedule_cap == plan.denominator <= budget


def test_budget_normalisation_honours_a_positive_override_under_the_service_cap():
    assert normalise_budget(DEFAULTS, None) == (120, "service_default")
    assert normalise_budget(DEFAULTS, 0) == (120, "service_default")
    assert normalise_budget(DEFAULTS, 60) == (60, "runner_override")
    assert normalise_budget(DEFAULTS, 500) == (120, "runner_override")


def _decide(completed, failed=0, submitted=None, cap=100, change=None, **overrides):
    submitted = completed + failed if submitted is None else submitted
    settings = DEFAULTS.with_overrides(**overrides)
    return decide(
        build_context(
            completed=completed,
            failed=failed,
            submitted=submitted,
            schedule_cap=cap,
            max_score_change=change,
            settings=settings,
        )
    )


def test_decisions_in_the_original_order():
    d = ContinuationDecision
    assert _decide(10, submitted=12) is d.WAIT_FOR_CALLBACKS
    assert _decide(20, change=None) is d.REQUEST_MORE_COMPARISONS  # first fit: not stable
    assert _decide(20, change=0.01) is d.FINALIZE_SCORING  # stable
    assert _decide(10, change=0.01) is d.REQUEST_MORE_COMPARISONS  # stable, too few callbacks
    assert _decide(20, change=0.5) is d.REQUEST_MORE_COMPARISONS
    assert _decide(100, change=0.5) is d.FINALIZE_SCORING  # cap
    assert _decide(50, failed=50, change=0.5) is d.FINALIZE_FAILURE  # cap, 50% success
    assert _decide(10, failed=10, change=0.01) is d.REQUEST_MORE_COMPARISONS  # low rate, no cap
    assert _decide(0, failed=100) is d.FINALIZE_FAILURE
