"""Every shipped scenario meets its own expectations, with the fixes and (where it says what
should break) as the original system."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.harness.expectations import check_expectations
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.report import build_report

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("legacy", [False, True], ids=["fixed", "legacy"])
def test_shipped_scenario_meets_its_expectations(path, legacy):
    scenario = load_scenario(path)
    if legacy and scenario.expect_legacy is None:
        pytest.skip("the scenario states no expectation for the original system")
    outcome = run_scenario(scenario, legacy=legacy, base_dir=path.parent)
    report = build_report(outcome)
    assert check_expectations(report, scenario.expectation(legacy=legacy)) == []
    if not legacy:
        assert outcome.liveness_ok


def test_the_storm_of_batch_33_is_weathered_by_the_fixes_and_sinks_the_original():
    path = Path(__file__).resolve().parents[2] / "scenarios" / "batch33_serial_bundle_errors.yaml"
    scenario = load_scenario(path)
    fixed = build_report(run_scenario(scenario))
    legacy = build_report(run_scenario(scenario, legacy=True))
    assert (fixed["batches"][0]["failed"], legacy["batches"][0]["failed"]) == (9, 100)
    assert (
        legacy["batches"][0]["max_completion_pct"],
        fixed["batches"][0]["max_completion_pct"],
    ) == (109.89011, 100.0)
    assert "unknown" not in fixed["final_errors_by_type"]
    assert sorted(fixed["errors_by_type"]) == [
        "invalid_response",
        "max_tokens",
        "overloaded",
        "quota_exhausted",
        "rate_limit",
        "server_error",
    ]
