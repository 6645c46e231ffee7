"""Edge tests for engine/cj/orientation.py: each orientation rule with the minimal input that
triggers it and the exact orientation expected, every threshold at, just below and just above
its edge (docs/decisions/0009-mutation-testing.md). Pure functions only, no runtime."""

from __future__ import annotations

import random

import pytest

from engine.cj.models import GenerationMode
from engine.cj.orientation import OrientedPair, essay_order, orient_wave, round_robin_schedule
from engine.cj.pairing import EssayNode, PairHistory, PlannedPair
from engine.cj.tournament import balanced_tournament
from tests.fixed_draws import FixedDraw

COVERAGE = GenerationMode.COVERAGE
RESAMPLING = GenerationMode.RESAMPLING


class NoDraw(random.Random):
    """A stream that fails the test if drawn from: the rule decided without the coin."""

    def random(self) -> float:
        raise AssertionError("the coin was flipped where a rule should have decided")


def _essays(*ids: str) -> list[EssayNode]:
    return [EssayNode(essay_id, False) for essay_id in ids]


def _history(
    positions: dict[str, tuple[int, int]] | None = None,
    compared: tuple[tuple[str, str], ...] = (),
    orientations: dict[tuple[str, str], tuple[int, int]] | None = None,
) -> PairHistory:
    return PairHistory({}, frozenset(compared), dict(positions or {}), dict(orientations or {}))


def _orient(
    planned: list[PlannedPair],
    order: list[EssayNode],
    history: PairHistory,
    *,
    rng: random.Random | None = None,
    schedule=None,
) -> list[tuple[str, str]]:
    oriented = orient_wave(
        planned, order, history, balance=True, schedule=schedule, rng=rng or NoDraw(0)
    )
    return [(o.essay_a, o.essay_b) for o in oriented]


# ---- essay_order ---------------------------------------------------------------------------


def test_legacy_order_is_anchors_first_then_by_id():
    essays = [
        EssayNode("s2", False),
        EssayNode("a2", True),
        EssayNode("s1", False),
        EssayNode("a1", True),
    ]
    order = essay_order(essays, balance=False, rng=NoDraw(0))
    assert [e.essay_id for e in order] == ["a1", "a2", "s1", "s2"]


def test_balanced_order_is_the_ids_sorted_then_shuffled_by_the_stream():
    essays = [EssayNode(i, i.startswith("a")) for i in ("s2", "a2", "s1", "a1", "s3")]
    expected = ["a1", "a2", "s1", "s2", "s3"]
    random.Random(7).shuffle(expected)
    order = essay_order(essays, balance=True, rng=random.Random(7))
    assert [e.essay_id for e in order] == expected
    assert expected != ["a1", "a2", "s1", "s2", "s3"]  # the shuffle moved something


# ---- round_robin_schedule ------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "scheduled"), [(5, False), (6, True), (7, True)])
def test_the_schedule_starts_at_a_cap_of_exactly_every_pair(cap, scheduled):
    essays = _essays("a", "b", "c", "d")  # C(4, 2) = 6 pairs
    got = round_robin_schedule(
        essays, schedule_cap=cap, balance=True, legacy_greedy=False, rng=random.Random(1)
    )
    if scheduled:
        assert got == balanced_tournament(["a", "b", "c", "d"], random.Random(1))
    else:
        assert got is None


@pytest.mark.parametrize(
    ("balance", "legacy_greedy"), [(False, False), (True, True), (False, True)]
)
def test_no_schedule_with_balancing_off_or_under_the_legacy_greedy(balance, legacy_greedy):
    got = round_robin_schedule(
        _essays("a", "b", "c"),
        schedule_cap=100,
        balance=balance,
        legacy_greedy=legacy_greedy,
        rng=random.Random(1),
    )
    assert got is None


# ---- balancing off: list order -------------------------------------------------------------


def test_balancing_off_puts_the_essay_earlier_in_the_list_in_a():
    order = _essays("z", "a")
    planned = [PlannedPair("a", "z", COVERAGE), PlannedPair("z", "a", RESAMPLING)]
    oriented = orient_wave(
        planned,
        order,
        _history(positions={"z": (5, 0)}),
        balance=False,
        schedule=None,
        rng=NoDraw(0),
    )
    assert oriented == [OrientedPair("z", "a", COVERAGE), OrientedPair("z", "a", RESAMPLING)]


