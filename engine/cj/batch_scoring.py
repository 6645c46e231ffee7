"""A batch's scale from its stored pairs: Bradley–Terry, rankings, grades (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from engine.cj.alignment import AlignmentReport, anchor_alignment
from engine.cj.bt_uncertainty import QualityReport, coverage_flags, quality_report
from engine.cj.grade_scales import scale_named
from engine.cj.grading import GradeProjection, InsufficientAnchors, calibrate, project_all
from engine.cj.models import ComparisonPair, Essay, PairOutcome
from engine.cj.portable import quantise
from engine.cj.scoring import SE_CAP, BradleyTerryFit, fit_bradley_terry

__all__ = ["BatchScores", "WaveScores", "score_batch", "score_wave"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveScores:
    """What a wave's continuation needs: the scale and its coverage. Scores are on
    ``engine.cj.portable``'s grid of 1e-9, so every decision and the event log see the same
    numbers on every machine."""

    scores: Mapping[str, float]
    ranks: Mapping[str, int]  # 1 = strongest
    coverage_flags: Mapping[str, bool]
    successful_comparisons: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchScores(WaveScores):
    """The final scoring: the scale with its standard errors (on the same grid), its quality,
    and the grades projected from the anchors."""

    ses: Mapping[str, float]
    quality: QualityReport
    projections: Mapping[str, GradeProjection]  # empty without anchors of two grades
    alignment: AlignmentReport | None


def score_wave(
    essays: Sequence[Essay],
    pairs: Sequence[ComparisonPair],
    *,
    alpha: float,
    previous: Mapping[str, float] | None = None,
) -> WaveScores:
    """Fit the batch for a wave's continuation: the scores, no standard errors (their inverse
    is cubic in the batch size, and nothing decided at a wave needs them). ``previous`` scores,
    when given, start the fit where the last one ended."""
    fitted = _fit(essays, pairs, alpha=alpha, previous=previous)
    return WaveScores(
        scores=fitted.scores,
        ranks=fitted.ranks,
        coverage_flags=coverage_flags(fitted.fit.graph),
        successful_comparisons=len(fitted.decided),
    )


def score_batch(
    essays: Sequence[Essay], pairs: Sequence[ComparisonPair], *, alpha: float, grade_scale: str
) -> BatchScores:
    """Fit the batch for good: scores, standard errors, quality, grades and alignment."""
    fitted = _fit(essays, pairs, alpha=alpha)
    fit, scores = fitted.fit, fitted.scores
    se_uncapped = quantise(fit.se_uncapped)
    se_capped = np.minimum(se_uncapped, SE_CAP)
    ses = dict(zip(fitted.ids, se_capped.tolist(), strict=True))
    anchors = {e.essay_id: e.known_grade for e in essays if e.is_anchor and e.known_grade}
    projections: Mapping[str, GradeProjection] = {}
    alignment = None
    if anchors:
        scale = scale_named(grade_scale)
        anchor_scores = {a: scores[a] for a in anchors}
        grades = {a: g for a, g in anchors.items() if g is not None}
        try:
            projections = project_all(scores, ses, calibrate(anchor_scores, grades, scale))
        except InsufficientAnchors:
            projections = {}
        alignment = anchor_alignment(grades, anchor_scores, fitted.decided, scale)
    return BatchScores(
        scores=scores,
        ranks=fitted.ranks,
        coverage_flags=coverage_flags(fit.graph),
        successful_comparisons=len(fitted.decided),
        ses=ses,
        quality=quality_report(fit.graph, fitted.on_grid, fit.estimated, se_capped, se_uncapped),
        projections=projections,
        alignment=alignment,
    )


@dataclass(frozen=True, slots=True)
class _Fitted:
    fit: BradleyTerryFit
    ids: list[str]  # index order
    decided: list[tuple[str, str]]
    on_grid: NDArray[np.float64]
    scores: dict[str, float]
    ranks: dict[str, int]


def _fit(
    essays: Sequence[Essay],
    pairs: Sequence[ComparisonPair],
    *,
    alpha: float,
    previous: Mapping[str, float] | None = None,
) -> _Fitted:
    ids = sorted(essay.essay_id for essay in essays)
    index = {essay_id: i for i, essay_id in enumerate(ids)}
    decided = _decided(pairs)
    # (winner, loser) rows of indices, filled straight from the flattened ids: a list of index
    # tuples and np.array over it cost twice as much, at every wave, over every decided pair.
    outcomes = np.fromiter(
        map(index.__getitem__, chain.from_iterable(decided)),
        dtype=np.int64,
        count=2 * len(decided),
    ).reshape(-1, 2)
    initial = None if not previous else [previous.get(essay_id, 0.0) for essay_id in ids]
    fit = fit_bradley_terry(len(ids), outcomes, alpha=alpha, initial=initial)
    on_grid = quantise(fit.scores)
    # ``ids`` is in index order; tolist() converts every element in one C call.
    scores = dict(zip(ids, on_grid.tolist(), strict=True))
    ranking = sorted(ids, key=lambda essay_id: (-scores[essay_id], essay_id))
    ranks = {essay_id: position for position, essay_id in enumerate(ranking, start=1)}
    return _Fitted(fit, ids, decided, on_grid, scores, ranks)


def _decided(pairs: Sequence[ComparisonPair]) -> list[tuple[str, str]]:
    """``(winner, loser)`` of every decided pair, in order: ``ComparisonPair.winner_loser``
    inlined, as this runs over every pair of a batch at every wave."""
    a_won, b_won = PairOutcome.ESSAY_A, PairOutcome.ESSAY_B
    return [
        (pair.essay_a_id, pair.essay_b_id)
        if pair.outcome is a_won
        else (pair.essay_b_id, pair.essay_a_id)
        for pair in pairs
        if pair.outcome is a_won or pair.outcome is b_won
    ]
