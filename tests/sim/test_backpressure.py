"""Backpressure between CJ and LPS: a wave larger than LPS's queue waits for room, it does not
fail (issue 15: a 3,000-essay batch's 1,500-pair waves met a queue of 1,000, 19,906 of 60,000
comparisons were rejected and the batch ended FAILED)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine.cj.models import ComparisonPair
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"


def _run(*overrides: str):
    return run_scenario(
        load_scenario(SCENARIO, overrides=list(overrides)), base_dir=SCENARIO.parent
    )


@pytest.mark.parametrize(("queue_size", "waits"), [(1, 263), (5, 126)])
def test_waves_larger_than_the_queue_wait_for_room_and_the_batch_completes(queue_size, waits):
    """12-pair waves against a queue of 5 (and of 1): every pair is compared, none rejected."""
    outcome = _run(f"settings.QUEUE_MAX_SIZE={queue_size}")
    kinds = Counter(record.kind for record in outcome.log.records())
    assert kinds["cj.request.waiting_for_queue"] == waits  # of the seeded run's 288 requests
    assert kinds["cj.request.rejected"] == 0
    assert kinds["cj.batch.finalized"] == 1
    assert all(result.ok for result in outcome.invariants.values()), outcome.invariants
    pairs = outcome.cj_store.snapshot(ComparisonPair)
    assert not any(pair.error_code == "SUBMISSION_REJECTED" for pair in pairs)
    [state] = outcome.states()
    assert state.state.value == "COMPLETED"
    depths = [r.fields["depth"] for r in outcome.log.records() if r.kind == "lps.queue.enqueued"]
    assert max(depths) == queue_size  # filled to the bound, never past it


def test_a_queue_with_room_never_makes_a_request_wait():
    outcome = _run()
    kinds = Counter(record.kind for record in outcome.log.records())
    assert kinds["cj.request.waiting_for_queue"] == 0