# ---- the fair complement over the running counts -------------------------------------------


def test_an_essay_that_leaned_a_goes_to_b():
    assert _orient(
        [PlannedPair("x", "y", COVERAGE)], _essays("x", "y"), _history({"x": (1, 0)})
    ) == [("y", "x")]


def test_an_essay_that_leaned_b_goes_to_a():
    assert _orient(
        [PlannedPair("x", "y", COVERAGE)], _essays("x", "y"), _history({"y": (0, 1)})
    ) == [("y", "x")]


def test_a_neutral_essay_named_second_takes_a_against_one_that_leaned_a():
    assert _orient(
        [PlannedPair("x", "y", COVERAGE)], _essays("x", "y"), _history({"y": (1, 0)})
    ) == [("x", "y")]


def test_an_essay_never_seen_counts_as_balanced():
    # x absent (0, 0), y balanced at (3, 3): a true tie, decided by the coin.
    got = _orient(
        [PlannedPair("x", "y", COVERAGE)],
        _essays("x", "y"),
        _history({"y": (3, 3)}),
        rng=FixedDraw(0.0),
    )
    assert got == [("x", "y")]


def test_both_leaning_a_the_harder_leaner_takes_b():
    # x +2, y +1: either way the total skew is 3; the worst skew is 3 if x is A, 2 if y is A.
    history = _history({"x": (2, 0), "y": (1, 0)})
    assert _orient([PlannedPair("x", "y", COVERAGE)], _essays("x", "y"), history) == [("y", "x")]
    assert _orient([PlannedPair("y", "x", COVERAGE)], _essays("x", "y"), history) == [("y", "x")]


def test_both_leaning_b_the_harder_leaner_takes_a():
    history = _history({"x": (0, 2), "y": (0, 1)})
    assert _orient([PlannedPair("x", "y", COVERAGE)], _essays("x", "y"), history) == [("x", "y")]
    assert _orient([PlannedPair("y", "x", COVERAGE)], _essays("x", "y"), history) == [("x", "y")]


def test_the_counts_move_within_a_wave():
    # p goes to A in the first pair (q leaned A); then p, now +1, goes to B against r.
    planned = [PlannedPair("p", "q", COVERAGE), PlannedPair("p", "r", COVERAGE)]
    history = _history({"q": (1, 0)})
    assert _orient(planned, _essays("p", "q", "r"), history) == [("p", "q"), ("r", "p")]


def test_the_essay_in_b_is_counted_in_b_within_a_wave():
    # q goes to B in the first pair (it leaned A); then q, back at 0, meets r at -1: r is A.
    # Were q counted twice in B it would be -1 too: a tie, and the coin (which fails here).
    planned = [PlannedPair("p", "q", COVERAGE), PlannedPair("r", "q", COVERAGE)]
    history = _history({"q": (1, 0), "r": (0, 1)})
    assert _orient(planned, _essays("p", "q", "r"), history) == [("p", "q"), ("r", "q")]


def test_the_essay_in_a_is_counted_once_in_a_within_a_wave():
    # p goes to A in the first pair (q leaned A), so p is +1; r is +1 too and has fewer chances
    # left (it has met w), so r takes B. Were p counted twice in A, p would take B.
    planned = [PlannedPair("p", "q", COVERAGE), PlannedPair("p", "r", COVERAGE)]
    history = _history({"q": (1, 0), "r": (1, 0)}, compared=(("r", "w"),))
    assert _orient(planned, _essays("p", "q", "r", "w"), history) == [("p", "q"), ("p", "r")]


def test_counts_move_by_exactly_one_per_pair():
    # After the first pair q is at (1, 1), skew 0; r at (1, 0): q takes A. Off by one in either
    # count would make it a tie or turn the choice.
    planned = [PlannedPair("p", "q", COVERAGE), PlannedPair("q", "r", COVERAGE)]
    history = _history({"q": (1, 0), "r": (1, 0), "p": (0, 1)})
    assert _orient(planned, _essays("p", "q", "r"), history) == [("p", "q"), ("q", "r")]


def test_an_essay_placed_twice_in_a_wave_keeps_its_earlier_counts():
    # p was B once; A in the first pair brings it to 0, so r at +1 goes to B. Were p's earlier
    # counts dropped, p would be +1 too: a tie, and the coin (which fails here).
    planned = [PlannedPair("p", "q", COVERAGE), PlannedPair("p", "r", COVERAGE)]
    history = _history({"p": (0, 1), "r": (1, 0)})
    assert _orient(planned, _essays("p", "q", "r"), history) == [("p", "q"), ("p", "r")]


