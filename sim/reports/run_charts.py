"""The run page's charts: each a ``ChartBlock`` whose chart and table come from the same rows.

Every function builds its rows once, as plain dicts, and hands the same rows to the Vega-Lite
spec (plain data, ``sim.reports.run_page_specs``; the tests validate it against the schema) and
to the HTML table, so what the chart draws and what the table lists cannot drift apart. No chart
uses a selection: the page must be the same bytes every time it is built.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sim.reports.html_page import ChartBlock, Flagged, Table
from sim.reports.ranking import Z_95
from sim.reports.run_page_data import BatchRanking
from sim.reports.run_page_specs import (
    Spec,
    channel,
    hconcat,
    layer,
    mark,
    tooltip,
    top_level,
    unit,
    value,
)

__all__ = [
    "CHART_HEIGHT_PX_MAX",
    "HEATMAP_ESSAYS_MAX",
    "HEATMAP_GROUPS",
    "LABELLED_ESSAYS_MAX",
    "WIDTH",
    "essay_axis",
    "heatmap_chart",
    "positions_chart",
    "rank_groups",
    "scores_chart",
]

WIDTH = 640
#: Up to this many essays a batch's heatmap has a row and a column per essay; above, it has
#: ``HEATMAP_GROUPS`` of each, groups of consecutive ranks (a row per essay of 1,000 essays would
#: be a million cells, and its table alone would fill pages).
HEATMAP_ESSAYS_MAX = 60
HEATMAP_GROUPS = 20
#: Up to this many essays a chart has a labelled row per essay; above, the rows get thinner
#: and unlabelled (a batch can hold 3,200 essays), and the table names them.
LABELLED_ESSAYS_MAX = 150
ROW_PX = 16
COUNTS_WIDTH_PX = 90  # the column of "12 A / 12 B" beside the A/B positions
CHART_HEIGHT_PX_MAX = 2400
_STUDENT = "student"


def essay_axis(order: list[str], title: str | None = None) -> tuple[Spec, int]:
    """The y channel for one row per essay, in ``order``, and the chart's height."""
    labelled = len(order) <= LABELLED_ESSAYS_MAX
    axis = {} if labelled else {"labels": False, "ticks": False}
    height = max(120, min(ROW_PX * len(order), CHART_HEIGHT_PX_MAX))
    return channel("essay:N", sort=order, title=title, axis=axis), height


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
    colour = channel("anchor_grade:N", title="anchor grade")
    if batch.calibration is not None:
        colour["scale"] = {"domain": [*batch.calibration.scale.grades, _STUDENT]}
    layers: list[Spec] = [
        unit(
            "essays",
            mark("rule", color="#888"),
            {
                "x": channel("low:Q", title="BT score (95% interval)"),
                "x2": channel("high"),
                "y": y,
            },
        ),
        unit(
            "essays",
            mark("point", filled=True, size=60),
            {
                "x": channel("score:Q"),
                "y": y,
                "color": colour,
                "shape": channel("role:N"),
                "tooltip": tooltip(
                    "essay:N", "rank:Q", "score:Q", "low:Q", "high:Q", "grade:N", "anchor_grade:N"
                ),
            },
        ),
    ]
    if boundaries:
        layers.append(
            unit(
                "boundaries",
                mark("rule", strokeDash=[4, 3], color="#555"),
                {"x": channel("boundary:Q")},
            )
        )
        layers.append(
            unit(
                "boundaries",
                mark("text", angle=270, align="left", dx=4, dy=-4, fontSize=10, color="#333"),
                {"x": channel("boundary:Q"), "y": value(0), "text": channel("label:N")},
            )
        )
    chart = layer(*layers, width=WIDTH, height=height)
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
        spec=top_level(chart, {"essays": rows, "boundaries": boundaries}),
        table=table,
        note="Each essay's Bradley–Terry score with its 95% interval (score ± 1.96 SE)."
        + boundary_note,
    )


def heatmap_chart(batch: BatchRanking) -> ChartBlock | None:
    """How often the row essay beat the column essay, strongest first; above
    ``HEATMAP_ESSAYS_MAX`` essays, how often a group of essays beat another (``HEATMAP_GROUPS``
    groups, by rank). None for a batch without essays."""
    order = [e.essay_id for e in batch.essays]
    if not order:
        return None
    if len(order) <= HEATMAP_ESSAYS_MAX:
        return _win_rates(
            batch,
            order,
            dict(batch.wins_between),
            row=("essay", "essay"),
            column=("opponent", "against"),
            title=f"Batch {batch.cj_batch_id}: who beat whom",
            caption="wins of the row essay / its decided comparisons with the column essay",
            note="The share of decided comparisons the row essay won against the column essay, "
            "strongest essays first; blank where the two never met.",
        )
    groups = rank_groups(order, HEATMAP_GROUPS)
    group_of = {essay: label for label, members in groups for essay in members}
    wins: dict[tuple[str, str], int] = {}
    for (winner, loser), count in batch.wins_between.items():
        key = (group_of[winner], group_of[loser])
        if key[0] != key[1]:  # within a group every win is also a loss: no information
            wins[key] = wins.get(key, 0) + count
    sizes = sorted({len(members) for _, members in groups})
    return _win_rates(
        batch,
        [label for label, _ in groups],
        wins,
        row=("group", "ranks"),
        column=("against", "against ranks"),
        title=f"Batch {batch.cj_batch_id}: who beat whom, {len(groups)} groups by rank",
        caption="wins of the row group / its decided comparisons with the column group",
        note=f"{len(order)} essays are too many for a row each (more than "
        f"{HEATMAP_ESSAYS_MAX}): strongest first, they are cut into {len(groups)} groups of "
        f"{'–'.join(str(size) for size in sizes)} consecutive ranks. A cell is the share of "
        "the decided comparisons between the two groups that the row group won; the tooltip "
        "and the table give the counts. Blank where no essay of the one group met one of the "
        "other, and on the diagonal (within a group every win is also a loss).",
    )


