"""How queued requests become provider calls, at the edges (the survivors of `nox -s mutants`,
docs/decisions/0009-mutation-testing.md): the bundle limit at the hint, at the cap and one under
each; each compatibility rule with the one field that differs; the bundle window at zero; both
failure policies with the smallest bundle that shows them; a crash after a success; and every
``lps.provider.call`` record, token counter and cost asserted whole, for a success, a billed and
an unbilled failure and a call that passed its deadline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.errors import WorkerCrash
from engine.lps.strategies import settle
from engine.metrics_export import sample_value
from sim.adapters.runtime import SimRuntime
from tests.lps.harness import (
    BILLED_MAX_TOKENS,
    CRASH,
    OK,
    ScriptedProvider,
    anthropic_error,
    comparison_request,
    hang,
    http,
    make_lps,
    ok_with,
)

SERIAL = {"QUEUE_PROCESSING_MODE": "serial_bundle", "LPS_WORKERS": 1}
# USD per million tokens: every price different, so a token counted under the wrong type shows.
PRICES = {
    "PRICE_INPUT_PER_MTOK": 3.0,
    "PRICE_OUTPUT_PER_MTOK": 15.0,
    "PRICE_CACHE_WRITE_PER_MTOK": 3.75,
    "PRICE_CACHE_READ_PER_MTOK": 0.3,
}


def _requests(n: int, **kwargs) -> list:
    return [comparison_request(f"c{i}", **kwargs) for i in range(n)]


def _sizes(world) -> list[int]:
    return [r.fields["size"] for r in world.events("lps.bundle.started")]


def _calls(world) -> list[tuple[str, dict]]:
    """Each ``lps.provider.call`` record's correlation id and fields; its ids must name the
    item's queue id too."""
    records = world.events("lps.provider.call")
    queue_ids = {i.correlation_id: i.queue_id for i in world.service.ledger.items.values()}
    for r in records:
        cid = r.ids["correlation_id"]
        assert r.ids == {"queue_id": queue_ids[cid], "correlation_id": cid}
    return [(r.ids["correlation_id"], dict(r.fields)) for r in records]


def _metric(world, name: str, **labels: str) -> float:
    return sample_value(world.registry, name, **labels)


# --- the bundle limit: min(hint, SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL), else the cap ----------


@pytest.mark.parametrize(
    ("hint", "cap", "sizes"),
    [
        (1, 64, [1, 1, 1, 1, 1]),  # the smallest hint: bundles of one
        (2, 64, [2, 2, 1]),
        (2, 3, [2, 2, 1]),  # the hint under the cap wins
        (3, 3, [3, 2]),  # hint at the cap
        (4, 3, [3, 2]),  # the cap under the hint wins
        (None, 3, [3, 2]),  # no hint: the cap
        (None, 5, [5]),  # no hint, cap equal to the work: one bundle
        (None, 4, [4, 1]),  # one under the work
    ],
)
def test_bundle_sizes_at_the_hint_and_the_cap(hint, cap, sizes):
    world = make_lps(**SERIAL, SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL=cap)
    world.submit_and_wait(_requests(5, hint=hint), 600)
    assert _sizes(world) == sizes


def test_per_request_mode_calls_one_item_at_a_time_with_no_window():
    world = make_lps(LPS_WORKERS=1)
    world.submit_and_wait(_requests(3, hint=10), 600)
    assert _sizes(world) == [1, 1, 1]
    assert [r.t for r in world.events("lps.item.dispatched")] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(("window_s", "first_call_s"), [(0.0, 0.0), (0.25, 0.25), (2.0, 2.0)])
def test_a_serial_bundle_waits_its_window_once_before_the_first_call(window_s, first_call_s):
    world = make_lps(**SERIAL, SERIAL_BUNDLE_WINDOW_S=window_s)
    world.submit_and_wait(_requests(2), 600)
    assert _sizes(world) == [2]
    assert world.provider.call_times("c0") == [first_call_s]
    assert world.provider.call_times("c1") == [first_call_s + 1.0]


# --- compatibility: each field alone ends a bundle --------------------------------------------


