"""The run page's charts: each a ``ChartBlock`` whose chart and table come from the same rows.

Every function builds its rows once, as plain dicts, and hands the same rows to the Vega-Lite
spec (Altair, validated by ``to_dict()``) and to the HTML table, so what the chart draws and
what the table lists cannot drift apart. No chart uses a selection or ``interactive()``: those
give Altair's specs counter-numbered parameter names, and the page must be the same bytes every
time it is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt

from sim.reports.html_page import ChartBlock, Flagged, Table
from sim.reports.run_page_data import BatchRanking

__all__ = [
    "WIDTH",
    "Z_95",
    "heatmap_chart",
    "named_data",
    "positions_chart",
    "scores_chart",
    "spec_of",
]

WIDTH = 640
Z_95 = 1.96  # a normal 95% interval: score ± 1.96 SE
#: Above this many essays a batch's heatmap is left out (its table alone would fill pages).
HEATMAP_ESSAYS_MAX = 60
#: Up to this many essays a chart has a labelled row per essay; above, the rows get thinner
#: and unlabelled (a batch can hold 3,200 essays), and the table names them.
LABELLED_ESSAYS_MAX = 150
ROW_PX = 16
CHART_HEIGHT_PX_MAX = 2400
_STUDENT = "student"


def named_data(name: str) -> alt.NamedData:
    """A chart's data by name; ``spec_of`` puts the rows under that name."""
    return alt.NamedData(name=name)


def spec_of(
    chart: alt.TopLevelMixin, datasets: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, Any]:
    """The Vega-Lite spec of ``chart``, validated by Altair, with ``datasets`` (its rows by
    ``named_data`` name) added after validation: the schema check of inline rows costs a
    second for a timeline's thousand points, and rows of plain values cannot be invalid."""
    spec: dict[str, Any] = chart.to_dict()  # validates against the Vega-Lite schema
    spec["datasets"] = {name: [dict(row) for row in rows] for name, rows in datasets.items()}
    return spec


def essay_axis(order: list[str], title: str | None = None) -> tuple[alt.Y, int]:
    """The y channel for one row per essay, in ``order``, and the chart's height."""
    labelled = len(order) <= LABELLED_ESSAYS_MAX
    axis = alt.Axis() if labelled else alt.Axis(labels=False, ticks=False)
    height = max(120, min(ROW_PX * len(order), CHART_HEIGHT_PX_MAX))
    return alt.Y("essay:N", sort=order, title=title, axis=axis), height


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def scores_chart(batch: BatchRanking) -> ChartBlock:
    """Each scored essay's BT score with its 95% interval, strongest at the top; anchors in
    the colour of their grade; the calibration's grade boundaries as vertical lines."""
    rows: list[dict[str, Any]] = [
        {
            "essay": e.essay_id,
            "rank": e.rank,
            "role": "anchor" if e.is_anchor else _STUDENT,
            "anchor_grade": e.known_grade if e.is_anchor and e.known_grade else _STUDENT,
            "score": e.score,
            "low": _r(e.score - Z_95 * e.se),
            "high": _r(e.score + Z_95 * e.se),
            "grade": e.grade,
        }
        for e in batch.essays
        if e.score is not None and e.se is not None
    ]
    boundaries = []
    if batch.calibration is not None:
        grades = batch.calibration.scale.grades
        for index in range(1, len(grades)):
            lower = batch.calibration.boundaries[index][0]
            boundaries.append({"boundary": _r(lower), "label": f"{grades[index]} from here"})
    order = [row["essay"] for row in rows]
    y, height = essay_axis(order)
    base = alt.Chart(named_data("essays"))
    tooltip = ["essay:N", "rank:Q", "score:Q", "low:Q", "high:Q", "grade:N", "anchor_grade:N"]
    grade_domain = [*batch.calibration.scale.grades, _STUDENT] if batch.calibration else None
    colour = alt.Color(
        "anchor_grade:N",
        title="anchor grade",
        scale=alt.Scale(domain=grade_domain) if grade_domain else alt.Undefined,
    )
    layers: list[Any] = [
        base.mark_rule(color="#888").encode(
            x=alt.X("low:Q", title="BT score (95% interval)"), x2="high:Q", y=y
        ),
        base.mark_point(filled=True, size=60).encode(
            x="score:Q", y=y, color=colour, shape=alt.Shape("role:N"), tooltip=tooltip
        ),
    ]
    if boundaries:
        bounds = alt.Chart(named_data("boundaries"))
        layers.append(bounds.mark_rule(strokeDash=[4, 3], color="#555").encode(x="boundary:Q"))
        layers.append(
            bounds.mark_text(
                angle=270, align="left", dx=4, dy=-4, fontSize=10, color="#333"
            ).encode(x="boundary:Q", y=alt.value(0), text="label:N")
        )
    chart = alt.layer(*layers).properties(width=WIDTH, height=height)
    table = Table(
        columns=("rank", "essay", "anchor grade", "score", "95% low", "95% high", "grade"),
        rows=tuple(
            (r["rank"], r["essay"], r["anchor_grade"], r["score"], r["low"], r["high"], r["grade"])
            for r in rows
        ),
    )
    boundary_note = (
        " Dashed lines: the grade boundaries of the anchors' calibration."
        if boundaries
        else " No grade boundaries: the batch has no anchors of two grades."
    )
    return ChartBlock(
        title=f"Batch {batch.cj_batch_id}: BT scores",
        chart_id=f"scores-{batch.cj_batch_id}",
        spec=spec_of(chart, {"essays": rows, "boundaries": boundaries}),
        table=table,
        note="Each essay's Bradley–Terry score with its 95% interval (score ± 1.96 SE)."
        + boundary_note,
    )


