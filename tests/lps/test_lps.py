"""The LPS engine on SimRuntime with a scripted provider."""

from __future__ import annotations

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from engine.metrics_export import sample_value
from engine.ports import SubmissionRejected, TaskCrashed
from tests.lps.harness import (
    CRASH,
    MAX_TOKENS,
    OK,
    anthropic_error,
    comparison_request,
    hang,
    http,
    make_lps,
)
from tests.strategies import fault_scripts


def _api_errors(world, error_type, status):
    return sample_value(
        world.registry,
        "llm_provider_api_errors_total",
        provider="scripted",
        error_type=error_type,
        http_status_code=status,
    )


def test_a_429_with_retry_after_waits_exactly_that_long_before_the_retry():
    world = make_lps(scripts={"c1": [http(429, {"retry-after": "5"}), OK]})
    world.submit_and_wait([comparison_request("c1")], 60)
    first, second = world.provider.call_times("c1")
    assert second - (first + 1.0) == 5.0  # 1 s of call latency, then exactly 5 s
    (result,) = world.callbacks_for("c1")
    assert result.winner == "Essay A"
    assert result.request_metadata["attempts"] == 2
    assert _api_errors(world, "rate_limit", "429") == 1
    assert (
        sample_value(
            world.registry,
            "llm_provider_retries_total",
            provider="scripted",
            error_type="rate_limit",
        )
        == 1
    )


def test_retry_after_ms_wins_and_huge_retry_after_is_bounded():
    world = make_lps(
        scripts={
            "ms": [http(429, {"retry-after-ms": "1500", "retry-after": "9"}), OK],
            "huge": [http(429, {"retry-after": "100000"}), OK],
        },
        RETRY_AFTER_MAX_S=30,
    )
    world.submit_and_wait([comparison_request("ms"), comparison_request("huge")], 600)
    delays = {
        r.ids["correlation_id"]: r.fields["delay_s"] for r in world.events("lps.retry.scheduled")
    }
    assert delays == {"ms": 1.5, "huge": 30.0}


def test_a_529_is_retried_with_exponential_backoff_until_it_succeeds():
    world = make_lps(scripts={"c1": [anthropic_error(529, "overloaded_error")] * 2 + [OK]})
    world.submit_and_wait([comparison_request("c1")], 120)
    delays = [r.fields["delay_s"] for r in world.events("lps.retry.scheduled")]
    assert len(delays) == 2
    # base 4 s, then doubled, each less up to 25% of seeded jitter (3..4 s, then 6..8 s)
    assert delays == [3.514608, 7.114247]
    assert world.callbacks_for("c1")[0].winner == "Essay A"
    assert _api_errors(world, "overloaded", "529") == 2


@pytest.mark.parametrize(
    ("action", "error_type", "status"),
    [
        (MAX_TOKENS, "max_tokens", "200"),
        (
            anthropic_error(429, "rate_limit_error", error_code="enforced_spend_limit_reached"),
            "quota_exhausted",
            "429",
        ),
        (
            http(
                429,
                body={
                    "error": {
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                        "message": "You exceeded your current quota",
                    }
                },
            ),
            "quota_exhausted",
            "429",
        ),
        (anthropic_error(401, "authentication_error"), "authentication", "401"),
        (anthropic_error(400, "invalid_request_error"), "client_error", "400"),
    ],
)
def test_errors_that_retrying_cannot_fix_fail_at_once(action, error_type, status):
    world = make_lps(scripts={"c1": [action, OK]})
    world.submit_and_wait([comparison_request("c1")], 60)
    assert len(world.provider.call_times("c1")) == 1
    (result,) = world.callbacks_for("c1")
    assert result.error_detail.error_type == error_type
    assert result.error_detail.details["retryable"] is False
    assert result.model == "unknown"
    assert result.token_usage.total_tokens == 0
    assert _api_errors(world, error_type, status) == 1
    assert (
        sample_value(
            world.registry,
            "llm_provider_errors_total",
            provider="scripted",
            model="claude-x",
            error_type=error_type,
        )
        == 1
    )


