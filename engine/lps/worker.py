"""The LPS loops: workers that turn bundles into provider calls, and the hygiene sweep.

With a concurrency gate (``engine.lps.concurrency_gate``), a worker first looks at the item next
in line, waits at its (provider, model) gate, and only then takes its bundle: items stay queued,
in dispatch order and under their TTL, while the controller holds calls back, so however many
workers there are, the gate and not the pool decides how many calls are in flight. Each later
call of a serial bundle needs the gate's leave at once; when it is refused, the items not yet
called go back in line (``strategies.execute``). Batch jobs pass no gate: one job is many calls
that the provider schedules itself.
"""

from __future__ import annotations

from engine.lps.batch_api import BatchProvider, InProcessBatchJobs, run_batch_job
from engine.lps.concurrency_gate import Gates
from engine.lps.ledger import QueueLedger
from engine.lps.strategies import execute, gate_key, next_bundle
from engine.settings import QueueProcessingMode

__all__ = ["cleanup_loop", "deadline_loop", "worker_loop"]


async def worker_loop(
    ledger: QueueLedger, batch_jobs: dict[str, BatchProvider], gates: Gates | None = None
) -> None:
    ctx = ledger.ctx
    batch_api = ctx.settings.QUEUE_PROCESSING_MODE is QueueProcessingMode.BATCH_API
    while True:
        if batch_api:
            await _batch_step(ledger, batch_jobs)
        elif gates is not None:
            await _gated_step(ledger, gates)
        else:
            bundle = await next_bundle(ledger)
            if bundle:
                await execute(ledger, bundle)


async def _gated_step(ledger: QueueLedger, gates: Gates) -> None:
    await ledger.wait_for_work()
    head = ledger.peek_ready()
    if head is None:
        return
    gate = gates.gate(gate_key(ledger, head))
    ticket = await gate.admit()
    if len(ledger.index) == 0:
        # Other workers took the work while this one waited: an admission is a call about to
        # start, never held while waiting for work (the gate counts it as in flight).
        gate.cancel(ticket)
        return
    try:
        bundle = await next_bundle(ledger)
    except BaseException:
        gate.cancel(ticket)
        raise
    if not bundle or gate_key(ledger, bundle[0]) != gate.key:
        # Another worker took that work while this one waited, and what is next in line
        # passes another gate: back in line (at its place), and look again.
        for item in bundle:
            ledger.put_back(item)
        gate.cancel(ticket)
        return
    await execute(ledger, bundle, gate=gate, ticket=ticket)


async def _batch_step(ledger: QueueLedger, batch_jobs: dict[str, BatchProvider]) -> None:
    ctx = ledger.ctx
    bundle = await next_bundle(ledger)
    if not bundle:
        return
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


async def cleanup_loop(ledger: QueueLedger) -> None:
    while True:
        await ledger.ctx.runtime.sleep(ledger.ctx.settings.QUEUE_CLEANUP_INTERVAL_S)
        await ledger.sweep()


async def deadline_loop(ledger: QueueLedger) -> None:
    """End every provider call that passes ``PROVIDER_CALL_DEADLINE_S`` (one task for all)."""
    while True:
        await ledger.enforce_call_deadlines()
