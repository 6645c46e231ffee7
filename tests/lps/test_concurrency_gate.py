"""The concurrency gate in the LPS, on SimRuntime with a scripted provider: the controller, not
the worker pool, bounds the calls; pauses hold every call back; client-side buckets pace them;
every call's event and a billed failure's callback carry its usage and cost."""

from __future__ import annotations

import pytest

from engine.lps.calls import RateLimitHints
from engine.metrics_export import sample_value
from tests.lps.harness import (
    BILLED_MAX_TOKENS,
    CRASH,
    OK,
    comparison_request,
    hang,
    http,
    make_lps,
    ok_with,
)

KEY = ("scripted", "claude-x")


def _requests(n: int) -> list:
    return [comparison_request(f"c{i:02d}") for i in range(n)]


def _changes(world) -> list[tuple[int | None, int, str]]:
    return [
        (r.fields["old"], r.fields["new"], r.fields["reason"])
        for r in world.events("lps.concurrency.changed")
    ]


def _starts(world) -> list[float]:
    return sorted(t for t, _ in world.provider.calls)


def test_the_controller_not_the_worker_pool_bounds_the_calls_in_flight():
    world = make_lps(LPS_WORKERS=16, LPS_CONCURRENCY_START=3, LPS_CONCURRENCY_MAX=3)
    world.submit_and_wait(_requests(20), 600)
    assert world.provider.max_in_flight == 3
    assert len(world.callbacks) == 20
    assert world.service.gates.gate(KEY).in_flight == 0


def test_without_the_controller_the_pool_is_the_only_bound():
    world = make_lps(LPS_WORKERS=16, LPS_ADAPTIVE_CONCURRENCY=False)
    world.submit_and_wait(_requests(20), 600)
    assert world.service.gates is None
    assert world.provider.max_in_flight == 16
    assert world.events("lps.concurrency.changed") == []


def test_the_limit_grows_one_clean_window_at_a_time_while_it_binds_up_to_its_maximum():
    world = make_lps(
        LPS_WORKERS=16,
        LPS_CONCURRENCY_START=2,
        LPS_CONCURRENCY_MAX=4,
        LPS_CONCURRENCY_CLEAN_WINDOW_S=10,
    )
    world.submit_and_wait(_requests(120), 600)
    changes = world.events("lps.concurrency.changed")
    assert [(r.fields["old"], r.fields["new"], r.fields["reason"]) for r in changes] == [
        (None, 2, "start"),
        (2, 3, "clean_window"),
        (3, 4, "clean_window"),
    ]
    assert [r.t for r in changes] == [0.0, 10.0, 20.0]  # 1 s calls: an answer at each edge
    assert world.provider.max_in_flight == 4
    assert (
        sample_value(
            world.registry, "llm_provider_concurrency_limit", provider="scripted", model="claude-x"
        )
        == 4
    )


def test_a_429_halves_the_limit_and_pauses_every_new_call_for_its_retry_after():
    world = make_lps(
        scripts={"c00": [http(429, {"retry-after": "30"}), OK]},
        LPS_WORKERS=16,
        LPS_CONCURRENCY_START=4,
    )
    world.submit_and_wait(_requests(12), 600)
    assert _changes(world) == [(None, 4, "start"), (4, 2, "rate_limited")]
    (pause,) = world.events("lps.concurrency.paused")
    assert (pause.t, pause.fields["reason"], pause.fields["pause_s"]) == (1.0, "retry_after", 30.0)
    starts = _starts(world)
    assert [t for t in starts if 1.0 < t < 31.0] == []  # the other three were already calling
    assert min(t for t in starts if t > 1.0) == 31.0
    assert len(world.callbacks) == 12


def test_the_429s_of_one_episode_cut_the_limit_once():
    world = make_lps(
        scripts={f"c0{i}": [http(429, {"retry-after": "1"}), OK] for i in range(4)},
        LPS_WORKERS=16,
        LPS_CONCURRENCY_START=4,
    )
    world.submit_and_wait(_requests(8), 600)
    assert len(world.events("lps.provider.call")) == 12
    assert _changes(world) == [(None, 4, "start"), (4, 2, "rate_limited")]


def test_overload_pauses_growth_but_keeps_the_limit():
    world = make_lps(
        scripts={"c00": [http(529, body={"error": {"type": "overloaded_error"}}), OK]},
        LPS_WORKERS=16,
        LPS_CONCURRENCY_START=4,
        LPS_CONCURRENCY_CLEAN_WINDOW_S=10,
    )
    world.submit_and_wait(_requests(120), 600)
    changes = world.events("lps.concurrency.changed")
    assert changes[1].fields["reason"] == "clean_window"
    assert changes[1].t == 11.0  # the window restarted when the overload answered at 1 s
    assert all(r.fields["reason"] != "rate_limited" for r in changes)


def test_an_exhausted_limit_pauses_new_calls_until_its_reset():
    exhausted = RateLimitHints(requests_remaining=0, requests_reset_s=45.0)
    world = make_lps(scripts={"c00": [ok_with(exhausted)]}, LPS_WORKERS=16)
    world.submit_and_wait(_requests(8), 600)
    (pause,) = world.events("lps.concurrency.paused")
    assert (pause.fields["reason"], pause.fields["until_s"]) == ("requests_exhausted", 46.0)
    starts = _starts(world)
    assert [t for t in starts if 1.0 < t < 46.0] == []
    assert min(t for t in starts if t > 1.0) == 46.0


