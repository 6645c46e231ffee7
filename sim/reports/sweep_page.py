"""``sweep.html``: a sweep's table as a page, one small chart per figure.

Each figure gets a chart of every arm's mean with its 95% bootstrap interval (one row per
scenario and arm) and, under it, the same numbers as a table, followed by the paired
differences. The specs are plain Vega-Lite dicts (no Altair at page time: a sweep's page is
written after every sweep and must cost nothing next to its runs); ``tests/sim/
test_sweep_page.py`` validates them against the Vega-Lite schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.reports.html_page import ChartBlock, Section, Table, TableBlock, render_page, text
from sim.reports.sweep_stats import ArmFigure, PairedFigure

__all__ = ["sweep_page_html"]

WIDTH = 480
LABEL_WIDTH = 400  # px for "scenario · arm": the arms' names are the point of the chart


def _chart_id(index: int) -> str:
    return f"figure-{index + 1}"


def _figure_block(index: int, figure: str, arms: Sequence[ArmFigure]) -> ChartBlock:
    rows = [
        {
            "arm": f"{item.scenario} · {item.arm}",
            "n": item.n,
            "mean": item.interval.mean,
            "low": item.interval.low,
            "high": item.interval.high,
        }
        for item in arms
        if item.interval is not None
    ]
    y = {
        "field": "arm",
        "type": "nominal",
        "sort": None,
        "title": None,
        "axis": {"labelLimit": LABEL_WIDTH},
    }
    spec: dict[str, Any] = {
        "data": {"values": rows},
        "width": WIDTH,
        "height": {"step": 22},
        "layer": [
            {
                "mark": {"type": "rule", "strokeWidth": 2},
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "low",
                        "type": "quantitative",
                        "title": f"{figure} (mean, 95% interval)",
                        "scale": {"zero": False},
                    },
                    "x2": {"field": "high"},
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 60},
                "encoding": {
                    "y": y,
                    "x": {"field": "mean", "type": "quantitative"},
                    "tooltip": [
                        {"field": "arm", "type": "nominal"},
                        {"field": "n", "type": "quantitative"},
                        {"field": "mean", "type": "quantitative"},
                        {"field": "low", "type": "quantitative"},
                        {"field": "high", "type": "quantitative"},
                    ],
                },
            },
        ],
    }
    table = Table(
        columns=("scenario", "arm", "n", "mean", "95% low", "95% high"),
        rows=tuple(
            (
                item.scenario,
                item.arm,
                item.n,
                None if item.interval is None else item.interval.mean,
                None if item.interval is None else item.interval.low,
                None if item.interval is None else item.interval.high,
            )
            for item in arms
        ),
    )
    return ChartBlock(title=figure, chart_id=_chart_id(index), spec=spec, table=table)


def _pairs_block(pairs: Sequence[PairedFigure]) -> TableBlock:
    return TableBlock(
        title="Paired differences (second minus first, over the seeds both ran)",
        table=Table(
            columns=(
                "figure",
                "scenario",
                "first",
                "second",
                "n",
                "mean difference",
                "95% low",
                "95% high",
                "up",
                "down",
                "same",
            ),
            rows=tuple(
                (
                    item.figure,
                    item.scenario,
                    item.first,
                    item.second,
                    item.n,
                    None if item.interval is None else item.interval.mean,
                    None if item.interval is None else item.interval.low,
                    None if item.interval is None else item.interval.high,
                    item.higher,
                    item.lower,
                    item.equal,
                )
                for item in pairs
            ),
        ),
        note="An interval that excludes 0 says the arms differ on this figure beyond what the "
        "seeds explain; up/down/same count the seeds by the sign of their difference.",
    )


def sweep_page_html(
    name: str,
    description: str,
    verdicts: dict[str, int],
    arms: Sequence[ArmFigure],
    pairs: Sequence[PairedFigure],
) -> str:
    figures = list(dict.fromkeys(item.figure for item in arms))
    header = (
        (f"<p>{text(description)}</p>" if description else "")
        + "<p>"
        + ", ".join(f"{text(k)}: {v}" for k, v in verdicts.items())
        + " runs</p>"
    )
    sections = [
        Section(
            title="Each arm, figure by figure",
            blocks=tuple(
                _figure_block(index, figure, [a for a in arms if a.figure == figure])
                for index, figure in enumerate(figures)
            ),
        ),
        Section(title="Arms compared seed by seed", blocks=(_pairs_block(pairs),)),
    ]
    return render_page(f"cjsim sweep {name}", header, sections)
