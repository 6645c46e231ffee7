"""The simulated bus: Kafka-like delivery in virtual time, with the callback faults.

Every publication is delivered to each subscriber after ``latency + U(0, jitter)`` seconds, so
with jitter on, messages overtake each other as they do across partitions. On the callback
topic the fault plan can drop a message, deliver it twice, hold it back (late), spread it
(reordered), or gather everything published in a window and release it at the window's end
(a concurrent burst). Orphan callbacks, with correlation ids no pair ever had, are injected
at their scheduled times.

Consumers run ``concurrency`` handlers at once. A handler that raises one of the exceptions a
real consumer would survive (``tolerated``: the original's orphan error) does not commit: the
message is redelivered after ``redelivery_s``, up to ``redeliveries`` times, after which the
consumer worker dies, as a poison message kills a Kafka consumer in a crash loop. Any other
exception crashes the run: it is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from engine.contracts import ErrorDetail, EventEnvelope, LLMComparisonResultV1
from engine.eventlog import MemoryEventLog
from engine.ports import Handler, Queue, Runtime
from engine.randomness import Streams
from sim.adapters.faults import FaultPlan, Opportunity
from sim.adapters.runtime import SimRuntime
from sim.harness.fault_catalogue import CALLBACK_FAULTS, FaultKind

__all__ = ["SimulatedBus"]


@dataclass
class _Subscription:
    topic: str
    name: str
    queue: Queue[Any]
    alive: int = 0


@dataclass
class SimulatedBus:
    runtime: SimRuntime
    plan: FaultPlan
    streams: Streams
    log: MemoryEventLog
    callback_topic: str
    latency_s: float = 0.005
    jitter_s: float = 0.0
    reorder_spread_s: float = 30.0
    redelivery_s: float = 1.0
    redeliveries: int = 5
    tolerated: tuple[type[BaseException], ...] = ()
    queue_size: int = 1_000_000
    published: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    _subscriptions: dict[str, list[_Subscription]] = field(default_factory=dict)
    _observers: dict[str, list[Callable[[Any], None]]] = field(default_factory=dict)
    _held: list[tuple[float, Any]] = field(default_factory=list)

    def subscribe(
        self, topic: str, handler: Handler, *, concurrency: int, name: str | None = None
    ) -> None:
        label = name or f"{topic}#{len(self._subscriptions.get(topic, []))}"
        subscription = _Subscription(topic, label, self.runtime.queue(self.queue_size))
        for index in range(concurrency):
            subscription.alive += 1
            self.runtime.spawn(
                self._consume(subscription, handler, index), name=f"bus:{label}:{index}"
            )
        self._subscriptions.setdefault(topic, []).append(subscription)

    def observe(self, topic: str, observer: Callable[[Any], None]) -> None:
        """Call ``observer`` with each message at the moment it reaches ``topic``'s consumers:
        the harness's own record of deliveries, without a consumer task of its own."""
        self._observers.setdefault(topic, []).append(observer)

    async def publish(self, topic: str, message: object) -> None:
        self.published[topic] = self.published.get(topic, 0) + 1
        delays = [self._delay()]
        if topic == self.callback_topic and isinstance(message, EventEnvelope):
            delays = self._callback_delays(message, delays[0])
        for delay in delays:
            self._schedule(topic, message, delay)

    def start(self) -> None:
        """Schedule the scenario's orphan callbacks. Call inside a running runtime."""
        for index, spec in self.plan.scheduled(FaultKind.ORPHAN_CALLBACK):
            assert spec.at_s is not None
            self.runtime.spawn(self._orphan(index, spec.at_s), name=f"orphan-{index}")

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing waiting in a consumer queue."""
        return self.in_flight == 0 and all(
            len(s.queue) == 0 for subs in self._subscriptions.values() for s in subs
        )

    def consumers_alive(self, topic: str) -> int:
        return sum(s.alive for s in self._subscriptions.get(topic, ()))

    # -- delivery ------------------------------------------------------------------------------

    def _delay(self) -> float:
        if self.jitter_s:
            return self.latency_s + self.streams.random("bus").uniform(0.0, self.jitter_s)
        return self.latency_s

    def _callback_delays(self, envelope: EventEnvelope, delay: float) -> list[float]:
        now = self.runtime.now()
        fault = self.plan.pick(
            CALLBACK_FAULTS,
            Opportunity(
                now, correlation_id=envelope.correlation_id, batch=self._batch_of(envelope)
            ),
        )
        if fault is None:
            return [delay]
        kind = fault.kind
        self.log.append(
            "bus.fault", ids={"correlation_id": envelope.correlation_id}, kind=kind.value
        )
        if kind is FaultKind.DROPPED_CALLBACK:
            return []
        if kind is FaultKind.DUPLICATE_CALLBACK:
            return [delay, delay + (1.0 if fault.delay_s is None else fault.delay_s)]
        if kind is FaultKind.LATE_CALLBACK:
            return [delay + (600.0 if fault.delay_s is None else fault.delay_s)]
        if kind is FaultKind.REORDERED_CALLBACKS:
            return [delay + self.streams.random("bus.reorder").uniform(0.0, self.reorder_spread_s)]
        assert kind is FaultKind.CALLBACK_BURST
        assert fault.window_s is not None
        return [max(delay, fault.window_s[1] - now)]

    def _batch_of(self, envelope: EventEnvelope) -> int | None:
        metadata = envelope.data.get("request_metadata") or {}
        return self.plan.batch_numbers.get(str(metadata.get("cj_batch_id")))

    def _schedule(self, topic: str, message: object, delay: float) -> None:
        # One timer callback per delivery, for every subscriber at once (they all receive it
        # after the same delay), not a task per delivery: deliveries are the bus's hot path.
        if topic not in self._subscriptions and topic not in self._observers:
            return  # nobody listens: nothing is in flight
        self.in_flight += 1
        timer = self.runtime.sleep(delay)
        timer.callbacks.append(partial(self._arrive, topic, message))

    def _arrive(self, topic: str, message: object, _timer: object) -> None:
        for subscription in self._subscriptions.get(topic, ()):
            subscription.queue.put_nowait(message)  # sized far beyond any run
        for observer in self._observers.get(topic, ()):
            observer(message)
        self.in_flight -= 1

    async def _consume(self, subscription: _Subscription, handler: Handler, index: int) -> None:
        while True:
            message = await subscription.queue.get()
            for attempt in range(self.redeliveries + 1):
                try:
                    await handler(message)
                    break
                except self.tolerated as exc:
                    self.log.append(
                        "bus.handler.failed",
                        ids={"consumer": f"{subscription.name}:{index}"},
                        attempt=attempt + 1,
                        problem=f"{type(exc).__name__}: {exc}",
                    )
                    if attempt == self.redeliveries:
                        subscription.alive -= 1
                        self.log.append(
                            "bus.consumer.died",
                            ids={"consumer": f"{subscription.name}:{index}"},
                            alive=subscription.alive,
                        )
                        return
                    await self.runtime.sleep(self.redelivery_s)

    async def _orphan(self, index: int, at_s: float) -> None:
        await self.runtime.sleep(max(0.0, at_s - self.runtime.now()))
        correlation_id = self.streams.ids("bus.orphans").next()
        if not self.plan.note_scheduled(
            index, Opportunity(self.runtime.now(), correlation_id=correlation_id)
        ):
            return
        await self.publish(self.callback_topic, _orphan_envelope(correlation_id, self.runtime))


def _orphan_envelope(correlation_id: str, runtime: Runtime) -> EventEnvelope:
    """A well-formed error callback for a request nobody made (a stray from another run)."""
    now = runtime.utcnow()
    detail = ErrorDetail(
        error_code="EXTERNAL_SERVICE_ERROR",
        message="stray callback",
        correlation_id=correlation_id,
        timestamp=now,
        service="llm_provider_service",
        operation="generate_comparison",
        details={"error_type": "server_error", "retryable": False},
    )
    result = LLMComparisonResultV1(
        request_id=f"stray-{correlation_id[:8]}",
        correlation_id=correlation_id,
        error_detail=detail,
        provider="unknown",
        model="unknown",
        requested_at=now - timedelta(seconds=30),
        completed_at=now,
        request_metadata={"cj_batch_id": "0"},
    )
    return EventEnvelope(
        event_id=f"stray-{correlation_id}",
        event_type="LLMComparisonResultV1",
        event_timestamp=now,
        source_service="llm_provider_service",
        correlation_id=correlation_id,
        data=result.model_dump(mode="json"),
    )
