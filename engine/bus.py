"""LocalBus: the ``Bus`` port inside one process, on any runtime.

Each subscription owns a bounded queue and ``concurrency`` worker tasks that take messages off
it and await the handler, so at most ``concurrency`` handler calls run at once, as with a
consumer group of that many members. ``publish`` waits while a subscriber's queue is full:
back-pressure, not loss. A handler that raises crashes its worker and so the run (the runtime
names the worker task): handlers are expected to deal with the failures they know about.

The simulated bus (``sim.adapters.bus``) wraps this one with delivery latency, duplication,
reordering and loss; the live wiring uses it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.ports import Handler, Queue, Runtime

__all__ = ["LocalBus"]


@dataclass
class _Subscription:
    topic: str
    name: str
    queue: Queue[Any]
    delivered: int = 0
    handling: int = 0  # handler calls in progress
    workers: list[Any] = field(default_factory=list)


class LocalBus:
    def __init__(self, runtime: Runtime, *, queue_size: int = 100_000) -> None:
        self._runtime = runtime
        self._queue_size = queue_size
        self._subscriptions: dict[str, list[_Subscription]] = {}
        self.published: dict[str, int] = {}

    def subscribe(
        self, topic: str, handler: Handler, *, concurrency: int, name: str | None = None
    ) -> None:
        """Start ``concurrency`` workers for ``handler``. Call it inside a running runtime."""
        if concurrency < 1:
            raise ValueError(f"subscription to {topic!r}: concurrency must be >= 1")
        label = name or f"{topic}#{len(self._subscriptions.get(topic, []))}"
        subscription = _Subscription(topic, label, self._runtime.queue(self._queue_size))
        for index in range(concurrency):
            subscription.workers.append(
                self._runtime.spawn(self._work(subscription, handler), name=f"bus:{label}:{index}")
            )
        self._subscriptions.setdefault(topic, []).append(subscription)

    async def publish(self, topic: str, message: object) -> None:
        self.published[topic] = self.published.get(topic, 0) + 1
        for subscription in self._subscriptions.get(topic, ()):
            await subscription.queue.put(message)

    @property
    def idle(self) -> bool:
        """No message waiting in a subscriber's queue or being handled."""
        return all(
            len(s.queue) == 0 and s.handling == 0
            for subscriptions in self._subscriptions.values()
            for s in subscriptions
        )

    def pending(self, topic: str) -> int:
        """Messages published to ``topic`` and not yet taken by a worker."""
        return sum(len(s.queue) for s in self._subscriptions.get(topic, ()))

    async def _work(self, subscription: _Subscription, handler: Handler) -> None:
        while True:
            message = await subscription.queue.get()
            subscription.handling += 1
            try:
                await handler(message)
            finally:
                subscription.handling -= 1
            subscription.delivered += 1