def _one_differs(field: str) -> list:
    """c0, c1 alike, c2 differs from them in ``field`` only, c3 alike again."""
    same = {"provider": "anthropic", "metadata": {}}
    other = {
        "provider": {"provider": "openai", "metadata": {}},
        "mode": {"provider": "anthropic", "metadata": {"cj_llm_batching_mode": "per_request"}},
        "batch": {"provider": "anthropic", "metadata": {"cj_batch_id": "10"}},
    }[field]
    return [
        comparison_request("c0", **same),
        comparison_request("c1", **same),
        comparison_request("c2", **other),
        comparison_request("c3", **same),
    ]


@pytest.mark.parametrize("field", ["provider", "mode", "batch"])
def test_the_first_incompatible_item_ends_the_bundle_and_leads_the_next(field):
    world = make_lps(**SERIAL)
    world.submit_and_wait(_one_differs(field), 600)
    assert _sizes(world) == [2, 1, 1]
    order = [r.ids["correlation_id"] for r in world.events("lps.item.dispatched")]
    assert order == ["c0", "c1", "c2", "c3"]  # put back at its own place, first in line


def test_other_overrides_end_the_bundle():
    requests = _requests(3)
    requests[1] = requests[1].model_copy(
        update={
            "llm_config_overrides": requests[1].llm_config_overrides.model_copy(
                update={"temperature_override": 0.3}
            )
        }
    )
    world = make_lps(**SERIAL)
    world.submit_and_wait(requests, 600)
    assert _sizes(world) == [1, 1, 1]


def test_without_the_call_deadline_items_of_two_cj_batches_share_a_bundle():
    """The original bundled across CJ batches; only its toggle brings that back."""
    world = make_lps(**SERIAL, LEGACY_NO_CALL_DEADLINE=True)
    world.submit_and_wait(_one_differs("batch"), 600)
    assert _sizes(world) == [4]


# --- the bundle record and its metrics ---------------------------------------------------------


def test_a_serial_bundle_is_announced_once_with_its_size_and_counted():
    world = make_lps(**SERIAL)
    world.submit_and_wait(_requests(3), 600)
    (started,) = world.events("lps.bundle.started")
    assert dict(started.fields) == {
        "size": 3,
        "provider": "anthropic",
        "resolved_provider": "scripted",
        "model": "claude-x",
        "mode": "serial_bundle",
    }
    bundle_id = started.ids["bundle_id"]
    assert bundle_id == "serial_bundle:cd04ed9f-fee"  # the mode, then 12 characters of a seeded id
    dispatched = world.events("lps.item.dispatched")
    assert [r.fields["bundle_id"] for r in dispatched] == [bundle_id] * 3
    assert [r.fields["bundle_size"] for r in dispatched] == [3, 3, 3]
    labels = {"provider": "scripted", "model": "claude-x"}
    assert _metric(world, "llm_provider_serial_bundle_calls_total", **labels) == 1
    assert _metric(world, "llm_provider_serial_bundle_items_per_call_count", **labels) == 1
    assert _metric(world, "llm_provider_serial_bundle_items_per_call_sum", **labels) == 3
    # each call's own second, though the calls started at 0.5, 1.5 and 2.5 s
    timing = {"provider": "scripted", "status": "success"}
    assert _metric(world, "llm_provider_queue_processing_time_seconds_sum", **timing) == 3.0


def test_per_request_bundles_are_announced_but_not_counted_as_serial_bundles():
    world = make_lps(LPS_WORKERS=1)
    world.submit_and_wait(_requests(2), 600)
    started = world.events("lps.bundle.started")
    assert [dict(r.fields) for r in started] == [
        {
            "size": 1,
            "provider": "anthropic",
            "resolved_provider": "scripted",
            "model": "claude-x",
            "mode": "per_request",
        }
    ] * 2
    assert [r.ids["bundle_id"].partition(":")[0] for r in started] == ["per_request"] * 2
    labels = {"provider": "scripted", "model": "claude-x"}
    assert _metric(world, "llm_provider_serial_bundle_calls_total", **labels) == 0
    assert _metric(world, "llm_provider_serial_bundle_items_per_call_count", **labels) == 0


def test_the_gate_is_keyed_by_the_resolved_provider_and_the_requested_model():
    world = make_lps(LPS_WORKERS=1)
    world.submit_and_wait(_requests(1), 60)
    (changed,) = world.events("lps.concurrency.changed")
    assert (changed.fields["provider"], changed.fields["model"]) == ("scripted", "claude-x")


