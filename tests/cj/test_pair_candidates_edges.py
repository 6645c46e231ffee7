"""Edge tests for engine/cj/pair_candidates.py: the switch from every open pair to windows at
its threshold, and the windows themselves against a plain reference written from the module's
own description (each essay's nearest open partners by score on each side, per lean class, and
among the least-compared for the least-compared), over drawn histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cj.pair_candidates import (
    EVERY_OPEN_PAIR_PER_ESSAY,
    WINDOW_PER_SIDE,
    ComparedPairs,
    candidate_pairs,
    window_pairs,
)

N_AT_THE_SWITCH = 66  # the smallest batch with more than 32 open pairs per essay: C(66, 2) = 2145


def history_of(n: int, count: int) -> ComparedPairs:
    """The first ``count`` pairs in ``(i, j)`` order as compared."""
    rows, cols = np.triu_indices(n, 1)
    return ComparedPairs.of(n, rows[:count].astype(np.int64), cols[:count].astype(np.int64))


def plan(compared: ComparedPairs):
    n = compared.n
    return candidate_pairs(
        compared,
        scores=np.arange(n, dtype=float),
        counts=np.zeros(n),
        skew=np.zeros(n, dtype=np.int64),
    )


def test_every_open_pair_is_a_candidate_at_32_open_pairs_per_essay_and_windows_above():
    n = N_AT_THE_SWITCH
    at_the_limit = history_of(n, n * (n - 1) // 2 - EVERY_OPEN_PAIR_PER_ESSAY * n)
    assert at_the_limit.open_count == 32 * n
    every = plan(at_the_limit)
    assert every.complete is True
    assert every.rows.size == 32 * n

    one_above = history_of(n, n * (n - 1) // 2 - EVERY_OPEN_PAIR_PER_ESSAY * n - 1)
    assert one_above.open_count == 32 * n + 1
    windows = plan(one_above)
    assert windows.complete is False
    assert windows.rows.size < 32 * n + 1
    assert (windows.rows < windows.cols).all()


def reference_windows(compared: set[tuple[int, int]], rank: list[int], essays, members) -> set:
    """Each essay's WINDOW_PER_SIDE nearest open partners among ``members`` on each side of it
    in ``rank`` order (itself and compared partners skipped)."""
    keys = set()
    ordered = sorted(members, key=lambda m: rank[m])
    for essay in essays:
        below = [m for m in ordered if rank[m] < rank[essay]][::-1]
        above = [m for m in ordered if rank[m] >= rank[essay]]
        for side in (below, above):
            taken = 0
            for partner in side:
                if taken == WINDOW_PER_SIDE:
                    break
                pair = (min(essay, partner), max(essay, partner))
                if partner != essay and pair not in compared:
                    keys.add(pair)
                    taken += 1
    return keys


@st.composite
def wave_states(draw: st.DrawFn):
    """A batch's state at a wave: which pairs were compared, scores with ties, comparison
    counts, A/B skews, and which essays the windows are asked for."""
    n = draw(st.integers(2, 14))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    compared = draw(st.sets(st.sampled_from(pairs), max_size=len(pairs)))
    scores = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    counts = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    skew = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    essays = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1)))
    return n, compared, scores, counts, skew, essays


@settings(max_examples=150)
@given(wave_states())
def test_the_window_pairs_are_the_nearest_open_partners_per_lean_class_and_least_compared(state):
    n, compared, scores, counts, skew, essays = state
    keys = window_pairs(
        ComparedPairs.of(
            n,
            np.array([p[0] for p in compared], dtype=np.int64),
            np.array([p[1] for p in compared], dtype=np.int64),
        ),
        np.array(essays, dtype=np.int64),
        scores=np.array(scores, dtype=float),
        counts=np.array(counts, dtype=float),
        skew=np.array(skew, dtype=np.int64),
    )
    order = sorted(range(n), key=lambda e: (scores[e], e))
    rank = [0] * n
    for position, essay in enumerate(order):
        rank[essay] = position
    sign = [int(np.sign(s)) for s in skew]
    expected: set[tuple[int, int]] = set()
    for side in (-1, 0, 1):
        members = [e for e in essays if sign[e] == side]
        expected |= reference_windows(compared, rank, essays, members)
    fewest = min(counts[e] for e in essays)
    least = [e for e in essays if counts[e] == fewest]
    if len(least) < len(essays):
        for side in (-1, 0, 1):
            members = [e for e in least if sign[e] == side]
            expected |= reference_windows(compared, rank, least, members)
    assert keys.tolist() == sorted(lo * n + hi for lo, hi in expected)


def test_a_history_with_an_essay_compared_with_itself_is_refused():
    one = np.array([1], dtype=np.int64)
    with pytest.raises(AssertionError, match=r"^an essay cannot be compared with itself$"):
        ComparedPairs.of(3, one, one)


@pytest.mark.parametrize("lean", [-1, 0, 1])
def test_the_two_least_compared_essays_at_either_end_meet_through_their_own_window(lean):
    # ten essays in score order, all leaning the same way, none compared: each one's window
    # holds its three neighbours on each side; 0 and 9, compared least, also see each other
    # across the six between them, in the window among the least-compared of their lean class
    n = 10
    none = np.empty(0, dtype=np.int64)
    keys = window_pairs(
        ComparedPairs.of(n, none, none),
        np.arange(n, dtype=np.int64),
        scores=np.arange(n, dtype=float),
        counts=np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=float),
        skew=np.full(n, lean, dtype=np.int64),
    )
    near = {(i, j) for i in range(n) for j in range(i + 1, min(i + 4, n))}
    assert sorted((int(k) // n, int(k) % n) for k in keys) == sorted(near | {(0, 9)})


def test_the_least_compared_window_looks_within_each_lean_class_past_the_other_classes():
    # By score: 0, then 8, 9, 10 (even, compared more), 1, 2, 3 (leaning to A), 4, 5, 6
    # (leaning to B), and 7 (even). 0 and 7 are even and among the least-compared: their own
    # window joins them past everyone between; a window over two classes at once would stop at
    # 1, 2, 3 or at 4, 5, 6, and the window over every even essay stops at 8, 9, 10.
    n = 11
    none = np.empty(0, dtype=np.int64)
    scores = [0, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3]
    keys = window_pairs(
        ComparedPairs.of(n, none, none),
        np.arange(n, dtype=np.int64),
        scores=np.array(scores, dtype=float),
        counts=np.array([0] * 8 + [1] * 3, dtype=float),
        skew=np.array([0, 1, 1, 1, -1, -1, -1, 0, 0, 0, 0], dtype=np.int64),
    )
    assert 0 * n + 7 in keys.tolist()
