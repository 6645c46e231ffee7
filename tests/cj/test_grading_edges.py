"""Grade projection at its edges: every calibration rule with its minimal input and the whole
table it produces, the below-lowest threshold at, just above and just below its value, the SE
steps of the confidence factor and the label thresholds (the survivors of `nox -s mutants`).

The scales here are small and made up (two, three and four grades) so that every figure can be
worked out by hand; the numbers in the comments are the calibration's own formulas."""

from __future__ import annotations

import math

import pytest

from engine.cj import grading
from engine.cj.grade_scales import GradeScale
from engine.cj.grading import (
    ConfidenceLabel,
    GradeDistribution,
    InsufficientAnchors,
    calibrate,
    project,
    project_all,
)

TWO = GradeScale("two", ("L", "H"), (0.5, 0.5), "Z")
THREE = GradeScale("three", ("L", "M", "H"), (0.25, 0.5, 0.25), "Z")
FOUR = GradeScale("four", ("W", "X", "Y", "Z"), (0.25, 0.25, 0.25, 0.25), None)
EXACT = {"rel": 1e-12, "abs": 1e-15}


def flat(boundaries) -> list[float]:
    """Boundaries as one list: pytest.approx compares flat sequences only (pytest 9.2)."""
    return [edge for pair in boundaries for edge in pair]


def _anchors(scores_by_grade: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, str]]:
    """Anchor ids -> score and ids -> grade, from the scores of each grade."""
    scores, grades = {}, {}
    for grade, values in scores_by_grade.items():
        for number, value in enumerate(values):
            scores[f"{grade}{number}"] = value
            grades[f"{grade}{number}"] = grade
    return scores, grades


def _table(calibration):
    return [(d.grade, d.mean, d.variance, d.n_anchors, d.prior) for d in calibration.distributions]


def _three_grades():
    """Three anchors per grade (all empirical): means -2, 0, 2; M's spread is nil."""
    scores, grades = _anchors({"L": [-2.5, -2.0, -1.5], "M": [0.0, 0.0, 0.0], "H": [1.5, 2.0, 2.5]})
    return calibrate(scores, grades, THREE)


def _far_apart():
    """Two grades at -10 and 10 with the floor variance: a score at 10 is certainly H."""
    scores, grades = _anchors({"L": [-10.0] * 3, "H": [10.0] * 3})
    return calibrate(scores, grades, TWO)


# --- calibrate ---------------------------------------------------------------------------


def test_three_anchors_are_enough_for_an_empirical_grade():
    calibration = _three_grades()
    # np.var of (-0.5, 0, 0.5) is 1/6; M's 0 is raised to the floor, 0.01.
    assert _table(calibration) == [
        ("L", -2.0, pytest.approx(1 / 6, **EXACT), 3, 0.25),
        ("M", 0.0, 0.01, 3, 0.5),
        ("H", 2.0, pytest.approx(1 / 6, **EXACT), 3, 0.25),
    ]
    assert calibration.boundaries == ((-math.inf, -1.0), (-1.0, 1.0), (1.0, math.inf))
    # Residuals 0.25 + 0.25 per outer grade over 9 - 3 degrees of freedom.
    assert calibration.pooled_variance == pytest.approx(1 / 6, **EXACT)


def test_sparse_grades_are_shrunk_by_how_many_anchors_they_have():
    """W has 3 anchors, X 2, Y 1 and Z none. Scores span -4..1, so the ladder places grade i at
    -4 + (i + 0.5) / 4 * 5: -3.375, -2.125, -0.875, 0.375. Pooled within-grade variance:
    (2 + 0.5 + 0) / (6 - 3) = 5/6."""
    scores, grades = _anchors({"W": [-4.0, -3.0, -2.0], "X": [-1.0, 0.0], "Y": [1.0]})
    calibration = calibrate(scores, grades, FOUR)
    pooled = 5 / 6
    assert calibration.pooled_variance == pytest.approx(pooled, **EXACT)
    assert _table(calibration) == [
        ("W", -3.0, pytest.approx(2 / 3, **EXACT), 3, 0.25),
        # 2/3 of its own mean -0.5, 1/3 of -2.125; variance pooled * 3 / 2
        ("X", pytest.approx(-1.0 / 3 - 2.125 / 3, **EXACT), pytest.approx(1.25, **EXACT), 2, 0.25),
        # 1/3 of its own 1.0, 2/3 of -0.875; variance pooled * 3
        ("Y", pytest.approx(1 / 3 - 1.75 / 3, **EXACT), pytest.approx(2.5, **EXACT), 1, 0.25),
        # no anchor: its place on the ladder, twice the pooled variance
        ("Z", 0.375, pytest.approx(2 * pooled, **EXACT), 0, 0.25),
    ]
    means = [d.mean for d in calibration.distributions]
    assert flat(calibration.boundaries) == pytest.approx(
        flat(
            [
                (-math.inf, (means[0] + means[1]) / 2),
                ((means[0] + means[1]) / 2, (means[1] + means[2]) / 2),
                ((means[1] + means[2]) / 2, (means[2] + means[3]) / 2),
                ((means[2] + means[3]) / 2, math.inf),
            ]
        ),
        **EXACT,
    )


