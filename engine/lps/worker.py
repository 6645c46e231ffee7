"""The LPS loops: workers that turn bundles into provider calls, and the hygiene sweep."""

from __future__ import annotations

from engine.lps.batch_api import BatchProvider, InProcessBatchJobs, run_batch_job
from engine.lps.ledger import QueueLedger
from engine.lps.strategies import execute, next_bundle
from engine.settings import QueueProcessingMode

__all__ = ["cleanup_loop", "deadline_loop", "worker_loop"]


async def worker_loop(ledger: QueueLedger, batch_jobs: dict[str, BatchProvider]) -> None:
    ctx = ledger.ctx
    while True:
        bundle = await next_bundle(ledger)
        if not bundle:
            continue
        if ctx.settings.QUEUE_PROCESSING_MODE is QueueProcessingMode.BATCH_API:
            bundle_id = f"batch:{ctx.streams.ids('lps.bundles').next()[:12]}"
            items = await ledger.start_processing(bundle, bundle_id)
            provider_name = items[0].provider
            batch = batch_jobs.get(provider_name)
            if batch is None:
                provider = ctx.provider_for(provider_name)
                batch = (
                    provider
                    if isinstance(provider, BatchProvider)
                    else InProcessBatchJobs(
                        provider, ctx.runtime, ctx.streams.random(f"lps.batch.{provider_name}")
                    )
                )
                batch_jobs[provider_name] = batch
            ctx.runtime.spawn(run_batch_job(ledger, items, batch), name=f"lps-{bundle_id}")
        else:
            await execute(ledger, bundle)


async def cleanup_loop(ledger: QueueLedger) -> None:
    while True:
        await ledger.ctx.runtime.sleep(ledger.ctx.settings.QUEUE_CLEANUP_INTERVAL_S)
        await ledger.sweep()


async def deadline_loop(ledger: QueueLedger) -> None:
    """End every provider call that passes ``PROVIDER_CALL_DEADLINE_S`` (one task for all)."""
    while True:
        await ledger.enforce_call_deadlines()
