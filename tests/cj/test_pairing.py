"""Pair generation and orientation as pure functions."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cj import pairing
from engine.cj.models import GenerationMode
from engine.cj.orientation import essay_order, orient_wave
from engine.cj.pairing import EssayNode, PairHistory, plan_coverage, plan_resampling
from engine.cj.tournament import balanced_tournament
from tests.cj.leans import free_pushed_to
from tests.cj.pair_rows import submitted_rows
from tests.strategies import pair_histories

T0 = datetime(2025, 12, 1, tzinfo=UTC)


def _essays(n, anchors=0):
    return [EssayNode(f"e{i:04d}", i < anchors, 0.0) for i in range(n)]


def _run_coverage(n, budget, seed, played=()):
    """Coverage waves until the planner stops, after the ``played`` pairs (wave 0)."""
    rows = submitted_rows(played, 0)
    essays, history = _essays(n), PairHistory.from_pairs(rows)
    for iteration in range(1, 10 * n):
        wave = plan_coverage(
            essays,
            history,
            remaining=budget - len(rows),
            rng=random.Random(seed * 1000 + iteration),
        )
        if not wave:
            break
        rows += submitted_rows([(p.first, p.second) for p in wave], iteration)
        history = PairHistory.from_pairs(rows)
    return rows


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 30), budget=st.integers(1, 500), seed=st.integers(0, 10**6))
def test_coverage_never_repeats_a_pair_never_exceeds_the_budget_and_covers_all(n, budget, seed):
    rows = _run_coverage(n, budget, seed)
    keys = [r.pair_key for r in rows]
    assert len(keys) == len(set(keys))
    assert len(rows) == min(budget, n * (n - 1) // 2)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 16), extra=st.integers(0, 150), seed=st.integers(0, 10**6), data=st.data())
def test_coverage_after_any_history_repeats_nothing_and_fills_the_budget(n, extra, seed, data):
    """Coverage picked up mid-batch: whatever pairs were already played, in whatever
    orientation, the waves never repeat one, never pass the budget, and stop only at it or
    with every pair compared."""
    played = data.draw(pair_histories([e.essay_id for e in _essays(n)]), label="played")
    budget = len(played) + extra
    rows = _run_coverage(n, budget, seed, played)
    keys = [r.pair_key for r in rows]
    assert len(keys) == len(set(keys))
    assert len(rows) == min(budget, n * (n - 1) // 2)


def test_a_coverage_wave_uses_each_essay_at_most_once_and_prefers_the_least_compared():
    essays = _essays(6)
    history = PairHistory.from_pairs(
        submitted_rows([("e0000", "e0001"), ("e0000", "e0002"), ("e0001", "e0002")])
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
    history = PairHistory.from_pairs(submitted_rows(all_pairs))
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
    history = PairHistory.from_pairs(submitted_rows([("e0001", "e0000")]))  # seen as (hi, lo) only
    planned = plan_resampling(_essays(2), history, remaining=1, rng=random.Random(0))
    oriented = orient_wave(
        planned, _essays(2), history, balance=True, schedule=None, rng=random.Random(0)
    )
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
        oriented = orient_wave(wave, order, history, balance=True, schedule=None, rng=rng)
        rows += submitted_rows([(p.essay_a, p.essay_b) for p in oriented], iteration)
        history = PairHistory.from_pairs(rows)
    for a_count, b_count in history.positions.values():
        assert abs(a_count - b_count) / (a_count + b_count) <= 0.2


def test_without_balancing_anchors_come_first_and_keep_position_a():
    essays = _essays(6, anchors=2)
    order = essay_order(list(reversed(essays)), balance=False, rng=random.Random(0))
    assert [e.is_anchor for e in order] == [True, True, False, False, False, False]
    planned = plan_coverage(order, PairHistory.empty(), remaining=10, rng=random.Random(0))
    oriented = orient_wave(
        planned, order, PairHistory.empty(), balance=False, schedule=None, rng=random.Random(0)
    )
    anchors = {"e0000", "e0001"}
    for pair in oriented:
        if pair.essay_b in anchors:
            assert pair.essay_a in anchors


def _pushed_to(pair, skew):
    """The largest |A-B| the oriented ``pair`` pushes one of its essays to (0 if neither)."""
    a, b = pair
    after = {a: skew.get(a, 0) + 1, b: skew.get(b, 0) - 1}
    return max(abs(after[e]) if abs(after[e]) > abs(skew.get(e, 0)) else 0 for e in (a, b))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 16), seed=st.integers(0, 10**6), data=st.data())
def test_a_scheduled_coverage_wave_pushes_no_essay_past_two_while_it_can_help_it(n, seed, data):
    essays = _essays(n)
    ids = [e.essay_id for e in essays]
    schedule = balanced_tournament(ids, random.Random(seed))
    every_pair = [schedule.orient(ids[i], ids[j]) for i in range(n) for j in range(i + 1, n)]
    # which pairs were played is drawn; each was played as the schedule orients it
    drawn = data.draw(pair_histories(ids, open_min=1), label="played")
    played = [schedule.orient(a, b) for a, b in drawn]
    history = PairHistory.from_pairs(submitted_rows(played))
    skew = {e: a - b for e, (a, b) in history.positions.items()}
    open_pairs = [pair for pair in every_pair if pair not in set(played)]

    wave = plan_coverage(
        essays, history, remaining=10**6, rng=random.Random(seed + 2), schedule=schedule
    )

    oriented = [schedule.orient(p.first, p.second) for p in wave]
    used = [e for pair in oriented for e in pair]
    assert wave
    assert len(used) == len(set(used))
    assert all(pair in open_pairs for pair in oriented)
    # while an open pair can help, none pushes past two; once nothing but pushes is left, the
    # wave still plays (``assert wave`` above: coverage must end)
    if any(_pushed_to(pair, skew) <= 2 for pair in open_pairs):
        assert all(_pushed_to(pair, skew) <= 2 for pair in oriented)


def _legacy_case():
    essays = [EssayNode(f"e{i:04d}", False, 0.25 * i) for i in range(9)]
    history = PairHistory.from_pairs(
        submitted_rows(
            [("e0000", "e0001"), ("e0002", "e0001"), ("e0003", "e0004"), ("e0003", "e0005")]
        )
    )
    return essays, history


def _former_jitter(seed, rows, cols):
    """The jitter before issue 15: one PCG64 uniform per open pair, drawn in key order."""
    return np.random.Generator(np.random.PCG64(seed)).uniform(0.0, pairing.JITTER_MAX, rows.size)


def test_a_coverage_wave_without_a_schedule_is_planned_as_before_the_schedule(monkeypatch):
    """Adaptive waves and LEGACY_GREEDY_ORIENTATION: given the jitter it drew then, the planner
    plans the pairs recorded from it as it was before round-robin schedules (lean terms summed
    in the same order, same matching). Only the jitter has changed since."""
    monkeypatch.setattr(pairing, "_jitter", _former_jitter)
    essays, history = _legacy_case()
    recorded = {
        0: [("e0007", "e0008"), ("e0005", "e0006"), ("e0002", "e0004"), ("e0001", "e0003")],
        2: [("e0006", "e0007"), ("e0005", "e0008"), ("e0002", "e0004"), ("e0001", "e0003")],
    }
    for seed, pairs in recorded.items():
        wave = plan_coverage(essays, history, remaining=10, rng=random.Random(seed))
        assert [(p.first, p.second) for p in wave] == pairs


def test_a_coverage_wave_without_a_schedule_is_planned_as_recorded():
    """The same case with today's jitter (a hash of seed and pair), recorded in issue 15."""
    essays, history = _legacy_case()
    recorded = [("e0006", "e0007"), ("e0005", "e0008"), ("e0002", "e0004"), ("e0001", "e0003")]
    for seed in (0, 2):
        wave = plan_coverage(essays, history, remaining=10, rng=random.Random(seed))
        assert [(p.first, p.second) for p in wave] == recorded