def test_with_no_two_anchors_in_a_grade_the_total_variance_is_shared_out():
    """One anchor at -1 (W) and one at 1 (Z): no within-grade evidence, so the pooled variance
    is np.var((-1, 1)) / 2 grades = 0.5."""
    calibration = calibrate({"a": -1.0, "b": 1.0}, {"a": "W", "b": "Z"}, FOUR)
    assert calibration.pooled_variance == 0.5
    assert _table(calibration) == [
        ("W", pytest.approx(-5 / 6, **EXACT), pytest.approx(1.5, **EXACT), 1, 0.25),
        ("X", -0.25, 1.0, 0, 0.25),
        ("Y", 0.25, 1.0, 0, 0.25),
        ("Z", pytest.approx(5 / 6, **EXACT), pytest.approx(1.5, **EXACT), 1, 0.25),
    ]


def test_one_degree_of_freedom_is_within_grade_evidence():
    """W (-1, 0) and Z (2): residuals 0.25 + 0.25 over 3 - 2 = 1 degree: 0.5, not the total
    variance shared out (np.var((-1, 0, 2)) / 2 = 7/9)."""
    calibration = calibrate({"a": -1.0, "b": 0.0, "c": 2.0}, {"a": "W", "b": "W", "c": "Z"}, FOUR)
    assert calibration.pooled_variance == 0.5


def test_the_variance_floor_lifts_only_what_is_below_it():
    scores, grades = _anchors({"L": [1.0] * 3, "H": [2.9, 2.9, 3.1, 3.1]})
    low, high = calibrate(scores, grades, TWO).distributions
    assert low.variance == 0.01  # no spread at all: the floor
    assert high.variance == pytest.approx(0.01, **EXACT)  # np.var = 0.1**2: kept as it is
    scores, grades = _anchors({"L": [1.0] * 3, "H": [2.0, 3.0, 4.0]})
    assert calibrate(scores, grades, TWO).distributions[1].variance == pytest.approx(2 / 3, **EXACT)


@pytest.mark.parametrize(
    ("grade_means", "monotone"),
    [
        ((0.0, 1.0, 2.0), (0.0, 1.0, 2.0)),  # already in order: untouched
        ((1.0, 1.0, 2.0), (1.0, 1.0, 2.0)),  # a tie is in order
        ((1.0, -1.0, 0.5), (0.0, 0.0, 0.5)),  # the first two pooled
        ((0.0, 2.0, 1.0), (0.0, 1.5, 1.5)),  # the last two pooled
        ((2.0, 0.0, -1.0), (1 / 3, 1 / 3, 1 / 3)),  # pooled, then the pool pooled again
        ((1.0, 3.0, -2.0), (2 / 3, 2 / 3, 2 / 3)),  # a new pool that overtakes the one before
    ],
)
def test_grade_means_are_made_non_decreasing_by_pooling(grade_means, monotone):
    scores, grades = _anchors({g: [m] * 3 for g, m in zip(THREE.grades, grade_means, strict=True)})
    calibration = calibrate(scores, grades, THREE)
    assert [d.mean for d in calibration.distributions] == pytest.approx(monotone, **EXACT)
    # pooled means make a grade's interval empty, but never inverted
    assert flat(calibration.boundaries) == pytest.approx(
        flat(
            [
                (-math.inf, (monotone[0] + monotone[1]) / 2),
                ((monotone[0] + monotone[1]) / 2, (monotone[1] + monotone[2]) / 2),
                ((monotone[1] + monotone[2]) / 2, math.inf),
            ]
        ),
        **EXACT,
    )


