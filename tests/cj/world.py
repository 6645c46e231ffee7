"""A small simulated world for CJ workflow tests: the real CJ engine on SimRuntime, the
simulated store, a local bus, and an in-test responder standing in for LPS."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from engine.bus import LocalBus
from engine.cj.context import CJContext
from engine.cj.intake import AnchorInput, BatchRequest, EssayInput
from engine.cj.metrics import CJMetrics
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, PairOutcome
from engine.cj.service import CJService
from engine.contracts import (
    ErrorDetail,
    EventEnvelope,
    LLMComparisonRequest,
    LLMComparisonResultV1,
    TokenUsageV1,
)
from engine.eventlog import MemoryEventLog
from engine.randomness import Streams
from engine.settings import Settings
from sim.adapters.runtime import SimRuntime
from sim.adapters.store import SimStore

ENG5_GRADES = ("F+", "F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "B", "A", "A")
LEGACY_SCALE = ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")

Judge = Callable[[LLMComparisonRequest], str | None]  # "Essay A" / "Essay B" / None = error


@dataclass
class Responder:
    """Answers each submitted request after ``latency_s`` with one callback on the bus."""

    runtime: SimRuntime
    bus: LocalBus
    judge: Judge
    latency_s: float = 1.0
    hold: Callable[[LLMComparisonRequest], bool] = lambda request: False
    received: list[LLMComparisonRequest] = field(default_factory=list)
    published: list[EventEnvelope] = field(default_factory=list)
    held: list[EventEnvelope] = field(default_factory=list)

    async def submit(self, request: LLMComparisonRequest) -> None:
        self.received.append(request)
        self.runtime.spawn(self._answer(request), name=f"responder:{request.correlation_id}")

    async def _answer(self, request: LLMComparisonRequest) -> None:
        await self.runtime.sleep(self.latency_s)
        envelope = callback_for(request, self.judge(request), self.runtime)
        if self.hold(request):
            self.held.append(envelope)
            return
        self.published.append(envelope)
        await self.bus.publish(request.callback_topic, envelope)


def callback_for(
    request: LLMComparisonRequest, winner: str | None, runtime: SimRuntime
) -> EventEnvelope:
    now = runtime.utcnow()
    common: dict[str, Any] = {
        "request_id": f"q-{request.correlation_id[:8]}",
        "correlation_id": request.correlation_id,
        "provider": "mock",
        "requested_at": now - timedelta(seconds=1),
        "completed_at": now,
        "request_metadata": dict(request.metadata),
    }
    if winner is None:
        detail = ErrorDetail(
            error_code="EXTERNAL_SERVICE_ERROR",
            message="scripted failure",
            correlation_id=request.correlation_id,
            timestamp=now,
            service="test_responder",
            operation="compare",
            details={"error_type": "server_error", "retryable": False},
        )
        result = LLMComparisonResultV1(model="unknown", error_detail=detail, **common)
    else:
        result = LLMComparisonResultV1(
            model="mock-model-v1",
            winner=winner,
            justification="scripted",
            confidence=4.0,
            response_time_ms=1000,
            token_usage=TokenUsageV1(prompt_tokens=10, completion_tokens=5, total_tokens=15),
            **common,
        )
    return EventEnvelope(
        event_id=f"ev-{request.correlation_id}",
        event_type="LLMComparisonResultV1",
        event_timestamp=now,
        source_service="llm_provider_service",
        correlation_id=request.correlation_id,
        data=result.model_dump(mode="json"),
    )


def strength_judge(
    strengths: dict[str, float], streams: Streams, *, first_position_bias: float = 0.0
) -> Judge:
    """Bradley–Terry outcomes from latent strengths (by essay id prefix match for anchors)."""
    rng = streams.random("test.judge")

    def strength(essay_id: str) -> float:
        for prefix, value in strengths.items():
            if essay_id == prefix or essay_id.startswith(f"ANCHOR_{prefix}_"):
                return value
        return 0.0

    def judge(request: LLMComparisonRequest) -> str:
        a, b = request.metadata["essay_a_id"], request.metadata["essay_b_id"]
        delta = strength(a) - strength(b) + first_position_bias
        return "Essay A" if rng.random() < 1 / (1 + math.exp(-delta)) else "Essay B"

    return judge


@dataclass
class World:
    runtime: SimRuntime
    store: SimStore
    bus: LocalBus
    log: MemoryEventLog
    registry: CollectorRegistry
    ctx: CJContext
    service: CJService
    responder: Responder

    def run(self, main: Callable[[], Any], *, until_s: float = 7 * 24 * 3600.0) -> Any:
        async def wrapped() -> Any:
            self.service.start()
            return await main()

        return self.runtime.run(wrapped(), until_s=until_s)

    def run_batch(self, request: BatchRequest, *, settle_s: float = 3600.0) -> int:
        """Submit one batch and let the world run ``settle_s`` virtual seconds."""

        async def main() -> int:
            batch = await self.service.submit_batch(request)
            await self.runtime.sleep(settle_s)
            return batch

        return self.run(main)

    # -- what the store says ------------------------------------------------------------------
    def state(self, cj_batch_id: int = 1) -> BatchState:
        return next(s for s in self.store.snapshot(BatchState) if s.cj_batch_id == cj_batch_id)

    def upload(self, cj_batch_id: int = 1) -> BatchUpload:
        return next(u for u in self.store.snapshot(BatchUpload) if u.cj_batch_id == cj_batch_id)

    def pairs(self, cj_batch_id: int = 1) -> list[ComparisonPair]:
        return [p for p in self.store.snapshot(ComparisonPair) if p.cj_batch_id == cj_batch_id]

    def store_counts(self, cj_batch_id: int = 1) -> tuple[int, int]:
        pairs = self.pairs(cj_batch_id)
        completed = sum(p.outcome in (PairOutcome.ESSAY_A, PairOutcome.ESSAY_B) for p in pairs)
        failed = sum(p.outcome is PairOutcome.ERROR for p in pairs)
        return completed, failed

    def events(self, kind: str) -> list[Any]:
        return [r for r in self.log.records() if r.kind == kind]

    def max_completion_pct(self) -> float:
        return max(
            (r.fields["completion_pct"] for r in self.events("cj.callback.applied")), default=0.0
        )


#: Every world built in the current test; tests/cj/conftest.py checks them afterwards.
CREATED: list[World] = []


def make_world(
    *,
    seed: int = 7,
    judge: Judge | None = None,
    store_latency_s: float = 0.002,
    responder_latency_s: float = 1.0,
    **settings: Any,
) -> World:
    runtime = SimRuntime()
    streams = Streams(seed)
    store = SimStore(runtime, statement_latency_s=store_latency_s)
    bus = LocalBus(runtime)
    log = MemoryEventLog(runtime.now)
    registry = CollectorRegistry()
    config = Settings.for_simulation(**settings)
    responder = Responder(
        runtime, bus, judge or (lambda request: "Essay A"), latency_s=responder_latency_s
    )
    ctx = CJContext(
        runtime=runtime,
        store=store,
        bus=bus,
        log=log,
        settings=config,
        streams=streams,
        metrics=CJMetrics(registry),
        sink=responder,
    )
    world = World(runtime, store, bus, log, registry, ctx, CJService(ctx), responder)
    CREATED.append(world)
    if judge is None:
        responder.judge = strength_judge({}, streams)
    return world


def students(count: int, prefix: str = "student") -> tuple[EssayInput, ...]:
    return tuple(
        EssayInput(essay_id=f"{prefix}-{i:03d}", text=f"Essay text {i} " * 40) for i in range(count)
    )


def eng5_anchors() -> tuple[AnchorInput, ...]:
    return tuple(
        AnchorInput(anchor_ref_id=f"a{i:02d}", grade=grade, text=f"Anchor {i} " * 60)
        for i, grade in enumerate(ENG5_GRADES)
    )


def eng5_strengths() -> dict[str, float]:
    """Anchors by grade, students spread over the same range."""
    strengths = {f"a{i:02d}": 0.6 * LEGACY_SCALE.index(g) - 2.4 for i, g in enumerate(ENG5_GRADES)}
    strengths.update({f"student-{i:03d}": -2.4 + 0.4 * i for i in range(12)})
    return strengths


def request(
    count: int, *, anchors: bool = False, budget: int | None = None, bos: str = "bos-1"
) -> BatchRequest:
    return BatchRequest(
        bos_batch_id=bos,
        students=students(count),
        anchors=eng5_anchors() if anchors else (),
        max_comparisons_override=budget,
    )