# --- what each call records ----------------------------------------------------------------------


def test_a_success_records_its_model_usage_latency_and_cost():
    world = make_lps(LPS_WORKERS=1, **PRICES)
    world.submit_and_wait(_requests(1), 60)
    assert _calls(world) == [
        (
            "c0",
            {
                "outcome": "success",
                "provider": "scripted",
                "model": "scripted-model",
                "attempt": 1,
                "latency_ms": 1000,
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "cost_usd": 0.0006,  # 100 * 3 + 20 * 15 per million
            },
        )
    ]
    success = {"provider": "scripted", "model": "scripted-model"}
    assert _metric(world, "llm_provider_tokens_used_total", **success, token_type="prompt") == 100
    assert (
        _metric(world, "llm_provider_tokens_used_total", **success, token_type="completion") == 20
    )
    assert _metric(world, "llm_provider_cost_usd_total", **success) == 0.0006
    assert (
        _metric(
            world,
            "llm_provider_requests_total",
            **success,
            request_type="comparison",
            status="success",
        )
        == 1
    )
    timing = {"provider": "scripted", "status": "success"}
    assert _metric(world, "llm_provider_queue_processing_time_seconds_count", **timing) == 1
    assert _metric(world, "llm_provider_queue_processing_time_seconds_sum", **timing) == 1.0


@dataclass
class CachingProvider:
    """Answers after one second with usage that reads and writes the prompt cache."""

    runtime: SimRuntime
    name: str = "scripted"

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        await self.runtime.sleep(1.0)
        return ProviderVerdict(
            winner="Essay B",
            justification="cached",
            confidence=3.0,
            model="cache-model",
            usage=TokenUsage(
                prompt_tokens=1000,
                completion_tokens=50,
                cache_read_tokens=600,
                cache_write_tokens=300,
            ),
            response_time_ms=1000,
        )


def test_every_token_type_is_counted_under_its_own_name_and_price():
    world = make_lps(LPS_WORKERS=1, **PRICES)
    provider = CachingProvider(world.runtime)
    world.service.ctx.provider_for = lambda name: provider
    world.submit_and_wait(_requests(1), 60)
    # 100 uncached * 3 + 300 written * 3.75 + 600 read * 0.3 + 50 out * 15, per million
    cost = 0.002355
    (call,) = _calls(world)
    assert call[1]["cost_usd"] == cost
    assert {k: call[1][k] for k in call[1] if k.endswith("_tokens")} == {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "cache_read_tokens": 600,
        "cache_write_tokens": 300,
    }
    labels = {"provider": "scripted", "model": "cache-model"}
    tokens = {
        token_type: _metric(world, "llm_provider_tokens_used_total", **labels, token_type=t)
        for token_type, t in (
            ("prompt", "prompt"),
            ("completion", "completion"),
            ("cache_read", "cache_read"),
            ("cache_write", "cache_write"),
        )
    }
    assert tokens == {"prompt": 1000, "completion": 50, "cache_read": 600, "cache_write": 300}
    assert _metric(world, "llm_provider_cost_usd_total", **labels) == cost


def test_free_calls_count_their_tokens_but_no_cost():
    world = make_lps(LPS_WORKERS=1)  # every price 0
    world.submit_and_wait(_requests(1), 60)
    labels = {"provider": "scripted", "model": "scripted-model"}
    assert _metric(world, "llm_provider_tokens_used_total", **labels, token_type="prompt") == 100
    assert world.registry.get_sample_value("llm_provider_cost_usd_total", labels) is None
    for token_type in ("cache_read", "cache_write"):  # no zero counts either
        assert (
            world.registry.get_sample_value(
                "llm_provider_tokens_used_total", {**labels, "token_type": token_type}
            )
            is None
        )


