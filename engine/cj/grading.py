"""Grades for students from the anchors' place on the Bradley–Terry scale.

Theory of operation (the original system's calibration, §3 of its notes):

1. Calibrate. For each grade of the scale, the mean and variance of its anchors' scores. A grade
   with fewer than three anchors is shrunk toward where it is expected on the ladder, with its
   variance widened; a grade with none sits at its expected place with twice the pooled
   variance. Variances have a floor of 0.01. The means are then made non-decreasing by isotonic
   regression (pool adjacent violators) and each grade owns the interval between the midpoints
   to its neighbours.
2. Project. A student's grade is the grade whose interval holds its score (the argmax of the
   posterior restricted to that interval); on an ENG5 scale a score more than two standard
   deviations (grade spread and the score's own SE combined) under the lowest grade's mean gets
   the below-lowest grade.
3. Say how sure. The full posterior over grades (Gaussian likelihood with variance
   ``var_g + se^2`` times the grade prior) gives a normalised entropy; confidence is
   ``sqrt((1 - entropy) * f(se))`` with ``f = 1, .8, .6, .3`` at SE ``< .5, < 1, < 1.5, >= 1.5``,
   labelled HIGH (>= .7), MID (>= .4) or LOW, and a large SE caps the label (MID from SE 1,
   LOW from SE 1.5).

Two deliberate changes from the original, both where it mixed up scales:

* it shrank sparse grades toward ``(index + 0.5) / G``, a position on [0, 1], while scores live
  on the centred log-strength scale; we shrink toward that same ladder position mapped onto the
  span of the anchors' scores;
* its "pooled variance" was the variance of *all* anchor scores, i.e. the spread of the whole
  scale, so every sparse grade was as wide as the scale and no projection could be confident;
  we pool the anchors' spread around their own grade means (the within-grade variance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from engine.cj.grade_scales import GradeScale
from engine.cj.portable import quantise, quantise_value

__all__ = [
    "Calibration",
    "ConfidenceLabel",
    "GradeDistribution",
    "GradeProjection",
    "InsufficientAnchors",
    "calibrate",
    "project",
    "project_all",
]

MIN_ANCHORS_FOR_EMPIRICAL = 3
VARIANCE_FLOOR = 0.01


class InsufficientAnchors(ValueError):
    """Grade projection needs anchors of at least two distinct grades."""


class ConfidenceLabel(StrEnum):
    HIGH = "HIGH"
    MID = "MID"
    LOW = "LOW"


@dataclass(frozen=True, slots=True, kw_only=True)
class GradeDistribution:
    grade: str
    mean: float
    variance: float
    n_anchors: int
    prior: float

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    scale: GradeScale
    distributions: tuple[GradeDistribution, ...]  # in scale order, lowest first
    boundaries: tuple[tuple[float, float], ...]  # (lower, upper) per grade
    pooled_variance: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GradeProjection:
    grade: str
    probabilities: Mapping[str, float]
    confidence: float
    label: ConfidenceLabel
    score: float
    se: float


def calibrate(
    anchor_scores: Mapping[str, float], anchor_grades: Mapping[str, str], scale: GradeScale
) -> Calibration:
    """Per-grade score distributions from the anchors (ids -> score, ids -> grade)."""
    by_grade: dict[int, list[float]] = {}
    for anchor_id in sorted(anchor_grades):
        if anchor_id not in anchor_scores:
            raise KeyError(f"anchor {anchor_id!r} has a grade but no score")
        score = anchor_scores[anchor_id]
        if math.isfinite(score):
            by_grade.setdefault(scale.index(anchor_grades[anchor_id]), []).append(score)
    if len(by_grade) < 2:
        raise InsufficientAnchors(
            f"grade projection needs anchors of at least 2 distinct grades, got {len(by_grade)}"
        )
    all_scores = [score for scores in by_grade.values() for score in scores]
    pooled = _pooled_within_grade_variance(by_grade)
    low, high = min(all_scores), max(all_scores)
    count = len(scale.grades)

    means, variances, counts = [], [], []
    for index in range(count):
        scores = by_grade.get(index, [])
        expected = low + (index + 0.5) / count * (high - low)
        if len(scores) >= MIN_ANCHORS_FOR_EMPIRICAL:
            mean, variance = float(np.mean(scores)), float(np.var(scores))
        elif scores:
            weight = len(scores) / MIN_ANCHORS_FOR_EMPIRICAL
            mean = weight * float(np.mean(scores)) + (1 - weight) * expected
            variance = pooled * MIN_ANCHORS_FOR_EMPIRICAL / len(scores)
        else:
            mean, variance = expected, pooled * 2.0
        means.append(mean)
        variances.append(max(variance, VARIANCE_FLOOR))
        counts.append(len(scores))

    monotone = _isotonic(means)
    boundaries = []
    for index in range(count):
        lower = -math.inf if index == 0 else (monotone[index - 1] + monotone[index]) / 2
        upper = math.inf if index == count - 1 else (monotone[index] + monotone[index + 1]) / 2
        boundaries.append((lower, upper))
    distributions = tuple(
        GradeDistribution(
            grade=grade,
            mean=monotone[i],
            variance=variances[i],
            n_anchors=counts[i],
            prior=scale.priors[i],
        )
        for i, grade in enumerate(scale.grades)
    )
    return Calibration(
        scale=scale,
        distributions=distributions,
        boundaries=tuple(boundaries),
        pooled_variance=pooled,
    )


def project(score: float, se: float, calibration: Calibration) -> GradeProjection:
    """One essay's grade, posterior and confidence."""
    scale = calibration.scale
    distributions = calibration.distributions
    variances = np.array([d.variance for d in distributions]) + se**2
    means = np.array([d.mean for d in distributions])
    priors = np.array([d.prior for d in distributions])
    log_posterior = -0.5 * (np.log(2 * np.pi * variances) + (score - means) ** 2 / variances)
    log_posterior += np.log(priors)
    posterior = np.exp(log_posterior - log_posterior.max())
    posterior /= posterior.sum()

    index = next(
        i for i, (lower, upper) in enumerate(calibration.boundaries) if lower <= score <= upper
    )
    grade = scale.grades[index]
    lowest = distributions[0]
    lowest_sd = math.sqrt(lowest.variance + se**2)  # the score's own uncertainty counts too
    if index == 0 and scale.below_lowest_grade and score < lowest.mean - 2 * lowest_sd:
        grade = scale.below_lowest_grade

    # exp and log round differently from one CPU to another (engine.cj.portable): the
    # figures that leave here go on the grid, so the label below and the log agree everywhere.
    posterior = quantise(posterior)
    confidence = quantise_value(math.sqrt((1.0 - _normalised_entropy(posterior)) * _se_factor(se)))
    return GradeProjection(
        grade=grade,
        probabilities={g: float(p) for g, p in zip(scale.grades, posterior.tolist(), strict=True)},
        confidence=confidence,
        label=_label(confidence, se),
        score=score,
        se=se,
    )