def heatmap_chart(batch: BatchRanking) -> ChartBlock | None:
    """How often the row essay beat the column essay, essays ordered by score; None above
    ``HEATMAP_ESSAYS_MAX`` essays."""
    order = [e.essay_id for e in batch.essays]
    if not order or len(order) > HEATMAP_ESSAYS_MAX:
        return None
    cells = []
    for essay in order:
        for opponent in order:
            won = batch.wins_between.get((essay, opponent), 0)
            lost = batch.wins_between.get((opponent, essay), 0)
            if won + lost:
                cells.append(
                    {
                        "essay": essay,
                        "opponent": opponent,
                        "wins": won,
                        "meetings": won + lost,
                        "win_rate": round(won / (won + lost), 6),
                    }
                )
    chart = (
        alt.Chart(named_data("cells"))
        .mark_rect()
        .encode(
            x=alt.X("opponent:N", sort=order, title="against", axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("essay:N", sort=order, title="essay"),
            color=alt.Color(
                "win_rate:Q", title="win rate", scale=alt.Scale(domain=[0, 1], scheme="blueorange")
            ),
            tooltip=["essay:N", "opponent:N", "wins:Q", "meetings:Q", "win_rate:Q"],
        )
        .properties(width=min(WIDTH, 18 * len(order)), height=min(WIDTH, 18 * len(order)))
    )
    met = {(c["essay"], c["opponent"]): c for c in cells}
    rows = tuple(
        (
            essay,
            *(
                f"{met[essay, o]['wins']}/{met[essay, o]['meetings']}" if (essay, o) in met else ""
                for o in order
            ),
        )
        for essay in order
    )
    return ChartBlock(
        title=f"Batch {batch.cj_batch_id}: who beat whom",
        chart_id=f"heatmap-{batch.cj_batch_id}",
        spec=spec_of(chart, {"cells": cells}),
        table=Table(
            columns=("essay \\ against", *order),
            rows=rows,
            caption="wins of the row essay / its decided comparisons with the column essay",
        ),
        note="The share of decided comparisons the row essay won against the column essay, "
        "strongest essays first; blank where the two never met.",
    )


def positions_chart(batch: BatchRanking, skew_limit: tuple[float, int] | None) -> ChartBlock:
    """Each essay's lean to the first slot, ``(A - B) / (A + B)``, with the scenario's limit."""
    rows: list[dict[str, Any]] = []
    for e in batch.essays:
        total = e.a_count + e.b_count
        skew = round((e.a_count - e.b_count) / total, 6) if total else 0.0
        judged = skew_limit is not None and total >= skew_limit[1]
        over = judged and skew_limit is not None and abs(skew) > skew_limit[0]
        rows.append(
            {
                "essay": e.essay_id,
                "a": e.a_count,
                "b": e.b_count,
                "counts": f"{e.a_count} A / {e.b_count} B",
                "skew": skew,
                "over": over,
            }
        )
    order = [row["essay"] for row in rows]
    y, height = essay_axis(order)
    base = alt.Chart(named_data("essays"))
    layers: list[Any] = [
        base.mark_bar().encode(
            x=alt.X("skew:Q", title="(A − B) / (A + B)", scale=alt.Scale(domain=[-1, 1])),
            y=y,
            color=alt.Color(
                "over:N",
                title="over the limit",
                scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#d62728"]),
            ),
            tooltip=["essay:N", "a:Q", "b:Q", "skew:Q"],
        ),
        # The counts themselves, at the right edge of each row.
        base.mark_text(align="right", dx=-2, fontSize=10, color="#333").encode(
            x=alt.value(WIDTH), y=y, text="counts:N"
        ),
    ]
    limit_rows: list[dict[str, Any]] = []
    note = "How often each essay was shown first (A) rather than second (B)."
    if skew_limit is not None:
        limit, least = skew_limit
        limit_rows = [{"limit": -limit}, {"limit": limit}]
        limits = alt.Chart(named_data("limits"))
        layers.append(limits.mark_rule(strokeDash=[4, 3], color="#d62728").encode(x="limit:Q"))
        note += (
            f" Dashed: the limit |A − B| / (A + B) ≤ {limit}, for essays with ≥ {least} "
            "comparisons."
        )
    else:
        note += " No limit drawn: the folder has no scenario.json."
    chart = alt.layer(*layers).properties(width=WIDTH, height=height)
    table = Table(
        columns=("essay", "A", "B", "(A − B) / (A + B)"),
        rows=tuple(
            (
                r["essay"],
                r["a"],
                r["b"],
                Flagged(value=r["skew"], reason="over the limit") if r["over"] else r["skew"],
            )
            for r in rows
        ),
    )
    return ChartBlock(
        title=f"Batch {batch.cj_batch_id}: A/B positions",
        chart_id=f"positions-{batch.cj_batch_id}",
        spec=spec_of(chart, {"essays": rows, "limits": limit_rows}),
        table=table,
        note=note,
    )