def test_an_unbilled_failure_records_the_requested_model_and_no_usage():
    world = make_lps(LPS_WORKERS=1, scripts={"c0": [http(500), OK]}, **PRICES)
    world.submit_and_wait(_requests(1), 60)
    first, second = _calls(world)
    assert first == (
        "c0",
        {
            "outcome": "error",
            "provider": "scripted",
            "model": "claude-x",
            "error_type": "server_error",
            "http_status": 500,
            "retry_after_s": None,
            "retryable": True,
            "attempt": 1,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cost_usd": 0.0,
            "billed": False,
        },
    )
    assert (second[1]["outcome"], second[1]["attempt"]) == ("success", 2)
    requested = {"provider": "scripted", "model": "claude-x"}
    assert (
        _metric(
            world,
            "llm_provider_requests_total",
            **requested,
            request_type="comparison",
            status="failure",
        )
        == 1
    )
    assert (
        _metric(
            world,
            "llm_provider_api_errors_total",
            provider="scripted",
            error_type="server_error",
            http_status_code="500",
        )
        == 1
    )
    assert _metric(world, "llm_provider_errors_total", **requested, error_type="server_error") == 1
    assert world.registry.get_sample_value("llm_provider_cost_usd_total", requested) is None
    timing = {"provider": "scripted", "status": "failure"}
    assert _metric(world, "llm_provider_queue_processing_time_seconds_count", **timing) == 1
    assert _metric(world, "llm_provider_queue_processing_time_seconds_sum", **timing) == 1.0


def test_a_retry_after_is_recorded_on_the_call():
    world = make_lps(LPS_WORKERS=1, scripts={"c0": [http(429, {"retry-after": "7"}), OK]})
    world.submit_and_wait(_requests(1), 60)
    first = _calls(world)[0][1]
    assert (first["error_type"], first["retry_after_s"], first["http_status"]) == (
        "rate_limit",
        7.0,
        429,
    )


def test_a_billed_failure_records_and_fails_with_the_model_and_usage_it_was_billed_for():
    world = make_lps(LPS_WORKERS=1, scripts={"c0": [BILLED_MAX_TOKENS]}, **PRICES)
    world.submit_and_wait(_requests(1), 60)
    cost = 0.01896  # 1200 * 3 + 1024 * 15 per million
    assert _calls(world) == [
        (
            "c0",
            {
                "outcome": "error",
                "provider": "scripted",
                "model": "scripted-model",
                "error_type": "max_tokens",
                "http_status": 200,
                "retry_after_s": None,
                "retryable": False,
                "attempt": 1,
                "prompt_tokens": 1200,
                "completion_tokens": 1024,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "cost_usd": cost,
                "billed": True,
            },
        )
    ]
    (result,) = world.callbacks_for("c0")
    assert result.error_detail.error_type == "max_tokens"
    assert (result.model, result.token_usage.prompt_tokens) == ("scripted-model", 1200)
    assert result.token_usage.completion_tokens == 1024
    billed = {"provider": "scripted", "model": "scripted-model"}
    assert _metric(world, "llm_provider_cost_usd_total", **billed) == cost
    assert _metric(world, "llm_provider_tokens_used_total", **billed, token_type="prompt") == 1200
    # the failure is counted under the model asked for, the cost under the one that billed
    assert (
        _metric(
            world,
            "llm_provider_requests_total",
            provider="scripted",
            model="claude-x",
            request_type="comparison",
            status="failure",
        )
        == 1
    )


def test_a_call_past_its_deadline_is_an_error_with_no_http_status():
    world = make_lps(LPS_WORKERS=1, scripts={"c0": [hang(50.0), OK]}, PROVIDER_CALL_DEADLINE_S=10.0)
    world.submit_and_wait(_requests(1), 600)
    first = _calls(world)[0][1]
    assert (first["error_type"], first["http_status"]) == ("timeout", None)
    assert (
        _metric(
            world,
            "llm_provider_api_errors_total",
            provider="scripted",
            error_type="timeout",
            http_status_code="none",
        )
        == 1
    )
    timing = {"provider": "scripted", "status": "failure"}
    assert _metric(world, "llm_provider_queue_processing_time_seconds_sum", **timing) == 10.0


def test_a_batch_job_s_calls_are_counted_as_batch_requests():
    world = make_lps(QUEUE_PROCESSING_MODE="batch_api", BATCH_API_POLL_INTERVAL_S=60)
    world.submit_and_wait(_requests(2), 3600)
    labels = {"provider": "scripted", "model": "scripted-model"}
    assert (
        _metric(
            world, "llm_provider_requests_total", **labels, request_type="batch", status="success"
        )
        == 2
    )
    assert (
        _metric(
            world,
            "llm_provider_requests_total",
            **labels,
            request_type="comparison",
            status="success",
        )
        == 0
    )