def test_retries_stop_after_queue_max_retries_and_keep_the_original_queue_time():
    world = make_lps(scripts={"c1": [http(500)] * 10})
    world.submit_and_wait([comparison_request("c1")], 600)
    assert len(world.provider.call_times("c1")) == 4  # one try and three retries
    (result,) = world.callbacks_for("c1")
    assert result.error_detail.error_type == "server_error"
    assert result.request_metadata["attempts"] == 4
    enqueued = world.events("lps.queue.enqueued")[0]
    assert result.requested_at.timestamp() == pytest.approx(
        world.runtime.epoch.timestamp() + enqueued.t
    )


def test_legacy_classification_lumps_every_error_together_and_retries_it():
    spend = anthropic_error(429, "rate_limit_error", error_code="enforced_spend_limit_reached")
    world = make_lps(scripts={"c1": [spend] * 10}, LEGACY_UNCLASSIFIED_PROVIDER_ERRORS=True)
    world.submit_and_wait([comparison_request("c1")], 600)
    assert len(world.provider.call_times("c1")) == 4  # retried although it can never succeed
    assert world.callbacks_for("c1")[0].error_detail.error_type == "unknown"


def _bundle_sizes(world):
    return [r.fields["size"] for r in world.events("lps.bundle.started")]


@pytest.mark.parametrize(
    ("hint", "largest", "echoed"),
    [(10, 10, 10), (500, 64, None), (None, 64, None), ("7", 64, None)],
)
def test_serial_bundles_respect_the_hint_and_never_exceed_64(hint, largest, echoed):
    """A hint is echoed only as the integer 1..64 LPS honoured; any other is dropped."""
    world = make_lps(QUEUE_PROCESSING_MODE="serial_bundle", latency_s=0.1)
    world.submit_and_wait([comparison_request(f"c{i:02d}", hint=hint) for i in range(64)], 600)
    sizes = _bundle_sizes(world)
    assert sum(sizes) == 64
    assert max(sizes) == largest
    assert sample_value(
        world.registry,
        "llm_provider_serial_bundle_calls_total",
        provider="scripted",
        model="claude-x",
    ) == len(sizes)
    assert sample_value(
        world.registry,
        "llm_provider_serial_bundle_items_per_call_count",
        provider="scripted",
        model="claude-x",
    ) == len(sizes)
    for callback in world.callbacks:
        metadata = callback.result().request_metadata
        assert metadata["queue_processing_mode"] == "serial_bundle"
        assert metadata.get("preferred_bundle_size") == echoed


def test_an_incompatible_request_ends_the_bundle():
    world = make_lps(QUEUE_PROCESSING_MODE="serial_bundle")
    requests = [
        comparison_request("a1"),
        comparison_request("a2"),
        comparison_request("o1", provider="openai"),
        comparison_request("a3"),
    ]
    world.submit_and_wait(requests, 600)
    assert _bundle_sizes(world) == [2, 1, 1]


def test_per_item_policy_fails_only_the_failing_item_of_a_bundle():
    world = make_lps(
        QUEUE_PROCESSING_MODE="serial_bundle",
        scripts={"c2": [anthropic_error(400, "invalid_request_error")]},
    )
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(5)], 600)
    outcomes = {f"c{i}": world.callbacks_for(f"c{i}")[0].is_error for i in range(5)}
    assert outcomes == {"c0": False, "c1": False, "c2": True, "c3": False, "c4": False}


def test_whole_bundle_policy_fails_every_item_of_the_bundle_as_the_original_did():
    world = make_lps(
        QUEUE_PROCESSING_MODE="serial_bundle",
        BUNDLE_FAILURE_POLICY="whole_bundle",
        scripts={"c2": [anthropic_error(400, "invalid_request_error")]},
    )
    world.submit_and_wait([comparison_request(f"c{i}") for i in range(5)], 600)
    assert all(world.callbacks_for(f"c{i}")[0].is_error for i in range(5))
    assert world.provider.call_times("c3") == []  # never sent


