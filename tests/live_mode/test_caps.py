"""Hard caps: the call that would pass a cap is held (never sent, its comparison still owed, to
be resumed), the reason kept, and the whole run's spending counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from engine.live.caps import CapLimits, CappedBatchProvider, CostModel, with_caps
from engine.lps.batch_api import BatchPoll, BatchProvider
from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.errors import ErrorType, ProviderError, detail_for
from engine.lps.pricing import Pricing

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _call(n: int, chars: int = 400) -> ProviderCall:
    return ProviderCall(
        correlation_id=f"c{n}",
        provider="anthropic",
        model="m",
        system_prompt="",
        user_prompt="x" * chars,
        prompt_sha256="0",
        max_tokens=100,
        custom_id=f"q{n}",
    )


def _verdict(prompt: int = 100, completion: int = 20) -> ProviderVerdict:
    return ProviderVerdict(
        winner="Essay A",
        justification="",
        confidence=3.0,
        model="m",
        usage=TokenUsage(prompt_tokens=prompt, completion_tokens=completion),
        response_time_ms=1,
    )


class Answering:
    name = "anthropic"

    def __init__(self) -> None:
        self.calls = 0

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        self.calls += 1
        return _verdict()


class Batching(Answering):
    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str:
        self.pending = [c.custom_id for c in calls]
        return "job-1"

    async def poll_batch(self, job_id: str) -> BatchPoll:
        return BatchPoll(ended=True, results={cid: _verdict() for cid in self.pending})


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _capped(inner, limits, cost=None, clock=None, trips=None, spent_before=(0, 0.0)):
    return with_caps(
        inner,
        limits,
        cost or CostModel(),
        clock=clock or Clock(),
        on_trip=(trips.append if trips is not None else None),
        spent_before=spent_before,
    )


def _held(capped, call) -> None:
    """``call`` is held: it neither reaches the provider nor fails; it waits until the
    session ends (here: a short wait that times out)."""

    async def attempt() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await capped.compare(call)

    asyncio.run(attempt())


def test_the_request_past_max_requests_is_held_not_sent_and_not_failed():
    inner, trips = Answering(), []
    capped = _capped(inner, CapLimits(max_requests=2), trips=trips)
    for n in range(2):
        asyncio.run(capped.compare(_call(n)))
    _held(capped, _call(3))
    assert inner.calls == 2
    assert capped.requests == 2
    assert capped.held == 1
    assert capped.in_flight == 0  # a held call is not in flight: the session may end
    assert trips == ["max_requests 2 reached"]
    assert capped.tripped == trips[0]
    _held(capped, _call(4))
    assert len(trips) == 1  # told once


def test_the_requests_of_earlier_sessions_count():
    inner = Answering()
    capped = _capped(inner, CapLimits(max_requests=3), spent_before=(2, 0.0))
    asyncio.run(capped.compare(_call(1)))
    _held(capped, _call(2))
    assert (capped.requests, capped.session_requests, inner.calls) == (3, 1, 1)


def test_the_cost_cap_counts_spending_and_the_worst_case_of_the_next_call():
    # 1,000 input tokens = $1, 1,000 output tokens = $1; a call's worst case is
    # 100 prompt tokens (400 chars) + 100 output tokens = $0.2; each answer costs $0.12.
    cost = CostModel(Pricing(input=1000.0, output=1000.0))
    capped = _capped(Answering(), CapLimits(max_cost_usd=0.5), cost)
    for n in range(3):
        asyncio.run(capped.compare(_call(n)))
    assert capped.spent_usd == pytest.approx(0.36)
    _held(capped, _call(9))  # 0.36 + 0.2 > 0.5
    assert capped.tripped is not None
    assert "max_cost_usd 0.5" in capped.tripped


def test_the_cost_of_earlier_sessions_counts_at_the_edge():
    cost = CostModel(Pricing(input=1000.0, output=1000.0))
    fits = _capped(Answering(), CapLimits(max_cost_usd=0.5), cost, spent_before=(0, 0.3))
    asyncio.run(fits.compare(_call(1)))  # 0.3 + 0.2 = 0.5: exactly at the cap, admitted
    assert fits.spent_usd == pytest.approx(0.42)
    over = _capped(Answering(), CapLimits(max_cost_usd=0.5), cost, spent_before=(0, 0.31))
    _held(over, _call(1))


def test_a_billed_failure_costs_its_usage():
    class Truncating(Answering):
        async def compare(self, call: ProviderCall) -> ProviderVerdict:
            raise ProviderError(
                detail_for(
                    ErrorType.MAX_TOKENS,
                    "truncated",
                    correlation_id=call.correlation_id,
                    timestamp=NOW,
                    provider="anthropic",
                ),
                usage=TokenUsage(prompt_tokens=50, completion_tokens=100),
                model="m",
            )

    cost = CostModel(Pricing(input=1000.0, output=1000.0))
    capped = _capped(Truncating(), CapLimits(), cost)
    with pytest.raises(ProviderError):
        asyncio.run(capped.compare(_call(1)))
    assert capped.spent_usd == pytest.approx(0.15)


def test_the_wall_clock_cap():
    clock = Clock()
    capped = _capped(Answering(), CapLimits(max_wall_s=60), clock=clock)
    asyncio.run(capped.compare(_call(1)))
    clock.t = 61.0
    _held(capped, _call(2))
    assert capped.tripped == "max_wall_s 60 reached"


def test_stop_holds_everything_after_it():
    inner = Answering()
    capped = _capped(inner, CapLimits())
    capped.stop("interrupted")
    _held(capped, _call(1))
    assert inner.calls == 0


def test_a_batch_job_is_admitted_as_a_whole_and_keeps_its_batch_api():
    inner = Batching()
    capped = _capped(inner, CapLimits(max_requests=3))
    assert isinstance(capped, CappedBatchProvider)
    assert isinstance(capped, BatchProvider)
    assert not isinstance(_capped(Answering(), CapLimits()), BatchProvider)
    job = asyncio.run(capped.submit_batch([_call(n) for n in range(3)]))
    assert capped.in_flight == 3
    poll = asyncio.run(capped.poll_batch(job))
    assert len(poll.results) == 3
    assert capped.in_flight == 0

    async def one_more() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await capped.submit_batch([_call(7)])

    asyncio.run(one_more())
    assert capped.held == 1