# --- failure policies ----------------------------------------------------------------------------


def _errors(world, n: int) -> dict[str, str | None]:
    return {
        f"c{i}": (
            world.callbacks_for(f"c{i}")[0].error_detail.error_type
            if world.callbacks_for(f"c{i}")[0].is_error
            else None
        )
        for i in range(n)
    }


def test_per_item_policy_retries_only_the_failing_item():
    world = make_lps(**SERIAL, scripts={"c1": [http(500), OK]})
    world.submit_and_wait(_requests(3), 600)
    assert _errors(world, 3) == {"c0": None, "c1": None, "c2": None}
    assert [len(world.provider.call_times(f"c{i}")) for i in range(3)] == [1, 2, 1]


def test_whole_bundle_policy_fails_earlier_successes_and_never_sends_the_rest():
    bad = anthropic_error(400, "invalid_request_error")
    world = make_lps(**SERIAL, BUNDLE_FAILURE_POLICY="whole_bundle", scripts={"c1": [bad]})
    world.submit_and_wait(_requests(3), 600)
    assert _errors(world, 3) == {"c0": "client_error", "c1": "client_error", "c2": "client_error"}
    assert [(cid, call["outcome"]) for cid, call in _calls(world)] == [
        ("c0", "success"),
        ("c1", "error"),
    ]
    assert world.provider.call_times("c2") == []
    # only the failed call's own usage goes on its callback
    assert world.callbacks_for("c0")[0].token_usage.total_tokens == 0


def test_whole_bundle_policy_gives_a_billed_failure_s_usage_to_that_item_only():
    world = make_lps(
        **SERIAL, BUNDLE_FAILURE_POLICY="whole_bundle", scripts={"c1": [BILLED_MAX_TOKENS]}
    )
    world.submit_and_wait(_requests(3), 600)
    usage = {f"c{i}": world.callbacks_for(f"c{i}")[0].token_usage.total_tokens for i in range(3)}
    assert usage == {"c0": 0, "c1": 2224, "c2": 0}
    models = {f"c{i}": world.callbacks_for(f"c{i}")[0].model for i in range(3)}
    assert models["c1"] == "scripted-model"
    assert models["c0"] == models["c2"] != "scripted-model"


def test_whole_bundle_policy_completes_a_bundle_that_all_succeeds_after_its_last_call():
    world = make_lps(**SERIAL, BUNDLE_FAILURE_POLICY="whole_bundle")
    world.submit_and_wait(_requests(2), 600)
    assert _errors(world, 2) == {"c0": None, "c1": None}
    published = [r.t for r in world.events("lps.callback.published")]
    assert published == [2.5, 2.5]  # both after c1's call (0.5 window + 2 calls of 1 s)
    assert [call["outcome"] for _, call in _calls(world)] == ["success", "success"]


def test_whole_bundle_policy_in_per_request_mode_fails_only_the_failing_item():
    bad = anthropic_error(400, "invalid_request_error")
    world = make_lps(LPS_WORKERS=1, BUNDLE_FAILURE_POLICY="whole_bundle", scripts={"c1": [bad]})
    world.submit_and_wait(_requests(3), 600)
    assert _errors(world, 3) == {"c0": None, "c1": "client_error", "c2": None}


def test_whole_bundle_policy_retries_every_item_after_a_retryable_error():
    world = make_lps(
        **SERIAL, BUNDLE_FAILURE_POLICY="whole_bundle", scripts={"c1": [http(500), OK]}
    )
    world.submit_and_wait(_requests(3), 600)
    assert _errors(world, 3) == {"c0": None, "c1": None, "c2": None}
    retried = sorted(r.ids["correlation_id"] for r in world.events("lps.retry.scheduled"))
    assert retried == ["c0", "c1", "c2"]


# --- crashes -------------------------------------------------------------------------------------


