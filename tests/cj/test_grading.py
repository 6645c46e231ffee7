"""Grade projection from anchors: right grades when anchors separate, honest doubt when not."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cj.grade_scales import SCALES, UnknownGrade, scale_named
from engine.cj.grading import (
    ConfidenceLabel,
    InsufficientAnchors,
    calibrate,
    project,
    project_all,
)
from engine.cj.scoring import fit_bradley_terry
from tests.cj.designs import simulate

ENG5_ANCHOR_GRADES = ["F+", "F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "B", "A", "A"]
LEGACY = scale_named("eng5_np_legacy_9_step")


def _net(separation: float, seed: int = 0):
    """12 ENG5 anchors whose strength steps by ``separation`` per grade, fully compared."""
    rng = np.random.default_rng(seed)
    grades = {f"anchor-{i:02d}": grade for i, grade in enumerate(ENG5_ANCHOR_GRADES)}
    strengths = np.array([separation * LEGACY.index(g) for g in ENG5_ANCHOR_GRADES])
    pairs = np.array([(i, j) for i in range(12) for j in range(i + 1, 12)] * 30)
    fit = fit_bradley_terry(12, simulate(rng, strengths, pairs))
    ids = sorted(grades)
    scores = dict(zip(ids, fit.scores.tolist(), strict=True))
    ses = dict(zip(ids, fit.se.tolist(), strict=True))
    return grades, scores, ses


def test_well_separated_anchors_get_their_own_grades_back_with_confidence():
    grades, scores, ses = _net(separation=1.5)
    calibration = calibrate(scores, grades, LEGACY)
    projections = project_all(scores, ses, calibration)
    assert {a: p.grade for a, p in projections.items()} == grades
    assert all(p.label is ConfidenceLabel.HIGH for p in projections.values())


def test_anchors_that_do_not_separate_give_low_confidence():
    grades, scores, ses = _net(separation=0.0)
    calibration = calibrate(scores, grades, LEGACY)
    projections = project_all(scores, ses, calibration)
    assert all(p.label is ConfidenceLabel.LOW for p in projections.values())


def test_calibrated_means_are_monotone_even_when_anchors_are_inverted():
    grades = {"a": "F+", "b": "E-", "c": "E+", "d": "D-"}
    scores = {"a": 1.0, "b": -1.0, "c": 0.5, "d": 2.0}
    calibration = calibrate(scores, grades, LEGACY)
    means = [d.mean for d in calibration.distributions]
    assert means == sorted(means)
    lowers = [lower for lower, _ in calibration.boundaries]
    assert lowers[0] == -np.inf
    assert calibration.boundaries[-1][1] == np.inf


def test_a_score_far_below_the_lowest_grade_gets_the_below_lowest_grade():
    grades, scores, _ses = _net(separation=1.5)
    for scale_id, below in (("eng5_np_legacy_9_step", "F"), ("eng5_np_national_9_step", "0")):
        scale = SCALES[scale_id]
        mapped = {a: scale.grades[LEGACY.index(g)] for a, g in grades.items()}
        calibration = calibrate(scores, mapped, scale)
        assert project(min(scores.values()) - 10.0, 0.2, calibration).grade == below
        assert project(max(scores.values()) + 10.0, 0.2, calibration).grade == scale.grades[-1]


def test_the_swedish_scale_has_no_below_lowest_grade_and_uses_its_priors():
    scale = scale_named("swedish_8_anchor")
    calibration = calibrate({"x": -2.0, "y": 2.0}, {"x": "F", "y": "A"}, scale)
    assert project(-50.0, 0.1, calibration).grade == "F"
    assert [d.prior for d in calibration.distributions] == list(scale.priors)


def test_probabilities_are_a_distribution_and_confidence_falls_with_se():
    grades, scores, _ = _net(separation=1.5)
    calibration = calibrate(scores, grades, LEGACY)
    sharp = project(scores["anchor-06"], 0.1, calibration)
    vague = project(scores["anchor-06"], 1.6, calibration)
    assert sum(sharp.probabilities.values()) == pytest.approx(1.0)
    # the same C- score: near certain at SE 0.1, a spread posterior at SE 1.6 (its label capped)
    assert (sharp.grade, sharp.confidence, sharp.label) == ("C-", 0.992864353, ConfidenceLabel.HIGH)
    assert (vague.grade, vague.confidence, vague.label) == ("C-", 0.321510689, ConfidenceLabel.LOW)


def test_one_grade_of_anchors_is_not_enough():
    with pytest.raises(InsufficientAnchors, match="2 distinct grades"):
        calibrate({"a": 0.0, "b": 1.0}, {"a": "B", "b": "B"}, LEGACY)


def test_unknown_grades_and_scales_are_named():
    with pytest.raises(UnknownGrade, match="'Z' is not on scale eng5_np_legacy_9_step"):
        calibrate({"a": 0.0, "b": 1.0}, {"a": "Z", "b": "B"}, LEGACY)
    with pytest.raises(UnknownGrade, match="unknown grade scale 'nope'"):
        scale_named("nope")


def test_sparse_grades_are_shrunk_toward_their_place_on_the_ladder():
    grades = {"a": "F+", "b": "A"}  # one anchor each: shrunk two thirds of the way
    calibration = calibrate({"a": -3.0, "b": 3.0}, grades, LEGACY)
    lowest, highest = calibration.distributions[0], calibration.distributions[-1]
    # F+ is expected at -3 + (0 + 0.5) / 9 * 6 = -8/3; a third of the way from it to -3
    assert lowest.mean == pytest.approx(-3 / 3 + 2 / 3 * -8 / 3)  # -25/9
    assert highest.mean == pytest.approx(3 / 3 + 2 / 3 * 8 / 3)
    assert lowest.n_anchors == 1
    assert lowest.variance == pytest.approx(calibration.pooled_variance * 3)
