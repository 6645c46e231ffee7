"""Hard caps on a live run: requests, estimated cost and wall time, checked before every call.

``CappedProvider`` wraps the real provider. Before each call (or each batch job) it checks that
the call still fits: one more request within ``max_requests``; money already spent, plus what the
calls in flight may still cost, plus this call's worst case within ``max_cost_usd``; the session
younger than ``max_wall_s``. Requests and cost count the whole run, earlier sessions included
(``spent_before``), so resuming a run does not reset its budget.

A call that does not fit is *held*, not failed: it never reaches the provider, and it waits
until the session ends, when it is cancelled. Its comparison stays owed, so the batch stays
open, and ``cjsim live --resume`` (with a higher cap, if the cap was the reason) sends it. Had
it failed instead, the batch would have wound down with comparisons it never judged, and
nothing would be left to resume. ``tripped`` names the first cap that held a call, and
``on_trip`` is told once; the session ends when no admitted call is still in flight.

A call's worst case is its prompt (about four characters a token) plus ``max_tokens`` of
output. What a call really cost is read from its usage when it answers, a billed failure's
too (a truncated or unparseable answer carries its usage); a billed failure without usage is
counted at its worst case, and an unbilled failure at nothing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.lps.batch_api import BatchPoll, BatchProvider
from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.errors import ErrorType, ProviderError
from engine.lps.pricing import Pricing
from engine.ports import Provider

__all__ = ["CapLimits", "CappedBatchProvider", "CappedProvider", "CostModel", "with_caps"]

CHARS_PER_TOKEN = 4.0
BILLED_FAILURES = frozenset({ErrorType.MAX_TOKENS.value, ErrorType.INVALID_RESPONSE.value})


@dataclass(frozen=True, slots=True)
class CostModel:
    """The run's prices (all zero for the mock) and the output bound of a call."""

    pricing: Pricing = field(default_factory=Pricing)
    default_max_tokens: int = 1024

    def worst_case(self, call: ProviderCall) -> float:
        prompt = math.ceil((len(call.system_prompt) + len(call.user_prompt)) / CHARS_PER_TOKEN)
        output = call.max_tokens or self.default_max_tokens
        return self.of(TokenUsage(prompt_tokens=prompt, completion_tokens=output))

    def of(self, usage: TokenUsage) -> float:
        return self.pricing.cost_usd(usage)


@dataclass(frozen=True, slots=True)
class CapLimits:
    max_requests: int | None = None
    max_cost_usd: float | None = None
    max_wall_s: float | None = None


class CappedProvider:
    """The ``Provider`` (and, if the inner one has it, ``BatchProvider``) with hard caps."""

    def __init__(
        self,
        inner: Provider,
        limits: CapLimits,
        cost: CostModel,
        *,
        clock: Callable[[], float],
        on_trip: Callable[[str], None] | None = None,
        spent_before: tuple[int, float] = (0, 0.0),
    ) -> None:
        self._inner = inner
        self._limits = limits
        self._cost = cost
        self._clock = clock
        self._started_at = clock()
        self._on_trip = on_trip
        self._reserved = 0.0
        self.requests_before, self.spent_before_usd = spent_before
        self.requests = self.requests_before  # the whole run's, this session's included
        self.spent_usd = self.spent_before_usd
        self.in_flight = 0  # admitted calls not yet answered
        self.held = 0  # calls a cap stopped, waiting for the session to end
        self.tripped: str | None = None

    @property
    def name(self) -> str:
        return self._inner.name

    def stop(self, reason: str) -> None:
        """Refuse every call from now on (a user's Ctrl-C, or a cap the caller watches)."""
        if self.tripped is None:
            self.tripped = reason
            if self._on_trip is not None:
                self._on_trip(reason)

    def _refusal(self, calls: Sequence[ProviderCall]) -> str | None:
        limits = self._limits
        if self.tripped is not None:
            return self.tripped
        if limits.max_requests is not None and self.requests + len(calls) > limits.max_requests:
            return f"max_requests {limits.max_requests} reached"
        if limits.max_wall_s is not None and self._clock() - self._started_at > limits.max_wall_s:
            return f"max_wall_s {limits.max_wall_s:g} reached"
        if limits.max_cost_usd is not None:
            worst = sum(self._cost.worst_case(call) for call in calls)
            if self.spent_usd + self._reserved + worst > limits.max_cost_usd:
                return (
                    f"max_cost_usd {limits.max_cost_usd:g} reached (spent "
                    f"{self.spent_usd:.4f}, in flight up to {self._reserved:.4f})"
                )
        return None

    @property
    def session_requests(self) -> int:
        return self.requests - self.requests_before

    @property
    def session_spent_usd(self) -> float:
        return self.spent_usd - self.spent_before_usd

    async def _admit(self, calls: Sequence[ProviderCall]) -> float:
        refusal = self._refusal(calls)
        if refusal is not None:
            self.stop(refusal)
            self.held += len(calls)
            await asyncio.get_running_loop().create_future()  # until the session cancels it
        reserved = sum(self._cost.worst_case(call) for call in calls)
        self.requests += len(calls)
        self._reserved += reserved
        self.in_flight += len(calls)
        return reserved

    def _release(self, reserved: float, calls: int) -> None:
        self._reserved -= reserved
        self.in_flight -= calls

    def _account(self, call: ProviderCall, outcome: ProviderVerdict | ProviderError) -> None:
        if outcome.usage is not None:  # an answer, or a billed failure that says its usage
            self.spent_usd += self._cost.of(outcome.usage)
        elif outcome.error_type in BILLED_FAILURES:
            self.spent_usd += self._cost.worst_case(call)

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        reserved = await self._admit([call])
        try:
            verdict = await self._inner.compare(call)
        except ProviderError as exc:
            self._account(call, exc)
            raise
        finally:
            self._release(reserved, 1)
        self._account(call, verdict)
        return verdict


class CappedBatchProvider(CappedProvider):
    """``CappedProvider`` for a provider with a batch API: a job is admitted as a whole."""

    def __init__(self, inner: Provider, *args: Any, **kwargs: Any) -> None:
        super().__init__(inner, *args, **kwargs)
        assert isinstance(inner, BatchProvider)
        self._batch: BatchProvider = inner
        self._jobs: dict[str, dict[str, ProviderCall]] = {}

    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str:
        # A job is in flight from submission until its results are polled.
        await self._admit(calls)
        job_id = await self._batch.submit_batch(calls)
        self._jobs[job_id] = {call.custom_id: call for call in calls}
        return job_id

    async def poll_batch(self, job_id: str) -> BatchPoll:
        poll = await self._batch.poll_batch(job_id)
        calls = self._jobs.get(job_id, {})
        for custom_id, outcome in poll.results.items():
            call = calls.pop(custom_id, None)
            if call is not None:
                self._release(self._cost.worst_case(call), 1)
                self._account(call, outcome)
        return poll


def with_caps(
    inner: Provider,
    limits: CapLimits,
    cost: CostModel,
    *,
    clock: Callable[[], float],
    on_trip: Callable[[str], None] | None = None,
    spent_before: tuple[int, float] = (0, 0.0),
) -> CappedProvider:
    """``inner`` behind the caps, keeping its batch API if it has one."""
    kind = CappedBatchProvider if isinstance(inner, BatchProvider) else CappedProvider
    return kind(
        inner,
        limits,
        cost,
        clock=clock,
        on_trip=on_trip,
        spent_before=spent_before,
    )
