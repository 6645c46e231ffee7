"""How well the judged scale agrees with the anchors' expert grades (the ENG5 alignment report).

* Kendall's tau-b between anchor scores and grade order (ties in grade are ties, not guesses;
  the original assigned distinct expected ranks within a grade, which rewards lucky orderings).
* Head-to-head inversions: unique anchor pairs in which the lower-graded anchor won a successful
  comparison against the higher-graded one. Same-grade pairs cannot invert.
* Zero-win anchors: anchors that never won a successful comparison.

ENG5 targets: at most 1 inversion, no zero-win anchors, tau >= 0.90.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.cj.grade_scales import GradeScale

__all__ = ["AlignmentReport", "Inversion", "anchor_alignment", "kendall_tau_b"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Inversion:
    higher_grade_anchor: str
    higher_grade: str
    lower_grade_anchor: str
    lower_grade: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlignmentReport:
    kendall_tau: float | None
    inversions: tuple[Inversion, ...]
    zero_win_anchors: tuple[str, ...]
    wins: Mapping[str, int]
    losses: Mapping[str, int]

    @property
    def inversion_count(self) -> int:
        return len(self.inversions)

    def meets_eng5_targets(self) -> bool:
        return (
            self.inversion_count <= 1
            and not self.zero_win_anchors
            and self.kendall_tau is not None
            and self.kendall_tau >= 0.90
        )


def anchor_alignment(
    anchor_grades: Mapping[str, str],
    anchor_scores: Mapping[str, float],
    successful: Iterable[tuple[str, str]],
    scale: GradeScale,
) -> AlignmentReport:
    """``successful`` yields ``(winner_id, loser_id)`` of successful comparisons (any essays)."""
    anchors = sorted(anchor_grades)
    wins = dict.fromkeys(anchors, 0)
    losses = dict.fromkeys(anchors, 0)
    inverted: dict[tuple[str, str], Inversion] = {}
    for winner, loser in successful:
        if winner in wins:
            wins[winner] += 1
        if loser in losses:
            losses[loser] += 1
        if winner in anchor_grades and loser in anchor_grades:
            winner_rank = scale.index(anchor_grades[winner])
            loser_rank = scale.index(anchor_grades[loser])
            if winner_rank < loser_rank and (loser, winner) not in inverted:
                inverted[(loser, winner)] = Inversion(
                    higher_grade_anchor=loser,
                    higher_grade=anchor_grades[loser],
                    lower_grade_anchor=winner,
                    lower_grade=anchor_grades[winner],
                )
    tau = None
    if len(anchors) >= 2:
        grade_ranks = [scale.index(anchor_grades[a]) for a in anchors]
        scores = [anchor_scores[a] for a in anchors]
        tau = kendall_tau_b(scores, grade_ranks)
    return AlignmentReport(
        kendall_tau=tau,
        inversions=tuple(inverted[key] for key in sorted(inverted)),
        zero_win_anchors=tuple(a for a in anchors if wins[a] == 0),
        wins=wins,
        losses=losses,
    )


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two equally long sequences; None when either has no variation (or
    holds a NaN). The same float as ``scipy.stats.kendalltau(x, y).statistic``, bit for bit:
    the same integer counts of tied and discordant pairs, then the same three correctly
    rounded operations. scipy.stats takes ~1 s to import, for a handful of anchors that a
    double loop counts in microseconds."""
    assert len(x) == len(y), (len(x), len(y))
    if any(math.isnan(value) for value in (*x, *y)):
        return None
    n = len(x)
    pairs = n * (n - 1) // 2
    x_ties = y_ties = joint_ties = discordant = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = (x[i] > x[j]) - (x[i] < x[j])
            dy = (y[i] > y[j]) - (y[i] < y[j])
            x_ties += dx == 0
            y_ties += dy == 0
            joint_ties += dx == 0 and dy == 0
            discordant += dx * dy < 0
    if x_ties == pairs or y_ties == pairs:
        return None
    concordant_minus_discordant = pairs - x_ties - y_ties + joint_ties - 2 * discordant
    tau = concordant_minus_discordant / math.sqrt(pairs - x_ties) / math.sqrt(pairs - y_ties)
    return min(1.0, max(-1.0, tau))  # as scipy: rounding must not leave [-1, 1]
