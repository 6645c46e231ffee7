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
from sim.reports.run_page_data import BatchRanking, Histogram, RunData
from sim.reports.run_timeline import Timeline

__all__ = [
    "dispositions_chart",
    "heatmap_chart",
    "histogram_chart",
    "positions_chart",
    "scores_chart",
    "timeline_chart",
]

WIDTH = 640
Z_95 = 1.96  # a normal 95% interval: score ± 1.96 SE
#: Above this many essays a batch's heatmap is left out (its table alone would fill pages).
HEATMAP_ESSAYS_MAX = 60
_STUDENT = "student"


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()  # validates against the Vega-Lite schema
    return spec


def _data(rows: Sequence[Mapping[str, Any]]) -> alt.InlineData:
    """Rows as inline data (the spec carries them, under a name derived from their content)."""
    return alt.InlineData(values=[dict(row) for row in rows])


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
    y = alt.Y("essay:N", sort=order, title=None)
    base = alt.Chart(_data(rows))
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
        bounds = alt.Chart(_data(boundaries))
        layers.append(bounds.mark_rule(strokeDash=[4, 3], color="#555").encode(x="boundary:Q"))
        layers.append(
            bounds.mark_text(
                angle=270, align="left", dx=4, dy=-4, fontSize=10, color="#333"
            ).encode(x="boundary:Q", y=alt.value(0), text="label:N")
        )
    chart = alt.layer(*layers).properties(width=WIDTH, height=max(120, 16 * len(rows)))
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
        spec=_spec(chart),
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
        alt.Chart(_data(cells))
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
        spec=_spec(chart),
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
            {"essay": e.essay_id, "a": e.a_count, "b": e.b_count, "skew": skew, "over": over}
        )
    order = [row["essay"] for row in rows]
    base = alt.Chart(_data(rows))
    layers: list[Any] = [
        base.mark_bar().encode(
            x=alt.X("skew:Q", title="(A − B) / (A + B)", scale=alt.Scale(domain=[-1, 1])),
            y=alt.Y("essay:N", sort=order, title=None),
            color=alt.Color(
                "over:N",
                title="over the limit",
                scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#d62728"]),
            ),
            tooltip=["essay:N", "a:Q", "b:Q", "skew:Q"],
        )
    ]
    note = "How often each essay was shown first (A) rather than second (B)."
    if skew_limit is not None:
        limit, least = skew_limit
        limits = alt.Chart(_data([{"limit": -limit}, {"limit": limit}]))
        layers.append(limits.mark_rule(strokeDash=[4, 3], color="#d62728").encode(x="limit:Q"))
        note += (
            f" Dashed: the limit |A − B| / (A + B) ≤ {limit}, for essays with ≥ {least} "
            "comparisons."
        )
    else:
        note += " No limit drawn: the folder has no scenario.json."
    chart = alt.layer(*layers).properties(width=WIDTH, height=max(120, 16 * len(rows)))
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
        spec=_spec(chart),
        table=table,
        note=note,
    )


def _windows_layer(timeline: Timeline, x_scale: alt.Scale) -> list[Any]:
    if not timeline.windows:
        return []
    rows = [
        {"kind": w.kind, "start": w.start_s, "end": min(w.end_s, max(timeline.end_s, w.start_s))}
        for w in timeline.windows
    ]
    windows = alt.Chart(_data(rows))
    return [
        windows.mark_rect(opacity=0.15, color="#d62728").encode(
            x=alt.X("start:Q", scale=x_scale), x2="end:Q", tooltip=["kind:N", "start:Q", "end:Q"]
        ),
        windows.mark_text(
            align="left", baseline="top", dx=2, dy=2, fontSize=10, color="#a40e26"
        ).encode(x=alt.X("start:Q", scale=x_scale), y=alt.value(0), text="kind:N"),
    ]


