"""What a run's HTML page shows, read from its folder: values, not HTML.

Theory of operation. Every figure about the run comes from ``outcomes.duckdb`` (opened read
only), and the figures that ``analysis.json`` also holds are read by the very same queries
(``sim.reports.analysis.ANALYSIS``), so the page can never disagree with the analysis.
``report.json`` gives the verdict, the invariants and the fingerprint; ``scenario.json``, when
the folder has one, the settings that differ from the defaults, the position-skew limit and
the fault windows. What the engine decided and did not store is recomputed with the engine's
own pure functions: the grade probabilities (``engine.cj.grading``, called as the finalizer
calls it) and the essays' fit (``engine.cj.misfit``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from engine.cj.grade_scales import scale_named
from engine.cj.grading import Calibration, GradeProjection, InsufficientAnchors, calibrate, project
from engine.cj.misfit import EssayFit, essay_fit
from sim.reports.analysis import ANALYSIS
from sim.reports.run_folder import OUTCOMES_FILE, REPORT_FILE, SCENARIO_FILE
from sim.reports.run_page_timeline import Timeline, read_timeline

__all__ = [
    "BatchRanking",
    "Histogram",
    "HistogramBin",
    "RankedEssay",
    "RunData",
    "histogram",
    "read_run",
]

Rows = list[dict[str, Any]]
#: Bars of a latency or wait histogram, at most.
HISTOGRAM_BINS_MAX = 30
#: The ANALYSIS queries whose rows the page shows; running the others too cost every page (so
#: every ``cjsim run``) about 0.04 s of the 0.15 s its folder takes to read.
SHOWN_QUERIES = (
    "callbacks_by_disposition",
    "errors_by_provider_and_type",
    "provider_latency_percentiles",
    "queue_status",
    "queue_wait_percentiles",
    "usage_by_model",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedEssay:
    """One essay of a batch's ranking: stored figures, and the ones recomputed for the page."""

    rank: int | None  # None: not ranked (the batch was never scored)
    essay_id: str
    is_anchor: bool
    known_grade: str | None
    score: float | None
    se: float | None
    grade: str | None  # as stored by the finalizer
    projection: GradeProjection | None  # recomputed; its grade equals ``grade``
    comparisons: int  # decided comparisons
    wins: int
    a_count: int  # times shown first (every submitted comparison)
    b_count: int
    fit: EssayFit | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRanking:
    """A batch's ranking, strongest first, with what the page draws from it."""

    cj_batch_id: int
    essays: tuple[RankedEssay, ...]
    grade_scale: str | None
    calibration: Calibration | None
    ssr: float | None
    # (winner, loser) -> decided comparisons between them, for the win-rate heatmap
    wins_between: Mapping[tuple[str, str], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class HistogramBin:
    lower: float
    upper: float
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Histogram:
    """Counts in equal bins from 0; ``overflow`` values at or above ``overflow_from`` (the last
    bin's upper edge) are counted apart, so that a long tail (one hung call) does not squash
    the body of the distribution into one bar."""

    bins: tuple[HistogramBin, ...]
    values: int
    overflow: int = 0
    overflow_from: float | None = None  # None: no value was left out of the bins


@dataclass(frozen=True, slots=True, kw_only=True)
class RunData:
    """Everything the run page shows. ``scenario`` is None for a folder without
    ``scenario.json`` (a live run, an older run)."""

    report: Mapping[str, Any]
    scenario: Mapping[str, Any] | None
    batches: tuple[BatchRanking, ...]
    analysis: Mapping[str, Rows]  # the ANALYSIS queries of SHOWN_QUERIES, over outcomes.duckdb
    timeline: Timeline
    # seq -> the whole event (seq, t, kind, ids, fields) of each invariant's first breaking
    # event, from events.jsonl's copy in outcomes.duckdb (report.json keeps only its ids)
    breaking_events: Mapping[int, Mapping[str, Any]]
    latency_ms: Histogram  # successful provider calls
    queue_wait_s: Histogram  # first enqueue to last dispatch, per queue item

    @property
    def skew_limit(self) -> tuple[float, int] | None:
        """``(largest |A-B|/(A+B), for essays with at least this many comparisons)``, the
        scenario's position-skew rule; None without ``scenario.json``."""
        if self.scenario is None:
            return None
        run = self.scenario["scenario"]["run"]
        return float(run["position_skew_limit"]), int(run["position_min_comparisons"])


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> Rows:
    cursor = con.execute(query, list(params))
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def read_run(run_dir: Path) -> RunData:
    """Read a run folder. Raises ``FileNotFoundError`` naming the file when ``report.json`` or
    ``outcomes.duckdb`` is missing (not a run folder, or a run that did not finish)."""
    for required in (REPORT_FILE, OUTCOMES_FILE):
        if not (run_dir / required).is_file():
            raise FileNotFoundError(f"{run_dir / required}: missing; is {run_dir} a run folder?")
    report = json.loads((run_dir / REPORT_FILE).read_text(encoding="utf-8"))
    scenario_path = run_dir / SCENARIO_FILE
    scenario = (
        json.loads(scenario_path.read_text(encoding="utf-8")) if scenario_path.is_file() else None
    )
    con = duckdb.connect(str(run_dir / OUTCOMES_FILE), read_only=True, config={"threads": 1})
    try:
        analysis = {name: _rows(con, ANALYSIS[name]) for name in SHOWN_QUERIES}
        return RunData(
            report=report,
            scenario=scenario,
            batches=_batches(con, scenario),
            analysis=analysis,
            timeline=read_timeline(con, scenario),
            breaking_events=_breaking_events(con, report),
            latency_ms=histogram(
                [
                    float(r["latency_ms"])
                    for r in _rows(
                        con,
                        """SELECT latency_ms FROM provider_calls
                           WHERE outcome = 'success' AND latency_ms IS NOT NULL
                           ORDER BY latency_ms""",
                    )
                ]
            ),
            queue_wait_s=histogram([float(r["wait_s"]) for r in _rows(con, _WAITS)]),
        )
    finally:
        con.close()


def _breaking_events(
    con: duckdb.DuckDBPyConnection, report: Mapping[str, Any]
) -> dict[int, Mapping[str, Any]]:
    seqs = sorted(
        {
            int(result["first_event"]["seq"])
            for result in (report.get("invariants") or {}).values()
            if result.get("first_event") and result["first_event"].get("seq") is not None
        }
    )
    if not seqs:
        return {}
    rows = _rows(con, "SELECT seq, line FROM events WHERE list_contains(?, seq)", [seqs])
    return {int(r["seq"]): json.loads(r["line"]) for r in rows}


# The waits of ANALYSIS["queue_wait_percentiles"], one row per queue item.
_WAITS = """
    SELECT max(d.t) - min(e.t) AS wait_s
    FROM (SELECT queue_id, t FROM queue_history WHERE change = 'queue_enqueued') e
    JOIN (SELECT queue_id, t FROM queue_history WHERE change = 'item_dispatched') d
      USING (queue_id)
    GROUP BY e.queue_id ORDER BY wait_s"""


def _batches(
    con: duckdb.DuckDBPyConnection, scenario: Mapping[str, Any] | None
) -> tuple[BatchRanking, ...]:
    scores = _rows(
        con,
        """SELECT cj_batch_id, essay_id, is_anchor, known_grade, bt_score, bt_se, rank, grade
           FROM scores ORDER BY cj_batch_id, rank = 0, rank, essay_id""",
    )
    decided = _rows(
        con,
        """SELECT cj_batch_id,
                  CASE outcome WHEN 'essay_a' THEN essay_a ELSE essay_b END AS winner,
                  CASE outcome WHEN 'essay_a' THEN essay_b ELSE essay_a END AS loser
           FROM comparisons WHERE outcome IN ('essay_a', 'essay_b')
           ORDER BY cj_batch_id, correlation_id""",
    )
    positions = _rows(
        con,
        """SELECT cj_batch_id, essay, count(*) FILTER (position = 'A') AS a,
                  count(*) FILTER (position = 'B') AS b
           FROM (SELECT cj_batch_id, essay_a AS essay, 'A' AS position FROM comparisons
                 UNION ALL
                 SELECT cj_batch_id, essay_b, 'B' FROM comparisons)
           GROUP BY ALL ORDER BY ALL""",
    )
    # The scale the finalizer graded on (cj.batch.created); scenario.json's for older logs.
    created = {
        int(r["cj_batch_id"]): r["grade_scale"]
        for r in _rows(
            con,
            """SELECT record.ids.cj_batch_id AS cj_batch_id,
                      json_extract_string(line, '$.fields.grade_scale') AS grade_scale
               FROM events WHERE kind = 'cj.batch.created' ORDER BY seq""",
        )
    }
    fallback_scale = scenario["scenario"]["cohort"]["grade_scale"] if scenario else None
    ssr = {int(r["cj_batch_id"]): r["ssr"] for r in _rows(con, ANALYSIS["alignment"])}
    batch_ids = sorted({int(r["cj_batch_id"]) for r in scores})
    return tuple(
        _ranking(
            batch,
            [r for r in scores if r["cj_batch_id"] == batch],
            [(r["winner"], r["loser"]) for r in decided if r["cj_batch_id"] == batch],
            {
                r["essay"]: (int(r["a"]), int(r["b"]))
                for r in positions
                if r["cj_batch_id"] == batch
            },
            created.get(batch) or fallback_scale,
            ssr.get(batch),
        )
        for batch in batch_ids
    )


def _ranking(
    batch: int,
    scores: Rows,
    decided: list[tuple[str, str]],
    positions: Mapping[str, tuple[int, int]],
    grade_scale: str | None,
    ssr: float | None,
) -> BatchRanking:
    scored = {r["essay_id"]: r["bt_score"] for r in scores if r["bt_score"] is not None}
    ses = {r["essay_id"]: r["bt_se"] for r in scores if r["bt_se"] is not None}
    calibration = _calibration(scores, scored, grade_scale)
    fits = essay_fit(scored, decided) if scored else {}
    wins_between: dict[tuple[str, str], int] = {}
    wins: dict[str, int] = {}
    meetings: dict[str, int] = {}
    for winner, loser in decided:
        wins_between[winner, loser] = wins_between.get((winner, loser), 0) + 1
        wins[winner] = wins.get(winner, 0) + 1
        meetings[winner] = meetings.get(winner, 0) + 1
        meetings[loser] = meetings.get(loser, 0) + 1
    essays = []
    for row in scores:
        essay = row["essay_id"]
        projection = None
        if calibration is not None and essay in scored and essay in ses:
            # As the finalizer: project_all(scores, capped SEs, calibrate(anchors' scores)).
            projection = project(scored[essay], ses[essay], calibration)
        a, b = positions.get(essay, (0, 0))
        essays.append(
            RankedEssay(
                rank=int(row["rank"]) or None,
                essay_id=essay,
                is_anchor=bool(row["is_anchor"]),
                known_grade=row["known_grade"],
                score=row["bt_score"],
                se=row["bt_se"],
                grade=row["grade"],
                projection=projection,
                comparisons=meetings.get(essay, 0),
                wins=wins.get(essay, 0),
                a_count=a,
                b_count=b,
                fit=fits.get(essay),
            )
        )
    return BatchRanking(
        cj_batch_id=batch,
        essays=tuple(essays),
        grade_scale=grade_scale,
        calibration=calibration,
        ssr=ssr,
        wins_between=wins_between,
    )


def _calibration(
    scores: Rows, scored: Mapping[str, float], grade_scale: str | None
) -> Calibration | None:
    """The anchors' calibration as ``engine.cj.batch_scoring.score_batch`` makes it; None
    when the batch was not scored or has no anchors of two grades."""
    anchors = {
        r["essay_id"]: r["known_grade"] for r in scores if r["is_anchor"] and r["known_grade"]
    }
    if grade_scale is None or not anchors or not all(a in scored for a in anchors):
        return None
    try:
        return calibrate({a: scored[a] for a in anchors}, anchors, scale_named(grade_scale))
    except InsufficientAnchors:
        return None


def _nice_width(span: float, bins_max: int) -> float:
    """The smallest 1, 2 or 5 times a power of ten that covers ``span`` in ``bins_max`` bins."""
    raw = span / bins_max
    power = 10.0 ** _floor_log10(raw)
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * power >= raw:
            return step * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def _floor_log10(value: float) -> int:
    exponent = 0
    while 10.0 ** (exponent + 1) <= value:
        exponent += 1
    while 10.0**exponent > value:
        exponent -= 1
    return exponent


#: A histogram's bins stop at this many times the 95th percentile; the values beyond (hung calls,
#: say: a few percent of the calls can hang, so the 99th percentile may be one of them) are
#: counted in one overflow bin.
TAIL_FACTOR = 2.0
#: ... and only for at least this many values (below, the 95th percentile is the largest).
TAIL_VALUES_MIN = 20


def histogram(values: Sequence[float], *, bins_max: int = HISTOGRAM_BINS_MAX) -> Histogram:
    """Counts of ``values`` in equal bins of a round width starting at 0 (values are
    durations, never negative), at most ``bins_max`` of them; each bin holds
    ``lower <= v < upper``, the last one its upper edge too. A long tail (the largest value
    over ``TAIL_FACTOR`` times the 95th percentile) is cut: the bins cover up to that bound and
    the values at or above the last bin's upper edge are the overflow. A
    single value (every value the same) sits in the middle of the axis, not at its edge."""
    if not values:
        return Histogram(bins=(), values=0)
    ordered = sorted(values)
    if ordered[0] < 0:
        raise ValueError(f"a histogram of durations got a negative value, {ordered[0]}")
    top = ordered[-1]
    bound = TAIL_FACTOR * ordered[math.ceil(0.95 * len(ordered)) - 1]
    cut = len(ordered) >= TAIL_VALUES_MIN and 0 < bound < top
    if cut:
        top = bound
    elif ordered[0] == top:
        top = 2 * top  # one value: a bar in the middle, with room either side
    width = _nice_width(top, bins_max) if top > 0 else 1.0
    count = min(bins_max, _bin_index(top, width) + 1)
    upper = round(count * width, 9)
    counts = [0] * count
    overflow = 0
    for value in ordered:
        if cut and value >= upper:
            overflow += 1
        else:
            counts[min(_bin_index(value, width), count - 1)] += 1
    bins = tuple(
        HistogramBin(lower=round(i * width, 9), upper=round((i + 1) * width, 9), count=c)
        for i, c in enumerate(counts)
    )
    return Histogram(
        bins=bins,
        values=len(values),
        overflow=overflow,
        overflow_from=upper if overflow else None,
    )


def _bin_index(value: float, width: float) -> int:
    """The bin of ``value``: rounded before the floor, so 0.5 / 0.02 is bin 25, not 24."""
    return math.floor(round(value / width, 9))
