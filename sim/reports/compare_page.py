"""The comparison page: two or more runs side by side, as one self-contained HTML file.

``compare_page_html(run_dirs)`` is what ``cjsim report A B [C ...]`` writes. The first run is the
reference and every difference is a later run minus it (``B − A``). The page holds, in order:
the runs and the settings in which they differ; the headline figures of ``report.json`` in one
table with their differences, and Kendall's tau between each later run's ranking and the
first's; the runs' timelines (queue and comparisons completed) on one virtual-time axis, so that
a stall in one run lines up with the same moment in another; the rankings joined by essay; and
the task document's validation plan (the tables ``cjsim compare`` prints) with differences.

The values come from ``compare_page_data``; this module only lays them out with the page
frame (``html_page``), which gives every chart a plain table of its data, so the page reads
with scripts off and prints. Nothing here reads a clock or a random source: the same folders
give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.reports.compare import VALIDATION_PLAN
from sim.reports.compare import Section as PlanSection
from sim.reports.compare_page_data import (
    ComparedRuns,
    RunSide,
    difference,
    read_runs,
    setting_differences,
)
from sim.reports.html_page import (
    Block,
    Cell,
    ChartBlock,
    FiguresBlock,
    Section,
    Table,
    TableBlock,
    format_cell,
    render_page,
    table_html,
    text,
)
from sim.reports.run_page_specs import Spec, channel, layer, mark, top_level, unit

__all__ = ["compare_page_html"]

CHART_WIDTH_PX = 760
LANE_HEIGHT_PX = 110  # one run's lane of the queue chart
CHART_HEIGHT_PX = 260
#: The runs' colours (A, B, ...): greens and purples, apart from the blue and orange of the queue
#: states, so that no colour means two things on the page.
RUN_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666")
#: The queue states in the run page's colours (``run_page_activity.SERIES_COLOURS``).
STATE_COLOURS = {"queued": "#4c78a8", "in flight": "#f58518"}
#: The validation plan's measures that count something: a row a run lacks (an error type it
#: never saw) is a count of 0 there, as in the headline figures.
COUNTED_MEASURES = frozenset({"calls", "errors", "comparisons", "callbacks", "items", "retries"})


def _cell(value: Any) -> Cell:
    """A JSON value as a table cell: containers as their JSON-ish text, an empty text (no
    expiry reason) as missing, "—" as every other missing value."""
    if value == "":
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _with_differences(values: Sequence[Any]) -> tuple[Cell, ...]:
    """``A, B, B − A, C, C − A, ...``."""
    cells: list[Cell] = [_cell(values[0])]
    for value in values[1:]:
        cells += [_cell(value), difference(values[0], value)]
    return tuple(cells)


def _run_columns(runs: Sequence[RunSide]) -> tuple[str, ...]:
    columns = [runs[0].label]
    for run in runs[1:]:
        columns += [run.label, f"{run.label} − {runs[0].label}"]
    return tuple(columns)


def _runs_table(runs: Sequence[RunSide]) -> Table:
    return Table(
        columns=("run", "folder", "scenario", "seed", "legacy", "fingerprint"),
        rows=tuple(
            (
                run.label,
                str(run.folder),
                _cell(run.report.get("scenario")),
                _cell(run.report.get("seed")),
                bool(run.report.get("legacy")),
                str(run.report.get("fingerprint", ""))[:12],
            )
            for run in runs
        ),
    )


def _settings_block(runs: Sequence[RunSide]) -> Block:
    rows = tuple(
        (
            row.name,
            *(
                _cell(value) if not default else f"{format_cell(_cell(value))} (default)"
                for value, default in zip(row.values, row.defaults, strict=True)
            ),
        )
        for row in setting_differences(runs)
    )
    if all(run.settings_changed is None for run in runs):
        note = "No run folder holds a scenario.json, so their settings cannot be compared."
    elif not rows:
        note = "Every run used the same engine settings."
    else:
        note = (
            "Engine settings whose value is not the same in every run, from each run's "
            "scenario.json; (default): the run's scenario did not set it, so it had a simulated "
            "run's default; —: the folder has no scenario.json."
        )
    return TableBlock(
        title="Settings that differ",
        table=Table(columns=("setting", *(run.label for run in runs)), rows=rows),
        note=note,
    )


def _headline_section(compared: ComparedRuns) -> Section:
    runs = compared.runs
    first = runs[0].label
    agreement = tuple(
        (f"Kendall tau, {a.label} vs {first} (batch {a.cj_batch_id})", a.tau)
        for a in compared.agreements
    )
    figures = TableBlock(
        title="Figures side by side",
        table=Table(
            columns=("figure", *_run_columns(runs)),
            rows=tuple((row.name, *_with_differences(row.values)) for row in compared.headline),
        ),
        note=f"From each run's report.json; a difference is the later run minus run {first}.",
    )
    return Section(
        title="Headline figures",
        blocks=(
            FiguresBlock(
                title="Rankings agree",
                figures=agreement,
                note=f"Kendall's tau-b between the ranks of the essays ranked in both runs: "
                f"1 is the same order as run {first}, -1 the reverse.",
            ),
            figures,
        ),
    )


def _values(table: Table, fields: Sequence[str]) -> list[dict[str, Any]]:
    """A chart's data: the rows of the table the page shows under it, under field names."""
    return [dict(zip(fields, row, strict=True)) for row in table.rows]