def test_a_stuck_processing_item_is_expired_once_and_its_zombie_result_discarded():
    # One worker and no call deadline before the sweep: the sweep alone frees the worker.
    world = make_lps(
        scripts={"stuck": [hang(2 * 3600)]},
        QUEUE_PROCESSING_TIMEOUT_S=600,
        PROVIDER_CALL_DEADLINE_S=3 * 3600,
        LPS_WORKERS=1,
    )
    world.submit_and_wait([comparison_request("stuck"), comparison_request("after")], 3 * 3600)
    (result,) = world.callbacks_for("stuck")
    assert result.error_detail.error_type == "processing_timeout"
    expired = world.events("lps.item.expired")[0]
    assert expired.fields["reason"] == "processing_timeout"
    assert expired.fields["cj_batch_id"] == "9"
    assert expired.t == 630.0  # the first 30 s sweep after the 600 s timeout
    assert (
        sample_value(
            world.registry,
            "llm_provider_queue_expiry_total",
            provider="scripted",
            queue_processing_mode="per_request",
            expiry_reason="processing_timeout",
        )
        == 1
    )
    assert (
        sample_value(world.registry, "llm_provider_zombie_results_total", provider="scripted") == 1
    )
    # the queue was not held hostage: the next item went out as soon as the stuck one expired
    assert world.provider.call_times("after")[0] == pytest.approx(expired.t)
    assert len(world.callbacks_for("after")) == 1


def test_without_the_processing_timeout_a_stuck_item_never_gets_a_callback():
    world = make_lps(
        scripts={"stuck": [hang(30 * 3600)]},
        LEGACY_NO_PROCESSING_TIMEOUT=True,
        LEGACY_NO_CALL_DEADLINE=True,  # the original had neither
    )
    world.submit_and_wait([comparison_request("stuck")], 20 * 3600)
    assert world.callbacks_for("stuck") == []
    (item,) = world.service.ledger.items.values()
    assert item.status.value == "processing"
    assert not world.service.idle


def test_a_crashed_worker_leaves_its_item_for_the_sweep():
    world = make_lps(scripts={"c1": [CRASH]}, QUEUE_PROCESSING_TIMEOUT_S=300)
    world.submit_and_wait([comparison_request("c1"), comparison_request("c2")], 3600)
    (result,) = world.callbacks_for("c1")
    assert result.error_detail.error_type == "processing_timeout"
    assert world.callbacks_for("c2")[0].winner == "Essay A"
    assert sample_value(world.registry, "llm_provider_worker_crashes_total") == 1


def test_expired_queued_items_get_a_callback_unless_the_legacy_toggle_is_on():
    def run(**settings):
        world = make_lps(
            scripts={"blocker": [hang(2 * 3600)]},
            QUEUE_REQUEST_TTL_HOURS=0.5,
            QUEUE_PROCESSING_TIMEOUT_S=3 * 3600,
            PROVIDER_CALL_DEADLINE_S=3 * 3600,
            LPS_WORKERS=1,
            **settings,
        )
        world.submit_and_wait(
            [comparison_request("blocker"), comparison_request("waits")], 3 * 3600
        )
        return world

    fixed = run()
    assert fixed.callbacks_for("waits")[0].error_detail.error_type == "queue_expired"
    legacy = run(LEGACY_NO_CALLBACK_ON_EXPIRY=True)
    assert legacy.callbacks_for("waits") == []


def test_every_terminal_item_gets_exactly_one_callback():
    scripts = {"a": [http(500), OK], "b": [MAX_TOKENS], "c": [hang(5000)], "d": [CRASH]}
    world = make_lps(scripts=scripts, QUEUE_PROCESSING_TIMEOUT_S=600)
    world.submit_and_wait([comparison_request(cid) for cid in "abcde"], 6 * 3600)
    for cid in "abcde":
        assert len(world.callbacks_for(cid)) == 1, cid
    assert world.service.idle


# Each fault a script may hold: the provider's answer, and the error type and retryability the
# classification gives it (PR 3), written out here rather than read back from engine.lps.errors.
FAULTS = {
    "500": (http(500), "server_error", True),
    "529": (anthropic_error(529, "overloaded_error"), "overloaded", True),
    "429": (anthropic_error(429, "rate_limit_error"), "rate_limit", True),
    "400": (anthropic_error(400, "invalid_request_error"), "client_error", False),
    "max_tokens": (MAX_TOKENS, "max_tokens", False),
    "ok": (OK, None, None),
}
QUEUE_MAX_RETRIES = 3  # the default: one try and three retries


