"""A run's ranking, as the terminal shows it: ``cjsim show RUN_DIR`` and the end of ``cjsim
run``'s summary.

The rows come from the run's ``outcomes.duckdb`` (its ``scores`` table), the same rows the HTML
report and the analysis read, so the three never disagree. A score's 95% interval is the
Wald interval ``score ± 1.96 · SE`` from the Fisher information at the final scoring
(``engine/cj/bt_uncertainty.py``); an essay the batch never scored shows no interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sim.reports.compare import RunFolderError

__all__ = ["Z_95", "RankedEssay", "not_outcome_tables", "ranking_lines", "read_ranking"]

COLUMNS = ("rank", "essay", "anchor grade", "BT score", "95% interval", "grade", "confidence")
#: A two-sided 95% interval is score ± Z_95 · SE: the standard normal's 97.5% quantile, to the
#: two places the pages print ("± 1.96 SE"), so the terminal and the pages give one interval.
Z_95 = 1.96


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedEssay:
    cj_batch_id: int
    rank: int
    essay_id: str
    is_anchor: bool
    known_grade: str | None
    score: float | None
    se: float | None
    grade: str | None
    confidence: str | None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% interval of the score, when the batch gave it a score and an SE."""
        if self.score is None or self.se is None or not math.isfinite(self.se):
            return None
        return (self.score - Z_95 * self.se, self.score + Z_95 * self.se)


def read_ranking(outcomes: Path) -> list[RankedEssay]:
    """Every essay of every batch of the run whose tables are in ``outcomes``, by batch and
    rank (unranked essays last, by id)."""
    try:
        con = duckdb.connect(str(outcomes), read_only=True)
        try:
            rows = con.execute(
                """SELECT cj_batch_id, rank, essay_id, is_anchor, known_grade, bt_score, bt_se,
                          grade, confidence_label
                   FROM scores
                   ORDER BY cj_batch_id, rank = 0, rank, essay_id"""
            ).fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        # A file cut short, another program's file, or one from before the scores table.
        raise not_outcome_tables(outcomes, exc) from None
    return [
        RankedEssay(
            cj_batch_id=batch,
            rank=rank,
            essay_id=essay,
            is_anchor=anchor,
            known_grade=known,
            score=_finite(score),
            se=_finite(se),
            grade=grade,
            confidence=confidence,
        )
        for batch, rank, essay, anchor, known, score, se, grade, confidence in rows
    ]


def not_outcome_tables(outcomes: Path, why: BaseException | str) -> RunFolderError:
    """The one line for an ``outcomes.duckdb`` a command cannot read: ``why`` is DuckDB's error
    (its first line is shown) or what is missing."""
    if isinstance(why, BaseException):
        why = str(why).splitlines()[0] if str(why) else type(why).__name__
    return RunFolderError(f"{outcomes}:1:1: (file): not the outcome tables of a run ({why})")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def ranking_lines(essays: Sequence[RankedEssay], *, ends: int | None = None) -> list[str]:
    """The ranking as aligned text lines, one block per batch. With ``ends``, only the top and
    bottom ``ends`` essays of each batch, the rest counted on one line."""
    lines: list[str] = []
    batches = sorted({essay.cj_batch_id for essay in essays})
    for batch in batches:
        ranked = [essay for essay in essays if essay.cj_batch_id == batch]
        shown: list[RankedEssay | int] = list(ranked)
        if ends is not None and len(ranked) > 2 * ends:
            shown = [*ranked[:ends], len(ranked) - 2 * ends, *ranked[-ends:]]
        if len(batches) > 1 or ends is not None:
            lines.append(f"batch {batch}: {len(ranked)} essays")
        lines += _aligned(
            [
                (
                    "rank",
                    "essay",
                    "anchor grade",
                    "BT score",
                    "95% interval",
                    "grade",
                    "confidence",
                ),
                *(
                    _row(item) if isinstance(item, RankedEssay) else (f"... {item} more",)
                    for item in shown
                ),
            ]
        )
    return lines


def _row(essay: RankedEssay) -> tuple[str, ...]:
    interval = essay.interval
    return (
        str(essay.rank) if essay.rank else "-",
        essay.essay_id,
        essay.known_grade or "",
        "" if essay.score is None else f"{essay.score:+.3f}",
        "" if interval is None else f"[{interval[0]:+.2f}, {interval[1]:+.2f}]",
        essay.grade or "",
        essay.confidence or "",
    )


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell; a one-cell row (an elision) is left as it is."""
    full = [row for row in rows if len(row) > 1]
    widths = [max(len(row[i]) for row in full) for i in range(len(full[0]))]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        if len(row) > 1
        else f"  {row[0]}"
        for row in rows
    ]