def test_a_crash_after_a_success_in_the_original_bundle_keeps_the_success():
    world = make_lps(
        **SERIAL,
        BUNDLE_FAILURE_POLICY="whole_bundle",
        QUEUE_PROCESSING_TIMEOUT_S=300,
        scripts={"c1": [CRASH]},
    )
    world.submit_and_wait(_requests(3), 3600)
    (crashed,) = world.events("lps.worker.crashed")
    assert dict(crashed.fields) == {"problem": "scripted crash", "abandoned": 2}
    assert crashed.ids["bundle_id"] == world.events("lps.bundle.started")[0].ids["bundle_id"]
    abandoned = [
        (r.ids["correlation_id"], r.fields["reason"]) for r in world.events("lps.item.abandoned")
    ]
    assert abandoned == [("c1", "worker_crash"), ("c2", "worker_crash")]
    assert _errors(world, 3) == {"c0": None, "c1": "processing_timeout", "c2": "processing_timeout"}
    assert world.callbacks_for("c0")[0].winner == "Essay A"
    assert sample_value(world.registry, "llm_provider_worker_crashes_total") == 1


def test_a_crash_in_a_bundle_hands_back_only_the_items_not_reached():
    world = make_lps(**SERIAL, QUEUE_PROCESSING_TIMEOUT_S=300, scripts={"c1": [CRASH]})
    world.submit_and_wait(_requests(4), 3600)
    (crashed,) = world.events("lps.worker.crashed")
    assert crashed.fields["abandoned"] == 1
    (released,) = world.events("lps.bundle.released")
    assert dict(released.fields) == {"released": 2, "reason": "worker_crash"}
    assert released.ids["bundle_id"] == crashed.ids["bundle_id"]
    assert _errors(world, 4) == {"c0": None, "c1": "processing_timeout", "c2": None, "c3": None}


def test_settle_refuses_a_worker_crash():
    with pytest.raises(AssertionError) as refused:
        asyncio.run(settle(None, None, WorkerCrash("boom"), elapsed_s=0.0))  # type: ignore[arg-type]
    assert str(refused.value) == "a worker crash is handled by the strategy, not settled"


# --- skipped items ---------------------------------------------------------------------------


def test_an_item_expired_while_it_waited_its_turn_is_skipped_and_named():
    world = make_lps(
        **SERIAL,
        scripts={"c0": [hang(40.0)]},
        QUEUE_REQUEST_TTL_HOURS=0.01,  # 36 s
        QUEUE_CLEANUP_INTERVAL_S=3600,
    )
    world.submit_and_wait(_requests(2), 600)
    (skipped,) = world.events("lps.item.skipped")
    bundle_id = world.events("lps.bundle.started")[0].ids["bundle_id"]
    assert skipped.ids["correlation_id"] == "c1"
    assert dict(skipped.fields) == {"status": "expired", "bundle_id": bundle_id}


def test_an_item_skipped_mid_bundle_does_not_end_the_bundle():
    """c0 and c1 arrive at 0 s, c2 at 10 s, all inside a 12 s window; c0's call runs until 42 s,
    past c1's 36 s TTL but not c2's (46 s): c1 is skipped, c2 called in the same bundle."""
    world = make_lps(
        **SERIAL,
        scripts={"c0": [hang(30.0)]},
        SERIAL_BUNDLE_WINDOW_S=12.0,
        QUEUE_REQUEST_TTL_HOURS=0.01,
        QUEUE_CLEANUP_INTERVAL_S=3600,
    )

    async def main():
        await world.service.submit(comparison_request("c0"))
        await world.service.submit(comparison_request("c1"))
        await world.runtime.sleep(10.0)
        await world.service.submit(comparison_request("c2"))
        await world.runtime.sleep(600)

    world.run(main)
    (started,) = world.events("lps.bundle.started")
    assert started.fields["size"] == 3
    (skipped,) = world.events("lps.item.skipped")
    row = next(i for i in world.service.ledger.items.values() if i.correlation_id == "c1")
    assert skipped.ids == {"queue_id": row.queue_id, "correlation_id": "c1"}
    assert world.provider.call_times("c2") == [42.0]
    assert world.events("lps.bundle.released") == []
    # the admission taken for c1 and not used went on to c2; none is left over
    assert world.service.gates.gate(("scripted", "claude-x")).in_flight == 0


def test_a_skipped_last_item_hands_its_unused_admission_back():
    world = make_lps(
        **SERIAL,
        scripts={"c0": [hang(40.0)]},
        QUEUE_REQUEST_TTL_HOURS=0.01,
        QUEUE_CLEANUP_INTERVAL_S=3600,
    )
    world.submit_and_wait(_requests(2), 600)
    assert len(world.events("lps.item.skipped")) == 1
    assert world.service.gates.gate(("scripted", "claude-x")).in_flight == 0


