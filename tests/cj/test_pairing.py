"""Pair generation and orientation as pure functions."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cj.models import ComparisonPair, GenerationMode
from engine.cj.orientation import essay_order, orient_wave
from engine.cj.pairing import EssayNode, PairHistory, plan_coverage, plan_resampling

T0 = datetime(2025, 12, 1, tzinfo=UTC)


def _essays(n, anchors=0):
    return [EssayNode(f"e{i:04d}", i < anchors, 0.0) for i in range(n)]


def _rows(pairs, iteration=1):
    return [
        ComparisonPair(
            correlation_id=f"c{iteration}-{i}",
            cj_batch_id=1,
            essay_a_id=a,
            essay_b_id=b,
            iteration=iteration,
            generation_mode=GenerationMode.COVERAGE,
            submitted_at=T0,
        )
        for i, (a, b) in enumerate(pairs)
    ]


def _run_coverage(n, budget, seed):
    essays, history, rows = _essays(n), PairHistory.empty(), []
    for iteration in range(1, 10 * n):
        wave = plan_coverage(
            essays,
            history,
            remaining=budget - len(rows),
            rng=random.Random(seed * 1000 + iteration),
        )
        if not wave:
            break
        rows += _rows([(p.first, p.second) for p in wave], iteration)
        history = PairHistory.from_pairs(rows)
    return rows


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 30), budget=st.integers(1, 500), seed=st.integers(0, 10**6))
def test_coverage_never_repeats_a_pair_never_exceeds_the_budget_and_covers_all(n, budget, seed):
    rows = _run_coverage(n, budget, seed)
    keys = [r.pair_key for r in rows]
    assert len(keys) == len(set(keys))
    assert len(rows) == min(budget, n * (n - 1) // 2)


def test_a_coverage_wave_uses_each_essay_at_most_once_and_prefers_the_least_compared():
    essays = _essays(6)
    history = PairHistory.from_pairs(
        _rows([("e0000", "e0001"), ("e0000", "e0002"), ("e0001", "e0002")])
    )
    wave = plan_coverage(essays, history, remaining=10, rng=random.Random(1))
    used = [e for p in wave for e in (p.first, p.second)]
    assert len(used) == len(set(used)) == 6
    # the three fresh essays cannot all pair among themselves: each meets a compared one
    assert all(p.mode is GenerationMode.COVERAGE for p in wave)


def test_a_coverage_wave_is_reproducible_from_its_seed():
    essays = _essays(40)
    first = plan_coverage(essays, PairHistory.empty(), remaining=100, rng=random.Random(5))
    again = plan_coverage(essays, PairHistory.empty(), remaining=100, rng=random.Random(5))
    other = plan_coverage(essays, PairHistory.empty(), remaining=100, rng=random.Random(6))
    assert first == again
    assert first != other


def test_a_thousand_essay_wave_is_a_perfect_matching():
    wave = plan_coverage(_essays(1000), PairHistory.empty(), remaining=10**6, rng=random.Random(0))
    assert len(wave) == 500


def test_resampling_waves_reuse_compared_pairs_within_the_per_essay_cap():
    essays = _essays(6)
    all_pairs = [(f"e{i:04d}", f"e{j:04d}") for i in range(6) for j in range(i + 1, 6)]
    history = PairHistory.from_pairs(_rows(all_pairs))
    wave = plan_resampling(essays, history, remaining=4, rng=random.Random(2))
    assert len(wave) == 4
    cap = math.ceil(2 * 4 / 6)
    counts = {}
    for pair in wave:
        assert (pair.first, pair.second) in history.compared
        for essay in (pair.first, pair.second):
            counts[essay] = counts.get(essay, 0) + 1
    assert max(counts.values()) <= cap


def test_a_resampled_pair_is_sent_in_its_missing_orientation():
    history = PairHistory.from_pairs(_rows([("e0001", "e0000")]))  # seen as (hi, lo) only
    planned = plan_resampling(_essays(2), history, remaining=1, rng=random.Random(0))
    oriented = orient_wave(planned, _essays(2), history, balance=True, rng=random.Random(0))
    assert (oriented[0].essay_a, oriented[0].essay_b) == ("e0000", "e0001")


@pytest.mark.parametrize("seed", range(5))
def test_fair_complement_keeps_every_essay_near_balanced(seed):
    essays = _essays(20, anchors=8)
    history, rows = PairHistory.empty(), []
    for iteration in range(1, 200):
        rng = random.Random(seed * 1000 + iteration)
        order = essay_order(essays, balance=True, rng=rng)
        wave = plan_coverage(order, history, remaining=10**6, rng=rng)
        if not wave:
            break
        oriented = orient_wave(wave, order, history, balance=True, rng=rng)
        rows += _rows([(p.essay_a, p.essay_b) for p in oriented], iteration)
        history = PairHistory.from_pairs(rows)
    for a_count, b_count in history.positions.values():
        assert abs(a_count - b_count) / (a_count + b_count) <= 0.2


def test_without_balancing_anchors_come_first_and_keep_position_a():
    essays = _essays(6, anchors=2)
    order = essay_order(list(reversed(essays)), balance=False, rng=random.Random(0))
    assert [e.is_anchor for e in order] == [True, True, False, False, False, False]
    planned = plan_coverage(order, PairHistory.empty(), remaining=10, rng=random.Random(0))
    oriented = orient_wave(planned, order, PairHistory.empty(), balance=False, rng=random.Random(0))
    anchors = {"e0000", "e0001"}
    for pair in oriented:
        if pair.essay_b in anchors:
            assert pair.essay_a in anchors