def _expected(script):
    """(calls, error type or None) for a request whose attempts follow ``script``."""
    for attempt, fault in enumerate([*script, "ok"]):
        _, error_type, retryable = FAULTS[fault]
        if error_type is None or not retryable or attempt == QUEUE_MAX_RETRIES:
            return attempt + 1, error_type
    raise AssertionError("unreachable: the script ends in ok")


@settings(max_examples=40, deadline=None)
@given(
    scripts=fault_scripts(["c0", "c1", "c2"], st.sampled_from(sorted(FAULTS)), attempts_max=5),
    mode=st.sampled_from(["per_request", "serial_bundle"]),
)
def test_any_fault_sequence_ends_in_one_callback_after_the_attempts_the_policy_allows(
    scripts, mode
):
    """Which fault comes at which attempt of which request is drawn: each request is called
    until it answers, fails with an error retrying cannot fix, or has had three retries; then
    it gets exactly one callback, saying so."""
    note(f"make_lps(scripts={ {cid: [FAULTS[f][0] for f in s] for cid, s in scripts.items()} })")
    world = make_lps(
        scripts={cid: [FAULTS[f][0] for f in script] for cid, script in scripts.items()},
        QUEUE_PROCESSING_MODE=mode,
    )
    world.submit_and_wait([comparison_request(cid) for cid in scripts], 600)
    for cid, script in scripts.items():
        calls, error_type = _expected(script)
        (result,) = world.callbacks_for(cid)
        assert len(world.provider.call_times(cid)) == calls, cid
        assert result.request_metadata["attempts"] == calls, cid
        if error_type is None:
            assert result.error_detail is None, cid
            assert result.winner == "Essay A", cid
        else:
            assert result.error_detail.error_type == error_type, cid
    assert world.service.idle


def test_a_full_queue_rejects_with_a_clear_error():
    world = make_lps(QUEUE_MAX_SIZE=3, scripts={f"c{i}": [hang(100)] for i in range(5)})

    async def main():
        for i in range(3):
            await world.service.submit(comparison_request(f"c{i}"))
        await world.service.submit(comparison_request("c3"))

    with pytest.raises(TaskCrashed, match=r"LPS queue is full \(3 items\)") as caught:
        world.run(main)
    assert isinstance(caught.value.__cause__, SubmissionRejected)


def test_callbacks_echo_metadata_with_the_prompt_hash_and_a_valid_hint_only():
    world = make_lps()
    world.submit_and_wait(
        [comparison_request("good", hint=12), comparison_request("bad", hint=500)], 60
    )
    good = world.callbacks_for("good")[0].request_metadata
    bad = world.callbacks_for("bad")[0].request_metadata
    assert good["preferred_bundle_size"] == 12
    assert "preferred_bundle_size" not in bad
    for metadata in (good, bad):
        assert len(metadata["prompt_sha256"]) == 64
        assert metadata["essay_a_id"] == "a"
        assert metadata["cj_batch_id"] == "9"
        assert metadata["resolved_provider"] == "scripted"
        assert metadata["usage"]["prompt_tokens"] == 100
    assert world.callbacks_for("good")[0].provider == "anthropic"  # the requested provider


def test_batch_api_matches_results_in_any_order_and_expires_the_missing():
    world = make_lps(
        QUEUE_PROCESSING_MODE="batch_api",
        BATCH_API_POLL_INTERVAL_S=60,
        scripts={"slow": [hang(30 * 3600)], "err": [MAX_TOKENS]},
    )
    ids = [f"c{i}" for i in range(6)] + ["slow", "err"]
    world.submit_and_wait([comparison_request(cid) for cid in ids], 26 * 3600)
    for cid in ids:
        assert len(world.callbacks_for(cid)) == 1, cid
    assert world.callbacks_for("slow")[0].error_detail.error_type == "batch_expired"
    assert world.callbacks_for("err")[0].error_detail.error_type == "max_tokens"
    assert all(world.callbacks_for(f"c{i}")[0].winner == "Essay A" for i in range(6))
    ended = world.events("lps.batch_job.ended")[0]
    assert ended.fields["expired"] == 1
    submitted = world.events("lps.batch_job.submitted")[0]
    assert ended.t - submitted.t == 24 * 3600  # the 60 s poll that finds the job 24 h old