def test_a_bundle_cancelled_mid_call_puts_the_rest_back_as_cancelled():
    world = make_lps(**SERIAL)

    async def main():
        for request in _requests(3):
            await world.service.submit(request)
        await world.runtime.sleep(1.0)  # c0's call (0.5 to 1.5 s) is under way
        world.service.stop()
        await world.runtime.sleep(10)

    world.run(main)
    (released,) = world.events("lps.bundle.released")
    assert (released.t, dict(released.fields)) == (1.0, {"released": 2, "reason": "cancelled"})
    assert released.ids == {"bundle_id": "serial_bundle:cd04ed9f-fee"}


def test_a_zero_window_takes_what_is_queued_at_once():
    """c1 arrives one scheduling step after c0: a bundle that waited even a zero window would
    hold both."""
    world = make_lps(**SERIAL, SERIAL_BUNDLE_WINDOW_S=0.0)

    async def main():
        await world.service.submit(comparison_request("c0"))
        await world.runtime.sleep(0)
        await world.service.submit(comparison_request("c1"))
        await world.runtime.sleep(60)

    world.run(main)
    assert _sizes(world) == [1, 1]


def test_per_item_policy_completes_each_item_as_its_call_ends():
    world = make_lps(**SERIAL)
    world.submit_and_wait(_requests(3), 600)
    published = [(r.ids["correlation_id"], r.t) for r in world.events("lps.callback.published")]
    assert published == [("c0", 1.5), ("c1", 2.5), ("c2", 3.5)]


def test_the_original_bundle_marks_every_item_with_its_bundle_id():
    world = make_lps(**SERIAL, BUNDLE_FAILURE_POLICY="whole_bundle")
    world.submit_and_wait(_requests(3), 600)
    (started,) = world.events("lps.bundle.started")
    assert started.ids == {"bundle_id": "serial_bundle:cd04ed9f-fee"}
    dispatched = world.events("lps.item.dispatched")
    assert [(r.t, r.fields["bundle_id"]) for r in dispatched] == [
        (0.5, "serial_bundle:cd04ed9f-fee")
    ] * 3
    rows = world.service.ledger.items.values()
    assert {row.bundle_id for row in rows} == {"serial_bundle:cd04ed9f-fee"}


def test_a_gate_pause_in_the_original_bundle_still_completes_what_succeeded():
    """c0 answers that no request remains for 20 s: the gate holds c1's call back, c1 and c2 go
    back in line, and c0's held success is published then, not lost."""
    exhausted = RateLimitHints(requests_remaining=0, requests_reset_s=20.0)
    world = make_lps(
        scripts={"c0": [ok_with(exhausted)]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        BUNDLE_FAILURE_POLICY="whole_bundle",
        LPS_WORKERS=2,
    )
    world.submit_and_wait(_requests(3), 600)
    first = world.events("lps.callback.published")[0]
    assert (first.ids["correlation_id"], first.t) == ("c0", 1.5)
    assert world.callbacks_for("c0")[0].winner == "Essay A"
    assert all(len(world.callbacks_for(f"c{i}")) == 1 for i in range(3))


def test_each_provider_s_calls_are_gated_announced_and_counted_under_its_adapter():
    world = make_lps(LPS_WORKERS=1)
    other = ScriptedProvider(world.runtime, name="other-adapter")
    adapters = {"anthropic": world.provider, "openai": other}
    world.service.ctx.provider_for = lambda name: adapters[name]
    world.submit_and_wait(
        [comparison_request("a0"), comparison_request("o0", provider="openai")], 60
    )
    gates = [
        (r.fields["provider"], r.fields["model"]) for r in world.events("lps.concurrency.changed")
    ]
    assert gates == [("scripted", "claude-x"), ("other-adapter", "claude-x")]
    started = [
        (r.fields["provider"], r.fields["resolved_provider"])
        for r in world.events("lps.bundle.started")
    ]
    assert started == [("anthropic", "scripted"), ("openai", "other-adapter")]
    assert [(cid, call["provider"]) for cid, call in _calls(world)] == [
        ("a0", "scripted"),
        ("o0", "other-adapter"),
    ]
