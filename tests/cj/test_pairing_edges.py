"""Pairing at its edges: each weight term and lean rule over its whole table, the closeness gap
at 2, the jitter against an independent splitmix64, the candidate pool's order, the tiers with
their minimal inputs, and the wave sizes at their limits (the survivors of `nox -s mutants`)."""

from __future__ import annotations

import math
import random
from itertools import product

import numpy as np
import pytest

from engine.cj import pairing
from engine.cj.models import GenerationMode
from engine.cj.pairing import (
    EssayNode,
    PairHistory,
    PlannedPair,
    coverage_candidates,
    plan_coverage,
    plan_resampling,
)
from engine.cj.tournament import BalancedTournament
from tests.cj.pair_rows import submitted_rows

SKEWS = (-2, -1, 0, 1, 2)
MASK = 2**64 - 1


def _essays(n: int, scores: list[float] | None = None) -> list[EssayNode]:
    scores = scores if scores is not None else [0.0] * n
    return [EssayNode(f"e{i}", False, scores[i]) for i in range(n)]


def _pairs(wave: list[PlannedPair]) -> list[tuple[str, str]]:
    return [(p.first, p.second) for p in wave]


def _ints(values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# --- the history ------------------------------------------------------------------------------


def test_an_empty_history_has_nothing_in_it():
    history = PairHistory.empty()
    assert (history.appearances, history.compared, history.positions) == ({}, frozenset(), {})
    assert dict(history.orientations) == {}
    none = PairHistory.from_pairs([])
    assert (none.appearances, none.compared, none.positions) == ({}, frozenset(), {})
    assert (len(none.orientations), dict(none.orientations)) == (0, {})


def test_a_pair_submitted_once_in_each_orientation():
    history = PairHistory.from_pairs(submitted_rows([("b", "a")]))
    assert history.orientations[("a", "b")] == (0, 1)  # (lo first, hi first)
    assert history.positions == {"b": (1, 0), "a": (0, 1)}
    assert history.appearances == {"b": 1, "a": 1}
    history = PairHistory.from_pairs(submitted_rows([("a", "b")]))
    assert history.orientations[("a", "b")] == (1, 0)
    assert history.positions == {"a": (1, 0), "b": (0, 1)}


@pytest.mark.parametrize(
    ("ids", "compared", "open_pairs"),
    [
        ((), [], 0),
        (("e0",), [], 0),
        (("e0", "e1"), [], 1),
        (("e0", "e1"), [("e0", "e1")], 0),
        (("e0", "e1", "e2"), [("e0", "e1")], 2),
        # pairs with an essay outside the list do not count
        (("e0", "e1", "e2"), [("e0", "e1"), ("e0", "x"), ("x", "y")], 2),
        (("e0", "e1", "e2", "e3"), [("e0", "e1"), ("e2", "e3")], 4),
    ],
)
def test_coverage_candidates_counts_the_never_submitted_pairs(ids, compared, open_pairs):
    essays = [EssayNode(essay_id, False) for essay_id in ids]
    history = PairHistory.from_pairs(submitted_rows(compared))
    count = coverage_candidates(essays, history)
    assert count == open_pairs
    assert type(count) is int


def test_a_pair_never_submitted_is_named_when_asked_for():
    history = PairHistory.from_pairs(submitted_rows([("a", "b")]))
    with pytest.raises(KeyError) as missing:
        history.orientations[("a", "c")]
    assert missing.value.args == (("a", "c"),)


# --- the weight terms -------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y"), list(product(SKEWS, SKEWS)))
def test_lean_terms_over_every_pair_of_skews(x, y):
    bonus, penalty = pairing._lean_terms(_ints([x]), _ints([y]))
    assert bonus.tolist() == [0.3 if x * y < 0 else 0.0]
    assert penalty.tolist() == [0.3 * min(abs(x), abs(y)) if x * y > 0 else 0.0]


@pytest.mark.parametrize(("x", "y"), list(product(SKEWS, SKEWS)))
def test_free_lean_over_every_pair_of_skews(x, y):
    """Opposite leans: both even out (0); an even essay: pushed to 1; the same lean: the lesser
    one is pushed one further."""
    expected = min(abs(x), abs(y)) + 1 if x * y > 0 else (1 if x * y == 0 else 0)
    assert pairing._free_lean(_ints([x]), _ints([y])).tolist() == [expected]


THREE = BalancedTournament(order=("e0", "e1", "e2"), rank={"e0": 0, "e1": 1, "e2": 2})
FOUR = BalancedTournament(order=("e0", "e1", "e2", "e3"), rank={"e0": 0, "e1": 1, "e2": 2, "e3": 3})


def _scheduled_reference(schedule, skew, x, y):
    a, b = schedule.orient(f"e{x}", f"e{y}")
    before = {f"e{i}": s for i, s in enumerate(skew)}
    after = {a: before[a] + 1, b: before[b] - 1}
    pushed = max(abs(after[e]) if abs(after[e]) > abs(before[e]) else 0 for e in (a, b))
    evens = all(abs(after[e]) < abs(before[e]) for e in (a, b))
    return pushed, evens


@pytest.mark.parametrize("schedule", [THREE, FOUR], ids=["three", "four"])
@pytest.mark.parametrize("skew_pair", list(product(SKEWS, SKEWS)))
def test_scheduled_lean_over_every_pair_and_skew(schedule, skew_pair):
    n = len(schedule.order)
    rows, cols = np.triu_indices(n, 1)
    rows, cols = np.concatenate([rows, cols]), np.concatenate([cols, rows])  # both ways round
    for x_skew_at in range(n):
        skew = [0] * n
        skew[x_skew_at] = skew_pair[0]
        skew[(x_skew_at + 1) % n] = skew_pair[1]
        pushed, evens = pairing._scheduled_lean(
            _ints(skew), rows.astype(np.int64), cols.astype(np.int64), np.arange(n), schedule
        )
        expected = [
            _scheduled_reference(schedule, skew, x, y) for x, y in zip(rows, cols, strict=True)
        ]
        assert list(zip(pushed.tolist(), evens.tolist(), strict=True)) == expected


def _splitmix_jitter(seed: int, row: int, col: int) -> float:
    """The jitter written out with Python integers: splitmix64 of the pair's key."""
    z = (seed + ((row << 32 | col) + 1) * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) * (0.001 / 2.0**53)


@pytest.mark.parametrize("seed", [0, 1, 2**63, MASK])
def test_the_jitter_is_splitmix64_of_the_pair_scaled_below_a_thousandth(seed):
    rows, cols = _ints([0, 0, 1, 5, 2**31]), _ints([1, 3, 2, 7, 2**31 + 1])
    jitter = pairing._jitter(seed, rows, cols)
    assert jitter.tolist() == [
        _splitmix_jitter(seed, r, c) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
    assert all(0.0 <= value < 0.001 for value in jitter.tolist())


def _wave(scores, counts, skew, *, tiered=False, schedule=None, seed=0):
    return pairing._CoverageWave(
        scores=np.array(scores, dtype=float),
        counts=np.array(counts, dtype=float),
        skew=_ints(skew),
        jitter_seed=seed,
        tiered=tiered,
        schedule=schedule,
        schedule_rank=None if schedule is None else _ints(range(len(schedule.order))),
    )


def test_a_pair_weighs_its_counts_closeness_and_leans_plus_its_jitter():
    """Pairs (0, 1) .. (0, 5) from essay 0 (score 0, seen twice, even) to essays at score gaps
    0, 1.5, 1.999, 2 and 3 with other counts and leans."""
    wave = _wave(
        scores=[0.0, 0.0, 1.5, 1.999, 2.0, -3.0],
        counts=[2, 0, 1, 3, 4, 9],
        skew=[1, -1, 1, 2, 0, -3],
    )
    rows, cols = _ints([0] * 5), _ints([1, 2, 3, 4, 5])
    weights, pushed_to = wave.weigh(rows, cols)
    jitter = pairing._jitter(0, rows, cols).tolist()
    expected = [
        1 / 3 + 1 / 1 + 0.5 * math.exp(-0.0) + 0.3 - 0.0,  # opposite leans: the bonus
        1 / 3 + 1 / 2 + 0.5 * math.exp(-1.5) + 0.0 - 0.3,  # same lean, smaller skew 1
        1 / 3 + 1 / 4 + 0.5 * math.exp(-1.999) + 0.0 - 0.3,
        1 / 3 + 1 / 5 + 0.0,  # a gap of exactly 2 is not close
        1 / 3 + 1 / 10 + 0.0 + 0.3,  # gap 3, opposite leans
    ]
    assert weights.tolist() == pytest.approx(
        [e + j for e, j in zip(expected, jitter, strict=True)], rel=0, abs=1e-15
    )
    assert pushed_to.tolist() == [0, 0, 0, 0, 0]  # untiered: no tiers to sort into


def test_a_tiered_wave_says_how_far_each_pair_pushes_a_lean():
    wave = _wave(scores=[0.0] * 4, counts=[0] * 4, skew=[1, -1, 2, 0], tiered=True)
    rows, cols = _ints([0, 0, 0, 1]), _ints([1, 2, 3, 3])
    _, pushed_to = wave.weigh(rows, cols)
    assert pushed_to.tolist() == [0, 2, 1, 1]


def test_a_scheduled_wave_gives_its_bonus_to_pairs_that_even_out_both():
    """Schedule e0 -> e1 -> e2 -> e0 (A first). e0 leans to B and e1 to A: e0 as A evens
    both. e1 as A against e2 pushes e1 to 2."""
    wave = _wave(scores=[0.0] * 3, counts=[0] * 3, skew=[-1, 1, 0], tiered=True, schedule=THREE)
    rows, cols = _ints([0, 1, 0]), _ints([1, 2, 2])
    weights, pushed_to = wave.weigh(rows, cols)
    jitter = pairing._jitter(0, rows, cols).tolist()
    base = 1.0 + 1.0 + 0.5
    assert weights.tolist() == pytest.approx(
        [base + 0.3 + jitter[0], base + jitter[1], base + jitter[2]], rel=0, abs=1e-15
    )
    # (e1, e2): e1 as A goes to 2; (e0, e2): e2 is A, so e0, leaning B, goes to -2
    assert pushed_to.tolist() == [0, 2, 2]


# --- the candidate pool -----------------------------------------------------------------------


class _FixedWeights:
    """A wave whose pairs weigh what the test says (keyed by ``row * 10 + col``)."""

    def __init__(self, weights: dict[int, float], pushed: dict[int, int] | None = None) -> None:
        self.weights, self.pushed = weights, pushed or {}
        self.weighed: list[list[int]] = []

    def weigh(self, rows, cols):
        keys = (rows * 10 + cols).tolist()
        self.weighed.append(keys)
        return (
            np.array([self.weights[k] for k in keys], dtype=float),
            _ints([self.pushed.get(k, 0) for k in keys]),
        )


def test_the_pool_holds_pairs_heaviest_first_ties_by_key_later_equals_after():
    wave = _FixedWeights({1: 0.5, 2: 0.9, 3: 0.5, 12: 0.7, 13: 0.9, 23: 0.5, 14: 0.5})
    pool = pairing._CandidatePool(wave, 10)
    assert pool.add(_ints([0, 0, 0]), _ints([3, 1, 2]))
    assert (pool.rows * 10 + pool.cols).tolist() == [2, 1, 3]
    # 13 ties 2 and goes after it; 23 and 14 tie the 0.5s and go after them, in key order
    assert pool.add(_ints([2, 1, 1, 0]), _ints([3, 3, 4, 1]))
    assert (pool.rows * 10 + pool.cols).tolist() == [2, 13, 1, 3, 14, 23]
    assert pool.weights.tolist() == [0.9, 0.9, 0.5, 0.5, 0.5, 0.5]
    assert pool.keys.tolist() == [1, 2, 3, 13, 14, 23]
    assert wave.weighed == [[3, 1, 2], [23, 13, 14]]  # a pair already held is not weighed again
    assert not pool.add(_ints([0, 1]), _ints([2, 3]))
    assert not pool.add(_ints([]), _ints([]))


def test_the_pool_allows_by_how_far_a_pair_pushes():
    wave = _FixedWeights({1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}, pushed={1: 0, 2: 1, 3: 2, 4: 3})
    pool = pairing._CandidatePool(wave, 10)
    pool.add(_ints([0, 0, 0, 0]), _ints([1, 2, 3, 4]))
    assert pool.pushed_to.tolist() == [3, 2, 1, 0]
    assert pool.allowed(None).tolist() == [True] * 4
    assert pool.allowed(3).tolist() == [True] * 4
    assert pool.allowed(2).tolist() == [False, True, True, True]
    assert pool.allowed(1).tolist() == [False, False, True, True]
    assert pool.allowed(0).tolist() == [False, False, False, True]


# --- coverage waves ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "remaining", "size"),
    [
        (0, 10, 0),
        (1, 10, 0),
        (2, 10, 1),
        (2, 0, 0),
        (2, -1, 0),
        (5, 10, 2),
        (6, 10, 3),
        (8, 1, 1),
        (8, 2, 2),
        (8, 3, 3),
        (8, 4, 4),
        (8, 5, 4),
    ],
)
def test_a_coverage_wave_is_as_large_as_the_essays_and_the_budget_allow(n, remaining, size):
    wave = plan_coverage(_essays(n), PairHistory.empty(), remaining=remaining, rng=random.Random(0))
    assert len(wave) == size
    assert all(p.mode is GenerationMode.COVERAGE for p in wave)


def test_a_wave_with_every_pair_compared_is_empty():
    history = PairHistory.from_pairs(submitted_rows([("e0", "e1"), ("e0", "e2"), ("e1", "e2")]))
    assert plan_coverage(_essays(3), history, remaining=10, rng=random.Random(0)) == []


def test_pairs_with_an_essay_outside_the_wave_do_not_close_a_pair():
    """e0-x was compared; e0-e1 was not: the one open pair of the two listed essays is planned."""
    history = PairHistory.from_pairs(submitted_rows([("e0", "x"), ("x", "e1")]))
    wave = plan_coverage(_essays(2), history, remaining=10, rng=random.Random(0))
    assert _pairs(wave) == [("e0", "e1")]


def test_the_least_compared_essays_meet_first():
    """Four essays at one score; e0 and e1 were each compared twice with outsiders (once as A,
    once as B), e2 and e3 never: the budget of one pair goes to e2 and e3."""
    history = PairHistory.from_pairs(
        submitted_rows([("e0", "x"), ("y", "e0"), ("e1", "x"), ("y", "e1")])
    )
    assert history.appearances["e0"] == history.appearances["e1"] == 2
    wave = plan_coverage(_essays(4), history, remaining=1, rng=random.Random(0))
    assert _pairs(wave) == [("e2", "e3")]


def test_close_scores_meet_first_and_a_gap_of_two_is_not_close():
    """e0 at 0 and e1 at 1.9 are the only pair within 2 of each other: with one pair of budget
    it is the one planned."""
    wave = plan_coverage(
        _essays(4, [0.0, 1.9, 5.0, 10.0]), PairHistory.empty(), remaining=1, rng=random.Random(0)
    )
    assert _pairs(wave) == [("e0", "e1")]


def test_opposite_leans_meet_first():
    """e0 was A once, e1 B once, e2 A once, e3 B once (against outsiders): both pairs of the
    wave lean opposite ways."""
    history = PairHistory.from_pairs(
        submitted_rows([("e0", "x"), ("y", "e1"), ("e2", "z"), ("w", "e3")])
    )
    wave = plan_coverage(_essays(4), history, remaining=2, rng=random.Random(0))
    for first, second in _pairs(wave):
        skews = {history.positions[e][0] - history.positions[e][1] for e in (first, second)}
        assert skews == {1, -1}
    assert len(wave) == 2


def _skewed_history(skews: dict[str, int]) -> PairHistory:
    """A history in which each essay's A-B lean is as given (against distinct outsiders)."""
    rows = []
    for essay, skew in skews.items():
        for k in range(abs(skew)):
            outsider = f"out-{essay}-{k}"
            rows.append((essay, outsider) if skew > 0 else (outsider, essay))
    return PairHistory.from_pairs(submitted_rows(rows))


def test_an_adaptive_tiered_wave_waits_rather_than_push_past_two():
    """e0 and e1 both lean A by 2, e2 and e3 are even and never compared. Untiered, the greedy
    takes the heaviest pair e2-e3 and then e0-e1, the one left, which pushes e0 or e1 to 3.
    Tiered, the pairs of e0 and e1 with the even essays push nobody past 1 (the even essay
    goes to 1, the leaning one evens), and the matching grows to two of those."""
    history = _skewed_history({"e0": 2, "e1": 2})
    for seed in range(5):
        untiered = plan_coverage(_essays(4), history, remaining=10, rng=random.Random(seed))
        assert sorted(_pairs(untiered)) == [("e0", "e1"), ("e2", "e3")]
        wave = plan_coverage(
            _essays(4), history, remaining=10, rng=random.Random(seed), lean_tiers=True
        )
        assert len(wave) == 2
        assert all({p.first, p.second} & {"e0", "e1"} for p in wave)
        assert ("e0", "e1") not in _pairs(wave)


def test_a_tiered_wave_takes_a_pair_past_two_when_nothing_else_is_left():
    """e0 and e1 lean A by 3 and have met everyone but each other: their pair pushes one to 4,
    yet it is the last open pair, so it is planned (coverage must end)."""
    rows = [("e0", "e2"), ("e2", "e1")] + [("e0", f"x{k}") for k in range(2)]
    rows += [("e1", f"y{k}") for k in range(4)]
    history = PairHistory.from_pairs(submitted_rows(rows))
    assert (history.positions["e0"], history.positions["e1"]) == ((3, 0), (4, 1))
    assert coverage_candidates(_essays(3), history) == 1
    for lean_tiers in (False, True):
        wave = plan_coverage(
            _essays(3), history, remaining=10, rng=random.Random(0), lean_tiers=lean_tiers
        )
        assert wave == [PlannedPair("e0", "e1", GenerationMode.COVERAGE)]


# --- resampling waves -------------------------------------------------------------------------


def _round_robin(n: int) -> PairHistory:
    ids = [f"e{i}" for i in range(n)]
    return PairHistory.from_pairs(
        submitted_rows([(ids[i], ids[j]) for i in range(n) for j in range(i + 1, n)])
    )


@pytest.mark.parametrize(
    ("n", "remaining", "size", "cap"),
    [
        (2, 0, 0, 0),
        (2, -1, 0, 0),
        (2, 1, 1, 1),
        (2, 5, 1, 1),  # one compared pair: one pair, however large the budget
        (4, 1, 1, 1),  # ceil(2 / 4)
        (4, 2, 2, 1),  # ceil(4 / 4): a perfect matching
        (4, 3, 3, 2),  # ceil(6 / 4)
        (4, 6, 6, 3),
        (4, 7, 6, 3),
        (6, 4, 4, 2),
    ],
)
def test_a_resampling_wave_is_capped_per_essay_and_by_the_budget(n, remaining, size, cap):
    history = _round_robin(n)
    wave = plan_resampling(_essays(n), history, remaining=remaining, rng=random.Random(3))
    assert len(wave) == size
    assert all(p.mode is GenerationMode.RESAMPLING for p in wave)
    assert all((p.first, p.second) in history.compared for p in wave)
    used = [e for p in wave for e in (p.first, p.second)]
    assert max((used.count(e) for e in set(used)), default=0) == cap


def test_resampling_without_compared_pairs_is_empty():
    assert plan_resampling(_essays(3), PairHistory.empty(), remaining=5, rng=random.Random(0)) == []
    # an outsider sorts after the essays ("x") or before them ("a"): neither pair is resampled
    outside = PairHistory.from_pairs(submitted_rows([("e0", "x"), ("a", "e1")]))
    assert plan_resampling(_essays(3), outside, remaining=5, rng=random.Random(0)) == []


def test_the_per_essay_cap_binds_on_a_star():
    """Every compared pair holds e0: a wave of 4 over 5 essays allows each ceil(8 / 5) = 2."""
    history = PairHistory.from_pairs(submitted_rows([("e0", f"e{i}") for i in range(1, 5)]))
    for seed in range(3):
        wave = plan_resampling(_essays(5), history, remaining=4, rng=random.Random(seed))
        assert len(wave) == 2


@pytest.mark.parametrize("seen_more", ["first", "second"])
def test_resampling_takes_the_least_seen_pair_first(seen_more):
    """e0-e1 and e2-e3 were each compared once; one essay of e0-e1 was seen twice more
    elsewhere (its first or its second), so e2-e3 (seen 1 + 1 times) goes first."""
    extra = "e0" if seen_more == "first" else "e1"
    history = PairHistory.from_pairs(
        submitted_rows([("e0", "e1"), ("e2", "e3"), (extra, "x"), ("y", extra)])
    )
    for seed in range(8):
        wave = plan_resampling(_essays(4), history, remaining=1, rng=random.Random(seed))
        assert _pairs(wave) == [("e2", "e3")]


@pytest.mark.parametrize("lean_tiers", [False, True])
@pytest.mark.parametrize(("remaining", "size"), [(1, 1), (49, 49), (50, 50), (51, 50)])
def test_a_windowed_wave_is_as_large_as_the_budget_allows(lean_tiers, remaining, size):
    """100 essays have 4,950 open pairs, more than 32 per essay: each essay offers only its
    windows, and the wave still pairs everyone it may. Half the essays lean A by one."""
    essays = _essays(100, [0.01 * i for i in range(100)])
    history = _skewed_history({f"e{i}": 1 for i in range(0, 100, 2)})
    wave = plan_coverage(
        essays, history, remaining=remaining, rng=random.Random(remaining), lean_tiers=lean_tiers
    )
    assert len(wave) == size
    used = [e for p in wave for e in (p.first, p.second)]
    assert len(used) == len(set(used))
    if lean_tiers:  # two essays leaning A never meet while an even partner is open
        assert all(not (int(p.first[1:]) % 2 == 0 and int(p.second[1:]) % 2 == 0) for p in wave)


def test_a_large_wave_whose_windows_hold_no_pair_within_the_lean_tiers_still_plans_one():
    # 66 essays (more open pairs than 32 per essay: windows, not every open pair), none
    # compared yet, each already 3 times in A: any pair puts one of them in A a fourth time,
    # past the tiers' limit of 2. The windows give nothing; weighing every open pair, the
    # last resort pairs everyone rather than leave the batch with no wave at all.
    n = 66
    essays = _essays(n)
    ids = [essay.essay_id for essay in essays]
    history = PairHistory(dict.fromkeys(ids, 3), frozenset(), dict.fromkeys(ids, (3, 0)), {})
    wave = plan_coverage(essays, history, remaining=40, rng=random.Random(0), lean_tiers=True)
    assert len(wave) == 33
    assert sorted(e for p in wave for e in (p.first, p.second)) == sorted(ids)