def test_four_grades_pool_over_the_whole_run_of_violators():
    scores, grades = _anchors(
        {g: [m] * 3 for g, m in zip(FOUR.grades, (0.0, 3.0, 1.0, -2.0), strict=True)}
    )
    means = [d.mean for d in calibrate(scores, grades, FOUR).distributions]
    assert means == pytest.approx([0.0, 2 / 3, 2 / 3, 2 / 3], **EXACT)


def test_two_distinct_grades_are_the_minimum():
    assert len(calibrate({"a": 0.0, "b": 1.0}, {"a": "L", "b": "H"}, TWO).distributions) == 2
    with pytest.raises(InsufficientAnchors) as refused:
        calibrate({"a": 0.0, "b": 1.0}, {"a": "L", "b": "L"}, TWO)
    assert str(refused.value) == (
        "grade projection needs anchors of at least 2 distinct grades, got 1"
    )


def test_an_anchor_without_a_score_is_named():
    with pytest.raises(KeyError) as refused:
        calibrate({"a": 0.0}, {"a": "L", "b": "H"}, TWO)
    assert refused.value.args == ("anchor 'b' has a grade but no score",)


def test_an_unbounded_anchor_score_is_left_out_of_its_grade():
    scores = {"a": -1.0, "b": math.inf, "c": 1.0, "student": 40.0}
    calibration = calibrate(scores, {"a": "L", "b": "M", "c": "H"}, THREE)
    assert [d.n_anchors for d in calibration.distributions] == [1, 0, 1]
    assert calibration.distributions[1].mean == 0.0  # the middle of -1..1, not pulled to inf
    with pytest.raises(InsufficientAnchors, match="got 1"):
        calibrate({"a": -1.0, "b": -math.inf}, {"a": "L", "b": "H"}, TWO)


def test_a_grade_spread_is_the_root_of_its_variance():
    distribution = GradeDistribution(grade="L", mean=0.0, variance=0.25, n_anchors=4, prior=0.5)
    assert distribution.sd == 0.5


# --- project -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (-20.0, "L"),
        (math.nextafter(-1.0, -math.inf), "L"),
        (-1.0, "L"),  # a score on a boundary belongs to the lower grade
        (math.nextafter(-1.0, math.inf), "M"),
        (0.0, "M"),
        (1.0, "M"),
        (math.nextafter(1.0, math.inf), "H"),
        (50.0, "H"),
    ],
)
def test_each_grade_owns_its_interval_and_a_boundary_goes_down(score, grade):
    # se 10: the lowest grade's mean - 2 SDs is about -22, so no score here is below-lowest.
    assert project(score, 10.0, _three_grades()).grade == grade


def _below_calibration():
    """L: four anchors at -10 +- 0.5 (variance 0.25 exactly), H: three at 10."""
    scores, grades = _anchors({"L": [-10.5, -10.5, -9.5, -9.5], "H": [10.0] * 3})
    return calibrate(scores, grades, TWO)


@pytest.mark.parametrize(
    ("score", "se", "grade"),
    [
        # se 0: the lowest grade's SD is 0.5, so below -10 - 2 * 0.5 = -11 is below-lowest
        (-11.0, 0.0, "L"),
        (math.nextafter(-11.0, -math.inf), 0.0, "Z"),
        (-10.0, 0.0, "L"),
        # se 0.375: sqrt(0.25 + 0.140625) = 0.625, so the threshold moves to -11.25
        (math.nextafter(-11.0, -math.inf), 0.375, "L"),
        (-11.25, 0.375, "L"),
        (math.nextafter(-11.25, -math.inf), 0.375, "Z"),
        (-1000.0, 0.375, "Z"),
    ],
)
def test_the_below_lowest_grade_starts_two_sds_under_the_lowest_mean(score, se, grade):
    calibration = _below_calibration()
    assert calibration.distributions[0].variance == 0.25
    assert project(score, se, calibration).grade == grade


