"""Every shipped scenario's report is pinned as a baseline: drift in engine behaviour fails CI.

The baseline is ``sim.reports.report.baseline(report)``: each figure by its dotted path, so a
failing diff names the fields that moved. After an intended change, refresh with
``pytest tests/snapshots --snapshot-update`` and review the snapshot diff like code.

``CJSIM_BASELINE_SET="KEY=VALUE ..."`` runs the scenarios with extra engine settings, to preview
which baselines a settings change would move (the meta-test below uses it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.report import baseline, build_report

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_report_matches_its_baseline(path, snapshot_json):
    overrides = os.environ.get("CJSIM_BASELINE_SET", "").split()
    scenario = load_scenario(path, overrides=overrides)
    report = build_report(run_scenario(scenario, base_dir=path.parent))
    assert baseline(report) == snapshot_json
