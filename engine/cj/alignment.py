"""How well the judged scale agrees with the anchors' expert grades (the ENG5 alignment report).

* Kendall's tau-b between anchor scores and grade order (ties in grade are ties, not guesses;
  the original assigned distinct expected ranks within a grade, which rewards lucky orderings).
* Head-to-head inversions: unique anchor pairs in which the lower-graded anchor won a successful
  comparison against the higher-graded one. Same-grade pairs cannot invert.
* Zero-win anchors: anchors that never won a successful comparison.

ENG5 targets: at most 1 inversion, no zero-win anchors, tau >= 0.90.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.cj.grade_scales import GradeScale

__all__ = ["AlignmentReport", "Inversion", "anchor_alignment"]


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
        # scipy.stats takes 1.4 s to import: paid by the runs that align, not by every command.
        from scipy.stats import kendalltau

        statistic = kendalltau(scores, grade_ranks).statistic
        tau = None if statistic != statistic else float(statistic)  # NaN: no variation
    return AlignmentReport(
        kendall_tau=tau,
        inversions=tuple(inverted[key] for key in sorted(inverted)),
        zero_win_anchors=tuple(a for a in anchors if wins[a] == 0),
        wins=wins,
        losses=losses,
    )