def test_calls_stay_within_what_the_provider_says_remains():
    """The first answer says 2 requests remain while seven later calls are out: nothing new
    starts until they are back, then never more than 2 at a time until a newer word."""
    hints = RateLimitHints(requests_remaining=2, requests_reset_s=50.0)
    slow = {f"c0{i}": [hang(5)] for i in range(1, 8)}
    world = make_lps(
        scripts={"c00": [ok_with(hints)], **slow}, LPS_WORKERS=16, LPS_CONCURRENCY_START=8
    )
    world.submit_and_wait(_requests(12), 600)
    assert _starts(world) == [0.0] * 8 + [5.0, 5.0, 6.0, 6.0]


def test_a_client_side_request_limit_paces_the_calls_with_or_without_the_controller():
    for adaptive in (True, False):
        world = make_lps(
            LPS_WORKERS=4, LPS_CLIENT_REQUESTS_PER_MINUTE=6, LPS_ADAPTIVE_CONCURRENCY=adaptive
        )
        world.submit_and_wait(_requests(9), 600)
        starts = _starts(world)
        assert starts[:6] == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]  # the minute's burst
        assert starts[6:] == pytest.approx([10.0, 20.0, 30.0], abs=1e-6)  # then one per 10 s


def test_a_client_side_token_limit_holds_calls_while_the_answers_are_in_debt():
    # 240 tokens a minute (4 a second, a full bucket of 240 at the start); each answer uses
    # 120 tokens, charged when it arrives.
    world = make_lps(LPS_WORKERS=4, LPS_CLIENT_TOKENS_PER_MINUTE=240)
    world.submit_and_wait(_requests(8), 600)
    starts = _starts(world)
    # At t=1 the first answer leaves 120: one more call; the next leaves 0, then the debt.
    assert starts[:5] == [0.0, 0.0, 0.0, 0.0, 1.0]
    # After the fifth answer (t=2) the bucket is 356 in debt: one token takes 89.25 s more.
    assert starts[5:] == pytest.approx([91.25] * 3, abs=1e-6)


def test_no_admission_is_leaked_by_crashes_deadlines_or_idle_workers():
    world = make_lps(
        scripts={"c00": [CRASH], "c01": [hang(400), OK]},
        LPS_WORKERS=16,
        PROVIDER_CALL_DEADLINE_S=60,
    )
    world.submit_and_wait(_requests(6), 2000)
    gate = world.service.gates.gate(KEY)
    assert gate.in_flight == 0
    assert gate.limit == 4


def test_a_billed_failure_is_recorded_with_its_cost_and_its_callback_names_model_and_usage():
    world = make_lps(
        scripts={"c00": [BILLED_MAX_TOKENS]},
        PRICE_INPUT_PER_MTOK=1.0,
        PRICE_OUTPUT_PER_MTOK=5.0,
    )
    world.submit_and_wait(_requests(2), 60)
    (failed,) = world.callbacks_for("c00")
    assert failed.error_detail.error_type == "max_tokens"
    assert failed.model == "scripted-model"
    assert (failed.token_usage.prompt_tokens, failed.token_usage.completion_tokens) == (1200, 1024)
    assert failed.request_metadata["usage"]["completion_tokens"] == 1024
    calls = {r.ids["correlation_id"]: r.fields for r in world.events("lps.provider.call")}
    billed = calls["c00"]
    assert (billed["outcome"], billed["billed"], billed["model"]) == (
        "error",
        True,
        "scripted-model",
    )
    assert billed["cost_usd"] == pytest.approx((1200 * 1.0 + 1024 * 5.0) / 1e6)
    answered = calls["c01"]
    assert (answered["prompt_tokens"], answered["completion_tokens"]) == (100, 20)
    assert (answered["cache_read_tokens"], answered["cache_write_tokens"]) == (0, 0)
    assert answered["cost_usd"] == pytest.approx((100 * 1.0 + 20 * 5.0) / 1e6)
    total = sample_value(
        world.registry, "llm_provider_cost_usd_total", provider="scripted", model="scripted-model"
    )
    assert total == pytest.approx(billed["cost_usd"] + answered["cost_usd"])


def test_an_unbilled_failure_costs_nothing():
    world = make_lps(scripts={"c00": [http(401)]}, PRICE_INPUT_PER_MTOK=1.0)
    world.submit_and_wait(_requests(1), 60)
    (call,) = world.events("lps.provider.call")
    assert (call.fields["billed"], call.fields["cost_usd"], call.fields["prompt_tokens"]) == (
        False,
        0.0,
        0,
    )
    (result,) = world.callbacks_for("c00")
    assert result.model == "unknown"
    assert "usage" not in result.request_metadata


def test_a_serial_bundle_held_back_by_a_pause_returns_its_uncalled_items_to_the_queue():
    world = make_lps(
        scripts={"c00": [http(429, {"retry-after": "20"}), OK]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        LPS_WORKERS=2,
    )
    world.submit_and_wait(_requests(3), 600)
    (released,) = world.events("lps.bundle.released")
    first_bundle = world.events("lps.bundle.started")[0]
    assert released.ids == first_bundle.ids
    assert (released.fields["released"], released.fields["reason"]) == (2, "concurrency_gate")
    assert released.t == 1.5  # the bundle window, then c00's 1 s call
    # Never dispatched in that bundle, so nothing to undo: no requeue, no store write.
    requeued = [r.ids["correlation_id"] for r in world.events("lps.item.requeued")]
    assert requeued == ["c00"]  # its own retry only
    dispatched = {r.ids["correlation_id"]: r.fields for r in world.events("lps.item.dispatched")}
    assert dispatched["c01"]["bundle_id"] != first_bundle.ids["bundle_id"]
    assert dispatched["c02"]["bundle_id"] != first_bundle.ids["bundle_id"]
    starts = _starts(world)
    assert [t for t in starts if 1.5 < t < 21.5] == []  # nothing during the pause
    assert all(len(world.callbacks_for(f"c0{i}")) == 1 for i in range(3))
    assert world.service.gates.gate(KEY).in_flight == 0