def _time_axis(compared: ComparedRuns) -> Spec:
    return channel(
        "t_s:Q", title="virtual time (s)", scale={"domain": [0, compared.end_s], "nice": False}
    )


def _run_scale(runs: Sequence[RunSide], *, first: bool = True) -> Spec:
    """Each run's colour, the same in every chart; ``first=False`` leaves run A out of the
    legend (a chart that plots only the later runs against it)."""
    shown = range(0 if first else 1, len(runs))
    return {
        "domain": [runs[i].label for i in shown],
        "range": [RUN_COLOURS[i % len(RUN_COLOURS)] for i in shown],
    }


def _timeline_section(compared: ComparedRuns) -> Section:
    queue = Table(
        columns=("run", "t (s)", "queued", "in flight"),
        rows=tuple(
            (run.label, point.t, point.queued, point.in_flight)
            for run in compared.runs
            for point in run.timeline.queue
        ),
    )
    # One lane per run: the line chart repeated in a row per value of "run".
    lane = unit(
        "queue",
        mark("line", interpolate="step-after"),
        {
            "x": _time_axis(compared),
            "y": channel("items:Q", title="queue items"),
            "color": channel(
                "state:N",
                title="queue items",
                scale={"domain": list(STATE_COLOURS), "range": list(STATE_COLOURS.values())},
            ),
        },
        transform=[{"fold": ["queued", "in flight"], "as": ["state", "items"]}],
        width=CHART_WIDTH_PX,
        height=LANE_HEIGHT_PX,
    )
    queue_chart = {
        "data": lane.pop("data"),
        "facet": {
            "row": channel(
                "run:N",
                title=None,
                # Each lane named above it, across: "run A", not a rotated letter.
                header={
                    "labelAngle": 0,
                    "labelOrient": "top",
                    "labelAnchor": "start",
                    "labelAlign": "left",
                    "labelFontSize": 13,
                    "labelFontWeight": "bold",
                    "labelExpr": "'run ' + datum.value",
                },
            )
        },
        "spec": lane,
    }
    completed = Table(
        columns=("run", "batch", "t (s)", "completed"),
        rows=tuple(
            (run.label, point.cj_batch_id, point.t, point.completed)
            for run in compared.runs
            for point in run.timeline.completion
        ),
    )
    completed_chart = unit(
        "completed",
        mark("line", interpolate="step-after"),
        {
            "x": _time_axis(compared),
            "y": channel("completed:Q", title="comparisons completed"),
            "color": channel("run:N", title="run", scale=_run_scale(compared.runs)),
            "detail": channel("batch:N"),
        },
        width=CHART_WIDTH_PX,
        height=CHART_HEIGHT_PX,
    )
    return Section(
        title="Timelines",
        note=f"Every run on one axis, from 0 to {compared.end_s} virtual seconds (the last "
        "event of the longest run).",
        blocks=(
            ChartBlock(
                title="Queue over virtual time",
                chart_id="queue",
                spec=top_level(
                    queue_chart, {"queue": _values(queue, ("run", "t_s", "queued", "in flight"))}
                ),
                table=queue,
                note="Items waiting for a worker and items whose call is under way, one lane "
                "per run.",
            ),
            ChartBlock(
                title="Comparisons completed over virtual time",
                chart_id="completed",
                spec=top_level(
                    completed_chart,
                    {"completed": _values(completed, ("run", "batch", "t_s", "completed"))},
                ),
                table=completed,
                note="The batch's count of completed comparisons after each callback.",
            ),
        ),
    )


