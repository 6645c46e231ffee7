"""The run page's charts as data: every chart's Vega-Lite spec for scenarios/eng5_regular_24.yaml
(seed 42), one snapshot file per chart, so that a changed chart shows as a readable diff of its
spec (marks, channels, scales) and of its rows, rounded as the page rounds them.

The pages build these specs unchecked (``sim/reports/run_page_specs.py``); tests/reports
validates them against the Vega-Lite schema. A change in the engine's behaviour moves the rows
here as it moves the report baselines. After an intended change, refresh with
``pytest tests/snapshots/test_chart_specs.py --snapshot-update`` and review the diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from sim.commands.cli import main
from sim.reports.html_page import ChartBlock
from sim.reports.run_page import run_page_charts

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"
#: The page's charts, in page order: the batch's, then the run's.
CHART_IDS = (
    "scores-1",
    "heatmap-1",
    "positions-1",
    "timeline",
    "latency",
    "queue-wait",
    "dispositions",
)


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ChartBlock]:
    """The charts of the page of one run of eng5_regular_24 (its seed, 42)."""
    folder = tmp_path_factory.mktemp("chart_specs") / "run"
    main(["run", str(SCENARIO), "--no-html", "--out", str(folder)])
    assert (folder / "report.json").is_file(), f"cjsim run {SCENARIO} wrote no report"
    return run_page_charts(folder)


def test_the_page_has_these_charts_in_this_order(charts: dict[str, ChartBlock]):
    assert tuple(charts) == CHART_IDS


@pytest.mark.parametrize("chart_id", CHART_IDS)
def test_the_chart_spec_matches_its_snapshot(charts, chart_id: str, snapshot_json):
    assert charts[chart_id].spec == snapshot_json
