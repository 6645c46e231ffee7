"""LPSService: the LLM Provider Service wired to its ports. CJ hands it requests through the
``ComparisonSink`` port (the original's ``POST /api/v1/comparison``, answered 202 and queued)."""

from __future__ import annotations

from engine.contracts import LLMComparisonRequest
from engine.lps.batch_api import BatchProvider
from engine.lps.concurrency_gate import Gates
from engine.lps.context import LPSContext
from engine.lps.ledger import QueueLedger
from engine.lps.worker import cleanup_loop, deadline_loop, worker_loop
from engine.ports import Task

__all__ = ["LPSService"]


class LPSService:
    def __init__(self, ctx: LPSContext) -> None:
        self.ctx = ctx
        self.ledger = QueueLedger(ctx)
        self._tasks: list[Task[None]] = []
        self._batch_jobs: dict[str, BatchProvider] = {}
        # Provider calls pass a concurrency gate per (provider, model) when the controller or a
        # client-side rate limit is on; without either, the worker pool alone bounds them.
        self.gates = (
            Gates(ctx.settings, runtime=ctx.runtime, log=ctx.log, metrics=ctx.metrics)
            if Gates.wanted(ctx.settings)
            else None
        )

    def start(self) -> None:
        """Start the workers, the hygiene sweep and the call-deadline loop. Call inside a
        running runtime."""
        runtime = self.ctx.runtime
        for index in range(self.ctx.settings.LPS_WORKERS):
            self._tasks.append(
                runtime.spawn(
                    worker_loop(self.ledger, self._batch_jobs, self.gates),
                    name=f"lps-worker-{index}",
                )
            )
        self._tasks.append(runtime.spawn(cleanup_loop(self.ledger), name="lps-cleanup"))
        if not self.ctx.settings.LEGACY_NO_CALL_DEADLINE:
            self._tasks.append(runtime.spawn(deadline_loop(self.ledger), name="lps-call-deadlines"))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def submit(self, request: LLMComparisonRequest) -> None:
        """Queue one comparison (``ComparisonSink``); ``SubmissionRejected`` when it is full."""
        await self.ledger.enqueue(request)

    @property
    def idle(self) -> bool:
        """Nothing queued, processing, or waiting for a retry."""
        return self.ledger.active == 0