def _ranking_section(compared: ComparedRuns) -> Section:
    runs = compared.runs
    first = runs[0].label
    columns = [
        "batch",
        "essay",
        "anchor grade",
        *(f"rank {label}" for label in _run_columns(runs)),
        *(f"score {label}" for label in _run_columns(runs)),
    ]
    rows = tuple(
        (
            essay.cj_batch_id,
            essay.essay_id,
            essay.known_grade,
            *_with_differences(essay.ranks),
            # To 3 places, as the run page's ranking; the differences of the shown values.
            *_with_differences([None if s is None else round(s, 3) for s in essay.scores]),
        )
        for essay in compared.ranking
    )
    points = Table(
        columns=("run", "essay", f"rank {first}", "rank"),
        rows=tuple(
            (run.label, essay.essay_id, essay.ranks[0], essay.ranks[index])
            for index, run in enumerate(runs[1:], start=1)
            for essay in compared.ranking
            if essay.ranks[0] is not None and essay.ranks[index] is not None
        ),
    )
    ranked = max((r for row in points.rows for r in row[2:] if isinstance(r, int)), default=1)
    side = {"domain": [0, ranked + 1], "nice": False}
    chart = layer(
        # y = x: the same rank in both runs.
        unit(
            "diagonal",
            mark("line", color="#999", strokeDash=[4, 3]),
            {"x": channel("rank:Q", scale=side), "y": channel("rank:Q", scale=side)},
        ),
        unit(
            "ranks",
            mark("point", filled=True, size=60),
            {
                "x": channel("first_rank:Q", title=f"rank in run {first}", scale=side),
                "y": channel("rank:Q", title="rank in the other run", scale=side),
                "color": channel("run:N", title="run", scale=_run_scale(runs, first=False)),
                "tooltip": [
                    channel("essay:N", title="essay"),
                    channel("run:N", title="run"),
                    channel("first_rank:Q", title=f"rank in run {first}"),
                    channel("rank:Q", title="rank in this run"),
                ],
            },
        ),
        width=CHART_HEIGHT_PX * 2,
        height=CHART_HEIGHT_PX * 2,
    )
    agreements = Table(
        columns=("run", "batch", "essays ranked in both", "rank changed", f"tau against {first}"),
        rows=tuple((a.label, a.cj_batch_id, a.essays, a.moved, a.tau) for a in compared.agreements),
    )
    return Section(
        title="Rankings",
        blocks=(
            ChartBlock(
                title=f"Rank in each run against rank in run {first}",
                chart_id="ranks",
                spec=top_level(
                    chart,
                    {
                        "ranks": _values(points, ("run", "essay", "first_rank", "rank")),
                        "diagonal": [{"rank": 0}, {"rank": ranked + 1}],
                    },
                ),
                table=points,
                note="On the dashed diagonal: the same rank in both runs; above it, the essay fell "
                "in the other run. Hover a point for its essay.",
            ),
            TableBlock(title="Agreement of the rankings", table=agreements),
            TableBlock(
                title="Rankings joined by essay",
                table=Table(columns=tuple(columns), rows=rows),
                note=f"Every essay of every run, strongest first in run {first}; a rank change "
                "is the later rank minus the first (positive: it fell), a score difference the "
                "later Bradley-Terry score minus the first (scores to 3 places).",
            ),
        ),
    )


def _plan_table(plan: PlanSection, runs: Sequence[RunSide]) -> TableBlock:
    """One question of the validation plan: the rows of every run joined on the question's
    keys, each measure with its differences (a row per key and measure, as ``cjsim compare``
    prints it)."""
    by_key = [
        {tuple(row[k] for k in plan.keys): row for row in run.analysis[plan.query]} for run in runs
    ]
    keys = sorted({key for rows in by_key for key in rows}, key=lambda key: [str(k) for k in key])
    rows = tuple(
        (
            *(_cell(k) for k in key),
            measure,
            *_with_differences(
                [
                    rows[key][measure]
                    if key in rows
                    else (0 if measure in COUNTED_MEASURES else None)
                    for rows in by_key
                ]
            ),
        )
        for key in keys
        for measure in plan.values
    )
    return TableBlock(
        title=plan.title,
        table=Table(columns=(*plan.keys, "measure", *_run_columns(runs)), rows=rows),
    )


def compare_page_html(run_dirs: Sequence[Path]) -> str:
    """The comparison page of two or more run folders, the first the reference. Raises
    ``RunFolderError`` naming every problem of every folder."""
    compared = read_runs(run_dirs)
    runs = compared.runs
    scenarios = sorted({str(run.report.get("scenario")) for run in runs})
    title = f"Comparison of {len(runs)} runs: {', '.join(scenarios)}"
    header = (
        table_html(_runs_table(runs))
        + f'\n<p class="note">Run {text(runs[0].label)} is the reference: every difference on '
        "this page is a later run minus it.</p>"
    )
    sections = [
        Section(title="Runs", blocks=(_settings_block(runs),)),
        _headline_section(compared),
        _timeline_section(compared),
        _ranking_section(compared),
        Section(
            title="Validation plan",
            note="The tables `cjsim compare` prints, from each run's analysis.json.",
            blocks=tuple(_plan_table(plan, runs) for plan in VALIDATION_PLAN),
        ),
    ]
    return render_page(title, header, sections)
