"""LPS on SimRuntime with a scripted provider: each request's attempts follow a script."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from engine.bus import LocalBus
from engine.contracts import EventEnvelope, LLMComparisonRequest, LLMConfigOverrides
from engine.eventlog import MemoryEventLog
from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.context import LPSContext
from engine.lps.errors import ProviderError, WorkerCrash, classify_answer, classify_http
from engine.lps.metrics import LPSMetrics
from engine.lps.service import LPSService
from engine.randomness import Streams
from engine.settings import Settings
from sim.adapters.runtime import SimRuntime
from sim.adapters.store import SimStore

CALLBACKS = "test.callbacks"

# One attempt of a script: what the provider does when called.
OK = ("ok",)


def http(status: int, headers: dict[str, str] | None = None, body: Any = None) -> tuple:
    return ("http", status, headers or {}, body or {"error": {"message": f"HTTP {status}"}})


def anthropic_error(
    status: int, error_type: str, headers: dict[str, str] | None = None, **details: str
) -> tuple:
    body = {"type": "error", "error": {"type": error_type, "message": error_type}}
    if details:
        body["error"]["details"] = details
    return http(status, headers, body)


MAX_TOKENS = ("max_tokens",)
INVALID = ("invalid",)
CRASH = ("crash",)
# A truncated answer the provider billed: the error carries its usage and model.
BILLED_MAX_TOKENS = ("max_tokens", TokenUsage(prompt_tokens=1200, completion_tokens=1024))


def ok_with(hints: RateLimitHints) -> tuple:
    """An answer whose headers say ``hints``."""
    return ("ok", hints)


def hang(seconds: float) -> tuple:
    return ("hang", seconds)


@dataclass
class ScriptedProvider:
    runtime: SimRuntime
    scripts: dict[str, list[tuple]] = field(default_factory=dict)
    latency_s: float = 1.0
    calls: list[tuple[float, str]] = field(default_factory=list)  # (time, correlation id)
    name: str = "scripted"
    in_flight: int = 0
    max_in_flight: int = 0

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        attempt = sum(1 for _, cid in self.calls if cid == call.correlation_id)
        self.calls.append((self.runtime.now(), call.correlation_id))
        script = self.scripts.get(call.correlation_id, [])
        action = script[attempt] if attempt < len(script) else OK
        now = self.runtime.utcnow
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if action[0] == "hang":
                await self.runtime.sleep(action[1])
            else:
                await self.runtime.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        if action[0] == "http":
            raise ProviderError(
                classify_http(
                    action[1],
                    headers=action[2],
                    body=action[3],
                    provider=self.name,
                    correlation_id=call.correlation_id,
                    timestamp=now(),
                )
            )
        if action[0] in ("max_tokens", "invalid"):
            billed = action[1] if len(action) > 1 else None
            raise ProviderError(
                classify_answer(
                    "max_tokens" if action[0] == "max_tokens" else "invalid_response",
                    "truncated" if action[0] == "max_tokens" else "no verdict",
                    provider=self.name,
                    correlation_id=call.correlation_id,
                    timestamp=now(),
                    stop_reason="max_tokens" if action[0] == "max_tokens" else None,
                ),
                usage=billed,
                model="scripted-model" if billed is not None else None,
            )
        if action[0] == "crash":
            raise WorkerCrash("scripted crash")
        return ProviderVerdict(
            winner="Essay A",
            justification="scripted",
            confidence=4.0,
            model="scripted-model",
            usage=TokenUsage(prompt_tokens=100, completion_tokens=20),
            response_time_ms=round(self.latency_s * 1000),
            rate_limit=action[1] if action[0] == "ok" and len(action) > 1 else None,
        )

    def call_times(self, correlation_id: str) -> list[float]:
        return [t for t, cid in self.calls if cid == correlation_id]


def comparison_request(
    correlation_id: str,
    *,
    hint: Any = None,
    provider: str = "anthropic",
    metadata: dict[str, Any] | None = None,
) -> LLMComparisonRequest:
    meta = {"essay_a_id": "a", "essay_b_id": "b", "cj_batch_id": "9", **(metadata or {})}
    if hint is not None:
        meta["preferred_bundle_size"] = hint
    return LLMComparisonRequest(
        user_prompt=f"compare for {correlation_id}",
        callback_topic=CALLBACKS,
        llm_config_overrides=LLMConfigOverrides(
            provider_override=provider, model_override="claude-x"
        ),
        correlation_id=correlation_id,
        metadata=meta,
    )


@dataclass
class LPSWorld:
    runtime: SimRuntime
    bus: LocalBus
    log: MemoryEventLog
    registry: CollectorRegistry
    provider: ScriptedProvider
    service: LPSService
    callbacks: list[EventEnvelope] = field(default_factory=list)

    def run(self, main: Callable[[], Any], *, until_s: float = 48 * 3600) -> Any:
        async def wrapped() -> Any:
            async def collect(message: EventEnvelope) -> None:
                self.callbacks.append(message)

            self.bus.subscribe(CALLBACKS, collect, concurrency=1)
            self.service.start()
            return await main()

        return self.runtime.run(wrapped(), until_s=until_s)

    def submit_and_wait(self, requests: list[LLMComparisonRequest], wait_s: float) -> None:
        async def main() -> None:
            for request in requests:
                await self.service.submit(request)
            await self.runtime.sleep(wait_s)

        self.run(main)

    def callbacks_for(self, correlation_id: str) -> list[Any]:
        return [c.result() for c in self.callbacks if c.correlation_id == correlation_id]

    def events(self, kind: str) -> list[Any]:
        return [r for r in self.log.records() if r.kind == kind]


def make_lps(
    *,
    scripts: dict[str, list[tuple]] | None = None,
    latency_s: float = 1.0,
    seed: int = 3,
    **settings: Any,
) -> LPSWorld:
    runtime = SimRuntime()
    bus = LocalBus(runtime)
    log = MemoryEventLog(runtime.now)
    registry = CollectorRegistry()
    provider = ScriptedProvider(runtime, scripts or {}, latency_s)
    config = Settings.for_simulation(**settings)
    ctx = LPSContext(
        runtime=runtime,
        store=SimStore(runtime),
        bus=bus,
        log=log,
        settings=config,
        streams=Streams(seed),
        metrics=LPSMetrics(registry),
        provider_for=lambda name: provider,
    )
    return LPSWorld(runtime, bus, log, registry, provider, LPSService(ctx))
