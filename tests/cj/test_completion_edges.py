"""The completion plan at its edges: the smallest override, the small-net boundary, exact integer
caps and the percentage (the survivors of `nox -s mutants`)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.cj.completion import (
    CompletionPlan,
    completion_plan,
    normalise_budget,
    resampling_passes_allowed,
)
from engine.settings import Settings

DEFAULTS = Settings.for_simulation()  # service maximum 120; nets of 3 or fewer resample 4 times


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (-1, (120, "service_default")),
        (0, (120, "service_default")),
        (1, (1, "runner_override")),  # the smallest positive override is honoured
        (119, (119, "runner_override")),
        (120, (120, "runner_override")),
        (121, (120, "runner_override")),
    ],
)
def test_budget_override_edges(override, expected):
    assert normalise_budget(DEFAULTS, override) == expected


@pytest.mark.parametrize(("n", "passes"), [(2, 4), (3, 4), (4, 0)])  # MIN_RESAMPLING_NET_SIZE = 3
def test_a_net_of_the_minimum_size_is_small(n, passes):
    assert resampling_passes_allowed(n, DEFAULTS) == passes


@pytest.mark.parametrize("legacy", [False, True])
def test_caps_are_whole_numbers_of_pairs(legacy):
    plan = completion_plan(1000, 4, DEFAULTS.with_overrides(LEGACY_COMPLETION_DENOMINATOR=legacy))
    assert type(plan.schedule_cap) is int
    assert type(plan.denominator) is int
    assert plan.denominator == 6


@pytest.mark.parametrize(
    ("denominator", "callbacks", "percentage"),
    [(6, 0, 0.0), (6, 3, 50.0), (6, 6, 100.0), (4, 5, 125.0), (3, 1, 100 / 3), (0, 0, 100.0)],
)
def test_completion_percentage_is_exact(denominator, callbacks, percentage):
    plan = CompletionPlan(schedule_cap=denominator, denominator=denominator)
    assert plan.percentage(callbacks) == percentage


def test_a_plan_cannot_be_changed_once_made():
    plan = completion_plan(120, 4, DEFAULTS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.schedule_cap = 1000  # type: ignore[misc]
