"""Who is Essay A: the balanced round-robin schedule, and the simulator's round robins under it."""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from engine.cj.models import GenerationMode
from engine.cj.orientation import essay_order, orient_wave, round_robin_schedule
from engine.cj.pairing import EssayNode, PairHistory, PlannedPair, plan_coverage
from engine.cj.tournament import balanced_tournament, covers_every_pair
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from tests.cj.pair_rows import submitted_rows

T0 = datetime(2025, 12, 1, tzinfo=UTC)
ANCHOR_66 = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_anchor_66.yaml"
# Under LEGACY_GREEDY_ORIENTATION (the pair-by-pair greedy), this seed of eng5_anchor_66 ends an
# anchor past the skew limit. The brief named seed 93; after concurrent changes to the LPS and
# callbacks shifted the runs, 93 held under the greedy too, and 86 was the first of 0-199 to
# break. The pair planner's jitter then became a hash of (seed, pair) (issue 15), which moved
# the runs again: of seeds 0-95, 32, 87, 91 and 95 break under the greedy (and hold without
# it). Any such seed would do.
GREEDY_BREAKS_SEED = 32


def _ids(n):
    return [f"e{i:04d}" for i in range(n)]


def _counts(pairs):
    """essay -> (times A, times B) for ``(a, b)`` pairs."""
    a_counts = Counter(a for a, _ in pairs)
    b_counts = Counter(b for _, b in pairs)
    return {e: (a_counts[e], b_counts[e]) for e in a_counts.keys() | b_counts.keys()}


# ---- the schedule alone ------------------------------------------------------------------


@pytest.mark.parametrize("n", range(2, 41))
def test_the_schedule_balances_every_essay_of_a_complete_round_robin(n):
    for seed in range(25):
        schedule = balanced_tournament(_ids(n), random.Random(seed))
        counts = _counts([schedule.orient(x, y) for x, y in combinations(_ids(n), 2)])
        assert set(counts) == set(_ids(n))
        for essay, (a, b) in counts.items():
            assert a + b == n - 1
            assert abs(a - b) == (n + 1) % 2, (n, seed, essay, a, b)  # 0 for odd n, 1 for even


@pytest.mark.parametrize("n", [2, 3, 4, 5, 12, 13, 24])
def test_a_pair_has_one_orientation_whichever_essay_is_named_first(n):
    schedule = balanced_tournament(_ids(n), random.Random(n))
    ranks = np.array([(p, q) for p in range(n) for q in range(n) if p != q], dtype=np.int64)
    forward = schedule.first_is_a(ranks[:, 0], ranks[:, 1])
    backward = schedule.first_is_a(ranks[:, 1], ranks[:, 0])
    assert (forward != backward).all()
    for x, y in combinations(_ids(n), 2):
        assert schedule.orient(x, y) == schedule.orient(y, x)


def test_the_schedule_depends_on_the_essays_and_the_stream_not_on_their_order():
    ids = _ids(12)
    schedule = balanced_tournament(ids, random.Random(7))
    assert balanced_tournament(reversed(ids), random.Random(7)) == schedule
    assert balanced_tournament(ids, random.Random(8)) != schedule


def test_no_essay_id_decides_its_positions():
    """Across seeds, the first two ids meet in both orientations and take every rank."""
    ids = _ids(12)
    orientations = set()
    ranks = set()
    for seed in range(200):
        schedule = balanced_tournament(ids, random.Random(seed))
        orientations.add(schedule.orient(ids[0], ids[1]))
        ranks.add(schedule.rank[ids[0]])
    assert orientations == {(ids[0], ids[1]), (ids[1], ids[0])}
    assert ranks == set(range(12))


def test_repeated_essay_ids_are_refused_by_name():
    with pytest.raises(ValueError, match="repeated: e0001"):
        balanced_tournament(["e0000", "e0001", "e0001"], random.Random(0))


@pytest.mark.parametrize("n", [2, 5, 12])
def test_the_schedule_applies_from_a_cap_of_exactly_every_pair(n):
    essays = [EssayNode(essay_id, False) for essay_id in _ids(n)]
    every_pair = n * (n - 1) // 2
    assert covers_every_pair(n, every_pair)
    assert not covers_every_pair(n, every_pair - 1)

    def schedule(cap, *, balance=True, legacy_greedy=False):
        return round_robin_schedule(
            essays,
            schedule_cap=cap,
            balance=balance,
            legacy_greedy=legacy_greedy,
            rng=random.Random(0),
        )

    assert schedule(every_pair) is not None
    assert schedule(every_pair - 1) is None
    assert schedule(every_pair, legacy_greedy=True) is None
    assert schedule(every_pair, balance=False) is None


# ---- the schedule in waves ---------------------------------------------------------------


def _round_robin_in_waves(n, seed):
    """Plan and orient coverage waves as ``open_wave`` does, the schedule recomputed from a
    fresh stream at every wave; returns the waves' oriented pairs."""
    essays = [EssayNode(essay_id, i % 3 == 0, 0.0) for i, essay_id in enumerate(_ids(n))]
    rows, waves = [], []
    history = PairHistory.empty()
    for iteration in range(1, 4 * n):
        schedule = round_robin_schedule(
            essays,
            schedule_cap=n * (n - 1) // 2,
            balance=True,
            legacy_greedy=False,
            rng=random.Random(seed),
        )
        order = essay_order(essays, balance=True, rng=random.Random(seed * 1000 + iteration))
        wave = plan_coverage(
            order,
            history,
            remaining=n * (n - 1) // 2 - len(rows),
            rng=random.Random(seed * 7919 + iteration),
            schedule=schedule,
        )
        if not wave:
            break
        oriented = orient_wave(
            wave,
            order,
            history,
            balance=True,
            schedule=schedule,
            rng=random.Random(seed * 31 + iteration),
        )
        waves.append([(p.essay_a, p.essay_b) for p in oriented])
        rows += submitted_rows(waves[-1], iteration)
        history = PairHistory.from_pairs(rows)
    return waves


