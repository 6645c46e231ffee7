"""The simulated provider, fault plan and bus, each on its own."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from engine.contracts import EventEnvelope, LLMComparisonResultV1, TokenUsageV1
from engine.eventlog import MemoryEventLog
from engine.lps.calls import ProviderCall
from engine.lps.errors import ProviderError, WorkerCrash
from engine.randomness import Streams
from engine.traces import Trace
from sim.adapters.bus import SimulatedBus
from sim.adapters.faults import FaultPlan, Opportunity
from sim.adapters.provider import ReplayIndex, SimulatedProvider
from sim.adapters.runtime import SimRuntime
from sim.harness.cohorts import canonical_essay_key
from sim.harness.fault_catalogue import PROVIDER_FAULTS, FaultKind, FaultSpec
from sim.harness.scenario import ProviderSpec

T0 = datetime(2025, 12, 1, tzinfo=UTC)


def _call(a="ANCHOR_eng5_a_1_0123abcd", b="student-001", cid="c1"):
    return ProviderCall(
        correlation_id=cid,
        provider="openai",
        model="gpt-5.1",
        system_prompt="s",
        user_prompt="u",
        prompt_sha256="0" * 64,
        metadata={"essay_a_id": a, "essay_b_id": b, "cj_batch_id": "1"},
    )


def _provider(runtime, *faults, quality=None, replay=None, name="openai", bias=0.0):
    log = MemoryEventLog(runtime.now)
    plan = FaultPlan(list(faults), Streams(1).random("faults"), log)
    spec = ProviderSpec(name=name, position_bias=bias)
    return SimulatedProvider(runtime, spec, quality or {}, plan, Streams(1), replay), plan


def _answer(provider, runtime, call):
    async def main():
        try:
            return await provider.compare(call)
        except (ProviderError, WorkerCrash) as exc:
            return exc

    return runtime.run(main())


def test_anchor_ids_reduce_to_their_ref():
    assert canonical_essay_key("ANCHOR_eng5_a_1_0123abcd") == "eng5_a_1"
    assert canonical_essay_key("student-004") == "student-004"


def test_the_model_follows_quality_and_position_bias():
    runtime = SimRuntime()
    provider, _ = _provider(runtime, quality={"eng5_a_1": 1.0, "student-001": 0.0}, bias=0.5)
    wins = sum(
        _answer(provider, runtime, _call(cid=f"c{i}")).winner == "Essay A" for i in range(400)
    )
    expected = 1 / (1 + math.exp(-1.5))
    assert abs(wins / 400 - expected) < 0.06


def test_replay_answers_literally_per_orientation_and_in_recording_order():
    def result(winner, a, b, cid):
        return LLMComparisonResultV1(
            request_id="q",
            correlation_id=cid,
            winner=winner,
            justification="recorded",
            confidence=4.0,
            provider="openai",
            model="gpt-5.1-recorded",
            response_time_ms=1234,
            token_usage=TokenUsageV1(prompt_tokens=1400, completion_tokens=50, total_tokens=1450),
            requested_at=T0,
            completed_at=T0,
            request_metadata={"essay_a_id": a, "essay_b_id": b},
        )

    recorded = (
        result("Essay B", "ANCHOR_eng5_a_1_ffffffff", "student-001", "r1"),
        result("Essay A", "ANCHOR_eng5_a_1_ffffffff", "student-001", "r2"),
    )
    trace = Trace("t", (), recorded, None)
    runtime = SimRuntime()
    provider, _ = _provider(runtime, replay=ReplayIndex(trace))
    first = _answer(provider, runtime, _call())
    second = _answer(provider, runtime, _call())
    assert (first.winner, second.winner) == ("Essay B", "Essay A")
    assert first.model == "gpt-5.1-recorded"
    assert first.usage.prompt_tokens == 1400
    assert first.response_time_ms == 1234
    reversed_orientation = _answer(
        provider, runtime, _call("student-001", "ANCHOR_eng5_a_1_0123abcd")
    )
    assert reversed_orientation.model == "gpt-5.1"  # not recorded that way round: the model


@pytest.mark.parametrize(
    ("fault", "name", "error_type", "retry_after"),
    [
        (FaultSpec(kind=FaultKind.HTTP_429, retry_after_s=7), "anthropic", "rate_limit", 7.0),
        (FaultSpec(kind=FaultKind.HTTP_429, retry_after_ms=250), "openai", "rate_limit", 0.25),
        (FaultSpec(kind=FaultKind.HTTP_429_SPEND_LIMIT), "anthropic", "quota_exhausted", None),
        (FaultSpec(kind=FaultKind.HTTP_429_SPEND_LIMIT), "openai", "quota_exhausted", None),
        (FaultSpec(kind=FaultKind.HTTP_529), "anthropic", "overloaded", None),
        (FaultSpec(kind=FaultKind.HTTP_529), "openai", "overloaded", None),
        (FaultSpec(kind=FaultKind.HTTP_500), "openai", "server_error", None),
        (FaultSpec(kind=FaultKind.TIMEOUT, timeout_s=30), "openai", "timeout", None),
        (FaultSpec(kind=FaultKind.CONNECTION_RESET), "openai", "connection", None),
        (FaultSpec(kind=FaultKind.MAX_TOKENS), "anthropic", "max_tokens", None),
        (
            FaultSpec(kind=FaultKind.MALFORMED, malformed="not_json"),
            "openai",
            "invalid_response",
            None,
        ),
        (
            FaultSpec(kind=FaultKind.MALFORMED, malformed="invalid_winner"),
            "openai",
            "invalid_response",
            None,
        ),
    ],
)
def test_faults_come_out_as_the_classified_errors_a_real_provider_would_cause(
    fault, name, error_type, retry_after
):
    runtime = SimRuntime()
    provider, plan = _provider(runtime, fault, name=name)
    error = _answer(provider, runtime, _call())
    assert isinstance(error, ProviderError)
    assert error.error_type == error_type
    assert error.detail.details.get("retry_after_s") == retry_after
    assert plan.fired == [1]


def test_a_stuck_call_hangs_and_a_crash_kills_the_worker():
    runtime = SimRuntime()
    provider, _ = _provider(runtime, FaultSpec(kind=FaultKind.STUCK, hang_s=5000))
    verdict = _answer(provider, runtime, _call())
    # the 5000 s hang, then the call's own latency (1.328 s), and not a moment more
    assert runtime.now() == pytest.approx(5000 + verdict.response_time_ms / 1000, abs=1e-3)
    assert verdict.winner in ("Essay A", "Essay B")
    provider, _ = _provider(runtime, FaultSpec(kind=FaultKind.WORKER_CRASH))
    assert isinstance(_answer(provider, runtime, _call()), WorkerCrash)


def test_the_plan_honours_window_count_after_calls_target_and_its_switch():
    log = MemoryEventLog(lambda: 0.0)
    specs = [
        FaultSpec(kind=FaultKind.HTTP_500, window_s=(10, 20)),
        FaultSpec(kind=FaultKind.HTTP_529, count=2, after_calls=1),
        FaultSpec(kind=FaultKind.TIMEOUT, target={"provider": "anthropic"}),
    ]
    plan = FaultPlan(specs, Streams(3).random("faults"), log)
    kinds = [
        plan.pick(PROVIDER_FAULTS, Opportunity(now, provider="openai")) for now in (0, 1, 2, 3, 15)
    ]
    assert [k.kind.value if k else None for k in kinds] == [
        None,
        "http_529",
        "http_529",
        None,
        "http_500",
    ]
    assert plan.pick(PROVIDER_FAULTS, Opportunity(0, provider="anthropic")).kind is (
        FaultKind.TIMEOUT
    )
    plan.enabled = False
    assert plan.pick(PROVIDER_FAULTS, Opportunity(15, provider="anthropic")) is None
    assert len([r for r in log.records() if r.kind == "fault.fired"]) == 4


def _envelope(cid):
    result = LLMComparisonResultV1(
        request_id="q",
        correlation_id=cid,
        winner="Essay A",
        justification="j",
        confidence=4,
        provider="p",
        model="m",
        requested_at=T0,
        completed_at=T0,
    )
    return EventEnvelope(
        event_id=cid,
        event_type="LLMComparisonResultV1",
        event_timestamp=T0,
        source_service="lps",
        correlation_id=cid,
        data=result.model_dump(mode="json"),
    )


@pytest.mark.parametrize(
    ("fault", "deliveries"),
    [
        (None, [(0.005, "c")]),
        (FaultSpec(kind=FaultKind.DROPPED_CALLBACK), []),
        (FaultSpec(kind=FaultKind.DUPLICATE_CALLBACK), [(0.005, "c"), (1.005, "c")]),
        (FaultSpec(kind=FaultKind.LATE_CALLBACK, delay_s=300), [(300.005, "c")]),
        (FaultSpec(kind=FaultKind.CALLBACK_BURST, window_s=(0, 50)), [(50.0, "c")]),
    ],
)
def test_the_bus_delivers_drops_duplicates_delays_and_gathers(fault, deliveries):
    runtime = SimRuntime()
    log = MemoryEventLog(runtime.now)
    plan = FaultPlan([fault] if fault else [], Streams(2).random("faults"), log)
    bus = SimulatedBus(runtime, plan, Streams(2), log, callback_topic="cb")
    seen, observed = [], []

    async def handler(message):
        seen.append((round(runtime.now(), 6), message.correlation_id))

    async def main():
        bus.subscribe("cb", handler, concurrency=2)
        bus.observe(
            "cb", lambda message: observed.append((round(runtime.now(), 6), message.correlation_id))
        )
        await bus.publish("cb", _envelope("c"))
        await bus.publish("unheard", _envelope("u"))  # no subscriber: never in flight
        await runtime.sleep(600)
        return bus.idle

    assert runtime.run(main()) is True
    assert seen == deliveries
    assert observed == deliveries  # an observer sees each delivery as the consumers get it


def test_the_bus_injects_orphans_at_their_time():
    runtime = SimRuntime()
    log = MemoryEventLog(runtime.now)
    plan = FaultPlan(
        [FaultSpec(kind=FaultKind.ORPHAN_CALLBACK, at_s=42)], Streams(2).random("faults"), log
    )
    bus = SimulatedBus(runtime, plan, Streams(2), log, callback_topic="cb")
    seen = []

    async def handler(message):
        seen.append((runtime.now(), message.result().is_error))

    async def main():
        bus.subscribe("cb", handler, concurrency=1)
        bus.start()
        await runtime.sleep(100)

    runtime.run(main())
    assert seen == [(pytest.approx(42.005), True)]
