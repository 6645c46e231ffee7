"""The LPS request queue: stored items, a status table, and the dispatch order.

Each request is a ``QueueItem`` row (the original's ``QueuedRequest``: queue id, request, queued
time, TTL, priority 0-10, status, retry count, size, correlation id, callback topic). Rows live
in a Store so a live run keeps them; the dispatch order (priority first, then FIFO by original
queue time) is an in-memory heap over the ids of items that are queued and due. A retried item
keeps its original ``queued_at``, so it returns to its old place in line.

Statuses change only through ``next_status``; terminal items (completed, failed, expired) never
move again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from engine.contracts import LLMComparisonRequest
from engine.store.rows import Row, table

__all__ = ["DispatchIndex", "QueueItem", "QueueStatus", "next_status"]


class QueueStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.EXPIRED)


_ALLOWED = {
    QueueStatus.QUEUED: {QueueStatus.PROCESSING, QueueStatus.EXPIRED},
    QueueStatus.PROCESSING: {
        QueueStatus.QUEUED,
        QueueStatus.COMPLETED,
        QueueStatus.FAILED,
        QueueStatus.EXPIRED,
    },
}


class IllegalQueueTransition(RuntimeError):
    pass


def next_status(current: QueueStatus, target: QueueStatus) -> QueueStatus:
    if target not in _ALLOWED.get(current, set()):
        raise IllegalQueueTransition(
            f"queue item status {current.value} cannot become {target.value}"
        )
    return target


@table("lps_queue_items", key="queue_id", indexes=("status",))
@dataclass(frozen=True, slots=True, kw_only=True)
class QueueItem(Row):
    queue_id: str
    correlation_id: str
    callback_topic: str
    provider: str
    request: LLMComparisonRequest
    queued_at: datetime
    ttl_s: float
    priority: int = 5
    status: QueueStatus = QueueStatus.QUEUED
    retry_count: int = 0
    size_bytes: int = 0
    processing_started_at: datetime | None = None
    bundle_id: str | None = None
    last_error_type: str | None = None
    expiry_reason: str | None = None
    callback_published: bool = False
    completed_at: datetime | None = None
    cj_batch_id: str | None = None


class DispatchIndex:
    """Queued, due item ids in dispatch order: priority descending, then arrival."""

    def __init__(self) -> None:
        # Plain (-priority, arrival, queue_id) tuples, compared in C. An item's arrival number
        # is its own, so two entries tie on the first two only when they are the same item.
        self._heap: list[tuple[int, int, str]] = []
        self._arrival: dict[str, int] = {}
        self._members: set[str] = set()

    def push(self, queue_id: str, priority: int) -> None:
        """Add (or re-add, after a retry delay) an item; it keeps its first arrival number."""
        arrival = self._arrival.setdefault(queue_id, len(self._arrival))
        if queue_id not in self._members:
            heapq.heappush(self._heap, (-priority, arrival, queue_id))
            self._members.add(queue_id)

    def pop(self) -> str | None:
        while self._heap:
            _, _, queue_id = heapq.heappop(self._heap)
            if queue_id in self._members:
                self._members.discard(queue_id)
                return queue_id
        return None

    def peek(self) -> str | None:
        """The id ``pop`` would return next, left in place."""
        heap = self._heap
        while heap:
            queue_id = heap[0][2]
            if queue_id in self._members:
                return queue_id
            heapq.heappop(heap)  # a discarded entry: drop it now
        return None

    def push_front(self, queue_id: str, priority: int) -> None:
        """Return an item taken but not used (an incompatible bundle candidate)."""
        self.push(queue_id, priority)

    def discard(self, queue_id: str) -> None:
        self._members.discard(queue_id)

    def __len__(self) -> int:
        return len(self._members)