def test_a_refused_batch_job_settles_each_item_as_a_call_would_be():
    from engine.lps.batch_api import InProcessBatchJobs
    from engine.lps.errors import ProviderError, classify_http
    from engine.randomness import Rng

    world = make_lps(QUEUE_PROCESSING_MODE="batch_api", BATCH_API_POLL_INTERVAL_S=5)
    jobs = InProcessBatchJobs(world.provider, world.runtime, Rng(1))
    refusals = []

    class RefusedOnce:
        name = "scripted"

        async def compare(self, call):
            return await world.provider.compare(call)

        async def submit_batch(self, calls):
            if not refusals:
                refusals.append(len(calls))
                detail = classify_http(
                    429,
                    headers={"retry-after": "10"},
                    body={},
                    provider="p",
                    correlation_id=calls[0].correlation_id,
                    timestamp=world.runtime.utcnow(),
                )
                raise ProviderError(detail)
            return await jobs.submit_batch(calls)

        async def poll_batch(self, job_id):
            return await jobs.poll_batch(job_id)

    refused = RefusedOnce()
    world.service.ctx.provider_for = lambda name: refused
    ids = [f"c{i}" for i in range(3)]
    world.submit_and_wait([comparison_request(cid) for cid in ids], 3600)
    assert refusals == [3]
    assert world.events("lps.batch_job.refused")[0].fields["error_type"] == "rate_limit"
    assert len(world.events("lps.retry.scheduled")) == 3
    for cid in ids:
        (callback,) = world.callbacks_for(cid)
        assert callback.winner == "Essay A"


@pytest.mark.parametrize("status", [503, 401])
def test_a_batch_job_that_cannot_be_polled_waits_or_fails_its_items(status):
    from engine.lps.batch_api import InProcessBatchJobs
    from engine.lps.errors import ProviderError, classify_http
    from engine.randomness import Rng

    world = make_lps(QUEUE_PROCESSING_MODE="batch_api", BATCH_API_POLL_INTERVAL_S=5)
    jobs = InProcessBatchJobs(world.provider, world.runtime, Rng(1))
    polls = []

    class FlakyPolls:
        name = "scripted"

        async def compare(self, call):
            return await world.provider.compare(call)

        async def submit_batch(self, calls):
            return await jobs.submit_batch(calls)

        async def poll_batch(self, job_id):
            polls.append(job_id)
            if len(polls) == 1:
                detail = classify_http(
                    status,
                    headers={},
                    body={},
                    provider="p",
                    correlation_id="job",
                    timestamp=world.runtime.utcnow(),
                )
                raise ProviderError(detail)
            return await jobs.poll_batch(job_id)

    flaky = FlakyPolls()
    world.service.ctx.provider_for = lambda name: flaky
    ids = ["c0", "c1"]
    world.submit_and_wait([comparison_request(cid) for cid in ids], 3600)
    for cid in ids:
        (callback,) = world.callbacks_for(cid)
        if status == 503:  # retryable: the next poll reads the results
            assert callback.winner == "Essay A"
        else:  # the job cannot be read: each item fails, under its own correlation id
            assert callback.error_detail.error_type == "authentication"
            assert callback.error_detail.correlation_id == cid
    assert len(polls) == (2 if status == 503 else 1)


def test_the_queue_depth_gauges_read_the_queue_as_it_is():
    world = make_lps(scripts={f"c{i}": [OK] for i in range(3)})

    def depth(queue_type):
        return sample_value(world.registry, "llm_provider_queue_depth", queue_type=queue_type)

    seen = []

    async def main():
        for i in range(3):
            await world.service.submit(comparison_request(f"c{i}"))
        seen.append((depth("total"), depth("queued")))
        await world.runtime.sleep(60)
        seen.append((depth("total"), depth("queued")))

    world.run(main)
    assert seen == [(3.0, 3.0), (0.0, 0.0)]
    assert world.service.ledger.max_depth == 3
