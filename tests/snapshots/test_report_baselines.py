"""Every shipped scenario's report is pinned as a baseline: drift in engine behaviour fails CI.

The baseline is ``sim.reports.report.baseline(report)``: each figure a user decides on by its
dotted path (verdicts, each invariant as held or broken, counts of comparisons, callbacks and
errors by class, scores' quality), so a failing diff names the fields that moved. Figures that
move on any change (the event count, virtual times, the invariants' prose) are left out: see
docs/decisions/0010-snapshot-policy.md. After an intended change, refresh with
``pytest tests/snapshots --snapshot-update``, review the snapshot diff like code, and record
each changed file in CHANGELOG.md (test_snapshot_changelog.py says what to write).

``CJSIM_BASELINE_SET="KEY=VALUE ..."`` runs the scenarios with extra engine settings, to preview
which baselines a settings change would move (the meta-test uses it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.report import baseline, build_report, figures

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


def _report(**changes: Any) -> dict[str, Any]:
    """The smallest report ``baseline`` reads: one invariant held, one broken."""
    report: dict[str, Any] = {
        "scenario": "tiny",
        "fingerprint": "f" * 16,
        "events": 100,
        "invariants": {
            "queue_drained": {"ok": True, "detail": "0 items left", "first_event": None},
            "batches_terminal": {
                "ok": False,
                "detail": "batch 1 still WAITING_CALLBACKS",
                "first_event": {"seq": 41, "t": 12.5, "kind": "cj.batch.stuck", "ids": {}},
            },
        },
        "liveness": {"ok": True, "fault_phase_end_s": 12.5},
        "batches": [{"final_state": "COMPLETED", "kendall_tau": 0.81234}],
        "virtual_seconds": 12.5,
        "wall_seconds": 0.25,
        "virtual_per_wall": 50.0,
    }
    report.update(changes)
    return report


def test_a_baseline_pins_verdicts_and_outcomes_and_nothing_that_moves_on_any_change():
    assert baseline(_report()) == {
        "batches.0.final_state": "COMPLETED",
        "batches.0.kendall_tau": 0.8123,
        "invariants.batches_terminal": "broken",
        "invariants.queue_drained": "held",
        "liveness.ok": True,
        "scenario": "tiny",
    }


def test_runs_that_differ_only_in_moving_figures_have_one_baseline():
    moved = _report(
        events=1234,
        virtual_seconds=99.0,
        liveness={"ok": True, "fault_phase_end_s": 99.0},
        fingerprint="0" * 16,
        invariants={
            "queue_drained": {"ok": True, "detail": "reworded", "first_event": None},
            "batches_terminal": {
                "ok": False,
                "detail": "batch 1 never finished",
                "first_event": {"seq": 977, "t": 99.0, "kind": "cj.batch.stuck", "ids": {}},
            },
        },
    )
    assert baseline(moved) == baseline(_report())


@pytest.mark.parametrize(
    "changes",
    [
        {"batches": [{"final_state": "FAILED", "kendall_tau": 0.81234}]},
        {"batches": [{"final_state": "COMPLETED", "kendall_tau": 0.8125}]},
        {"liveness": {"ok": False, "fault_phase_end_s": 12.5}},
        {
            "invariants": {
                "queue_drained": {"ok": False, "detail": "0 items left", "first_event": None},
                "batches_terminal": {"ok": False, "detail": "", "first_event": None},
            }
        },
    ],
    ids=["final_state", "kendall_tau", "liveness", "invariant_verdict"],
)
def test_a_change_a_user_would_notice_changes_the_baseline(changes: dict[str, Any]):
    assert baseline(_report(**changes)) != baseline(_report())


def test_a_sweep_row_keeps_the_figures_a_baseline_leaves_out():
    """Sweeps compare arms on virtual time and event counts; only snapshots drop them."""
    kept = figures(_report())
    assert (kept["events"], kept["virtual_seconds"]) == (100, 12.5)
    assert kept["invariants.queue_drained.ok"] is True
    assert not {"wall_seconds", "virtual_per_wall", "fingerprint"} & kept.keys()
