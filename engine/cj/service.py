"""CJService: the CJ side wired to its ports, as one object a runtime can start."""

from __future__ import annotations

from engine.cj.callbacks import CallbackOutcome, handle_callback
from engine.cj.context import CJContext
from engine.cj.intake import BatchRequest
from engine.cj.monitor import monitor_loop
from engine.cj.submission import submit_batch
from engine.cj.workflow import after_callback
from engine.ports import Task

__all__ = ["CJService"]


class CJService:
    def __init__(self, ctx: CJContext) -> None:
        self.ctx = ctx
        self._monitor: Task[None] | None = None

    def start(self, *, monitor: bool = True) -> None:
        """Subscribe to callbacks and start the batch monitor. Call inside a running runtime."""
        ctx = self.ctx
        ctx.bus.subscribe(
            ctx.settings.CJ_CALLBACK_TOPIC,
            self.on_callback,
            concurrency=ctx.settings.CJ_CALLBACK_CONCURRENCY,
        )
        if monitor:
            self._monitor = ctx.runtime.spawn(monitor_loop(ctx), name="cj-batch-monitor")

    def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()

    async def submit_batch(self, request: BatchRequest) -> int:
        """Create a batch and start its first wave, atomically; returns the CJ batch id.
        Raises ``InvalidBatch`` (``BatchCollision`` among them) and writes nothing when the
        batch cannot be created."""
        return await submit_batch(self.ctx, request)

    async def on_callback(self, message: object) -> None:
        outcome: CallbackOutcome = await handle_callback(self.ctx, message)
        await after_callback(self.ctx, outcome)
