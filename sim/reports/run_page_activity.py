"""The run page's run-wide charts: the timeline in virtual time, the latency and queue-wait
distributions, and the callbacks' dispositions. As in ``sim.reports.run_charts``, each chart
and its table come from the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.reports.html_page import ChartBlock, Table
from sim.reports.run_charts import WIDTH
from sim.reports.run_page_data import Histogram, RunData
from sim.reports.run_page_specs import (
    Spec,
    channel,
    layer,
    mark,
    tooltip,
    top_level,
    unit,
    vconcat,
)
from sim.reports.run_page_timeline import Timeline

__all__ = ["SERIES_COLOURS", "dispositions_chart", "histogram_chart", "timeline_chart"]

#: Each queue series in the same colour on every page, whichever series a run has (a scale
#: given only the series present would hand the colours out again in another order).
SERIES_COLOURS = (("queued", "#4c78a8"), ("in flight", "#f58518"), ("backing off", "#9467bd"))
#: The concurrency limits, one per provider/model gate, in these colours by gate name order
#: (none red: red is the fault windows').
LIMIT_COLOURS = ("#54a24b", "#9d755d", "#72b7b2", "#bab0ac", "#eeca3b")


def _window_rows(timeline: Timeline) -> list[dict[str, Any]]:
    """The fault windows, cut at the run's end (a window can outlast the run)."""
    return [
        {"kind": w.kind, "start": w.start_s, "end": min(w.end_s, max(timeline.end_s, w.start_s))}
        for w in timeline.windows
    ]


def _windows_layer(timeline: Timeline, x_scale: Spec) -> list[Spec]:
    """The fault windows shaded behind a panel (named in the panel of their own)."""
    if not timeline.windows:
        return []
    return [
        unit(
            "windows",
            mark("rect", opacity=0.12, color="#d62728"),
            {
                "x": channel("start:Q", scale=x_scale),
                "x2": channel("end"),
                "tooltip": tooltip("kind:N", "start:Q", "end:Q"),
            },
        )
    ]


def _windows_panel(timeline: Timeline, x_scale: Spec) -> Spec:
    """Each fault window as a bar on a row of its kind: overlapping windows stay readable."""
    kinds = sorted({w.kind for w in timeline.windows})
    return unit(
        "windows",
        mark("bar", color="#d62728", opacity=0.6),
        {
            "x": channel("start:Q", title="virtual time (s)", scale=x_scale),
            "x2": channel("end"),
            "y": channel("kind:N", title=None, sort=kinds),
            "tooltip": tooltip("kind:N", "start:Q", "end:Q"),
        },
        width=WIDTH,
        height=max(20, 18 * len(kinds)),
        title="Fault windows",
    )


def _series_scale(series: Sequence[dict[str, Any]]) -> Spec:
    """The queue panel's colours: fixed for the queue series, then the limits' by gate."""
    limits = sorted({r["series"] for r in series if r["series"].startswith("limit ")})
    return {
        "domain": [name for name, _ in SERIES_COLOURS] + limits,
        "range": [colour for _, colour in SERIES_COLOURS]
        + [LIMIT_COLOURS[i % len(LIMIT_COLOURS)] for i in range(len(limits))],
    }


def timeline_chart(data: RunData) -> ChartBlock:
    """Queue depth, items in flight, the concurrency limit, completion, and provider errors and
    fired faults as marks, against virtual time; fault windows shaded and labelled."""
    timeline = data.timeline
    x_scale = {"domain": [0, max(timeline.end_s, 1.0)], "nice": False}
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
    x = channel("t:Q", title="virtual time (s)", scale=x_scale)
    queue_panel = layer(
        *_windows_layer(timeline, x_scale),
        unit(
            "series",
            mark("line", interpolate="step-after"),
            {
                "x": x,
                "y": channel("value:Q", title="queue items / limit"),
                "color": channel("series:N", title=None, scale=_series_scale(series)),
                "tooltip": tooltip("t:Q", "series:N", "value:Q"),
            },
        ),
        width=WIDTH,
        height=160,
        title="Queue and concurrency",
    )
    progress_panel = layer(
        *_windows_layer(timeline, x_scale),
        unit(
            "progress",
            mark("line", interpolate="step-after"),
            {
                "x": x,
                "y": channel("completion_pct:Q", title="completion %", scale={"domain": [0, 100]}),
                "color": channel("batch:N", title=None),
                "tooltip": tooltip("t:Q", "batch:N", "completed:Q", "completion_pct:Q"),
            },
        ),
        width=WIDTH,
        height=120,
        title="Comparisons completed",
    )
    panels: list[Spec] = [queue_panel, progress_panel]
    if timeline.windows:
        panels.insert(0, _windows_panel(timeline, x_scale))
    if marks:
        panels.append(
            layer(
                *_windows_layer(timeline, x_scale),
                unit(
                    "marks",
                    mark("tick", thickness=2),
                    {
                        "x": x,
                        "y": channel("event:N", title=None),
                        "color": channel("event:N", legend=None),
                        "tooltip": tooltip("t:Q", "event:N", "count:Q"),
                    },
                ),
                width=WIDTH,
                height=max(40, 18 * len({m["event"] for m in marks})),
                title="Provider errors and faults",
            )
        )
    chart = vconcat(*panels, resolve={"scale": {"color": "independent"}})
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
        title="Queue, completion and faults over virtual time",
        chart_id="timeline",
        spec=top_level(
            chart,
            {
                "series": series,
                "progress": progress,
                "marks": marks,
                "windows": _window_rows(timeline),
            },
        ),
        table=Table(columns=("kind", "what", "t (s)", "value"), rows=tuple(rows)),
        note=note,
    )