@pytest.mark.parametrize(
    ("r_counts", "second"), [(None, ("q", "r")), ((0, 2), ("r", "q"))], ids=["r-0", "r-minus-2"]
)
def test_an_essay_first_seen_in_b_in_a_wave_is_exactly_minus_one(r_counts, second):
    # q, never seen, goes to B against p (-1): q is -1. Against r at 0, q takes A; against r at
    # -2, r does. Counted from (1, 0) or (0, 1) instead of (0, 0), one of the two is a tie.
    planned = [PlannedPair("p", "q", COVERAGE), PlannedPair("r", "q", COVERAGE)]
    counts = {"p": (0, 1)} | ({"r": r_counts} if r_counts else {})
    assert _orient(planned, _essays("p", "q", "r"), _history(counts)) == [("p", "q"), second]


# ---- the tie-break towards the scarcer essay -----------------------------------------------


@pytest.mark.parametrize("first", ["x", "y"])
def test_on_a_tie_the_essay_with_fewer_chances_left_is_balanced(first):
    # x and y both +1: either orientation leaves skews {2, 0}. x has met w already, so it has
    # one comparison fewer left: x takes B (back to 0).
    second = "y" if first == "x" else "x"
    history = _history({"x": (1, 0), "y": (1, 0)}, compared=(("w", "x"),))
    got = _orient([PlannedPair(first, second, COVERAGE)], _essays("w", "x", "y"), history)
    assert got == [("y", "x")]


@pytest.mark.parametrize("first", ["x", "y"])
def test_on_a_tie_the_scarcer_essay_leaning_b_takes_a(first):
    second = "y" if first == "x" else "x"
    history = _history({"x": (0, 1), "y": (0, 1)}, compared=(("x", "w"), ("v", "x")))
    got = _orient([PlannedPair(first, second, COVERAGE)], _essays("v", "w", "x", "y"), history)
    assert got == [("x", "y")]


def test_the_scarcer_essay_by_exactly_one_comparison_still_decides():
    # y has met two, x one: y is scarcer by one.
    history = _history({"x": (1, 0), "y": (1, 0)}, compared=(("v", "y"), ("w", "y"), ("v", "x")))
    got = _orient([PlannedPair("x", "y", COVERAGE)], _essays("v", "w", "x", "y"), history)
    assert got == [("x", "y")]


@pytest.mark.parametrize(
    ("draw", "expected"),
    [(0.0, ("x", "y")), (0.4999, ("x", "y")), (0.5, ("y", "x")), (0.9, ("y", "x"))],
)
def test_equal_chances_on_a_tie_flip_the_coin_at_one_half(draw, expected):
    # Both +1 and both have met w: no rule decides, the coin does (below 0.5: as named).
    history = _history({"x": (1, 0), "y": (1, 0)}, compared=(("w", "x"), ("w", "y")))
    got = _orient(
        [PlannedPair("x", "y", COVERAGE)], _essays("w", "x", "y"), history, rng=FixedDraw(draw)
    )
    assert got == [expected]


def test_the_first_wave_is_all_coin_flips_from_the_stream():
    planned = [PlannedPair("a", "b", COVERAGE), PlannedPair("c", "d", COVERAGE)]
    stream = random.Random(11)
    draws = [stream.random(), stream.random()]
    expected = [
        ("a", "b") if draws[0] < 0.5 else ("b", "a"),
        ("c", "d") if draws[1] < 0.5 else ("d", "c"),
    ]
    got = _orient(planned, _essays("a", "b", "c", "d"), _history(), rng=random.Random(11))
    assert got == expected


# ---- resampling: the complement of the pair ------------------------------------------------


@pytest.mark.parametrize(("first", "second"), [("x", "y"), ("y", "x")])
def test_a_pair_seen_only_as_lo_hi_is_resampled_as_hi_lo(first, second):
    history = _history(
        {"x": (1, 0), "y": (0, 1)}, compared=(("x", "y"),), orientations={("x", "y"): (1, 0)}
    )
    got = _orient([PlannedPair(first, second, RESAMPLING)], _essays("x", "y"), history)
    # The counts alone would also say (y, x) here; the next test separates the two rules.
    assert got == [("y", "x")]