def project_all(
    scores: Mapping[str, float], ses: Mapping[str, float], calibration: Calibration
) -> dict[str, GradeProjection]:
    return {essay: project(scores[essay], ses[essay], calibration) for essay in sorted(scores)}


def _pooled_within_grade_variance(by_grade: Mapping[int, list[float]]) -> float:
    """Spread of anchors around their own grade's mean, pooled over grades.

    When no grade has two anchors there is no within-grade evidence; fall back to the total
    variance shared out over the grades present.
    """
    residuals = [score - float(np.mean(scores)) for scores in by_grade.values() for score in scores]
    degrees = len(residuals) - len(by_grade)
    if degrees > 0:
        return float(np.sum(np.square(residuals)) / degrees)
    all_scores = [score for scores in by_grade.values() for score in scores]
    return float(np.var(all_scores)) / len(by_grade)


def _isotonic(values: list[float]) -> list[float]:
    """Least-squares non-decreasing fit (pool adjacent violators, equal weights)."""
    blocks: list[list[float]] = []  # [mean, size]
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, size = blocks.pop()
            previous = blocks[-1]
            total = previous[1] + size
            previous[0] = (previous[0] * previous[1] + mean * size) / total
            previous[1] = total
    fitted: list[float] = []
    for mean, size in blocks:
        fitted.extend([mean] * int(size))
    return fitted


def _normalised_entropy(probabilities: np.ndarray) -> float:
    nonzero = probabilities[probabilities > 1e-12]
    if nonzero.size <= 1:
        return 0.0
    return float(-np.sum(nonzero * np.log(nonzero)) / math.log(probabilities.size))


def _se_factor(se: float) -> float:
    if se < 0.5:
        return 1.0
    if se < 1.0:
        return 0.8
    if se < 1.5:
        return 0.6
    return 0.3


def _label(confidence: float, se: float) -> ConfidenceLabel:
    label = (
        ConfidenceLabel.HIGH
        if confidence >= 0.7
        else ConfidenceLabel.MID
        if confidence >= 0.4
        else ConfidenceLabel.LOW
    )
    if se >= 1.5:
        return ConfidenceLabel.LOW
    if se >= 1.0 and label is ConfidenceLabel.HIGH:
        return ConfidenceLabel.MID
    return label
