"""The simulated provider: trace replay where the trace knows the pair, a model where it does
not, and the scenario's faults on top.

For each call it identifies the two essays (their canonical keys, so anchors match across
runs), asks the fault plan whether anything goes wrong, and answers:

* **replay**: the next recorded answer for that pair *in that orientation* (attempt-ordered:
  the n-th call for (A, B) gets the n-th recording), latency and tokens included;
* **model**: otherwise, Essay A wins with probability ``sigmoid(q_A - q_B + position_bias)``;
  latency and token counts are drawn from the scenario's distributions.

Failures are produced the way real providers produce them, as HTTP statuses with headers and
error bodies in the provider's own shape (Anthropic or OpenAI), or as raw answers that do not
parse, and then go through the same classifier and verdict parser as the live adapters
(``engine.lps.errors``, ``engine.lps.verdict``). A truncated or unparseable answer is billed: its
error carries the usage and the model.

With ``provider.rate_limit``, the provider also enforces an account's limits before anything
else: a token bucket per limit (``engine.lps.concurrency_bucket``), requests taken on arrival,
model tokens charged when the answer is written. A request the buckets cannot take is answered
429 with a whole-second ``retry-after`` (never reaching the model or the fault plan), and every
HTTP answer, verdicts included, carries ``RateLimitHints`` (remaining, seconds to reset) as the
providers' rate-limit headers do.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.contracts import LLMComparisonResultV1
from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.concurrency_bucket import TokenBucket
from engine.lps.errors import ProviderError, WorkerCrash, classify_http, classify_transport
from engine.lps.verdict import parse_verdict
from engine.ports import Runtime
from engine.randomness import Rng, Streams
from engine.traces import Trace
from sim.adapters.faults import FaultPlan, Opportunity
from sim.harness.cohorts import canonical_essay_key
from sim.harness.distributions import draw
from sim.harness.fault_catalogue import PROVIDER_FAULTS, FaultKind, FaultSpec
from sim.harness.scenario import ProviderRateLimit, ProviderSpec

__all__ = ["AccountLimits", "ReplayIndex", "SimulatedProvider"]

ERROR_ANSWER_S = 0.2  # an HTTP error comes back quickly

JUSTIFICATIONS = (
    "{w} argues more clearly and supports its points with relevant examples.",
    "{w} is better organised, with a stronger conclusion.",
    "{w} shows a surer command of language and a more developed argument.",
    "{w} addresses the task more fully and more precisely.",
)


class ReplayIndex:
    """Recorded answers by (canonical essay A, canonical essay B), in recording order."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._answers: dict[tuple[str, str], deque[LLMComparisonResultV1]] = {}
        for result in trace.results:
            metadata = result.request_metadata
            a, b = metadata.get("essay_a_id"), metadata.get("essay_b_id")
            if isinstance(a, str) and isinstance(b, str):
                key = (canonical_essay_key(a), canonical_essay_key(b))
                self._answers.setdefault(key, deque()).append(result)
        # The recording's empirical distributions, for pairs it does not have.
        answered = [r for r in trace.results if not r.is_error]
        self.latencies_ms = [float(r.response_time_ms) for r in answered]
        self.prompt_tokens = [r.token_usage.prompt_tokens for r in answered]
        self.completion_tokens = [r.token_usage.completion_tokens for r in answered]

    def next(self, a: str, b: str) -> LLMComparisonResultV1 | None:
        answers = self._answers.get((a, b))
        return answers.popleft() if answers else None


