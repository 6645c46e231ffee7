"""Hard caps on a live run: requests, estimated cost and wall time, checked before every call.

``CappedProvider`` wraps the real provider. Before each call (or each batch job) it checks that
the call still fits: one more request within ``max_requests``; money already spent, plus what the
calls in flight may still cost, plus this call's worst case within ``max_cost_usd``; the run
younger than ``max_wall_s``. A call that does not fit is refused as a ``quota_exhausted`` error,
which the engine never retries, so the batch winds down on its own; ``tripped`` names the first
cap that refused, and ``on_trip`` is told once.

A call's worst case is its prompt (about four characters a token) plus ``max_tokens`` of
output. What a call really cost is read from its usage when it answers; a failed call is counted
at nothing unless the provider billed it (a truncated or unparseable answer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.contracts import ErrorDetail
from engine.lps.batch_api import BatchPoll, BatchProvider
from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.errors import ErrorType, ProviderError, detail_for
from engine.ports import Provider

__all__ = ["CapLimits", "CappedBatchProvider", "CappedProvider", "CostModel", "with_caps"]

CHARS_PER_TOKEN = 4.0
BILLED_FAILURES = frozenset({ErrorType.MAX_TOKENS.value, ErrorType.INVALID_RESPONSE.value})


@dataclass(frozen=True, slots=True)
class CostModel:
    """USD per million tokens; all zero for the mock."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    default_max_tokens: int = 1024

    def worst_case(self, call: ProviderCall) -> float:
        prompt = math.ceil((len(call.system_prompt) + len(call.user_prompt)) / CHARS_PER_TOKEN)
        output = call.max_tokens or self.default_max_tokens
        return self.of(TokenUsage(prompt_tokens=prompt, completion_tokens=output))

    def of(self, usage: TokenUsage) -> float:
        return (
            usage.prompt_tokens * self.input_per_mtok
            + usage.completion_tokens * self.output_per_mtok
        ) / 1e6


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
        utcnow: Callable[[], datetime],
        on_trip: Callable[[str], None] | None = None,
    ) -> None:
        self._inner = inner
        self._limits = limits
        self._cost = cost
        self._clock = clock
        self._utcnow = utcnow
        self._started_at = clock()
        self._on_trip = on_trip
        self._reserved = 0.0
        self.requests = 0
        self.spent_usd = 0.0
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

    def _admit(self, calls: Sequence[ProviderCall]) -> float:
        refusal = self._refusal(calls)
        if refusal is not None:
            self.stop(refusal)
            raise ProviderError(self._refused(calls[0], refusal))
        reserved = sum(self._cost.worst_case(call) for call in calls)
        self.requests += len(calls)
        self._reserved += reserved
        return reserved

    def _refused(self, call: ProviderCall, reason: str) -> ErrorDetail:
        return detail_for(
            ErrorType.QUOTA_EXHAUSTED,
            f"live cap: {reason}",
            correlation_id=call.correlation_id,
            timestamp=self._utcnow(),
            provider=self._inner.name,
            http_status=None,
            retry_after_s=None,
            provider_error_type="cjsim_live_cap",
        )

    def _account(self, call: ProviderCall, outcome: ProviderVerdict | ProviderError) -> None:
        if isinstance(outcome, ProviderVerdict):
            self.spent_usd += self._cost.of(outcome.usage)
        elif outcome.error_type in BILLED_FAILURES:
            self.spent_usd += self._cost.worst_case(call)

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        reserved = self._admit([call])
        try:
            verdict = await self._inner.compare(call)
        except ProviderError as exc:
            self._account(call, exc)
            raise
        finally:
            self._reserved -= reserved
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
        self._admit(calls)
        job_id = await self._batch.submit_batch(calls)
        self._jobs[job_id] = {call.custom_id: call for call in calls}
        return job_id

    async def poll_batch(self, job_id: str) -> BatchPoll:
        poll = await self._batch.poll_batch(job_id)
        calls = self._jobs.get(job_id, {})
        for custom_id, outcome in poll.results.items():
            call = calls.pop(custom_id, None)
            if call is not None:
                self._reserved -= self._cost.worst_case(call)
                self._account(call, outcome)
        return poll


def with_caps(
    inner: Provider,
    limits: CapLimits,
    cost: CostModel,
    *,
    clock: Callable[[], float],
    utcnow: Callable[[], datetime],
    on_trip: Callable[[str], None] | None = None,
) -> CappedProvider:
    """``inner`` behind the caps, keeping its batch API if it has one."""
    kind = CappedBatchProvider if isinstance(inner, BatchProvider) else CappedProvider
    return kind(inner, limits, cost, clock=clock, utcnow=utcnow, on_trip=on_trip)
