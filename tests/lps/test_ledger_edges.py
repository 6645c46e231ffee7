"""The queue ledger at its edges (the survivors of `nox -s mutants`,
docs/decisions/0009-mutation-testing.md): the queue size at, one under and one over its
maximum; priorities 0 and 10 and their outside neighbours; an item whose turn comes exactly at
its TTL and a millisecond after; the sweep's first look past the TTL; every record a status
change writes, the row the store ends on and the provider call an item becomes, asserted whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from engine.contracts import PromptBlock
from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.queue import QueueItem, QueueStatus
from engine.metrics_export import sample_value
from engine.ports import SubmissionRejected, TaskCrashed
from sim.adapters.runtime import SimRuntime
from tests.lps.harness import (
    BILLED_MAX_TOKENS,
    CRASH,
    OK,
    ScriptedProvider,
    comparison_request,
    hang,
    http,
    make_lps,
    ok_with,
)

# One worker, a 30 min TTL, and nothing else that could end a wait of an hour.
PATIENT = {
    "LPS_WORKERS": 1,
    "QUEUE_REQUEST_TTL_HOURS": 0.5,
    "PROVIDER_CALL_DEADLINE_S": 7200,
    "QUEUE_PROCESSING_TIMEOUT_S": 7200,
}


def _rows(world) -> dict[str, QueueItem]:
    """What the store holds, by correlation id."""
    return {row.correlation_id: row for row in world.service.ctx.store.snapshot(QueueItem)}


def _expiries(world, reason: str, mode: str = "per_request") -> float:
    return sample_value(
        world.registry,
        "llm_provider_queue_expiry_total",
        provider="scripted",
        queue_processing_mode=mode,
        expiry_reason=reason,
    )


# --- intake ----------------------------------------------------------------------------------


def test_a_queue_one_under_its_maximum_takes_one_more():
    world = make_lps(QUEUE_MAX_SIZE=2, scripts={"c0": [hang(100)], "c1": [hang(100)]})
    world.submit_and_wait([comparison_request("c0"), comparison_request("c1")], 600)
    assert [len(world.callbacks_for(cid)) for cid in ("c0", "c1")] == [1, 1]


def test_a_full_queue_names_its_size_and_the_request_it_refused():
    world = make_lps(QUEUE_MAX_SIZE=2, scripts={"c0": [hang(100)], "c1": [hang(100)]})

    async def main():
        for cid in ("c0", "c1", "c2"):
            await world.service.submit(comparison_request(cid))

    with pytest.raises(TaskCrashed) as caught:
        world.run(main)
    assert str(caught.value.__cause__) == "LPS queue is full (2 items); request c2 was not queued"


def test_finished_items_leave_room_in_the_queue():
    world = make_lps(QUEUE_MAX_SIZE=1)

    async def main():
        await world.service.submit(comparison_request("c0"))
        await world.runtime.sleep(60)  # c0 answered: the queue is empty again
        await world.service.submit(comparison_request("c1"))
        await world.runtime.sleep(60)

    world.run(main)
    assert [len(world.callbacks_for(cid)) for cid in ("c0", "c1")] == [1, 1]


@pytest.mark.parametrize("priority", [-1, 11])
def test_a_priority_outside_0_to_10_is_refused(priority):
    world = make_lps()

    async def main():
        await world.service.ledger.enqueue(comparison_request("c0"), priority=priority)

    with pytest.raises(TaskCrashed) as caught:
        world.run(main)
    assert isinstance(caught.value.__cause__, SubmissionRejected)
    assert str(caught.value.__cause__) == f"priority must be 0..10, got {priority}"
    assert world.service.ledger.items == {}


def test_priorities_0_and_10_are_taken_and_10_goes_first():
    world = make_lps(LPS_WORKERS=1)

    async def main():
        ledger = world.service.ledger
        await ledger.enqueue(comparison_request("low"), priority=0)
        await ledger.enqueue(comparison_request("high"), priority=10)
        await ledger.enqueue(comparison_request("mid"), priority=5)
        await world.runtime.sleep(60)

    world.run(main)
    order = [r.ids["correlation_id"] for r in world.events("lps.item.dispatched")]
    assert order == ["high", "mid", "low"]
    assert {cid: row.priority for cid, row in _rows(world).items()} == {
        "low": 0,
        "high": 10,
        "mid": 5,
    }
    assert [r.fields["priority"] for r in world.events("lps.queue.enqueued")] == [0, 10, 5]


def test_an_enqueued_item_s_row_and_record():
    request = comparison_request("c0").model_copy(
        update={
            "user_prompt": "naïve",  # 5 characters, 6 bytes of UTF-8
            "prompt_blocks": (
                PromptBlock(target="user", content="ab", content_hash="h1"),
                PromptBlock(target="user", content="é", content_hash="h2"),
            ),
        }
    )
    world = make_lps(QUEUE_REQUEST_TTL_HOURS=0.5, scripts={"c0": [hang(100)], "c1": [hang(100)]})

    async def main():
        await world.service.submit(request)
        await world.service.submit(comparison_request("c1"))
        rows.update(_rows(world))

    rows: dict[str, QueueItem] = {}
    world.run(main)
    row = rows["c0"]
    assert (row.status, row.priority, row.retry_count) == (QueueStatus.QUEUED, 5, 0)
    assert (row.ttl_s, row.size_bytes, row.cj_batch_id) == (1800.0, 6 + 2 + 2, "9")
    assert (row.provider, row.callback_topic) == ("anthropic", "test.callbacks")
    assert row.queued_at == world.runtime.epoch
    assert rows["c1"].size_bytes == len("compare for c1")
    enqueued = world.events("lps.queue.enqueued")
    assert [dict(r.fields) for r in enqueued] == [
        {"priority": 5, "provider": "anthropic", "depth": 1},
        {"priority": 5, "provider": "anthropic", "depth": 2},
    ]
    assert enqueued[0].ids == {"queue_id": row.queue_id, "correlation_id": "c0"}
    assert world.service.ledger.max_depth == 2


# --- TTL: past it means strictly older than it ------------------------------------------------


@pytest.mark.parametrize(("blocker_s", "sent"), [(1800.0, True), (1800.001, False)])
def test_an_item_whose_turn_comes_at_its_ttl_is_sent_and_one_ms_later_expired(blocker_s, sent):
    world = make_lps(
        scripts={"blocker": [hang(blocker_s)]}, QUEUE_CLEANUP_INTERVAL_S=3600, **PATIENT
    )
    world.submit_and_wait([comparison_request("blocker"), comparison_request("waits")], 4000)
    (result,) = world.callbacks_for("waits")
    assert (world.provider.call_times("waits") == [blocker_s]) is sent
    if sent:
        assert result.winner == "Essay A"
        assert world.events("lps.item.expired") == []
        return
    assert world.provider.call_times("waits") == []
    (expired,) = world.events("lps.item.expired")
    assert expired.t == blocker_s
    assert expired.ids["correlation_id"] == "waits"
    assert dict(expired.fields) == {
        "reason": "ttl",
        "status": "queued",
        "cj_batch_id": "9",
        "waited_s": 1800.001,
    }
    detail = result.error_detail
    assert (detail.error_type, detail.operation) == ("queue_expired", "queue_hygiene")
    assert detail.message == "queue item expired: ttl"
    assert detail.details == {
        "error_type": "queue_expired",
        "retryable": False,
        "provider": "anthropic",
        "expiry_reason": "ttl",
        "cj_batch_id": "9",
    }
    assert _expiries(world, "ttl") == 1
    row = _rows(world)["waits"]
    assert (row.status, row.expiry_reason, row.callback_published) == (
        QueueStatus.EXPIRED,
        "ttl",
        True,
    )
    assert row.completed_at == world.runtime.epoch + timedelta(seconds=blocker_s)
    assert row.last_error_type == "queue_expired"


def test_the_sweep_expires_a_waiting_item_at_its_first_look_past_the_ttl():
    """Sweeps every 30 s: the one at 1,800 s finds the item exactly 1,800 s old (not past)."""
    world = make_lps(scripts={"blocker": [hang(3600)]}, **PATIENT)
    world.submit_and_wait([comparison_request("blocker"), comparison_request("waits")], 4000)
    (expired,) = world.events("lps.item.expired")
    assert (expired.t, expired.fields["status"], expired.fields["waited_s"]) == (
        1830.0,
        "queued",
        1830.0,
    )
    assert world.callbacks_for("waits")[0].error_detail.error_type == "queue_expired"
    assert world.provider.call_times("waits") == []  # never sent once the blocker is done
    assert world.service.idle


def test_without_callbacks_on_expiry_the_row_is_expired_silently():
    world = make_lps(
        scripts={"blocker": [hang(3600)]}, LEGACY_NO_CALLBACK_ON_EXPIRY=True, **PATIENT
    )
    world.submit_and_wait([comparison_request("blocker"), comparison_request("waits")], 4000)
    assert world.callbacks_for("waits") == []
    row = _rows(world)["waits"]
    assert (row.status, row.expiry_reason, row.callback_published) == (
        QueueStatus.EXPIRED,
        "ttl",
        False,
    )
    assert row.completed_at == world.runtime.epoch + timedelta(seconds=1830)
    assert _expiries(world, "ttl") == 1
    assert world.service.idle  # an expired item is no longer open
    assert world.service.ledger.counts[QueueStatus.EXPIRED] == 1


# --- the processing timeout and the call deadline ---------------------------------------------


def test_a_stuck_item_expires_at_the_first_sweep_past_its_timeout():
    world = make_lps(
        scripts={"stuck": [hang(5000)]},
        LPS_WORKERS=1,
        QUEUE_PROCESSING_TIMEOUT_S=600,
        PROVIDER_CALL_DEADLINE_S=7200,
    )
    world.submit_and_wait([comparison_request("stuck")], 6000)
    (expired,) = world.events("lps.item.expired")
    assert expired.t == 630.0
    assert dict(expired.fields) == {
        "reason": "processing_timeout",
        "status": "processing",
        "cj_batch_id": "9",
        "waited_s": 630.0,
    }
    (result,) = world.callbacks_for("stuck")
    assert result.error_detail.error_type == "processing_timeout"
    (zombie,) = world.events("lps.zombie.discarded")
    assert (zombie.t, dict(zombie.fields)) == (5000.0, {"outcome": "ProviderVerdict"})
    assert zombie.ids == {"queue_id": _rows(world)["stuck"].queue_id, "correlation_id": "stuck"}
    assert _rows(world)["stuck"].status is QueueStatus.EXPIRED


@pytest.mark.parametrize("deadline_s", [10.0, 2.5])
def test_a_call_past_its_deadline_times_out_exactly_then(deadline_s):
    world = make_lps(
        scripts={"hung": [hang(50), OK]}, LPS_WORKERS=1, PROVIDER_CALL_DEADLINE_S=deadline_s
    )
    world.submit_and_wait([comparison_request("hung")], 600)
    (deadline,) = world.events("lps.call.deadline")
    assert (deadline.t, dict(deadline.fields)) == (deadline_s, {"deadline_s": deadline_s})
    assert deadline.ids["correlation_id"] == "hung"
    (scheduled, *_) = world.events("lps.retry.scheduled")
    assert scheduled.t == deadline_s
    assert scheduled.fields["error_type"] == "timeout"
    (zombie,) = world.events("lps.zombie.discarded")
    assert (zombie.t, dict(zombie.fields)) == (50.0, {"outcome": "ProviderVerdict"})
    assert (
        sample_value(world.registry, "llm_provider_zombie_results_total", provider="scripted") == 1
    )
    assert world.callbacks_for("hung")[0].winner == "Essay A"
    assert world.callbacks_for("hung")[0].request_metadata["attempts"] == 2


def test_a_timeout_s_error_names_the_deadline():
    world = make_lps(
        scripts={"hung": [hang(50)] * 4},
        LPS_WORKERS=1,
        PROVIDER_CALL_DEADLINE_S=2.5,
        QUEUE_MAX_RETRIES=0,
    )
    world.submit_and_wait([comparison_request("hung")], 600)
    (result,) = world.callbacks_for("hung")
    detail = result.error_detail
    assert detail.error_type == "timeout"
    assert detail.message == "no answer within the 2.5 s call deadline"
    assert detail.details == {
        "error_type": "timeout",
        "retryable": True,
        "provider": "scripted",
        "http_status": None,
        "retry_after_s": None,
        "call_deadline_s": 2.5,
    }


def test_calls_answered_in_time_leave_no_deadline_behind():
    world = make_lps(LPS_WORKERS=1, PROVIDER_CALL_DEADLINE_S=10.0)
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 600)
    assert world.events("lps.call.deadline") == []
    assert world.service.ledger._deadlines == type(world.service.ledger._deadlines)()


# --- retries ---------------------------------------------------------------------------------


def test_a_retry_is_scheduled_requeued_and_completed_with_its_last_error_kept():
    world = make_lps(LPS_WORKERS=1, scripts={"c0": [http(429, {"retry-after": "5"}), OK]})
    world.submit_and_wait([comparison_request("c0")], 600)
    (scheduled,) = world.events("lps.retry.scheduled")
    assert (scheduled.t, dict(scheduled.fields)) == (
        1.0,
        {"error_type": "rate_limit", "delay_s": 5.0, "retry_count": 1},
    )
    (requeued,) = world.events("lps.item.requeued")
    assert (requeued.t, dict(requeued.fields)) == (6.0, {"retry_count": 1})
    assert [r.fields["attempt"] for r in world.events("lps.item.dispatched")] == [1, 2]
    row = _rows(world)["c0"]
    assert (row.status, row.retry_count, row.last_error_type) == (
        QueueStatus.COMPLETED,
        1,
        "rate_limit",
    )
    (published,) = world.events("lps.callback.published")
    assert dict(published.fields) == {
        "result": "success",
        "status": "completed",
        "error_type": None,
        "retries": 1,
    }
    assert (
        sample_value(
            world.registry,
            "llm_provider_retries_total",
            provider="scripted",
            error_type="rate_limit",
        )
        == 1
    )


def test_an_item_expired_while_it_waits_to_be_retried_is_not_requeued():
    world = make_lps(
        scripts={"c0": [http(429, {"retry-after": "120"})]},
        RETRY_AFTER_MAX_S=120,
        QUEUE_REQUEST_TTL_HOURS=0.01,  # 36 s: the sweep at 60 s expires it
        LPS_WORKERS=1,
    )
    world.submit_and_wait([comparison_request("c0")], 600)
    assert world.events("lps.item.requeued") == []
    (expired,) = world.events("lps.item.expired")
    assert (expired.t, expired.fields["status"]) == (60.0, "queued")
    assert len(world.provider.call_times("c0")) == 1
    (result,) = world.callbacks_for("c0")
    assert result.error_detail.error_type == "queue_expired"
    assert _rows(world)["c0"].last_error_type == "queue_expired"


# --- callbacks and their metrics ---------------------------------------------------------------


def test_each_outcome_is_published_once_and_counted_under_its_result():
    world = make_lps(
        scripts={"ok": [OK], "bad": [http(401)], "late": [hang(3600)]},
        **PATIENT,
        QUEUE_MAX_RETRIES=0,
    )
    world.submit_and_wait([comparison_request(cid) for cid in ("ok", "bad", "late", "waits")], 4000)
    published = {
        r.ids["correlation_id"]: dict(r.fields) for r in world.events("lps.callback.published")
    }
    assert published == {
        "ok": {"result": "success", "status": "completed", "error_type": None, "retries": 0},
        "bad": {
            "result": "failure",
            "status": "failed",
            "error_type": "authentication",
            "retries": 0,
        },
        "late": {"result": "success", "status": "completed", "error_type": None, "retries": 0},
        "waits": {
            "result": "expired",
            "status": "expired",
            "error_type": "queue_expired",
            "retries": 0,
        },
    }

    def callbacks(result):
        return sample_value(
            world.registry,
            "llm_provider_comparison_callbacks_total",
            queue_processing_mode="per_request",
            result=result,
        )

    assert [callbacks(r) for r in ("success", "failure", "expired")] == [2, 1, 1]

    def waited(result):
        labels = {"queue_processing_mode": "per_request", "result": result}
        return (
            sample_value(world.registry, "llm_provider_queue_wait_time_seconds_count", **labels),
            sample_value(world.registry, "llm_provider_queue_wait_time_seconds_sum", **labels),
        )

    # one worker: ok called at 0 s, bad at 1 s, late at 2 s; waits never, expired at 1,830 s
    assert waited("success") == (2, 2.0)
    assert waited("failure") == (1, 1.0)
    assert waited("expired") == (1, 1830.0)
    rows = _rows(world)
    assert {cid: row.status for cid, row in rows.items()} == {
        "ok": QueueStatus.COMPLETED,
        "bad": QueueStatus.FAILED,
        "late": QueueStatus.COMPLETED,
        "waits": QueueStatus.EXPIRED,
    }
    assert rows["bad"].last_error_type == "authentication"
    assert rows["ok"].last_error_type is None
    assert all(row.callback_published for row in rows.values())
    assert world.service.ledger.counts == {
        QueueStatus.QUEUED: 0,
        QueueStatus.PROCESSING: 0,
        QueueStatus.COMPLETED: 2,
        QueueStatus.FAILED: 1,
        QueueStatus.EXPIRED: 1,
    }


def test_a_callback_echoes_the_prompt_hash_mode_provider_and_attempts():
    world = make_lps(QUEUE_PROCESSING_MODE="serial_bundle", scripts={"c0": [http(500), OK]})
    world.submit_and_wait([comparison_request("c0")], 600)
    (result,) = world.callbacks_for("c0")
    metadata = result.request_metadata
    assert metadata["queue_processing_mode"] == "serial_bundle"
    assert metadata["resolved_provider"] == "scripted"
    assert metadata["attempts"] == 2
    assert len(metadata["prompt_sha256"]) == 64


# --- the call an item becomes -------------------------------------------------------------------


@dataclass
class RecordingProvider:
    """Answers at once and keeps every call it was given."""

    runtime: SimRuntime
    name: str = "scripted"
    calls: list[ProviderCall] = field(default_factory=list)

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        self.calls.append(call)
        await self.runtime.sleep(1.0)
        return ProviderVerdict(
            winner="Essay A",
            justification="recorded",
            confidence=4.0,
            model="recorded-model",
            usage=TokenUsage(prompt_tokens=1, completion_tokens=1),
            response_time_ms=1000,
        )


def _recorded(request, **settings) -> tuple[ProviderCall, QueueItem]:
    world = make_lps(LPS_WORKERS=1, **settings)
    provider = RecordingProvider(world.runtime)
    world.service.ctx.provider_for = lambda name: provider
    world.submit_and_wait([request], 60)
    (call,) = provider.calls
    return call, _rows(world)[request.correlation_id]


def test_a_provider_call_carries_the_request_s_prompt_and_defaults():
    request = comparison_request("c0")
    call, row = _recorded(request, LLM_MAX_TOKENS=777)
    assert call.correlation_id == "c0"
    assert call.custom_id == row.queue_id
    assert (call.provider, call.model) == ("anthropic", "claude-x")
    assert call.user_prompt == "compare for c0"
    assert call.max_tokens == 777  # no override: the service's
    assert call.temperature is None
    assert call.metadata == request.metadata
    assert len(call.prompt_sha256) == 64
    assert call.system_prompt


def test_a_provider_call_carries_the_request_s_overrides():
    base = comparison_request("c0")
    overrides = base.llm_config_overrides.model_copy(
        update={
            "max_tokens_override": 300,
            "temperature_override": 0.2,
            "model_override": None,
            "reasoning_effort": "low",
            "output_verbosity": "high",
        }
    )
    blocks = (PromptBlock(content="shared rubric", content_hash="h1"),)
    request = base.model_copy(update={"llm_config_overrides": overrides, "prompt_blocks": blocks})
    call, _ = _recorded(request, LLM_MAX_TOKENS=777)
    assert (call.max_tokens, call.temperature, call.model) == (300, 0.2, "")
    assert (call.reasoning_effort, call.output_verbosity) == ("low", "high")
    assert call.prompt_blocks == blocks


# --- the original's whole bundles -------------------------------------------------------------

WHOLE = {
    "QUEUE_PROCESSING_MODE": "serial_bundle",
    "BUNDLE_FAILURE_POLICY": "whole_bundle",
    "LPS_WORKERS": 1,
}


def _wait_sum(world, result: str = "success", mode: str = "serial_bundle") -> float:
    return sample_value(
        world.registry,
        "llm_provider_queue_wait_time_seconds_sum",
        queue_processing_mode=mode,
        result=result,
    )


def test_a_whole_bundle_is_marked_processing_at_once_and_waits_from_then():
    world = make_lps(**WHOLE)
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 600)
    rows = _rows(world)
    started = world.runtime.epoch + timedelta(seconds=0.5)
    assert {cid: row.processing_started_at for cid, row in rows.items()} == dict.fromkeys(
        ("c0", "c1", "c2"), started
    )
    (bundle,) = world.events("lps.bundle.started")
    assert {row.bundle_id for row in rows.values()} == {bundle.ids["bundle_id"]}
    dispatched = world.events("lps.item.dispatched")
    assert [(r.t, r.fields["bundle_id"], r.fields["bundle_size"]) for r in dispatched] == [
        (0.5, bundle.ids["bundle_id"], 3)
    ] * 3
    assert _wait_sum(world) == 1.5  # each waited 0.5 s, though called at 0.5, 1.5 and 2.5 s


def test_items_of_a_serial_bundle_wait_until_their_own_call():
    world = make_lps(QUEUE_PROCESSING_MODE="serial_bundle", LPS_WORKERS=1)
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 600)
    rows = _rows(world)
    epoch = world.runtime.epoch
    assert {cid: row.processing_started_at for cid, row in rows.items()} == {
        "c0": epoch + timedelta(seconds=0.5),
        "c1": epoch + timedelta(seconds=1.5),
        "c2": epoch + timedelta(seconds=2.5),
    }
    (bundle,) = world.events("lps.bundle.started")
    assert {row.bundle_id for row in rows.values()} == {bundle.ids["bundle_id"]}
    dispatched = world.events("lps.item.dispatched")
    assert [(r.t, r.fields["bundle_id"], r.fields["bundle_size"]) for r in dispatched] == [
        (0.5, bundle.ids["bundle_id"], 3),
        (1.5, bundle.ids["bundle_id"], 3),
        (2.5, bundle.ids["bundle_id"], 3),
    ]
    assert _wait_sum(world) == 4.5


@pytest.mark.parametrize("silent_expiry", [False, True])
def test_a_held_success_of_an_item_expired_meanwhile_is_suppressed(silent_expiry):
    """c0 succeeds and is held for the bundle; c1 hangs; the sweep at 630 s expires both (their
    calls started at 0.5 and 1.5 s); c2's success ends the bundle, and c0's held success finds
    it expired: nothing more is published for it."""
    world = make_lps(
        **WHOLE,
        scripts={"c1": [hang(700)]},
        QUEUE_PROCESSING_TIMEOUT_S=600,
        PROVIDER_CALL_DEADLINE_S=7200,
        LEGACY_NO_CALLBACK_ON_EXPIRY=silent_expiry,
    )
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 3600)
    (suppressed,) = world.events("lps.callback.suppressed")
    assert (suppressed.t, suppressed.ids["correlation_id"]) == (631.0, "c0")
    assert dict(suppressed.fields) == {"status": "expired", "attempted": "completed"}
    assert suppressed.ids == {"queue_id": _rows(world)["c0"].queue_id, "correlation_id": "c0"}
    expected = [] if silent_expiry else ["processing_timeout"]
    assert [r.error_detail.error_type for r in world.callbacks_for("c0")] == expected
    assert _rows(world)["c0"].status is QueueStatus.EXPIRED
    assert world.callbacks_for("c2")[0].winner == "Essay A"


def test_a_bundle_error_does_not_retry_an_item_expired_meanwhile():
    world = make_lps(
        **WHOLE,
        scripts={"c1": [hang(700)], "c2": [http(500), OK]},
        QUEUE_PROCESSING_TIMEOUT_S=600,
        PROVIDER_CALL_DEADLINE_S=7200,
    )
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 3600)
    (skipped,) = world.events("lps.transition.skipped")
    assert (skipped.t, dict(skipped.ids), dict(skipped.fields)) == (
        631.0,
        {"queue_id": _rows(world)["c0"].queue_id, "correlation_id": "c0"},
        {"status": "expired", "attempted": "queued"},
    )
    assert [r.ids["correlation_id"] for r in world.events("lps.retry.scheduled")] == ["c2"]
    assert _rows(world)["c0"].status is QueueStatus.EXPIRED
    assert _rows(world)["c0"].retry_count == 0


def test_a_crash_in_the_original_bundle_records_each_abandoned_item():
    world = make_lps(**WHOLE, scripts={"c0": [CRASH]}, QUEUE_PROCESSING_TIMEOUT_S=300)
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 3600)
    rows = _rows(world)
    abandoned = world.events("lps.item.abandoned")
    assert [(r.t, dict(r.ids), dict(r.fields)) for r in abandoned] == [
        (1.5, {"queue_id": rows[cid].queue_id, "correlation_id": cid}, {"reason": "worker_crash"})
        for cid in ("c0", "c1", "c2")
    ]
    # c0's clock ran from its call at 0.5 s, c1's and c2's from the crash at 1.5 s: the sweep
    # at 330 s is the first to find each more than 300 s old
    assert [r.t for r in world.events("lps.item.expired")] == [330.0, 330.0, 330.0]


def test_a_gate_pause_hands_the_original_bundle_back_with_retry_counts_unchanged():
    exhausted = RateLimitHints(requests_remaining=0, requests_reset_s=20.0)
    world = make_lps(**{**WHOLE, "LPS_WORKERS": 2}, scripts={"c0": [ok_with(exhausted)]})
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(3)], 600)
    held = [r for r in world.events("lps.item.requeued") if r.fields.get("reason")]
    assert [(r.ids["correlation_id"], dict(r.fields)) for r in held] == [
        ("c1", {"retry_count": 0, "reason": "concurrency_gate"}),
        ("c2", {"retry_count": 0, "reason": "concurrency_gate"}),
    ]
    for cid in ("c1", "c2"):
        assert world.callbacks_for(cid)[0].winner == "Essay A"
        assert _rows(world)[cid].retry_count == 0


# --- the adapter that answers, named everywhere ----------------------------------------------


def _other_adapter_world(scripts, **settings):
    """Requests for "openai" are answered by an adapter named other-adapter."""
    world = make_lps(LPS_WORKERS=1, PROVIDER_CALL_DEADLINE_S=10.0, **settings)
    other = ScriptedProvider(world.runtime, scripts, name="other-adapter")
    adapters = {"anthropic": world.provider, "openai": other}
    world.service.ctx.provider_for = lambda name: adapters[name]
    return world


def test_the_resolved_adapter_is_named_in_retries_zombies_and_expiries():
    """o0 and o1 hang past the 10 s deadline and are retried; by the time each is due again it
    is past its 18 s TTL, as is o2, still waiting behind them."""
    hangs = [hang(50), hang(50)]
    world = _other_adapter_world(
        {"o0": hangs, "o1": hangs},
        QUEUE_REQUEST_TTL_HOURS=0.005,
        QUEUE_CLEANUP_INTERVAL_S=3600,
    )
    world.submit_and_wait([comparison_request(f"o{i}", provider="openai") for i in range(3)], 600)
    registry = world.registry
    labels = {"provider": "other-adapter"}
    assert sample_value(registry, "llm_provider_zombie_results_total", **labels) == 2
    assert sample_value(registry, "llm_provider_retries_total", **labels, error_type="timeout") == 2
    assert (
        sample_value(
            registry,
            "llm_provider_queue_expiry_total",
            **labels,
            queue_processing_mode="per_request",
            expiry_reason="ttl",
        )
        == 3
    )
    assert world.provider.calls == []


def test_the_resolved_adapter_is_named_in_a_timeout_error():
    world = _other_adapter_world({"o0": [hang(50)]}, QUEUE_MAX_RETRIES=0)
    world.submit_and_wait([comparison_request("o0", provider="openai")], 600)
    (result,) = world.callbacks_for("o0")
    assert result.error_detail.error_type == "timeout"
    assert result.error_detail.details["provider"] == "other-adapter"


def test_a_billed_failure_is_published_with_its_model_and_usage():
    world = make_lps(LPS_WORKERS=1, scripts={"c0": [BILLED_MAX_TOKENS]})
    world.submit_and_wait([comparison_request("c0")], 60)
    (result,) = world.callbacks_for("c0")
    assert (
        result.model,
        result.token_usage.prompt_tokens,
        result.token_usage.completion_tokens,
    ) == (
        "scripted-model",
        1200,
        1024,
    )
    assert _rows(world)["c0"].last_error_type == "max_tokens"


def test_callback_envelopes_carry_seeded_event_ids():
    world = make_lps(LPS_WORKERS=1)
    world.submit_and_wait([comparison_request("c0"), comparison_request("c1")], 60)
    assert [c.event_id for c in world.callbacks] == [
        "2deed61e-31f7-4d60-b470-9ffbf993fc48",
        "7510df3c-0dd9-4889-b708-75a758379794",
    ]


# --- the dispatch order, through the ledger alone (no worker running) ------------------------


def _without_workers(main) -> None:
    """Run ``main`` on a fresh LPS world whose service was never started."""
    world = make_lps()
    world.runtime.run(main(world.service.ledger), until_s=60)


def test_peek_ready_names_the_next_item_and_leaves_it_in_line():
    async def main(ledger):
        assert ledger.peek_ready() is None
        low = await ledger.enqueue(comparison_request("low"), priority=5)
        high = await ledger.enqueue(comparison_request("high"), priority=9)
        assert ledger.peek_ready() == high
        assert ledger.peek_ready() == high
        assert len(ledger.index) == 2
        assert await ledger.pop_ready() == high
        assert ledger.peek_ready() == low

    _without_workers(main)


def test_released_items_go_back_to_their_own_places():
    async def main(ledger):
        first = await ledger.enqueue(comparison_request("first"))
        second = await ledger.enqueue(comparison_request("second"))
        taken = [await ledger.pop_ready(), await ledger.pop_ready()]
        assert taken == [first, second]
        assert await ledger.pop_ready() is None
        assert ledger.release([second, first]) == 2
        assert [await ledger.pop_ready(), await ledger.pop_ready()] == [first, second]
        assert ledger.release([]) == 0

    _without_workers(main)


def test_a_request_without_a_model_is_recorded_under_unknown():
    base = comparison_request("c0")
    overrides = base.llm_config_overrides.model_copy(update={"model_override": None})
    world = make_lps(LPS_WORKERS=1)
    world.submit_and_wait([base.model_copy(update={"llm_config_overrides": overrides})], 60)
    (started,) = world.events("lps.bundle.started")
    assert started.fields["model"] == "unknown"


def test_the_sweep_goes_on_past_a_stuck_item_it_may_not_expire():
    """Without the processing timeout the sweep leaves the stuck item alone, and still expires
    the item waiting behind it (whose queue id sorts after the stuck one's)."""
    world = make_lps(
        scripts={"stuck": [hang(30 * 3600)]},
        LPS_WORKERS=1,
        LEGACY_NO_PROCESSING_TIMEOUT=True,
        LEGACY_NO_CALL_DEADLINE=True,
        QUEUE_REQUEST_TTL_HOURS=0.5,
    )

    async def main():
        ledger = world.service.ledger
        await ledger.enqueue(comparison_request("waits"), priority=5)
        await ledger.enqueue(comparison_request("stuck"), priority=9)  # called first
        await world.runtime.sleep(4000)

    world.run(main)
    rows = _rows(world)
    assert rows["stuck"].queue_id < rows["waits"].queue_id  # the sweep looks at stuck first
    assert rows["stuck"].status is QueueStatus.PROCESSING
    (expired,) = world.events("lps.item.expired")
    assert (expired.t, expired.ids["correlation_id"]) == (1830.0, "waits")


@pytest.mark.parametrize("keeps_clock", [False, True])
def test_a_retried_item_waiting_in_a_whole_bundle_has_no_old_timeout_clock(keeps_clock):
    """c0 fails at 10-11 s and is back in line at 14.5 s; x (priority 9) arrives at 12 s; the
    bundle taken at 22 s is [x, c0], both marked processing then. x hangs until the sweep at
    630 s expires it; c0, waiting its turn, has no clock (its old call's clock went with the
    retry), so it is called then, not expired with x. The original kept the old clock: c0 was
    expired with x, and sent anyway."""
    world = make_lps(
        **WHOLE,
        scripts={"c0": [http(500), OK], "x": [hang(700)]},
        SERIAL_BUNDLE_WINDOW_S=10.0,
        QUEUE_PROCESSING_TIMEOUT_S=600,
        PROVIDER_CALL_DEADLINE_S=7200,
        LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK=keeps_clock,
    )

    async def main():
        ledger = world.service.ledger
        await ledger.enqueue(comparison_request("c0"))
        await world.runtime.sleep(12)
        await ledger.enqueue(comparison_request("x"), priority=9)
        await world.runtime.sleep(3600)

    world.run(main)
    assert [r.fields["size"] for r in world.events("lps.bundle.started")] == [1, 2]
    expired = {r.ids["correlation_id"]: r.t for r in world.events("lps.item.expired")}
    assert expired == ({"x": 630.0, "c0": 630.0} if keeps_clock else {"x": 630.0})
    (result,) = world.callbacks_for("c0")
    if keeps_clock:
        assert result.error_detail.error_type == "processing_timeout"
    else:
        assert result.winner == "Essay A"
    assert world.provider.call_times("c0") == [10.0, 630.0]


def test_the_next_item_comes_out_past_one_expired_on_the_way():
    # TTL 36 s: "old", queued 40 s ago, is expired as it comes up; "new" comes out instead
    world = make_lps(QUEUE_REQUEST_TTL_HOURS=0.01)

    async def main(ledger):
        old = await ledger.enqueue(comparison_request("old"))
        await world.runtime.sleep(30)
        new = await ledger.enqueue(comparison_request("new"))
        await world.runtime.sleep(10)
        assert await ledger.pop_ready() == new
        assert ledger.items[old.queue_id].status is QueueStatus.EXPIRED
        assert await ledger.pop_ready() is None

    world.runtime.run(main(world.service.ledger), until_s=60)


def test_the_next_item_comes_out_past_one_no_longer_queued():
    # "taken" went to processing as part of a whole-marked bundle without leaving the line
    async def main(ledger):
        taken = await ledger.enqueue(comparison_request("taken"))
        waiting = await ledger.enqueue(comparison_request("waiting"))
        await ledger.start_processing([taken], "bundle-1")
        assert await ledger.pop_ready() == waiting
        assert await ledger.pop_ready() is None

    _without_workers(main)
