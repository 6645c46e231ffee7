"""Infit and outfit mean-squares (engine.cj.misfit), against values worked out by hand.

Scores are chosen so the model's probabilities are simple fractions: a lead of ln 3 wins with
p = 3/4 (variance 3/16), a lead of ln 9 with p = 9/10 (variance 9/100), a lead of 0 with 1/2.
"""

from __future__ import annotations

import math

import pytest

from engine.cj.misfit import MISFIT_LIMIT, EssayFit, essay_fit, is_misfit

LN3 = math.log(3.0)
LN9 = math.log(9.0)


def exactly(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=0.0)


def test_an_expected_win_fits_better_than_the_model_expects():
    # A (ln 3) beats B (0): residual 1/4, z^2 = (1/16) / (3/16) = 1/3, for both essays.
    fits = essay_fit({"A": LN3, "B": 0.0}, [("A", "B")])
    assert (fits["A"].comparisons, fits["B"].comparisons) == (1, 1)
    assert fits["A"].infit == exactly(1 / 3)
    assert fits["A"].outfit == exactly(1 / 3)
    assert fits["B"].infit == exactly(1 / 3)
    assert fits["B"].outfit == exactly(1 / 3)


def test_a_surprising_result_gives_both_essays_a_mean_square_of_three():
    # B (0) beats A (ln 3): the winner had p = 1/4, residual 3/4, z^2 = (9/16) / (3/16) = 3.
    fits = essay_fit({"A": LN3, "B": 0.0}, [("B", "A")])
    assert (fits["A"].infit, fits["A"].outfit) == (exactly(3.0), exactly(3.0))
    assert (fits["B"].infit, fits["B"].outfit) == (exactly(3.0), exactly(3.0))
    assert fits["A"].misfitting
    assert fits["B"].misfitting


def test_an_essay_that_always_beats_weaker_ones_has_low_misfit():
    fits = essay_fit({"A": LN3, "B": 0.0, "C": 0.0}, [("A", "B"), ("A", "C")])
    assert fits["A"].comparisons == 2
    assert fits["A"].infit == exactly(1 / 3)
    assert fits["A"].outfit == exactly(1 / 3)
    assert not fits["A"].misfitting


def test_one_surprising_loss_raises_the_outfit_above_the_limit():
    scores = {"A": LN3, "B": 0.0}
    before = essay_fit(scores, [("A", "B"), ("A", "B")])["A"]
    after = essay_fit(scores, [("A", "B"), ("A", "B"), ("B", "A")])["A"]
    assert before.outfit == exactly(1 / 3)
    # (1/3 + 1/3 + 3) / 3; equal variances, so infit = (1/16 + 1/16 + 9/16) / (9/16) is the same
    assert after.outfit == exactly(11 / 9)
    assert after.infit == exactly(11 / 9)
    assert after.outfit > before.outfit


def test_a_far_away_upset_weighs_more_in_outfit_than_in_infit():
    # S (0) beats E (0): z^2 = 1, and F (ln 9), with p = 1/10: residual 9/10, z^2 = 9.
    fits = essay_fit({"S": 0.0, "E": 0.0, "F": LN9}, [("S", "E"), ("S", "F")])
    assert fits["S"].outfit == exactly((1 + 9) / 2)
    assert fits["S"].infit == exactly((1 / 4 + 81 / 100) / (1 / 4 + 9 / 100))
    assert fits["S"].outfit > fits["S"].infit


def test_the_limit_is_strict_1_3_is_not_flagged_and_just_above_is():
    above = math.nextafter(MISFIT_LIMIT, math.inf)
    assert MISFIT_LIMIT == 1.3
    assert not is_misfit(1.3)
    assert is_misfit(above)
    assert not EssayFit(essay_id="x", comparisons=1, infit=1.3, outfit=1.3).misfitting
    assert EssayFit(essay_id="x", comparisons=1, infit=1.3, outfit=above).misfitting
    assert EssayFit(essay_id="x", comparisons=1, infit=above, outfit=1.3).misfitting


def test_essays_without_a_decided_comparison_are_left_out():
    assert essay_fit({"A": 0.0, "B": 0.0, "C": 0.0}, [("A", "B")]).keys() == {"A", "B"}
    assert essay_fit({"A": 0.0}, []) == {}


def test_the_order_of_the_comparisons_does_not_matter():
    scores = {"A": 0.3, "B": -0.1, "C": 1.7}
    decided = [("A", "B"), ("C", "A"), ("B", "C"), ("A", "C"), ("C", "B")]
    assert essay_fit(scores, decided) == essay_fit(scores, list(reversed(decided)))


def test_a_comparison_of_an_essay_without_a_score_is_refused_by_name():
    with pytest.raises(KeyError, match="'Z'"):
        essay_fit({"A": 0.0}, [("A", "Z")])


def test_a_near_impossible_upset_gives_a_large_finite_outfit():
    fits = essay_fit({"A": 800.0, "B": 0.0}, [("B", "A")])
    assert math.isfinite(fits["A"].outfit)
    # B's chance is held at the 1e-12 margin: z^2 = (1 - 1e-12) / 1e-12, not an overflow
    assert fits["A"].outfit == exactly((1 - 1e-12) / 1e-12)
