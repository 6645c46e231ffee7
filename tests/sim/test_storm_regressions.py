"""What the fault storms found, as scenarios (scenarios/regressions/): each breaks the original
(its legacy toggle) and holds with the fix, through the whole simulated pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.ports import TaskCrashed
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.report import build_report

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
REGRESSIONS = SCENARIOS / "regressions"


def _broken(outcome):
    return sorted(name for name, result in outcome.invariants.items() if not result.ok)


def test_failure_1_a_retried_item_expiring_in_its_bundle_no_longer_crashes_the_worker():
    scenario = load_scenario(REGRESSIONS / "retried_item_expires_in_bundle.yaml")
    with pytest.raises(TaskCrashed, match="expired cannot become queued"):
        run_scenario(scenario, legacy=True)
    fixed = run_scenario(scenario)
    assert _broken(fixed) == []
    report = build_report(fixed)
    assert report["batches"][0]["final_state"] == "COMPLETED"


def test_failure_2_a_hung_call_no_longer_starves_the_other_batches():
    scenario = load_scenario(REGRESSIONS / "hung_call_starves_batches.yaml")
    legacy = run_scenario(scenario, legacy=True)
    assert "no_starvation" in _broken(legacy)
    fixed = run_scenario(scenario)
    assert _broken(fixed) == []
    deadline_s = fixed.settings.PROVIDER_CALL_DEADLINE_S
    deadlines = [r for r in fixed.log.records() if r.kind == "lps.call.deadline"]
    assert len(deadlines) == 19  # each hung call of the seeded run cut at the deadline
    assert all(r.fields["deadline_s"] == deadline_s for r in deadlines)
    # the batches finish about 21 times sooner once a hung call holds nobody
    assert (legacy.virtual_seconds, fixed.virtual_seconds) == pytest.approx((21820.0, 1048.216))


def test_the_storm_holds_every_invariant_and_breaks_the_original():
    scenario = load_scenario(SCENARIOS / "storm.yaml")
    fixed = run_scenario(scenario)
    assert _broken(fixed) == []
    report = build_report(fixed)
    assert [b["final_state"] for b in report["batches"]] == ["COMPLETED"] * 4
    legacy = run_scenario(scenario, legacy=True)
    assert _broken(legacy) == [
        "batches_progress",
        "counters_match_store",
        "no_lost_counter_updates",
        "no_starvation",
    ]


def test_failure_3_a_dropped_callback_costs_the_callback_deadline_not_four_hours():
    scenario = load_scenario(REGRESSIONS / "dropped_callback_stalls_batch.yaml")
    healthy = run_scenario(scenario.model_copy(update={"faults": []}))
    fixed = run_scenario(scenario)
    assert _broken(fixed) == []
    report = build_report(fixed)
    (batch,) = report["batches"]
    assert batch["final_state"] == "COMPLETED"
    assert batch["resubmissions"] == 1
    assert report["callbacks"]["applied"] == batch["submitted"]
    # the lost callback's wave waited one deadline; the rest of the batch ran as it would have
    deadline_s = fixed.settings.CJ_CALLBACK_DEADLINE_S
    longest_wave_s = max(_wave_lengths(healthy))
    assert fixed.virtual_seconds <= healthy.virtual_seconds + deadline_s + longest_wave_s
    legacy = run_scenario(scenario, legacy=True)
    assert _broken(legacy) == ["batches_progress", "every_comparison_accounted"]
    assert build_report(legacy)["batches"][0]["final_state"] == "FAILED"
    assert legacy.virtual_seconds == pytest.approx(14705.096)  # past the 4 h stuck threshold


def _wave_lengths(outcome):
    starts = [r.t for r in outcome.log.records() if r.kind == "cj.wave.submitted"]
    ends = [*starts[1:], outcome.virtual_seconds]
    return [end - start for start, end in zip(starts, ends, strict=True)]