@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 20), seed=st.integers(0, 10**6), data=st.data())
def test_an_adaptive_wave_with_lean_tiers_pushes_no_essay_past_two_while_it_can_help_it(
    n, seed, data
):
    """Orientation is free here (the cap is below a round robin), so the tiers ask of each pair
    how far its better orientation must push an essay."""
    essays = _essays(n)
    ids = [e.essay_id for e in essays]
    every_pair = [(ids[i], ids[j]) for i in range(n) for j in range(i + 1, n)]
    played = data.draw(pair_histories(ids, open_min=1), label="played")
    history = PairHistory.from_pairs(submitted_rows(played))
    skew = {e: a - b for e, (a, b) in history.positions.items()}
    seen = {tuple(sorted(p)) for p in played}
    open_pairs = [p for p in every_pair if tuple(sorted(p)) not in seen]

    wave = plan_coverage(
        essays, history, remaining=10**6, rng=random.Random(seed + 2), lean_tiers=True
    )

    assert wave
    if any(free_pushed_to(x, y, skew) <= 2 for x, y in open_pairs):
        assert all(free_pushed_to(p.first, p.second, skew) <= 2 for p in wave)


def test_pair_history_counts_each_pairs_orientations_and_positions():
    """From rows submitted in both orientations, some more than once, the history holds each
    pair's (lo first, hi first) counts, in the order pairs were first submitted, and each
    essay's (times in A, times in B): the same whether or not the mapping is read whole."""
    rows = submitted_rows(
        [("b", "a"), ("a", "c"), ("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"), ("d", "c")]
    )
    history = PairHistory.from_pairs(rows)
    expected = {("a", "b"): (1, 2), ("a", "c"): (1, 0), ("c", "d"): (1, 2)}
    assert history.orientations[("a", "b")] == (1, 2)
    assert history.orientations.get(("c", "d")) == (1, 2)
    assert history.orientations.get(("b", "a")) is None  # only the sorted key is a key
    assert ("a", "d") not in history.orientations
    with pytest.raises(KeyError):
        history.orientations[("a", "d")]
    assert len(history.orientations) == 3
    assert list(history.orientations) == list(expected)
    assert dict(history.orientations) == expected
    assert history.orientations == expected
    assert history.compared == frozenset(expected)
    assert history.positions == {"b": (2, 1), "a": (2, 2), "c": (1, 3), "d": (2, 1)}
    assert history.appearances == {"b": 3, "a": 4, "c": 4, "d": 3}
    assert list(history.appearances) == ["b", "a", "c", "d"]
