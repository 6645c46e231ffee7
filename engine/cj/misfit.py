"""How well each essay fits the Bradley–Terry scale: infit and outfit mean-squares (pure).

A judge's decision about essays ``i`` and ``j`` is the observation ``x = 1`` when ``i`` won,
``0`` when it lost; the scale expects ``p = P(i beats j) = 1 / (1 + exp(-(theta_i - theta_j)))``
with variance ``w = p (1 - p)``. Over the ``n`` decided comparisons of essay ``i``:

* outfit (outlier-sensitive) ``= (1/n) * sum (x - p)^2 / w``, the mean squared standardised
  residual ``z^2``. One surprising result against a far-away essay (``p`` near 0 or 1, ``w``
  small) weighs heavily;
* infit (information-weighted) ``= sum (x - p)^2 / sum w``. Comparisons between close essays,
  the informative ones, weigh most; a far-away upset counts for little.

Both have expectation 1 when the data fit the model; above 1, the judges disagreed about the
essay more than its place on the scale explains (an essay judged inconsistently, or an
unusual one); well below 1, the results are more predictable than the model expects (an
essay that beats every weaker one and loses to every stronger one). Comparative judgement
platforms (No More Marking, RM Compare) flag essays whose mean-square is above 1.3, the upper
end of Wright and Linacre's "reasonable" range (0.7–1.3).

References: B. D. Wright and J. M. Linacre (1994), "Reasonable mean-square fit values", Rasch
Measurement Transactions 8(3):370; J. M. Linacre (2002), "What do infit and outfit,
mean-square and standardized mean?", RMT 16(2):878; A. Pollitt (2012), "The method of
Adaptive Comparative Judgement", Assessment in Education 19(3):281–300, which applies them to
CJ scales.

The figures are diagnostic only: nothing in the engine acts on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["MISFIT_LIMIT", "EssayFit", "essay_fit", "is_misfit"]

#: A mean-square above this is flagged (exactly 1.3 is not).
MISFIT_LIMIT = 1.3
# A model probability is kept this far from 0 and 1, so that an upset the scale calls
# (nearly) impossible gives a large, finite outfit rather than a division by zero.
_P_MARGIN = 1e-12


@dataclass(frozen=True, slots=True, kw_only=True)
class EssayFit:
    """One essay's fit over its ``comparisons`` decided comparisons."""

    essay_id: str
    comparisons: int
    infit: float
    outfit: float

    @property
    def misfitting(self) -> bool:
        """Either mean-square is above ``MISFIT_LIMIT``."""
        return is_misfit(self.infit) or is_misfit(self.outfit)


def is_misfit(mean_square: float) -> bool:
    """Whether a mean-square is above ``MISFIT_LIMIT`` (strictly: 1.3 itself is not flagged)."""
    return mean_square > MISFIT_LIMIT


def _win_probability(lead: float) -> float:
    p = 1.0 / (1.0 + math.exp(-lead)) if lead > -700 else 0.0
    return min(max(p, _P_MARGIN), 1.0 - _P_MARGIN)


def essay_fit(
    scores: Mapping[str, float], decided: Iterable[tuple[str, str]]
) -> dict[str, EssayFit]:
    """Infit and outfit of every essay that took part in a decided comparison, by essay id
    (sorted). ``decided`` holds ``(winner, loser)`` pairs; both must have a score in
    ``scores`` (a ``KeyError`` names the one that has none). Essays without a decided
    comparison have no fit to judge and are left out. Sums are exact (``math.fsum``), so the
    order of ``decided`` does not matter."""
    squares: dict[str, list[float]] = {}  # (x - p)^2 per comparison
    variances: dict[str, list[float]] = {}  # p (1 - p) per comparison
    for winner, loser in decided:
        for essay in (winner, loser):
            if essay not in scores:
                raise KeyError(
                    f"essay {essay!r} of the comparison {winner!r} beat {loser!r} has no score"
                )
        p_winner = _win_probability(scores[winner] - scores[loser])
        # The winner observed 1 against p_winner; the loser 0 against 1 - p_winner: the same
        # squared residual (1 - p_winner)^2 and the same variance for both.
        square = (1.0 - p_winner) ** 2
        variance = p_winner * (1.0 - p_winner)
        for essay in (winner, loser):
            squares.setdefault(essay, []).append(square)
            variances.setdefault(essay, []).append(variance)
    fits = {}
    for essay in sorted(squares):
        essay_squares, essay_variances = squares[essay], variances[essay]
        fits[essay] = EssayFit(
            essay_id=essay,
            comparisons=len(essay_squares),
            infit=math.fsum(essay_squares) / math.fsum(essay_variances),
            outfit=math.fsum(s / v for s, v in zip(essay_squares, essay_variances, strict=True))
            / len(essay_squares),
        )
    return fits
