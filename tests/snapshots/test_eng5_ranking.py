"""The ranking a teacher reads, pinned: every essay's rank, projected grade and confidence label
for scenarios/eng5_anchor_66.yaml (seed 42), the 12 ENG5 anchors judged in all 66 pairs with
each verdict replayed from the recorded GPT-5.1 run (traces/eng5_anchor_align_gpt51_low_20251201).

The rows are the ones ``cjsim show`` prints, read back from the run's ``outcomes.duckdb``; the
scores and their intervals are left out (a change of scoring moves them in the fourth decimal
without moving anyone's grade, and the report baseline pins the batch's SSR and Kendall tau).
A change to pairing, orientation, scoring or grading that moves an essay fails here with one
line per essay that moved (test_baselines_catch_drift.py shows it; ``CJSIM_BASELINE_SET``
adds engine settings here as it does for the report baselines). After an intended change:
``pytest tests/snapshots/test_eng5_ranking.py --snapshot-update``, then an entry in CHANGELOG.md
(docs/decisions/0010-snapshot-policy.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from sim.commands.cli import main
from sim.reports.ranking import RankedEssay, read_ranking

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_anchor_66.yaml"
ESSAYS = 12  # the ENG5 anchor set: F+ x2, E-, E+, D-, D+, C-, C+, B x2, A x2
HEADER = ("rank", "essay", "anchor grade", "grade", "confidence")


@pytest.fixture(scope="module")
def ranking(tmp_path_factory: pytest.TempPathFactory) -> list[RankedEssay]:
    """The ranking of one run of eng5_anchor_66 (its seed, 42), as ``cjsim show`` reads it."""
    folder = tmp_path_factory.mktemp("eng5_ranking") / "run"
    overrides = os.environ.get("CJSIM_BASELINE_SET", "").split()
    settings = [arg for setting in overrides for arg in ("--set", setting)]
    main(["run", str(SCENARIO), "--no-html", "--out", str(folder), *settings])
    outcomes = folder / "outcomes.duckdb"
    assert outcomes.is_file(), f"cjsim run {SCENARIO} wrote no {outcomes.name}"
    return read_ranking(outcomes)


def ranking_table(essays: Sequence[RankedEssay]) -> str:
    """One aligned line per essay, in rank order: a moved essay is one changed line."""
    rows = [HEADER] + [
        (
            str(essay.rank),
            essay.essay_id,
            essay.known_grade or "",
            essay.grade or "",
            essay.confidence or "",
        )
        for essay in essays
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def test_every_essay_is_ranked_once_graded_and_labelled(ranking: list[RankedEssay]):
    assert [essay.rank for essay in ranking] == list(range(1, ESSAYS + 1))
    assert len({essay.essay_id for essay in ranking}) == ESSAYS
    assert all(essay.grade and essay.confidence for essay in ranking), ranking_table(ranking)


def test_the_ranking_grades_and_confidence_labels_match_their_snapshot(ranking, snapshot):
    assert ranking_table(ranking) == snapshot