def test_a_scale_without_a_below_lowest_grade_keeps_its_lowest():
    scores, grades = _anchors({"W": [-10.5, -10.5, -9.5, -9.5], "Z": [10.0] * 3})
    assert project(-1000.0, 0.0, calibrate(scores, grades, FOUR)).grade == "W"


@pytest.mark.parametrize(
    ("score", "se", "probabilities", "confidence", "label"),
    [
        (0.0, 0.3, (0.000128843, 0.999742314, 0.000128843), 0.998831606, ConfidenceLabel.HIGH),
        (-1.0, 0.3, (0.868469731, 0.131530121, 1.48e-07), 0.803526732, ConfidenceLabel.HIGH),
        (-0.5, 0.7, (0.09133671, 0.904318978, 0.004344312), 0.746586659, ConfidenceLabel.HIGH),
        (1.5, 1.2, (0.011531796, 0.505694568, 0.482773637), 0.437704656, ConfidenceLabel.MID),
    ],
)
def test_the_posterior_and_confidence_are_exact(score, se, probabilities, confidence, label):
    """Gaussian likelihood with variance var_g + se^2, times the priors (0.25, 0.5, 0.25),
    normalised and put on the 1e-9 grid; confidence sqrt((1 - normalised entropy) * f(se))."""
    projection = project(score, se, _three_grades())
    assert projection.probabilities == dict(zip(("L", "M", "H"), probabilities, strict=True))
    assert list(projection.probabilities) == ["L", "M", "H"]
    assert projection.confidence == confidence
    assert projection.label is label
    assert (projection.score, projection.se) == (score, se)


def test_an_even_split_between_two_grades_has_no_confidence():
    projection = project(0.0, 0.3, _far_apart())
    assert projection.probabilities == {"L": 0.5, "H": 0.5}
    assert projection.confidence == 0.0
    assert projection.label is ConfidenceLabel.LOW


@pytest.mark.parametrize(
    ("se", "confidence", "label"),
    [
        (0.0, 1.0, ConfidenceLabel.HIGH),
        (0.4999, 1.0, ConfidenceLabel.HIGH),
        (0.5, 0.894427191, ConfidenceLabel.HIGH),  # sqrt(0.8)
        (0.9999, 0.894427191, ConfidenceLabel.HIGH),
        (1.0, 0.774596669, ConfidenceLabel.MID),  # sqrt(0.6); HIGH is capped to MID from SE 1
        (1.4999, 0.774596669, ConfidenceLabel.MID),
        (1.5, 0.547722558, ConfidenceLabel.LOW),  # sqrt(0.3); LOW from SE 1.5
        (2.0, 0.547722558, ConfidenceLabel.LOW),
    ],
)
def test_a_certain_grade_is_as_confident_as_its_se_allows(se, confidence, label):
    projection = project(10.0, se, _far_apart())
    assert projection.probabilities == {"L": 0.0, "H": 1.0}
    assert projection.grade == "H"
    assert projection.confidence == confidence
    assert projection.label is label


@pytest.mark.parametrize(
    ("confidence", "se", "label"),
    [
        (0.7, 0.0, ConfidenceLabel.HIGH),
        (0.699999999, 0.0, ConfidenceLabel.MID),
        (0.4, 0.0, ConfidenceLabel.MID),
        (0.399999999, 0.0, ConfidenceLabel.LOW),
        (0.7, 0.999999999, ConfidenceLabel.HIGH),
        (0.7, 1.0, ConfidenceLabel.MID),
        (0.5, 1.0, ConfidenceLabel.MID),
        (0.3, 1.0, ConfidenceLabel.LOW),
        (0.7, 1.499999999, ConfidenceLabel.MID),
        (0.7, 1.5, ConfidenceLabel.LOW),
        (0.5, 1.5, ConfidenceLabel.LOW),
        (0.3, 1.5, ConfidenceLabel.LOW),
    ],
)
def test_the_label_thresholds_and_se_caps(confidence, se, label):
    assert grading._label(confidence, se) is label


def test_project_all_projects_each_essay_with_its_own_se_in_id_order():
    projections = project_all({"b": 10.0, "a": -10.0}, {"a": 0.0, "b": 1.5}, _far_apart())
    assert list(projections) == ["a", "b"]
    assert [(p.grade, p.se, p.confidence) for p in projections.values()] == [
        ("L", 0.0, 1.0),
        ("H", 1.5, 0.547722558),
    ]
