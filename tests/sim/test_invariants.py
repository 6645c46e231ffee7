"""Every invariant holds by default and breaks under its legacy toggle (a check that cannot
fail is a defect). Each case is a small scenario whose ``legacy:`` block holds just that toggle."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.harness.runner import run_scenario
from sim.harness.scenario import INVARIANT_NAMES
from sim.harness.scenario_file import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
REGRESSIONS = SCENARIOS / "regressions"

RESAMPLING_SMALL_BATCH = """
name: resampling_small_batch
cohort: {students: {count: 4}}
settings: {MAX_RESAMPLING_PASSES_FOR_REGULAR_NET: 1, SCORE_STABILITY_THRESHOLD: 1.0e-9}
legacy: {LEGACY_COMPLETION_DENOMINATOR: true}
run: {fault_phase_s: 3600, liveness_s: 3600}
"""

LATE_CALLBACK = """
name: late_callback
cohort: {students: {count: 10}}
budget: 5
settings: {MAX_PAIRWISE_COMPARISONS: 5}
faults: [{kind: late_callback, count: 1, delay_s: 18000}]
# Without the callback deadline too: the watchdog would resubmit, and the late original would
# be a duplicate rather than late.
legacy: {LEGACY_APPLY_LATE_CALLBACKS: true, LEGACY_NO_CALLBACK_DEADLINE: true}
run: {fault_phase_s: 21600, liveness_s: 3600}
"""

STUCK_ITEM = """
name: stuck_item
cohort: {students: {count: 6}}
# The sweep, not the call deadline, is what frees the item here.
settings: {QUEUE_PROCESSING_TIMEOUT_S: 600, PROVIDER_CALL_DEADLINE_S: 7200}
faults: [{kind: stuck, count: 1, after_calls: 1, hang_s: 2000000}]
run: {fault_phase_s: 3600, liveness_s: 3600}
"""

ENG5_POSITIONS = """
name: eng5_positions
cohort: {anchors: eng5, students: {count: 12}}
budget: 288
settings: {MAX_PAIRWISE_COMPARISONS: 288}
legacy: {ENABLE_COMPARISON_POSITION_BALANCING: false}
run: {fault_phase_s: 7200, liveness_s: 3600}
"""


def _inline(text, **legacy):
    scenario = parse_scenario(text, "inline.yaml")
    if legacy:
        scenario = scenario.model_copy(update={"legacy": legacy})
    return scenario


CASES = {
    "completion_never_exceeds_100": lambda: _inline(RESAMPLING_SMALL_BATCH),
    "counters_match_store": lambda: load_scenario(SCENARIOS / "concurrent_callbacks.yaml"),
    "no_lost_counter_updates": lambda: load_scenario(SCENARIOS / "concurrent_callbacks.yaml"),
    "no_callbacks_applied_after_finalization": lambda: _inline(LATE_CALLBACK),
    "one_callback_per_queue_item": lambda: _inline(STUCK_ITEM, LEGACY_NO_CALLBACK_ON_EXPIRY=True),
    "queue_drained": lambda: _inline(
        STUCK_ITEM, LEGACY_NO_PROCESSING_TIMEOUT=True, LEGACY_NO_CALL_DEADLINE=True
    ),
    "batches_terminal": lambda: load_scenario(
        SCENARIOS / "batch34_orphan_and_stuck.yaml"
    ).model_copy(update={"legacy": {"LEGACY_ORPHAN_CALLBACKS_RAISE": True}}),
    "position_skew_within_limit": lambda: _inline(ENG5_POSITIONS),
    "batches_progress": lambda: load_scenario(REGRESSIONS / "dropped_callback_stalls_batch.yaml"),
    "every_comparison_accounted": lambda: load_scenario(
        REGRESSIONS / "dropped_callback_stalls_batch.yaml"
    ),
    "no_starvation": lambda: load_scenario(REGRESSIONS / "hung_call_starves_batches.yaml"),
}


def test_every_invariant_has_a_case():
    assert sorted(CASES) == sorted(INVARIANT_NAMES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_invariant_holds_by_default_and_breaks_under_its_legacy_toggle(name):
    scenario = CASES[name]()
    fixed = run_scenario(scenario)
    assert all(result.ok for result in fixed.invariants.values()), {
        n: r.detail for n, r in fixed.invariants.items() if not r.ok
    }
    broken = run_scenario(scenario, legacy=True)
    result = broken.invariants[name]
    assert not result.ok, f"{name} held under {scenario.legacy}"
    assert result.detail
    streaming = {
        "completion_never_exceeds_100",
        "no_lost_counter_updates",
        "no_callbacks_applied_after_finalization",
    }
    if name in streaming:
        event = result.first_event
        assert event is not None
        record = broken.log.records()[event["seq"]]
        assert record.kind == event["kind"] == "cj.callback.applied"
