"""``sweep.html``: one chart per figure, each a valid Vega-Lite spec with its table, the same
bytes for the same numbers."""

from __future__ import annotations

import json
import re

import altair as alt

from sim.reports.sweep_page import sweep_page_html
from sim.reports.sweep_stats import arm_figures, paired_figures

ROWS = [
    {"scenario_file": "s.yaml", "arm": arm, "axis.mode": arm, "seed": seed, "calls": calls}
    for arm, base in (("per_request", 10.0), ("serial_bundle", 7.0))
    for seed, calls in ((1, base), (2, base + 1.5), (3, base - 0.5), (4, base + 3.25))
]


def _page() -> str:
    arms = arm_figures(ROWS, ["calls", "absent"], "sweep")
    pairs = paired_figures(ROWS, ["calls", "absent"], "sweep", compare="mode")
    return sweep_page_html("sweep", "what it answers", {"held": 8}, arms, pairs)


def _specs(page: str) -> dict[str, dict]:
    match = re.search(r'<script type="application/json" id="[^"]*">(.*?)</script>', page, re.S)
    assert match, "no chart specs in the page"
    return json.loads(match.group(1))


def test_every_figure_has_a_valid_chart_and_its_table():
    page = _page()
    specs = _specs(page)
    assert sorted(specs) == ["figure-1", "figure-2"]
    for spec in specs.values():
        alt.LayerChart.from_dict(spec, validate=True)  # raises on an invalid spec
    values = {row["arm"]: row for row in specs["figure-1"]["data"]["values"]}
    assert values["s.yaml · per_request"]["mean"] == 11.0625
    assert values["s.yaml · serial_bundle"]["n"] == 4
    assert specs["figure-2"]["data"]["values"] == []  # no run reported it
    assert "Data: calls" in page
    assert "what it answers" in page


def test_the_paired_table_counts_each_way():
    page = _page()
    row = re.search(r"<tr><td>calls</td>.*?</tr>", page, re.S)
    assert row, page
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    assert cells[4] == "4"  # n
    assert cells[5] == "-3.0"  # mean difference, serial_bundle - per_request
    assert cells[-3:] == ["0", "4", "0"]  # up, down, same


def test_the_page_is_the_same_bytes_every_time():
    assert _page() == _page()