@dataclass
class AccountLimits:
    """A provider account's rate limits: one token bucket per limit, in virtual time."""

    requests: TokenBucket | None
    tokens: TokenBucket | None

    @classmethod
    def from_spec(cls, spec: ProviderRateLimit, *, now_s: float) -> AccountLimits:
        rpm, tpm = spec.requests_per_minute, spec.tokens_per_minute
        return cls(
            requests=TokenBucket.per_minute(rpm, now_s=now_s) if rpm is not None else None,
            tokens=TokenBucket.per_minute(tpm, now_s=now_s) if tpm is not None else None,
        )

    def arrive(self, now_s: float) -> float | None:
        """Take a request: None when it is let in, else the seconds until it would be."""
        waits = [bucket.wait_s(now_s=now_s) for bucket in (self.requests, self.tokens) if bucket]
        if any(wait_s > 0 for wait_s in waits):
            return max(waits)
        if self.requests is not None:
            self.requests = self.requests.take(1, now_s=now_s)
        return None

    def charge(self, usage: TokenUsage | None, now_s: float) -> None:
        if usage is not None and self.tokens is not None:
            self.tokens = self.tokens.take(usage.total_tokens, now_s=now_s)

    def hints(self, now_s: float, *, retry_after_s: float | None = None) -> RateLimitHints:
        requests, tokens = self.requests, self.tokens
        return RateLimitHints(
            requests_remaining=requests.remaining(now_s=now_s) if requests else None,
            requests_reset_s=round(requests.reset_s(now_s=now_s), 3) if requests else None,
            tokens_remaining=tokens.remaining(now_s=now_s) if tokens else None,
            tokens_reset_s=round(tokens.reset_s(now_s=now_s), 3) if tokens else None,
            retry_after_s=retry_after_s,
        )