def rank_groups(order: Sequence[str], groups: int) -> list[tuple[str, list[str]]]:
    """``order`` (strongest first) cut into ``groups`` runs of consecutive ranks whose sizes
    differ by at most one, each labelled with its places (``"1–50"``)."""
    assert 0 < groups <= len(order), (groups, len(order))
    bounds = [index * len(order) // groups for index in range(groups + 1)]
    return [
        (f"{start + 1}–{end}", list(order[start:end])) for start, end in itertools.pairwise(bounds)
    ]


def _win_rates(
    batch: BatchRanking,
    labels: list[str],
    wins: Mapping[tuple[str, str], int],
    *,
    row: tuple[str, str],
    column: tuple[str, str],
    title: str,
    caption: str,
    note: str,
) -> ChartBlock:
    """The heatmap of ``wins`` (row label, column label) -> wins of the row over the column,
    rows and columns in ``labels`` order; ``row`` and ``column`` are (field, axis title)."""
    (row_field, row_title), (column_field, column_title) = row, column
    cells = []
    for label in labels:
        for other in labels:
            won, lost = wins.get((label, other), 0), wins.get((other, label), 0)
            if won + lost:
                cells.append(
                    {
                        row_field: label,
                        column_field: other,
                        "wins": won,
                        "meetings": won + lost,
                        "win_rate": round(won / (won + lost), 6),
                    }
                )
    side_px = min(WIDTH, 18 * len(labels))
    chart = unit(
        "cells",
        mark("rect"),
        {
            "x": channel(
                f"{column_field}:N", sort=labels, title=column_title, axis={"labelAngle": -60}
            ),
            "y": channel(f"{row_field}:N", sort=labels, title=row_title),
            "color": channel(
                "win_rate:Q", title="win rate", scale={"domain": [0, 1], "scheme": "blueorange"}
            ),
            "tooltip": tooltip(
                f"{row_field}:N", f"{column_field}:N", "wins:Q", "meetings:Q", "win_rate:Q"
            ),
        },
        width=side_px,
        height=side_px,
    )
    met = {(c[row_field], c[column_field]): c for c in cells}
    rows = tuple(
        (
            label,
            *(
                f"{met[label, o]['wins']}/{met[label, o]['meetings']}" if (label, o) in met else ""
                for o in labels
            ),
        )
        for label in labels
    )
    return ChartBlock(
        title=title,
        chart_id=f"heatmap-{batch.cj_batch_id}",
        spec=top_level(chart, {"cells": cells}),
        table=Table(
            columns=(f"{row_title} \\ {column_title}", *labels), rows=rows, caption=caption
        ),
        note=note,
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
    layers: list[Spec] = [
        unit(
            "essays",
            mark("bar"),
            {
                "x": channel("skew:Q", title="(A − B) / (A + B)", scale={"domain": [-1, 1]}),
                "y": y,
                "color": channel(
                    "over:N",
                    title="over the limit",
                    scale={"domain": [False, True], "range": ["#4c78a8", "#d62728"]},
                    legend={"orient": "top"},
                ),
                "tooltip": tooltip("essay:N", "a:Q", "b:Q", "skew:Q"),
            },
        ),
    ]
    # The counts in a column of their own, right of the plot: dark text on white, whatever
    # the colour of the bar beside it.
    counts = unit(
        "essays",
        mark("text", align="left", fontSize=10, color="#333"),
        {
            "y": {**y, "axis": None},
            "x": value(0),
            "text": channel("counts:N"),
            "tooltip": tooltip("essay:N", "a:Q", "b:Q"),
        },
        width=COUNTS_WIDTH_PX,
        height=height,
        title={"text": "shown A / B", "fontSize": 11, "anchor": "start"},
        view={"stroke": None},
    )
    limit_rows: list[dict[str, Any]] = []
    note = "How often each essay was shown first (A) rather than second (B)."
    if skew_limit is not None:
        limit, least = skew_limit
        limit_rows = [{"limit": -limit}, {"limit": limit}]
        layers.append(
            unit(
                "limits",
                mark("rule", strokeDash=[4, 3], color="#d62728"),
                {"x": channel("limit:Q")},
            )
        )
        note += (
            f" Dashed: the limit |A − B| / (A + B) ≤ {limit}, for essays with ≥ {least} "
            "comparisons."
        )
    else:
        note += " No limit drawn: the folder has no scenario.json."
    chart = hconcat(
        layer(*layers, width=WIDTH - COUNTS_WIDTH_PX, height=height),
        counts,
        spacing=8,
    )
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
        spec=top_level(chart, {"essays": rows, "limits": limit_rows}),
        table=table,
        note=note,
    )
