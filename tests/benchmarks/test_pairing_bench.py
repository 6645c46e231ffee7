"""Planning one coverage wave, per planned pair, at 24 to 3,000 essays (issue 15).

The performance budget asks that a comparison cost about as much at 3,000 essays as at 24, so
no per-wave step may scan all ``n^2`` pairs. Each benchmark plans the wave after ``WAVES_BEFORE``
waves of a batch at 20 comparisons per essay (24 essays: the ENG5 round robin, budget 288,
under its schedule), on a history planned and oriented as ``open_wave`` would; the time per
planned pair goes to ``extra_info["per_pair_us"]`` for comparison across sizes.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.cj.orientation import essay_order, orient_wave, round_robin_schedule
from engine.cj.pairing import EssayNode, PairHistory, plan_coverage
from tests.cj.pair_rows import submitted_rows

WAVES_BEFORE = 9


def _batch(n: int, budget: int):
    """Essays, the round-robin schedule (or None) and the history after ``WAVES_BEFORE`` waves."""
    strengths = np.random.default_rng(n).normal(0.0, 1.5, n)
    essays = [
        EssayNode(f"e{i:05d}", i < n // 10, float(s)) for i, s in enumerate(strengths.tolist())
    ]
    schedule = round_robin_schedule(
        essays, schedule_cap=budget, balance=True, legacy_greedy=False, rng=random.Random(0)
    )
    history, rows = PairHistory.empty(), []
    for iteration in range(1, WAVES_BEFORE + 1):
        order = essay_order(essays, balance=True, rng=random.Random(iteration))
        wave = plan_coverage(
            order,
            history,
            remaining=budget - len(rows),
            rng=random.Random(iteration),
            schedule=schedule,
            lean_tiers=schedule is None,
        )
        oriented = orient_wave(
            wave, order, history, balance=True, schedule=schedule, rng=random.Random(iteration)
        )
        rows += submitted_rows([(p.essay_a, p.essay_b) for p in oriented], iteration)
        history = PairHistory.from_pairs(rows)
    return essays, schedule, history, budget - len(rows)


@pytest.mark.parametrize(
    ("n", "budget"), [(24, 288), (300, 6_000), (1_000, 20_000), (3_000, 60_000)]
)
def test_plan_one_coverage_wave(benchmark, n, budget):
    essays, schedule, history, remaining = _batch(n, budget)
    order = essay_order(essays, balance=True, rng=random.Random(WAVES_BEFORE + 1))

    def plan():
        return plan_coverage(
            order,
            history,
            remaining=remaining,
            rng=random.Random(WAVES_BEFORE + 1),
            schedule=schedule,
            lean_tiers=schedule is None,
        )

    rounds = 200 if n <= 300 else 10
    wave = benchmark.pedantic(plan, rounds=rounds, warmup_rounds=1)
    assert len(wave) == n // 2
    benchmark.group = "plan_coverage_wave"
    benchmark.extra_info["per_pair_us"] = benchmark.stats.stats.median / len(wave) * 1e6