@dataclass
class SimulatedProvider:
    runtime: Runtime
    spec: ProviderSpec
    quality: Mapping[str, float]
    plan: FaultPlan
    streams: Streams
    replay: ReplayIndex | None = None
    limits: AccountLimits | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.spec.rate_limit is not None:
            self.limits = AccountLimits.from_spec(self.spec.rate_limit, now_s=self.runtime.now())

    @property
    def name(self) -> str:
        return self.spec.name

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        limits = self.limits
        if limits is None:
            return await self._answer(call)
        wait_s = limits.arrive(self.runtime.now())
        if wait_s is not None:
            await self._refuse(call, limits, wait_s)
        try:
            verdict = await self._answer(call)
        except ProviderError as exc:
            if exc.detail.details.get("http_status") is None:
                raise  # a timeout or a reset connection: no answer, no headers
            now = self.runtime.now()
            limits.charge(exc.usage, now)
            raise ProviderError(
                exc.detail, usage=exc.usage, model=exc.model, rate_limit=limits.hints(now)
            ) from None
        now = self.runtime.now()
        limits.charge(verdict.usage, now)
        return dataclasses.replace(verdict, rate_limit=limits.hints(now))

    async def _refuse(self, call: ProviderCall, limits: AccountLimits, wait_s: float) -> None:
        """Answer 429 for a request over the account's limits."""
        await self.runtime.sleep(ERROR_ANSWER_S)
        retry_after_s = max(1, math.ceil(wait_s - ERROR_ANSWER_S))
        request_id = f"req_{self.streams.random('provider.rate_limit').getrandbits(64):016x}"
        raise self._http_failure(
            call,
            FaultKind.HTTP_429,
            FaultSpec(kind=FaultKind.HTTP_429),
            request_id,
            retry_after_s=retry_after_s,
            rate_limit=limits.hints(self.runtime.now(), retry_after_s=float(retry_after_s)),
        )

    async def _answer(self, call: ProviderCall) -> ProviderVerdict:
        rng = self.streams.random("provider")
        metadata = call.metadata
        a = canonical_essay_key(str(metadata.get("essay_a_id", "")))
        b = canonical_essay_key(str(metadata.get("essay_b_id", "")))
        batch = self.plan.batch_numbers.get(str(metadata.get("cj_batch_id")))
        where = Opportunity(
            self.runtime.now(),
            provider=self.name,
            model=call.model,
            batch=batch,
            correlation_id=call.correlation_id,
        )
        fault = self.plan.pick(PROVIDER_FAULTS, where)
        recorded = self.replay.next(a, b) if self.replay is not None else None
        if recorded is not None:
            latency_s = recorded.response_time_ms / 1000.0
            self.plan.log.append(
                "sim.replay.hit", ids={"correlation_id": call.correlation_id}, essay_a=a, essay_b=b
            )
        elif self.replay is not None and self.replay.latencies_ms:
            latency_s = rng.choice(self.replay.latencies_ms) / 1000.0
        else:
            latency_s = max(0.001, draw(self.spec.latency_ms, rng) / 1000.0)
        request_id = f"req_{rng.getrandbits(64):016x}"
        if fault is not None:
            latency_s = await self._fault(fault, call, latency_s, request_id, rng)
        await self.runtime.sleep(latency_s)
        if recorded is not None and recorded.error_detail is not None:
            raise ProviderError(
                recorded.error_detail.model_copy(
                    update={
                        "correlation_id": call.correlation_id,
                        "timestamp": self.runtime.utcnow(),
                    }
                )
            )
        choice: str
        if recorded is not None:
            choice = recorded.winner or "Essay A"
            justification = recorded.justification or ""
            confidence = recorded.confidence or 4.0
            usage = TokenUsage(
                prompt_tokens=recorded.token_usage.prompt_tokens,
                completion_tokens=recorded.token_usage.completion_tokens,
            )
        else:
            delta = self.quality.get(a, 0.0) - self.quality.get(b, 0.0) + self.spec.position_bias
            choice = "Essay A" if rng.random() < 1.0 / (1.0 + math.exp(-delta)) else "Essay B"
            justification = JUSTIFICATIONS[rng.randrange(len(JUSTIFICATIONS))].format(w=choice)
            confidence = round(rng.uniform(3.0, 5.0), 1)
            usage = self._usage(rng)
        raw = {"winner": choice, "justification": justification, "confidence": confidence}
        stop = "end_turn" if self.name == "anthropic" else "stop"
        winner, justification, confidence = parse_verdict(
            raw,
            provider=self.name,
            correlation_id=call.correlation_id,
            timestamp=self.runtime.utcnow(),
            stop_reason=stop,
            provider_request_id=request_id,
        )
        return ProviderVerdict(
            winner=winner,  # type: ignore[arg-type]
            justification=justification,
            confidence=confidence,
            model=recorded.model if recorded is not None else call.model or self.spec.model,
            usage=usage,
            response_time_ms=round(latency_s * 1000),
            provider_request_id=request_id,
            stop_reason=stop,
        )

    def _usage(self, rng: Rng) -> TokenUsage:
        """Token counts for a modelled answer: the recording's, else the declared ones."""
        if self.replay is not None and self.replay.prompt_tokens:
            return TokenUsage(
                prompt_tokens=rng.choice(self.replay.prompt_tokens),
                completion_tokens=rng.choice(self.replay.completion_tokens),
            )
        return TokenUsage(
            prompt_tokens=max(1, round(draw(self.spec.prompt_tokens, rng))),
            completion_tokens=max(1, round(draw(self.spec.completion_tokens, rng))),
        )

    async def _fault(
        self, fault: FaultSpec, call: ProviderCall, latency_s: float, request_id: str, rng: Rng
    ) -> float:
        """Act out a fault: raise, hang, or return the (possibly longer) latency to sleep."""
        kind = fault.kind
        now = self.runtime.utcnow
        if kind is FaultKind.WORKER_CRASH:
            raise WorkerCrash(f"simulated worker crash during {call.correlation_id}")
        if kind is FaultKind.CONNECTION_RESET:
            await self.runtime.sleep(0.05)
            raise ProviderError(
                classify_transport(
                    "connection",
                    "connection reset by peer",
                    provider=self.name,
                    correlation_id=call.correlation_id,
                    timestamp=now(),
                )
            )
        if kind is FaultKind.TIMEOUT:
            await self.runtime.sleep(fault.timeout_s)
            raise ProviderError(
                classify_transport(
                    "timeout",
                    f"no answer within {fault.timeout_s:g} s",
                    provider=self.name,
                    correlation_id=call.correlation_id,
                    timestamp=now(),
                )
            )
        if kind in _HTTP_FAULTS:
            await self.runtime.sleep(min(latency_s, ERROR_ANSWER_S))
            raise self._http_failure(call, kind, fault, request_id)
        if kind is FaultKind.STUCK:
            await self.runtime.sleep(fault.hang_s)
            return latency_s
        if kind is FaultKind.LATENCY_SPIKE:
            return latency_s + fault.extra_latency_s
        await self.runtime.sleep(latency_s)
        # The provider answered: the call is billed even though no verdict comes of it.
        usage = self._usage(rng)
        model = call.model or self.spec.model
        try:
            if kind is FaultKind.MAX_TOKENS:
                truncated = '{"winner": "Essay A", "justification": "Essay A is stronger becau'
                stop = "max_tokens" if self.name == "anthropic" else "length"
                usage = dataclasses.replace(
                    usage, completion_tokens=call.max_tokens or usage.completion_tokens
                )
                parse_verdict(
                    truncated,
                    provider=self.name,
                    correlation_id=call.correlation_id,
                    timestamp=now(),
                    stop_reason=stop,
                    provider_request_id=request_id,
                )
            raw = {
                "not_json": "I think Essay A is better.",
                "missing_winner": json.dumps({"justification": "?", "confidence": 3}),
                "invalid_winner": json.dumps(
                    {"winner": "Essay C", "justification": "?", "confidence": 3}
                ),
            }[fault.malformed]
            parse_verdict(
                raw,
                provider=self.name,
                correlation_id=call.correlation_id,
                timestamp=now(),
                provider_request_id=request_id,
            )
        except ProviderError as exc:
            raise ProviderError(exc.detail, usage=usage, model=model) from None
        raise AssertionError("a malformed answer must not parse")  # pragma: no cover

    def _http_failure(
        self,
        call: ProviderCall,
        kind: FaultKind,
        fault: FaultSpec,
        request_id: str,
        *,
        retry_after_s: int | None = None,
        rate_limit: RateLimitHints | None = None,
    ) -> ProviderError:
        """An HTTP error answer in this provider's dialect, classified as its adapter would."""
        status, headers, body = self._http_error(kind, fault, request_id)
        if retry_after_s is not None:
            headers["retry-after"] = str(retry_after_s)
        detail = classify_http(
            status,
            headers=headers,
            body=body,
            provider=self.name,
            correlation_id=call.correlation_id,
            timestamp=self.runtime.utcnow(),
        )
        return ProviderError(detail, rate_limit=rate_limit)

    def _http_error(
        self, kind: FaultKind, fault: FaultSpec, request_id: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        anthropic = self.name == "anthropic"
        headers = {"request-id" if anthropic else "x-request-id": request_id}
        if fault.retry_after_s is not None:
            headers["retry-after"] = f"{fault.retry_after_s:g}"
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
        error: dict[str, Any]
        if kind is FaultKind.HTTP_429:
            error = (
                {
                    "type": "rate_limit_error",
                    "message": "Number of requests has exceeded your per-minute rate limit",
                }
                if anthropic
                else {
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                    "message": "Rate limit reached for requests",
                }
            )
            status = 429
        elif kind is FaultKind.HTTP_429_SPEND_LIMIT:
            headers.pop("retry-after", None)
            headers.pop("retry-after-ms", None)
            error = (
                {
                    "type": "rate_limit_error",
                    "message": "spend limit reached",
                    "details": {"error_code": "enforced_spend_limit_reached"},
                }
                if anthropic
                else {
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                    "message": "You exceeded your current quota",
                }
            )
            status = 429
        elif kind is FaultKind.HTTP_529:
            # OpenAI has no 529: its overload answer is 503 server_is_overloaded.
            error = (
                {"type": "overloaded_error", "message": "Overloaded"}
                if anthropic
                else {
                    "type": "service_unavailable_error",
                    "code": "server_is_overloaded",
                    "message": "The server is overloaded",
                }
            )
            status = 529 if anthropic else 503
        else:
            status = 500 if kind is FaultKind.HTTP_500 else 503
            error = {
                "type": "api_error" if anthropic else "server_error",
                "message": "Internal server error" if status == 500 else "Service unavailable",
            }
        body: dict[str, Any] = {"error": error}
        if anthropic:
            body = {"type": "error", "error": error, "request_id": request_id}
        return status, headers, body


_HTTP_FAULTS = frozenset(
    {
        FaultKind.HTTP_429,
        FaultKind.HTTP_429_SPEND_LIMIT,
        FaultKind.HTTP_529,
        FaultKind.HTTP_500,
        FaultKind.HTTP_503,
    }
)
