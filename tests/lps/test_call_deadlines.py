"""Bounded waits in LPS (failures 1 and 2 of the fault storms): every provider call ends by its
deadline, a retried item's timeout clock starts at its new call, an expired item is never sent,
and a slow call holds no other batch's items."""

from __future__ import annotations

import pytest

from engine.lps.errors import ErrorType
from engine.lps.queue import QueueStatus
from tests.lps.harness import OK, comparison_request, hang, http, make_lps

DEADLINE_S = 120.0


def test_a_call_past_its_deadline_is_abandoned_as_a_timeout_and_retried():
    world = make_lps(
        scripts={"hung": [hang(7200)]}, PROVIDER_CALL_DEADLINE_S=DEADLINE_S, LPS_WORKERS=1
    )
    world.submit_and_wait([comparison_request("hung")], 3 * 3600)
    (deadline,) = world.events("lps.call.deadline")
    assert deadline.t == pytest.approx(DEADLINE_S)
    first_call = world.events("lps.provider.call")[0]
    assert first_call.fields["error_type"] == ErrorType.TIMEOUT.value
    assert first_call.t == pytest.approx(DEADLINE_S)
    # retried with backoff, answered the second time; the hung call's answer is a zombie
    (result,) = world.callbacks_for("hung")
    assert result.winner == "Essay A"
    assert len(world.provider.call_times("hung")) == 2
    assert len(world.events("lps.zombie.discarded")) == 1


def test_a_call_that_answers_just_inside_its_deadline_is_not_abandoned():
    world = make_lps(
        scripts={"slow": [hang(DEADLINE_S - 0.001)]},
        PROVIDER_CALL_DEADLINE_S=DEADLINE_S,
        LPS_WORKERS=1,
    )
    world.submit_and_wait([comparison_request("slow")], 3600)
    assert world.events("lps.call.deadline") == []
    assert world.events("lps.zombie.discarded") == []
    assert len(world.provider.call_times("slow")) == 1
    assert world.callbacks_for("slow")[0].winner == "Essay A"


def test_without_the_call_deadline_a_hung_call_holds_its_worker_until_the_sweep():
    world = make_lps(
        scripts={"hung": [hang(7200)]},
        PROVIDER_CALL_DEADLINE_S=DEADLINE_S,
        QUEUE_PROCESSING_TIMEOUT_S=600,
        LPS_WORKERS=1,
        LEGACY_NO_CALL_DEADLINE=True,
    )
    world.submit_and_wait([comparison_request("hung"), comparison_request("next")], 3600)
    assert world.events("lps.call.deadline") == []
    assert world.provider.call_times("next") == [630.0]  # the first 30 s sweep past 600 s


def _batch_request(correlation_id: str, batch: str):
    return comparison_request(correlation_id, metadata={"cj_batch_id": batch})


def test_a_hung_call_delays_another_batchs_items_by_at_most_the_deadline():
    """One worker, serial bundles: the hung item's batch and another batch's items queued at
    the same instant. The other batch's items are bundled apart and go out within the deadline
    (plus one bundle window)."""
    world = make_lps(
        scripts={"a-hung": [hang(7200)]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        PROVIDER_CALL_DEADLINE_S=DEADLINE_S,
        LPS_WORKERS=1,
    )
    requests = [_batch_request("a-hung", "1"), _batch_request("a-2", "1")]
    requests += [_batch_request(f"b-{i}", "2") for i in range(3)]
    world.submit_and_wait(requests, 3600)
    window_s = 0.5
    for i in range(3):
        assert world.provider.call_times(f"b-{i}")[0] <= DEADLINE_S + 2 * window_s + 3
    bundles = world.events("lps.bundle.started")
    assert bundles[0].fields["size"] == 2  # batch 1's items only


def test_the_original_bundled_batches_together():
    world = make_lps(
        QUEUE_PROCESSING_MODE="serial_bundle", LPS_WORKERS=1, LEGACY_NO_CALL_DEADLINE=True
    )
    world.submit_and_wait([_batch_request("a", "1"), _batch_request("b", "2")], 600)
    assert [b.fields["size"] for b in world.events("lps.bundle.started")] == [2]


def _rebundled_world(**settings):
    """Failure 1 in miniature: two items rate limited and re-bundled together; the first is
    100 s slow on its second call, so the second waits its turn past the 60 s limit. (A fixed
    worker, as the original had: the concurrency controller would pause for the Retry-After
    and hold the bundle's second item back in line, and the story would not happen.)"""
    settings.setdefault("LPS_ADAPTIVE_CONCURRENCY", False)
    return make_lps(
        scripts={
            # r1 answers at 1.5 s and r2 at 2.5 s: these delays bring both back at 12.5 s
            "r1": [http(429, {"retry-after": "11"}), hang(100)],
            "r2": [http(429, {"retry-after": "10"}), http(529), OK],
        },
        QUEUE_PROCESSING_MODE="serial_bundle",
        QUEUE_PROCESSING_TIMEOUT_S=60,
        QUEUE_CLEANUP_INTERVAL_S=30,
        LPS_WORKERS=1,
        **settings,
    )


def test_a_retried_item_waiting_in_its_bundle_keeps_no_clock_from_its_first_call():
    world = _rebundled_world()
    world.submit_and_wait([comparison_request("r1"), comparison_request("r2")], 3600)
    expired = [e.ids["correlation_id"] for e in world.events("lps.item.expired")]
    assert expired == ["r1"]  # r1's own second call ran 100 s; r2 never ran past 60 s
    assert world.events("lps.bundle.started")[1].fields["size"] == 2  # re-bundled together
    assert world.callbacks_for("r2")[0].winner == "Essay A"
    items = {i.correlation_id: i for i in world.service.ledger.items.values()}
    assert items["r2"].status is QueueStatus.COMPLETED


def test_an_expired_item_is_never_sent_and_its_retry_is_skipped_not_crashed():
    from engine.ports import TaskCrashed

    with pytest.raises(TaskCrashed, match="expired cannot become queued"):
        _rebundled_world(LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK=True).submit_and_wait(
            [comparison_request("r1"), comparison_request("r2")], 3600
        )


def test_an_item_expired_while_it_waits_in_its_bundle_is_skipped_not_sent():
    world = make_lps(
        scripts={"first": [hang(200)]}, QUEUE_PROCESSING_MODE="serial_bundle", LPS_WORKERS=1
    )
    ledger = world.service.ledger

    async def main():
        await world.service.submit(comparison_request("first"))
        await world.service.submit(comparison_request("second"))
        await world.runtime.sleep(10)  # both bundled; "first" is being called
        (second,) = [i for i in ledger.items.values() if i.correlation_id == "second"]
        assert second.status is QueueStatus.QUEUED  # waits its turn queued, under its TTL
        assert second.bundle_id is None  # and is marked processing only when it is called
        await ledger.expire(second, reason="test", error_type=ErrorType.QUEUE_EXPIRED)
        await world.runtime.sleep(3600)

    world.run(main)
    assert world.provider.call_times("second") == []
    (skipped,) = world.events("lps.item.skipped")
    assert skipped.ids["correlation_id"] == "second"
    assert skipped.fields["status"] == "expired"
    assert len(world.callbacks_for("second")) == 1
