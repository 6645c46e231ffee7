"""The queue ledger: every status change of every item, and the one callback each item gets.

Theory of operation. The ledger is the only writer of queue items. It keeps the latest row of
each item in memory (the dispatch order and in-flight calls need it at once) and writes every
change through to the Store, then to the event log. Terminal changes go through ``_settle``,
which publishes the item's callback exactly once: a second settle of the same item (a zombie
result after an expiry, a sweep racing a worker) is refused by the ``callback_published`` flag and
counted, never published.

Provider calls run in their own task. The worker waits on the call's ``Flight``, which ends in
one of three ways: the call answers; the call passes its deadline (``PROVIDER_CALL_DEADLINE_S``,
enforced on the runtime clock by ``enforce_call_deadlines``), and the worker gets a ``timeout``
error to retry per policy; or the cleanup sweep expires the item, settling it and waking the
worker. Either way one hung call holds its worker for a bounded time, and when the abandoned call
finally returns, its result is a zombie: discarded and counted.

An item's processing-timeout clock runs from its *current* provider call only: a retried item
that waits its turn in a new bundle is not stuck, and a worker never calls the provider for an
item that was expired while it waited (``LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK`` restores the bug,
in which such an item was sent anyway and its retry crashed the worker on ``expired -> queued``).

A serial bundle's items turn ``processing`` one by one, each as its own call starts
(``dispatch``): while an item waits its turn it is ``queued``, under its TTL, and when the bundle
is cut short its unreached items go back in line with nothing written (``release``). Only the
original's bundles are marked whole when taken (``start_processing``) and handed back item by
item (``hold_back``): a write and an event per item, per hand-back, which made a call's cost grow
with the bundle's size.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.contracts import ErrorDetail, LLMComparisonRequest
from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.context import LPSContext
from engine.lps.errors import ErrorType, ProviderError, WorkerCrash, detail_for
from engine.lps.prompt import rendered_prompt
from engine.lps.publisher import error_result, success_result, wrap
from engine.lps.queue import DispatchIndex, QueueItem, QueueStatus, next_status
from engine.ports import ComparisonQueueFull, Event, SubmissionRejected
from engine.store.rows import evolve

__all__ = ["Flight", "QueueLedger"]

Outcome = ProviderVerdict | ProviderError | WorkerCrash


@dataclass
class Flight:
    """One provider call in progress."""

    done: Event
    outcome: Outcome | None = None
    abandoned: bool = False  # the item was settled (expired) while the call was running
    timed_out: bool = False  # the call passed its deadline; ``outcome`` is the timeout error


@dataclass
class QueueLedger:
    ctx: LPSContext
    items: dict[str, QueueItem] = field(default_factory=dict)
    requests: dict[str, LLMComparisonRequest] = field(default_factory=dict)
    index: DispatchIndex = field(default_factory=DispatchIndex)
    flights: dict[str, Flight] = field(default_factory=dict)
    max_depth: int = 0
    counts: dict[QueueStatus, int] = field(default_factory=lambda: dict.fromkeys(QueueStatus, 0))
    open_ids: set[str] = field(default_factory=set)  # items not yet terminal
    # When each processing item's timeout clock started: its own provider call, or the moment
    # its worker died. Items of a whole-marked bundle still waiting their turn have none.
    timeout_clock: dict[str, float] = field(default_factory=dict)
    _prompts: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    _writing: set[str] = field(default_factory=set)
    _dirty: set[str] = field(default_factory=set)
    _work: Event | None = None
    # Running calls in deadline order: every call gets the same deadline, so arrival order is
    # deadline order and a deque is enough (no heap).
    _deadlines: deque[tuple[float, str, Flight]] = field(default_factory=deque)
    _deadline_work: Event | None = None

    def __post_init__(self) -> None:
        # The depth gauges are read from the ledger when they are collected, instead of being
        # written at every status change (three times per item: a measurable share of a run).
        depth = self.ctx.metrics.queue_depth
        depth.labels("total").set_function(lambda: self.active)
        depth.labels("queued").set_function(lambda: self.counts[QueueStatus.QUEUED])

    # -- intake --------------------------------------------------------------------------------

    @property
    def active(self) -> int:
        return len(self.open_ids)

    async def enqueue(self, request: LLMComparisonRequest, *, priority: int = 5) -> QueueItem:
        settings, runtime = self.ctx.settings, self.ctx.runtime
        if self.active >= settings.QUEUE_MAX_SIZE:
            raise ComparisonQueueFull(
                f"LPS queue is full ({settings.QUEUE_MAX_SIZE} items); request "
                f"{request.correlation_id} was not queued"
            )
        if not 0 <= priority <= 10:
            raise SubmissionRejected(f"priority must be 0..10, got {priority}")
        item = QueueItem(
            queue_id=self.ctx.streams.ids("lps.queue").next(),
            correlation_id=request.correlation_id,
            callback_topic=request.callback_topic,
            provider=request.llm_config_overrides.provider_override,
            request=request,
            queued_at=runtime.utcnow(),
            ttl_s=settings.QUEUE_REQUEST_TTL_HOURS * 3600.0,
            priority=priority,
            size_bytes=_prompt_bytes(request),
            cj_batch_id=str(request.metadata.get("cj_batch_id")) if request.metadata else None,
        )
        async with self.ctx.store.transaction() as tx:
            await tx.insert(item)
        self.items[item.queue_id] = item
        self.requests[item.queue_id] = request
        self.open_ids.add(item.queue_id)
        self.counts[QueueStatus.QUEUED] += 1
        self.index.push(item.queue_id, priority)
        self._track_depth()
        self.ctx.log.append(
            "lps.queue.enqueued",
            ids=self._ids(item),
            priority=priority,
            provider=item.provider,
            depth=self.active,
        )
        self._signal()
        return item

    # -- dispatch ------------------------------------------------------------------------------

    async def wait_for_work(self) -> None:
        while len(self.index) == 0:
            if self._work is None or self._work.is_set():
                self._work = self.ctx.runtime.event()
            await self._work.wait()

    async def pop_ready(self) -> QueueItem | None:
        """The next queued item in dispatch order; items past their TTL are expired on the way."""
        while True:
            queue_id = self.index.pop()
            if queue_id is None:
                return None
            item = self.items[queue_id]
            if item.status is not QueueStatus.QUEUED:
                continue
            if self._past_ttl(item):
                await self.expire(item, reason="ttl", error_type=ErrorType.QUEUE_EXPIRED)
                continue
            return item

    def peek_ready(self) -> QueueItem | None:
        """The item ``pop_ready`` would consider next, left in line (it may still be found past
        its TTL when popped)."""
        queue_id = self.index.peek()
        return None if queue_id is None else self.items[queue_id]

    def put_back(self, item: QueueItem) -> None:
        self.index.push_front(item.queue_id, item.priority)

    async def start_processing(self, items: list[QueueItem], bundle_id: str) -> list[QueueItem]:
        """Mark a whole bundle ``processing`` at once (batch jobs, and the original's serial
        bundles: see ``strategies.execute``)."""
        now = self.ctx.runtime.utcnow()
        started = [
            await self._change(
                item, QueueStatus.PROCESSING, processing_started_at=now, bundle_id=bundle_id
            )
            for item in items
        ]
        for item in started:
            self._log_dispatched(item, bundle_id, len(items))
        return started

    async def dispatch(self, item: QueueItem, bundle_id: str, bundle_size: int) -> QueueItem | None:
        """Mark one item of a taken bundle ``processing`` just before its call; None, and no
        call, if it is no longer queued (the sweep expired it while it waited its turn) or is
        past its TTL now (expired here, as ``pop_ready`` would)."""
        current = self.items[item.queue_id]
        if current.status is not QueueStatus.QUEUED:
            return None
        if self._past_ttl(current):
            await self.expire(current, reason="ttl", error_type=ErrorType.QUEUE_EXPIRED)
            return None
        started = await self._change(
            current,
            QueueStatus.PROCESSING,
            processing_started_at=self.ctx.runtime.utcnow(),
            bundle_id=bundle_id,
        )
        self._log_dispatched(started, bundle_id, bundle_size)
        return started

    def release(self, items: list[QueueItem]) -> int:
        """Put taken items that were never dispatched back in line, at their old place; how
        many. Their rows never left ``queued``, so nothing is written: no store write and no
        event per item (the churn ``hold_back`` costs)."""
        released = 0
        for item in items:
            current = self.items[item.queue_id]
            if current.status is QueueStatus.QUEUED:  # not expired while it waited its turn
                self.index.push(current.queue_id, current.priority)
                released += 1
        if released:
            self._signal()
        return released

    def _log_dispatched(self, item: QueueItem, bundle_id: str, bundle_size: int) -> None:
        self.ctx.log.append(
            "lps.item.dispatched",
            ids=self._ids(item),
            bundle_id=bundle_id,
            attempt=item.retry_count + 1,
            bundle_size=bundle_size,
        )

    def _prompt(self, queue_id: str) -> tuple[str, str, str]:
        prompt = self._prompts.get(queue_id)
        if prompt is None:
            prompt = self._prompts[queue_id] = rendered_prompt(self.requests[queue_id])
        return prompt

    def model_of(self, item: QueueItem) -> str:
        """The model the request asked for (errors carry no model of their own)."""
        return self.requests[item.queue_id].llm_config_overrides.model_override or "unknown"

    def provider_call(self, item: QueueItem) -> ProviderCall:
        request = self.requests[item.queue_id]
        overrides = request.llm_config_overrides
        system, user, digest = self._prompt(item.queue_id)
        return ProviderCall(
            correlation_id=item.correlation_id,
            provider=item.provider,
            model=overrides.model_override or "",
            system_prompt=system,
            user_prompt=user,
            prompt_sha256=digest,
            temperature=overrides.temperature_override,
            max_tokens=overrides.max_tokens_override or self.ctx.settings.LLM_MAX_TOKENS,
            reasoning_effort=overrides.reasoning_effort,
            output_verbosity=overrides.output_verbosity,
            prompt_blocks=request.prompt_blocks,
            custom_id=item.queue_id,
            metadata=request.metadata,
        )

    async def call(self, item: QueueItem) -> Outcome | None:
        """Run the provider call in its own task; return its outcome, or None if the item was
        expired while it ran (the call carries on as a zombie)."""
        flight = Flight(done=self.ctx.runtime.event())
        self.flights[item.queue_id] = flight
        now = self.ctx.runtime.now()
        self.timeout_clock[item.queue_id] = now
        if not self.ctx.settings.LEGACY_NO_CALL_DEADLINE:
            self._deadlines.append(
                (now + self.ctx.settings.PROVIDER_CALL_DEADLINE_S, item.queue_id, flight)
            )
            if self._deadline_work is not None:
                self._deadline_work.set()
        self.ctx.runtime.spawn(
            self._fly(item, self.provider_call(item), flight),
            name=f"lps-call:{item.queue_id[:8]}:{item.retry_count + 1}",
        )
        await flight.done.wait()
        self.flights.pop(item.queue_id, None)
        return None if flight.abandoned else flight.outcome

    async def _fly(self, item: QueueItem, call: ProviderCall, flight: Flight) -> None:
        provider = self.ctx.provider_for(item.provider)
        outcome: Outcome
        try:
            outcome = await provider.compare(call)
        except (ProviderError, WorkerCrash) as exc:
            outcome = exc
        if flight.abandoned or flight.timed_out:
            # Nobody waits for this answer any more: the item was expired or its deadline
            # passed (and ``outcome`` already holds the timeout the worker acted on).
            self.ctx.metrics.zombies.labels(provider.name).inc()
            self.ctx.log.append(
                "lps.zombie.discarded", ids=self._ids(item), outcome=type(outcome).__name__
            )
            return
        flight.outcome = outcome
        flight.done.set()

    async def enforce_call_deadlines(self) -> None:
        """One step of the deadline loop: wait for the oldest running call's deadline, and if
        that call is still running then, end its flight with a ``timeout`` error."""
        runtime = self.ctx.runtime
        if not self._deadlines:
            if self._deadline_work is None or self._deadline_work.is_set():
                self._deadline_work = runtime.event()
            await self._deadline_work.wait()
            return
        due, queue_id, flight = self._deadlines[0]
        if flight.done.is_set():
            self._deadlines.popleft()
            return
        now = runtime.now()
        if now < due:
            await runtime.sleep(due - now)
            return
        self._deadlines.popleft()
        item = self.items[queue_id]
        deadline_s = self.ctx.settings.PROVIDER_CALL_DEADLINE_S
        provider = self.ctx.provider_for(item.provider).name
        flight.timed_out = True
        flight.outcome = ProviderError(
            detail_for(
                ErrorType.TIMEOUT,
                f"no answer within the {deadline_s:g} s call deadline",
                correlation_id=item.correlation_id,
                timestamp=runtime.utcnow(),
                provider=provider,
                http_status=None,
                retry_after_s=None,
                call_deadline_s=deadline_s,
            )
        )
        self.ctx.log.append("lps.call.deadline", ids=self._ids(item), deadline_s=deadline_s)
        flight.done.set()

    # -- outcomes ------------------------------------------------------------------------------

    async def complete(self, item: QueueItem, verdict: ProviderVerdict) -> None:
        request = self.requests[item.queue_id]
        result = success_result(
            item, request, verdict, runtime=self.ctx.runtime, extra=self._extra(item, request)
        )
        await self._settle(item, QueueStatus.COMPLETED, result, None)

    async def fail(
        self,
        item: QueueItem,
        detail: ErrorDetail,
        *,
        model: str | None = None,
        usage: TokenUsage | None = None,
    ) -> None:
        """Fail ``item``; ``model`` and ``usage`` are its last call's, when the provider billed
        that failed call."""
        request = self.requests[item.queue_id]
        result = error_result(
            item,
            request,
            detail,
            runtime=self.ctx.runtime,
            extra=self._extra(item, request),
            model=model,
            usage=usage,
        )
        await self._settle(item, QueueStatus.FAILED, result, detail.error_type)

    async def expire(self, item: QueueItem, *, reason: str, error_type: ErrorType) -> None:
        """Expire an item (TTL, processing timeout, batch expiry) with an error callback."""
        item = self.items[item.queue_id]
        if item.status.terminal:
            return
        ctx = self.ctx
        runtime = ctx.runtime
        detail = detail_for(
            error_type,
            f"queue item expired: {reason}",
            correlation_id=item.correlation_id,
            timestamp=runtime.utcnow(),
            provider=item.provider,
            operation="queue_hygiene",
            expiry_reason=reason,
            cj_batch_id=item.cj_batch_id,
        )
        ctx.metrics.expiries.labels(ctx.provider_for(item.provider).name, ctx.mode, reason).inc()
        ctx.log.append(
            "lps.item.expired",
            ids=self._ids(item),
            reason=reason,
            status=item.status.value,
            cj_batch_id=item.cj_batch_id,
            waited_s=round(self._age_s(item), 6),
        )
        flight = self.flights.get(item.queue_id)
        if flight is not None:
            flight.abandoned = True
            flight.done.set()
        request = self.requests[item.queue_id]
        if ctx.settings.LEGACY_NO_CALLBACK_ON_EXPIRY:
            await self._change(
                item, QueueStatus.EXPIRED, expiry_reason=reason, completed_at=runtime.utcnow()
            )
            self._track_depth()
            return
        result = error_result(
            item, request, detail, runtime=runtime, extra=self._extra(item, request)
        )
        await self._settle(
            item, QueueStatus.EXPIRED, result, error_type.value, expiry_reason=reason
        )

    async def retry(self, item: QueueItem, delay_s: float, detail: ErrorDetail) -> None:
        """Back to ``queued`` now; back in line (at its original place) after ``delay_s``.
        An item that was settled meanwhile (expired while its call ran) stays as it is."""
        current = self.items[item.queue_id]
        if current.status.terminal and not self.ctx.settings.LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK:
            self.ctx.log.append(
                "lps.transition.skipped",
                ids=self._ids(current),
                status=current.status.value,
                attempted=QueueStatus.QUEUED.value,
            )
            return
        item = await self._change(
            item,
            QueueStatus.QUEUED,
            retry_count=item.retry_count + 1,
            last_error_type=detail.error_type,
        )
        self.ctx.metrics.retries.labels(
            self.ctx.provider_for(item.provider).name, detail.error_type
        ).inc()
        self.ctx.log.append(
            "lps.retry.scheduled",
            ids=self._ids(item),
            error_type=detail.error_type,
            delay_s=round(delay_s, 6),
            retry_count=item.retry_count,
        )
        self.ctx.runtime.spawn(
            self._requeue_after(item.queue_id, delay_s),
            name=f"lps-retry:{item.queue_id[:8]}:{item.retry_count}",
        )

    async def _requeue_after(self, queue_id: str, delay_s: float) -> None:
        await self.ctx.runtime.sleep(delay_s)
        item = self.items[queue_id]
        if item.status is not QueueStatus.QUEUED:
            return  # expired while it waited
        self.index.push(queue_id, item.priority)
        self.ctx.log.append("lps.item.requeued", ids=self._ids(item), retry_count=item.retry_count)
        self._signal()

    async def hold_back(self, items: list[QueueItem], *, reason: str) -> None:
        """Return the items of a bundle marked ``processing`` whole but never called to the
        queue, at their old place in line and with their retry count unchanged (the concurrency
        gate held the bundle's next call back: queued, they wait under their TTL and any worker
        may take them). Only the original's bundles need it; others ``release`` for free."""
        for item in items:
            current = self.items[item.queue_id]
            if current.status is not QueueStatus.PROCESSING:
                continue  # expired while it waited its turn
            current = await self._change(current, QueueStatus.QUEUED)
            self.index.push(current.queue_id, current.priority)
            self.ctx.log.append(
                "lps.item.requeued",
                ids=self._ids(current),
                retry_count=current.retry_count,
                reason=reason,
            )
        self._signal()

    async def abandon(self, item: QueueItem, reason: str) -> None:
        """A worker died holding ``item``: it stays ``processing`` until the sweep sees it."""
        self.timeout_clock.setdefault(item.queue_id, self.ctx.runtime.now())
        self.ctx.log.append("lps.item.abandoned", ids=self._ids(item), reason=reason)

    # -- hygiene -------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Expire items stuck in ``processing`` past the timeout, and queued items past their
        TTL. The processing clock runs from an item's own provider call (or its worker's death),
        not from its bundle's dispatch: a healthy item waiting behind a slow one in a serial
        bundle is not stuck. Items inside a provider batch job have the job's expiry instead."""
        settings = self.ctx.settings
        for queue_id in sorted(self.open_ids):
            item = self.items[queue_id]
            if item.status is QueueStatus.PROCESSING:
                if settings.LEGACY_NO_PROCESSING_TIMEOUT or (item.bundle_id or "").startswith(
                    "batch:"
                ):
                    continue
                started = self.timeout_clock.get(queue_id)
                if started is None:
                    continue
                if self.ctx.runtime.now() - started > settings.QUEUE_PROCESSING_TIMEOUT_S:
                    await self.expire(
                        item, reason="processing_timeout", error_type=ErrorType.PROCESSING_TIMEOUT
                    )
            elif item.status is QueueStatus.QUEUED and self._past_ttl(item):
                self.index.discard(queue_id)
                await self.expire(item, reason="ttl", error_type=ErrorType.QUEUE_EXPIRED)

    # -- internals -----------------------------------------------------------------------------

    async def _settle(
        self,
        item: QueueItem,
        status: QueueStatus,
        result: Any,
        error_type: str | None,
        **changes: Any,
    ) -> None:
        item = self.items[item.queue_id]
        ctx = self.ctx
        if item.callback_published or item.status.terminal:
            ctx.log.append(
                "lps.callback.suppressed",
                ids=self._ids(item),
                status=item.status.value,
                attempted=status.value,
            )
            return
        now = ctx.runtime.utcnow()
        item = await self._change(
            item,
            status,
            callback_published=True,
            completed_at=now,
            last_error_type=error_type or item.last_error_type,
            **changes,
        )
        outcome = (
            "success"
            if status is QueueStatus.COMPLETED
            else ("expired" if status is QueueStatus.EXPIRED else "failure")
        )
        started = item.processing_started_at or now
        ctx.metrics.queue_wait.labels(ctx.mode, outcome).observe(
            max(0.0, (started - item.queued_at).total_seconds())
        )
        envelope = wrap(result, event_id=ctx.streams.ids("lps.events").next(), runtime=ctx.runtime)
        await ctx.bus.publish(item.callback_topic, envelope)
        ctx.metrics.callbacks.labels(ctx.mode, outcome).inc()
        ctx.log.append(
            "lps.callback.published",
            ids=self._ids(item),
            result=outcome,
            status=status.value,
            error_type=error_type,
            retries=item.retry_count,
        )
        self._track_depth()

    async def _change(self, item: QueueItem, status: QueueStatus, **changes: Any) -> QueueItem:
        # Memory first, with no await in between: a concurrent settle of the same item (the
        # sweep racing a worker) sees this change at once and backs off.
        current = self.items[item.queue_id]
        updated = evolve(current, status=next_status(current.status, status), **changes)
        self.items[updated.queue_id] = updated
        self.counts[current.status] -= 1
        self.counts[updated.status] += 1
        if updated.status.terminal:
            self.open_ids.discard(updated.queue_id)
        if updated.status is not QueueStatus.PROCESSING and (
            updated.status.terminal or not self.ctx.settings.LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK
        ):
            # The clock belongs to one provider call: a retried item starts a new one when it
            # is called again, not when it was first called.
            self.timeout_clock.pop(updated.queue_id, None)
        await self._persist(updated.queue_id)
        return updated

    async def _persist(self, queue_id: str) -> None:
        """Write the item's newest version. One writer per item at a time: a change made while
        a write is under way marks the item dirty and that writer goes round again, so the store
        always ends on the latest version however the commits interleave."""
        if queue_id in self._writing:
            self._dirty.add(queue_id)
            return
        self._writing.add(queue_id)
        try:
            while True:
                self._dirty.discard(queue_id)
                async with self.ctx.store.transaction() as tx:
                    await tx.update(self.items[queue_id])
                if queue_id not in self._dirty:
                    return
        finally:
            self._writing.discard(queue_id)

    def _extra(self, item: QueueItem, request: LLMComparisonRequest) -> dict[str, Any]:
        _, _, digest = self._prompt(item.queue_id)
        return {
            "prompt_sha256": digest,
            "queue_processing_mode": self.ctx.mode,
            "resolved_provider": self.ctx.provider_for(item.provider).name,
            "attempts": item.retry_count + 1,
        }

    def _past_ttl(self, item: QueueItem) -> bool:
        return self._age_s(item) > item.ttl_s

    def _age_s(self, item: QueueItem) -> float:
        return (self.ctx.runtime.utcnow() - item.queued_at).total_seconds()

    def _ids(self, item: QueueItem) -> dict[str, str | int]:
        return {"queue_id": item.queue_id, "correlation_id": item.correlation_id}

    def _track_depth(self) -> None:
        self.max_depth = max(self.max_depth, self.active)

    def _signal(self) -> None:
        if self._work is not None:
            self._work.set()


def _prompt_bytes(request: LLMComparisonRequest) -> int:
    """The request's size as the original measured it, less the envelope: its prompt text."""
    return _utf8_length(request.user_prompt) + sum(
        _utf8_length(block.content) for block in request.prompt_blocks
    )


def _utf8_length(text: str) -> int:
    # An ASCII string's length is its UTF-8 size: no need to encode kilobytes of essay to count.
    return len(text) if text.isascii() else len(text.encode("utf-8"))