def histogram_chart(
    title: str, chart_id: str, histogram: Histogram, unit_name: str, note: str
) -> ChartBlock:
    """A distribution as bars over its bins, each bar's count above it; a cut tail as a grey
    bar of its own past a gap, labelled ``≥ X``."""
    rows: list[dict[str, Any]] = [
        {"lower": b.lower, "upper": b.upper, "count": b.count, "label": str(b.count or "")}
        for b in histogram.bins
    ]
    width = rows[0]["upper"] - rows[0]["lower"] if rows else 1.0
    overflow: list[dict[str, Any]] = []
    top = rows[-1]["upper"] if rows else 1.0
    if histogram.overflow_from is not None:
        # Drawn half a bin past the last one: the gap says the axis does not go on there.
        at = histogram.overflow_from + width / 2
        overflow = [
            {
                "lower": round(at, 9),
                "upper": round(at + width, 9),
                "count": histogram.overflow,
                "label": f"≥ {histogram.overflow_from:g} {unit_name}: {histogram.overflow}",
            }
        ]
        top = overflow[0]["upper"]
    x_scale = {"domain": [0, round(top, 9)], "nice": False}
    x = channel("lower:Q", title=unit_name, bin="binned", scale=x_scale)
    count_y = channel("count:Q", title="count")
    label = mark("text", dy=-4, baseline="bottom", fontSize=10, color="#333")
    layers: list[Spec] = [
        unit(
            "bins",
            mark("bar"),
            {
                "x": x,
                "x2": channel("upper"),
                "y": count_y,
                "tooltip": tooltip("lower:Q", "upper:Q", "count:Q"),
            },
        ),
        unit(
            "bins",
            label,
            {"x": channel("mid:Q"), "y": count_y, "text": channel("label:N")},
            transform=[{"calculate": "(datum.lower + datum.upper) / 2", "as": "mid"}],
        ),
    ]
    if overflow:
        layers += [
            unit(
                "overflow",
                mark("bar", color="#999"),
                {
                    "x": channel("lower:Q"),
                    "x2": channel("upper"),
                    "y": count_y,
                    "tooltip": tooltip("label:N"),
                },
            ),
            unit(
                "overflow",
                {**label, "align": "right"},
                {"x": channel("upper:Q"), "y": count_y, "text": channel("label:N")},
            ),
        ]
    chart = layer(*layers, width=WIDTH, height=160)
    table_rows: list[tuple[Any, ...]] = [(r["lower"], r["upper"], r["count"]) for r in rows]
    if overflow:
        table_rows.append((histogram.overflow_from, None, histogram.overflow))
        note += (
            f" The bars stop at twice the 95th percentile; the grey bar counts the "
            f"{histogram.overflow} values at or above {histogram.overflow_from:g} {unit_name}."
        )
    return ChartBlock(
        title=title,
        chart_id=chart_id,
        spec=top_level(chart, {"bins": rows, "overflow": overflow}),
        table=Table(
            columns=(f"from ({unit_name})", f"to ({unit_name})", "count"),
            rows=tuple(table_rows),
        ),
        note=note,
    )


def dispositions_chart(rows: Sequence[dict[str, Any]]) -> ChartBlock:
    """What the CJ service did with each callback (``callbacks_by_disposition``)."""
    values = [{"disposition": r["disposition"], "callbacks": r["callbacks"]} for r in rows]
    chart = unit(
        "dispositions",
        mark("bar"),
        {
            "x": channel("callbacks:Q"),
            "y": channel("disposition:N", sort="-x", title=None),
            "tooltip": tooltip("disposition:N", "callbacks:Q"),
        },
        width=WIDTH,
        height=max(40, 22 * len(values)),
    )
    return ChartBlock(
        title="Callback dispositions",
        chart_id="dispositions",
        spec=top_level(chart, {"dispositions": values}),
        table=Table(
            columns=("disposition", "callbacks"),
            rows=tuple((v["disposition"], v["callbacks"]) for v in values),
        ),
        note="Applied: counted; duplicate, late, orphan, invalid: refused, as they should be.",
    )
