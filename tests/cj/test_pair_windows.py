"""Large-batch pair planning: candidate windows, the counter-based jitter, the matching."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cj import pair_candidates, pairing
from engine.cj.orientation import essay_order, orient_wave
from engine.cj.pair_candidates import ComparedPairs, window_pairs
from engine.cj.pair_matching import Adjacency, Matching, augment, take_greedily
from engine.cj.pairing import EssayNode, PairHistory, plan_coverage
from engine.cj.tournament import balanced_tournament
from tests.cj.leans import free_pushed_to
from tests.cj.pair_rows import submitted_rows
from tests.strategies import pair_histories


def _ids(n):
    return [f"e{i:04d}" for i in range(n)]


def _assert_a_valid_wave(wave, history, remaining):
    used = [e for p in wave for e in (p.first, p.second)]
    assert len(used) == len(set(used))
    assert len(wave) <= remaining
    assert all(tuple(sorted((p.first, p.second))) not in history.compared for p in wave)


@pytest.fixture
def windows_always(monkeypatch):
    """Every batch takes the windowed candidates, however few its open pairs."""
    monkeypatch.setattr(pair_candidates, "EVERY_OPEN_PAIR_PER_ESSAY", 0)


# ---- through plan_coverage ----------------------------------------------------------------


def _adaptive_batch(n, waves, seed):
    """Essays and the history after ``waves`` adaptive waves, planned and oriented as
    ``open_wave`` plans and orients them."""
    strengths = np.random.default_rng(seed).normal(0, 1.5, n)
    essays = [EssayNode(e, False, float(s)) for e, s in zip(_ids(n), strengths, strict=True)]
    history, rows = PairHistory.empty(), []
    for iteration in range(1, waves + 1):
        order = essay_order(essays, balance=True, rng=random.Random(seed + iteration))
        wave = plan_coverage(
            order, history, remaining=10**6, rng=random.Random(iteration), lean_tiers=True
        )
        oriented = orient_wave(
            wave, order, history, balance=True, schedule=None, rng=random.Random(iteration)
        )
        rows += submitted_rows([(p.essay_a, p.essay_b) for p in oriented], iteration)
        history = PairHistory.from_pairs(rows)
    return essays, history


@pytest.mark.parametrize("waves_before", [0, 9, 29])
def test_a_large_adaptive_wave_is_as_large_and_as_even_as_over_every_open_pair(
    waves_before, monkeypatch
):
    """400 essays (windowed candidates) against the same wave planned over every open pair."""
    n = 400
    essays, history = _adaptive_batch(n, waves_before, seed=waves_before)
    skew = {e: a - b for e, (a, b) in history.positions.items()}

    def wave():
        return plan_coverage(
            essays, history, remaining=10**6, rng=random.Random(5), lean_tiers=True
        )

    windowed = wave()
    monkeypatch.setattr(pair_candidates, "EVERY_OPEN_PAIR_PER_ESSAY", n)
    every_pair = wave()
    _assert_a_valid_wave(windowed, history, 10**6)
    assert len(windowed) == len(every_pair) == n // 2
    pushes = [free_pushed_to(p.first, p.second, skew) for p in windowed]
    assert max(pushes) <= max(free_pushed_to(p.first, p.second, skew) for p in every_pair)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    seed=st.integers(0, 10**6),
    remaining=st.integers(1, 30),
    mode=st.sampled_from(["legacy", "tiers", "schedule"]),
    data=st.data(),
)
def test_windowed_waves_never_repeat_a_pair_reuse_an_essay_or_exceed_the_budget(
    n, seed, remaining, mode, data
):
    played = data.draw(pair_histories(_ids(n)), label="played")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pair_candidates, "EVERY_OPEN_PAIR_PER_ESSAY", 0)
        history = PairHistory.from_pairs(submitted_rows(played))
        schedule = balanced_tournament(_ids(n), random.Random(seed)) if mode == "schedule" else None
        essays = [
            EssayNode(e, False, random.Random(seed + i).gauss(0, 1)) for i, e in enumerate(_ids(n))
        ]
        wave = plan_coverage(
            essays,
            history,
            remaining=remaining,
            rng=random.Random(seed),
            schedule=schedule,
            lean_tiers=mode == "tiers",
        )
    _assert_a_valid_wave(wave, history, remaining)
    open_pairs = n * (n - 1) // 2 - len(history.compared)
    assert bool(wave) == (open_pairs > 0)


@pytest.mark.usefixtures("windows_always")
@pytest.mark.parametrize("seed", range(4))
def test_windowed_coverage_covers_every_pair_without_repeats(seed):
    n = 30
    essays = [EssayNode(e, False, 0.1 * i) for i, e in enumerate(_ids(n))]
    history, rows = PairHistory.empty(), []
    for iteration in range(1, 10 * n):
        wave = plan_coverage(
            essays, history, remaining=10**6, rng=random.Random(seed * 1000 + iteration)
        )
        if not wave:
            break
        rows += submitted_rows([(p.first, p.second) for p in wave], iteration)
        history = PairHistory.from_pairs(rows)
    keys = [r.pair_key for r in rows]
    assert len(keys) == len(set(keys)) == n * (n - 1) // 2


@pytest.mark.usefixtures("windows_always")
@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 24), seed=st.integers(0, 10**6), data=st.data())
def test_windowed_lean_tiers_push_no_essay_past_two_while_a_pair_can_help_it(n, seed, data):
    played = data.draw(pair_histories(_ids(n)), label="played")
    history = PairHistory.from_pairs(submitted_rows(played))
    skew = {e: a - b for e, (a, b) in history.positions.items()}
    seen = {tuple(sorted(p)) for p in played}
    ids = _ids(n)
    open_pairs = [
        (ids[i], ids[j]) for i in range(n) for j in range(i + 1, n) if (ids[i], ids[j]) not in seen
    ]

    wave = plan_coverage(
        [EssayNode(e, False) for e in ids],
        history,
        remaining=10**6,
        rng=random.Random(seed),
        lean_tiers=True,
    )
    assert bool(wave) == bool(open_pairs)
    if any(free_pushed_to(x, y, skew) <= 2 for x, y in open_pairs):
        assert all(free_pushed_to(p.first, p.second, skew) <= 2 for p in wave)


# ---- the parts ------------------------------------------------------------------------------


def test_a_pair_is_open_in_neither_orientation_once_compared():
    compared = ComparedPairs.of(5, np.array([3, 0]), np.array([1, 4]))
    first = np.array([1, 3, 0, 4, 0, 2])
    second = np.array([3, 1, 4, 0, 1, 3])
    assert compared.is_open(first, second).tolist() == [False, False, False, False, True, True]
    assert compared.open_count == 10 - 2


def test_each_essay_offers_its_nearest_open_partners_in_each_lean_class():
    """Brute force over a small batch: the windows hold, for each essay and class, the
    ``WINDOW_PER_SIDE`` nearest open members below it and above it in score order."""
    n, width = 40, pair_candidates.WINDOW_PER_SIDE
    chance = np.random.default_rng(3)
    scores = chance.normal(0, 1, n)
    skew = chance.integers(-2, 3, n)
    counts = np.zeros(n)
    played = chance.permutation([(i, j) for i in range(n) for j in range(i + 1, n)])[:300]
    compared = ComparedPairs.of(n, played[:, 0], played[:, 1])
    keys = set(
        window_pairs(compared, np.arange(n), scores=scores, counts=counts, skew=skew).tolist()
    )
    by_score = sorted(range(n), key=lambda e: (scores[e], e))
    open_keys = {
        min(i, j) * n + max(i, j)
        for i in range(n)
        for j in range(n)
        if i != j and compared.is_open(np.array([i]), np.array([j]))[0]
    }
    expected = set()
    for essay in range(n):
        at = by_score.index(essay)
        for side in (-1, 0, 1):
            below = [e for e in by_score[:at][::-1] if np.sign(skew[e]) == side]
            above = [e for e in by_score[at + 1 :] if np.sign(skew[e]) == side]
            for run in (below, above):
                near = [e for e in run if min(e, essay) * n + max(e, essay) in open_keys]
                expected |= {min(e, essay) * n + max(e, essay) for e in near[:width]}
    assert keys == expected
    assert keys <= open_keys


def test_the_jitter_of_a_pair_depends_on_the_seed_and_the_pair_only():
    rows, cols = np.array([0, 0, 5, 7]), np.array([1, 2, 6, 9])
    alone = pairing._jitter(11, rows[2:3], cols[2:3])
    together = pairing._jitter(11, rows, cols)
    assert together[2] == alone[0]
    assert (pairing._jitter(12, rows, cols) != together).all()
    draws = pairing._jitter(11, np.zeros(10_000, dtype=np.int64), np.arange(1, 10_001))
    assert draws.min() >= 0.0
    assert draws.max() < pairing.JITTER_MAX
    assert abs(draws.mean() - pairing.JITTER_MAX / 2) < pairing.JITTER_MAX / 50


def test_an_augmenting_path_replaces_the_greedy_middle_pair_with_two():
    # a path 0-1-2-3 whose middle edge is heaviest: greedy takes it, then the path gives two
    rows, cols = np.array([1, 0, 2]), np.array([2, 1, 3])
    matching = Matching.empty(4)
    take_greedily(matching, rows, cols, limit=2)
    assert matching.chosen == [(1, 2)]
    augment(matching, Adjacency.of(4, rows, cols), limit=2)
    assert sorted(tuple(sorted(p)) for p in matching.chosen) == [(0, 1), (2, 3)]
    assert matching.mate.tolist() == [1, 0, 3, 2]