@pytest.mark.parametrize("n", [5, 12, 14, 24])
def test_waves_follow_the_schedule_and_keep_every_essay_within_two_on_the_way(n):
    for seed in range(8):
        waves = _round_robin_in_waves(n, seed)
        pairs = [pair for wave in waves for pair in wave]
        assert len({frozenset(p) for p in pairs}) == len(pairs) == n * (n - 1) // 2
        schedule = balanced_tournament(_ids(n), random.Random(seed))
        assert all(schedule.orient(a, b) == (a, b) for a, b in pairs)
        so_far: list[tuple[str, str]] = []
        for wave in waves:
            so_far += wave
            assert max(abs(a - b) for a, b in _counts(so_far).values()) <= 2, (n, seed)
        assert max(abs(a - b) for a, b in _counts(pairs).values()) <= 1


def test_coverage_pairs_take_the_schedule_even_against_the_running_counts():
    ids = _ids(4)
    essays = [EssayNode(essay_id, False) for essay_id in ids]
    schedule = balanced_tournament(ids, random.Random(3))
    a, b = schedule.orient(ids[0], ids[1])
    # b has sat in B twice: the greedy would now put it in A.
    history = PairHistory.from_pairs(submitted_rows([(ids[2], b), (ids[3], b)], 1))
    planned = [PlannedPair(b, a, GenerationMode.COVERAGE)]
    greedy = orient_wave(
        planned, essays, history, balance=True, schedule=None, rng=random.Random(0)
    )
    scheduled = orient_wave(
        planned, essays, history, balance=True, schedule=schedule, rng=random.Random(0)
    )
    assert (greedy[0].essay_a, greedy[0].essay_b) == (b, a)
    assert (scheduled[0].essay_a, scheduled[0].essay_b) == (a, b)


def test_a_resampled_pair_keeps_the_complement_rule_under_a_schedule():
    ids = _ids(2)
    essays = [EssayNode(essay_id, False) for essay_id in ids]
    schedule = balanced_tournament(ids, random.Random(0))
    a, b = schedule.orient(*ids)
    history = PairHistory.from_pairs(submitted_rows([(a, b)], 1))
    planned = [PlannedPair(a, b, GenerationMode.RESAMPLING)]
    oriented = orient_wave(
        planned, essays, history, balance=True, schedule=schedule, rng=random.Random(0)
    )
    assert (oriented[0].essay_a, oriented[0].essay_b) == (b, a)


# ---- through the simulator ---------------------------------------------------------------


def _anchor_66_counts(seed, overrides=()):
    outcome = run_scenario(
        load_scenario(ANCHOR_66, overrides=list(overrides)), seed=seed, base_dir=ANCHOR_66.parent
    )
    pairs = [(p.essay_a_id, p.essay_b_id) for p in outcome.pairs()]
    return outcome, pairs


# A stable scale may end the batch a few pairs early (62 of 66 at seed 796): this setting keeps
# it going, as batch 33's scenario does, so that every pair is judged.
EVERY_PAIR = ["SCORE_STABILITY_THRESHOLD=0.0001"]


@pytest.mark.parametrize("seed", range(50))
def test_the_12_anchor_round_robin_ends_every_anchor_within_one(seed):
    _, pairs = _anchor_66_counts(seed)
    counts = _counts(pairs)
    assert len({frozenset(p) for p in pairs}) == len(pairs)
    assert len(counts) == 12
    # All 66 pairs: the schedule's counts. Stopped early: within two, as the tiers keep them.
    bound = 1 if len(pairs) == 66 else 2
    assert all(abs(a - b) <= bound for a, b in counts.values()), (seed, len(pairs), counts)


def _assert_every_pair_judged_and_balanced(seed):
    outcome, pairs = _anchor_66_counts(seed, EVERY_PAIR)
    assert len({frozenset(p) for p in pairs}) == len(pairs) == 66, seed
    assert all(p.outcome is not None for p in outcome.pairs()), seed
    counts = _counts(pairs)
    assert all(abs(a - b) <= 1 for a, b in counts.values()), (seed, counts)


@pytest.mark.parametrize("seed", [0, 796])
def test_a_12_anchor_round_robin_judged_in_full_ends_every_anchor_within_one(seed):
    _assert_every_pair_judged_and_balanced(seed)


@pytest.mark.skipif(
    os.environ.get("CJSIM_SLOW") != "1", reason="1,000 simulated runs: set CJSIM_SLOW=1"
)
def test_a_12_anchor_round_robin_judged_in_full_ends_every_anchor_within_one_over_1000_seeds():
    for seed in range(1000):
        _assert_every_pair_judged_and_balanced(seed)


def test_the_skew_invariant_holds_where_the_greedy_broke_it():
    fixed, _ = _anchor_66_counts(93)
    assert fixed.invariants["position_skew_within_limit"].ok
    fixed, _ = _anchor_66_counts(GREEDY_BREAKS_SEED)
    assert fixed.invariants["position_skew_within_limit"].ok
    greedy, pairs = _anchor_66_counts(GREEDY_BREAKS_SEED, ["LEGACY_GREEDY_ORIENTATION=true"])
    assert not greedy.invariants["position_skew_within_limit"].ok
    # one anchor ends three off (3/11 = 0.273 > 0.2), every other anchor one off
    assert sorted(abs(a - b) for a, b in _counts(pairs).values()) == [1] * 11 + [3]
