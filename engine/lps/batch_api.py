"""``batch_api`` mode: a bundle becomes one provider batch job.

The job is submitted once, then polled every ``BATCH_API_POLL_INTERVAL_S``. Results arrive in
any order and are matched to their items by ``custom_id`` (the queue id); each is settled as it
arrives, so partial results are never held back. Whatever has no result when the job ends, or
``BATCH_API_EXPIRY_S`` (24 h) after submission, is expired with reason ``batch_expired``.

Providers without a native batch API (the mock, the simulated provider) are wrapped in
``InProcessBatchJobs``, which runs the job's calls concurrently and reports results as they
finish, in a seeded shuffled order, as a real batch results file would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.lps.calls import ProviderCall, ProviderVerdict
from engine.lps.errors import ErrorType, ProviderError, WorkerCrash
from engine.lps.ledger import QueueLedger
from engine.lps.queue import QueueItem
from engine.lps.strategies import settle
from engine.ports import Provider, Runtime
from engine.randomness import Rng

__all__ = ["BatchPoll", "BatchProvider", "InProcessBatchJobs", "run_batch_job"]

BatchOutcome = ProviderVerdict | ProviderError


@dataclass(frozen=True, slots=True)
class BatchPoll:
    ended: bool
    results: Mapping[str, BatchOutcome]  # custom_id -> outcome, any order


@runtime_checkable
class BatchProvider(Protocol):
    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str: ...

    async def poll_batch(self, job_id: str) -> BatchPoll: ...


@dataclass
class _Job:
    expected: int
    results: dict[str, BatchOutcome] = field(default_factory=dict)


class InProcessBatchJobs:
    """A batch API for providers that have none: the calls run concurrently in-process."""

    def __init__(self, provider: Provider, runtime: Runtime, rng: Rng) -> None:
        self._provider = provider
        self._runtime = runtime
        self._rng = rng
        self._jobs: dict[str, _Job] = {}

    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str:
        job_id = f"job-{len(self._jobs) + 1}"
        job = _Job(expected=len(calls))
        self._jobs[job_id] = job
        for call in calls:
            self._runtime.spawn(self._run(job, call), name=f"{job_id}:{call.custom_id[:8]}")
        return job_id

    async def _run(self, job: _Job, call: ProviderCall) -> None:
        try:
            job.results[call.custom_id] = await self._provider.compare(call)
        except ProviderError as exc:
            job.results[call.custom_id] = exc
        except WorkerCrash:
            pass  # a batch item that never comes back: the job's expiry covers it

    async def poll_batch(self, job_id: str) -> BatchPoll:
        job = self._jobs[job_id]
        order = sorted(job.results)
        self._rng.shuffle(order)
        return BatchPoll(
            ended=len(job.results) == job.expected,
            results={custom_id: job.results[custom_id] for custom_id in order},
        )


def _for_item(error: ProviderError, item: QueueItem) -> ProviderError:
    """A job-wide error as one item's answer: the same detail, under the item's correlation id."""
    detail = error.detail.model_copy(update={"correlation_id": item.correlation_id})
    return ProviderError(detail)


async def run_batch_job(ledger: QueueLedger, items: list[QueueItem], batch: BatchProvider) -> None:
    ctx = ledger.ctx
    settings = ctx.settings
    try:
        job_id = await batch.submit_batch([ledger.provider_call(item) for item in items])
    except ProviderError as exc:
        # The job was refused as a whole (rate limited, over quota, a live cap): every item
        # takes that answer, and is retried or failed as a single call would be.
        ctx.log.append("lps.batch_job.refused", items=len(items), error_type=exc.error_type)
        for refused in items:
            await settle(ledger, refused, _for_item(exc, refused), elapsed_s=0.0)
        return
    submitted_at = ctx.runtime.now()
    ctx.log.append("lps.batch_job.submitted", ids={"job_id": job_id}, items=len(items))
    pending = {item.queue_id: item for item in items}
    ended = False
    while pending and not ended:
        await ctx.runtime.sleep(settings.BATCH_API_POLL_INTERVAL_S)
        try:
            poll = await batch.poll_batch(job_id)
        except ProviderError as exc:
            ctx.log.append(
                "lps.batch_job.poll_failed",
                ids={"job_id": job_id},
                error_type=exc.error_type,
                retryable=exc.retryable,
            )
            if exc.retryable:  # the job goes on at the provider: ask again, until it expires
                ended = ctx.runtime.now() - submitted_at >= settings.BATCH_API_EXPIRY_S
                continue
            # The job cannot be read (revoked key, deleted job): its items fail with that error.
            for lost in list(pending.values()):
                await settle(ledger, lost, _for_item(exc, lost), elapsed_s=0.0)
            pending.clear()
            break
        for custom_id, outcome in poll.results.items():
            item = pending.pop(custom_id, None)
            if item is not None and not ledger.items[custom_id].status.terminal:
                await settle(ledger, item, outcome, elapsed_s=ctx.runtime.now() - submitted_at)
        ended = poll.ended or ctx.runtime.now() - submitted_at >= settings.BATCH_API_EXPIRY_S
    for item in pending.values():
        await ledger.expire(item, reason="batch_expired", error_type=ErrorType.BATCH_EXPIRED)
    ctx.log.append("lps.batch_job.ended", ids={"job_id": job_id}, expired=len(pending))