def timeline_chart(data: RunData) -> ChartBlock:
    """Queue depth, items in flight, the concurrency limit, completion, and provider errors and
    fired faults as marks, against virtual time; fault windows shaded and labelled."""
    timeline = data.timeline
    x_scale = alt.Scale(domain=[0, max(timeline.end_s, 1.0)], nice=False)
    series = [
        {"t": round(p.t, 3), "series": name, "value": value}
        for p in timeline.queue
        for name, value in (
            ("queued", p.queued),
            ("in flight", p.in_flight),
            ("backing off", p.backing_off),
        )
    ]
    series.extend(
        {"t": round(p.t, 3), "series": f"limit {p.gate}", "value": p.limit} for p in timeline.limits
    )
    if timeline.limits:  # the last limit holds to the end
        last = {p.gate: p for p in timeline.limits}
        series.extend(
            {"t": round(timeline.end_s, 3), "series": f"limit {g}", "value": p.limit}
            for g, p in sorted(last.items())
        )
    progress = [
        {
            "t": round(p.t, 3),
            "batch": f"batch {p.cj_batch_id}",
            "completed": p.completed,
            "completion_pct": p.completion_pct,
        }
        for p in timeline.completion
    ]
    marks = [{"t": round(m.t, 3), "event": m.label, "count": m.count} for m in timeline.marks]
    x = alt.X("t:Q", title="virtual time (s)", scale=x_scale)
    width = WIDTH
    queue_panel = alt.layer(
        *_windows_layer(timeline, x_scale),
        alt.Chart(_data(series))
        .mark_line(interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("value:Q", title="queue items / limit"),
            color=alt.Color("series:N", title=None),
            tooltip=["t:Q", "series:N", "value:Q"],
        ),
    ).properties(width=width, height=160, title="Queue and concurrency")
    progress_panel = alt.layer(
        *_windows_layer(timeline, x_scale),
        alt.Chart(_data(progress))
        .mark_line(interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("completion_pct:Q", title="completion %", scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("batch:N", title=None),
            tooltip=["t:Q", "batch:N", "completed:Q", "completion_pct:Q"],
        ),
    ).properties(width=width, height=120, title="Comparisons completed")
    panels: list[Any] = [queue_panel, progress_panel]
    if marks:
        panels.append(
            alt.layer(
                *_windows_layer(timeline, x_scale),
                alt.Chart(_data(marks))
                .mark_tick(thickness=2)
                .encode(
                    x=x,
                    y=alt.Y("event:N", title=None),
                    color=alt.Color("event:N", legend=None),
                    tooltip=["t:Q", "event:N", "count:Q"],
                ),
            ).properties(
                width=width,
                height=max(40, 18 * len({m["event"] for m in marks})),
                title="Provider errors and faults",
            )
        )
    chart = alt.vconcat(*panels).resolve_scale(color="independent")
    rows: list[tuple[Any, ...]] = [("series", r["series"], r["t"], r["value"]) for r in series]
    rows.extend(
        ("progress", r["batch"], r["t"], f"{r['completed']} ({r['completion_pct']}%)")
        for r in progress
    )
    rows.extend(("mark", m["event"], m["t"], m["count"]) for m in marks)
    rows.extend(("fault window", w.kind, w.start_s, f"until {w.end_s}") for w in timeline.windows)
    note = "Virtual seconds since the run began."
    note += (
        " Shaded: the scenario's fault windows."
        if timeline.windows
        else " No fault windows shaded." + (" (no scenario.json)" if data.scenario is None else "")
    )
    return ChartBlock(
        title="Timeline",
        chart_id="timeline",
        spec=_spec(chart),
        table=Table(columns=("kind", "what", "t (s)", "value"), rows=tuple(rows)),
        note=note,
    )


def histogram_chart(
    title: str, chart_id: str, histogram: Histogram, unit: str, note: str
) -> ChartBlock:
    """A distribution as bars over its bins."""
    rows: list[dict[str, Any]] = [
        {"lower": b.lower, "upper": b.upper, "count": b.count} for b in histogram.bins
    ]
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("lower:Q", title=unit, bin="binned"),
            x2="upper:Q",
            y=alt.Y("count:Q", title="count"),
            tooltip=["lower:Q", "upper:Q", "count:Q"],
        )
        .properties(width=WIDTH, height=160)
    )
    return ChartBlock(
        title=title,
        chart_id=chart_id,
        spec=_spec(chart),
        table=Table(
            columns=(f"from ({unit})", f"to ({unit})", "count"),
            rows=tuple((r["lower"], r["upper"], r["count"]) for r in rows),
        ),
        note=note,
    )


def dispositions_chart(rows: Sequence[dict[str, Any]]) -> ChartBlock:
    """What the CJ service did with each callback (``callbacks_by_disposition``)."""
    values = [{"disposition": r["disposition"], "callbacks": r["callbacks"]} for r in rows]
    chart = (
        alt.Chart(_data(values))
        .mark_bar()
        .encode(
            x=alt.X("callbacks:Q"),
            y=alt.Y("disposition:N", sort="-x", title=None),
            tooltip=["disposition:N", "callbacks:Q"],
        )
        .properties(width=WIDTH, height=max(40, 22 * len(values)))
    )
    return ChartBlock(
        title="Callback dispositions",
        chart_id="dispositions",
        spec=_spec(chart),
        table=Table(
            columns=("disposition", "callbacks"),
            rows=tuple((v["disposition"], v["callbacks"]) for v in values),
        ),
        note="Applied: counted; duplicate, late, orphan, invalid: refused, as they should be.",
    )
