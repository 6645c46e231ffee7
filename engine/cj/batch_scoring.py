"""A batch's scale from its stored pairs: Bradley–Terry, rankings, grades (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.cj.alignment import AlignmentReport, anchor_alignment
from engine.cj.bt_uncertainty import QualityReport
from engine.cj.grade_scales import scale_named
from engine.cj.grading import GradeProjection, InsufficientAnchors, calibrate, project_all
from engine.cj.models import ComparisonPair, Essay, PairOutcome
from engine.cj.scoring import fit_bradley_terry

__all__ = ["BatchScores", "score_batch"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchScores:
    scores: Mapping[str, float]
    ses: Mapping[str, float]
    ranks: Mapping[str, int]  # 1 = strongest
    quality: QualityReport
    successful_comparisons: int
    projections: Mapping[str, GradeProjection]  # empty without anchors of two grades
    alignment: AlignmentReport | None


def score_batch(
    essays: Sequence[Essay],
    pairs: Sequence[ComparisonPair],
    *,
    alpha: float,
    grade_scale: str,
    with_grades: bool = True,
    previous: Mapping[str, float] | None = None,
) -> BatchScores:
    """Fit the batch. ``with_grades=False`` skips grade projection and the alignment figures
    (continuation needs only the scores and their quality). ``previous`` scores, when given,
    start the fit where the last one ended."""
    ids = sorted(essay.essay_id for essay in essays)
    index = {essay_id: i for i, essay_id in enumerate(ids)}
    decided = _decided(pairs)
    outcomes = [(index[w], index[lo]) for w, lo in decided]
    initial = None if not previous else [previous.get(essay_id, 0.0) for essay_id in ids]
    fit = fit_bradley_terry(
        len(ids),
        np.array(outcomes, dtype=np.int64).reshape(-1, 2),
        alpha=alpha,
        initial=initial,
    )
    # ``ids`` is in index order; tolist() converts every element in one C call.
    scores = dict(zip(ids, fit.scores.tolist(), strict=True))
    ses = dict(zip(ids, fit.se.tolist(), strict=True))
    ranking = sorted(ids, key=lambda essay_id: (-scores[essay_id], essay_id))
    ranks = {essay_id: position for position, essay_id in enumerate(ranking, start=1)}

    anchors = {e.essay_id: e.known_grade for e in essays if e.is_anchor and e.known_grade}
    projections: Mapping[str, GradeProjection] = {}
    alignment = None
    if anchors and with_grades:
        scale = scale_named(grade_scale)
        anchor_scores = {a: scores[a] for a in anchors}
        grades = {a: g for a, g in anchors.items() if g is not None}
        try:
            projections = project_all(scores, ses, calibrate(anchor_scores, grades, scale))
        except InsufficientAnchors:
            projections = {}
        alignment = anchor_alignment(grades, anchor_scores, decided, scale)
    return BatchScores(
        scores=scores,
        ses=ses,
        ranks=ranks,
        quality=fit.quality,
        successful_comparisons=len(outcomes),
        projections=projections,
        alignment=alignment,
    )


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