@pytest.mark.parametrize(("first", "second"), [("x", "y"), ("y", "x")])
def test_the_complement_wins_a_tie_the_coin_would_otherwise_flip(first, second):
    # Counts balanced, so both orientations cost the same: the complement decides, no coin.
    history = _history({"x": (1, 1), "y": (1, 1)}, orientations={("x", "y"): (0, 2)})
    got = _orient([PlannedPair(first, second, RESAMPLING)], _essays("x", "y"), history)
    assert got == [("x", "y")]


@pytest.mark.parametrize(("first", "second"), [("x", "y"), ("y", "x")])
def test_the_complement_of_lo_first_wins_a_tie(first, second):
    history = _history({"x": (1, 1), "y": (1, 1)}, orientations={("x", "y"): (3, 0)})
    got = _orient([PlannedPair(first, second, RESAMPLING)], _essays("x", "y"), history)
    assert got == [("y", "x")]


@pytest.mark.parametrize("orientations", [{("x", "y"): (1, 1)}, {("x", "y"): (0, 0)}, {}])
def test_a_pair_seen_both_ways_or_never_has_no_complement(orientations):
    history = _history({"x": (1, 1), "y": (1, 1)}, orientations=orientations)
    for draw, expected in ((0.0, ("x", "y")), (0.5, ("y", "x"))):
        got = _orient(
            [PlannedPair("x", "y", RESAMPLING)], _essays("x", "y"), history, rng=FixedDraw(draw)
        )
        assert got == [expected]


def test_the_complement_is_only_for_resampling():
    history = _history({"x": (1, 1), "y": (1, 1)}, orientations={("x", "y"): (0, 2)})
    got = _orient([PlannedPair("x", "y", COVERAGE)], _essays("x", "y"), history, rng=FixedDraw(0.5))
    assert got == [("y", "x")]


def test_the_complement_stands_when_its_worst_skew_equals_the_others():
    # Seen only as (y, x): the complement is (x, y). Both at +1, so either way the skews are
    # {2, 0}, worst 2 = worst 2; x has fewer chances left, so the counts alone say (y, x).
    history = _history(
        {"x": (1, 0), "y": (1, 0)}, compared=(("w", "x"),), orientations={("x", "y"): (0, 1)}
    )
    got = _orient([PlannedPair("y", "x", RESAMPLING)], _essays("w", "x", "y"), history)
    assert got == [("x", "y")]
    # Without the complement (coverage), the scarce rule decides the other way.
    got = _orient([PlannedPair("y", "x", COVERAGE)], _essays("w", "x", "y"), history)
    assert got == [("y", "x")]


def test_the_complement_yields_when_it_would_leave_a_worse_lean():
    # Seen only as (x, y), complement (y, x); but y leans A by 2 and x by 0: (y, x) leaves y at
    # +3 (worst 3), (x, y) leaves y at +1, x at +1 (worst 1). One worse than the other is enough.
    history = _history({"y": (2, 0)}, orientations={("x", "y"): (1, 0)})
    got = _orient([PlannedPair("x", "y", RESAMPLING)], _essays("x", "y"), history)
    assert got == [("x", "y")]


def test_the_complement_yields_at_a_worst_skew_just_one_above():
    # (y, x) leaves y +2, x -1 (worst 2); (x, y) leaves x +1, y 0 (worst 1).
    history = _history({"y": (1, 0)}, orientations={("x", "y"): (1, 0)})
    got = _orient([PlannedPair("y", "x", RESAMPLING)], _essays("x", "y"), history)
    assert got == [("x", "y")]


# ---- schedule vs greedy --------------------------------------------------------------------


def test_the_schedule_orients_coverage_pairs_only():
    ids = ["a", "b", "c"]
    schedule = balanced_tournament(ids, random.Random(2))
    a, b = schedule.orient("a", "b")
    # b leans B hard, so the counts say b is A; the coverage pair follows the schedule anyway,
    # the resampled one (no complement: never seen) follows the counts.
    got = _orient(
        [PlannedPair(b, a, COVERAGE), PlannedPair(a, b, RESAMPLING)],
        _essays(*ids),
        _history({b: (0, 3)}),
        schedule=schedule,
    )
    assert got == [(a, b), (b, a)]
