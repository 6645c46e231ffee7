"""ENG5 alignment: Kendall tau, head-to-head inversions, zero-win anchors."""

from __future__ import annotations

import random

import pytest

from engine.cj.alignment import anchor_alignment, kendall_tau_b
from engine.cj.grade_scales import scale_named
from engine.cj.stability import max_score_change

LEGACY = scale_named("eng5_np_legacy_9_step")
GRADES = {"f": "F+", "e": "E-", "d": "D-", "a": "A"}


def test_a_perfectly_ordered_scale_has_tau_one_and_no_inversions():
    scores = {"f": -2.0, "e": -1.0, "d": 0.5, "a": 2.0}
    report = anchor_alignment(GRADES, scores, [("a", "f"), ("d", "e"), ("e", "f")], LEGACY)
    assert report.kendall_tau == pytest.approx(1.0)
    assert report.inversion_count == 0
    assert report.zero_win_anchors == ("f",)
    assert not report.meets_eng5_targets()  # a zero-win anchor


def test_an_inversion_is_counted_once_per_pair_however_often_it_happens():
    scores = {"f": -2.0, "e": -1.0, "d": 0.5, "a": 2.0}
    comparisons = [("f", "a"), ("f", "a"), ("a", "d"), ("d", "e"), ("e", "f"), ("student", "a")]
    report = anchor_alignment(GRADES, scores, comparisons, LEGACY)
    assert report.inversion_count == 1
    inversion = report.inversions[0]
    assert (inversion.higher_grade_anchor, inversion.lower_grade_anchor) == ("a", "f")
    assert report.wins["f"] == 2
    assert report.losses["a"] == 3


def test_a_reversed_scale_has_tau_minus_one():
    scores = {"f": 2.0, "e": 1.0, "d": -0.5, "a": -2.0}
    assert anchor_alignment(GRADES, scores, [], LEGACY).kendall_tau == pytest.approx(-1.0)


def test_stability_compares_common_essays_only_and_needs_a_previous_fit():
    assert max_score_change(None, {"a": 1.0}) is None
    assert max_score_change({"x": 1.0}, {"a": 1.0}) is None
    assert max_score_change({"a": 1.0, "b": 0.0}, {"a": 1.02, "b": -0.01, "c": 9}) == (
        pytest.approx(0.02)
    )


def test_tau_b_is_scipys_float_bit_for_bit_with_and_without_ties():
    """The alignment's tau reaches the event log: it must be the float scipy gave, not a
    close one. Drawn inputs with ties in either sequence, both, and neither."""
    from scipy.stats import kendalltau

    rng = random.Random(15)
    for _ in range(400):
        n = rng.randint(2, 30)
        scores = [rng.choice([rng.gauss(0, 1), float(rng.randint(-2, 2))]) for _ in range(n)]
        grades = [rng.randint(0, rng.choice([1, 3, 12])) for _ in range(n)]
        statistic = kendalltau(scores, grades).statistic
        expected = None if statistic != statistic else float(statistic)
        assert kendall_tau_b(scores, grades) == expected, (scores, grades)


def test_tau_b_without_variation_is_none():
    assert kendall_tau_b([1.0, 1.0, 1.0], [0, 1, 2]) is None
    assert kendall_tau_b([0.1, 0.2], [3, 3]) is None
    assert kendall_tau_b([float("nan"), 0.2], [1, 3]) is None
