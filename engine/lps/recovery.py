"""Settling the queue items a dead LPS process left behind.

A queue item lives in two places: its row in the store and, while it is open, the ledger's
memory. When the process dies, the rows of its open items stay ``queued`` or ``processing``
with nobody to serve them. The process that resumes the run does not serve them either: CJ has
already sent every comparison they carried again, under new correlation ids (see
``engine.cj.recovery``). So each is adopted into the new ledger and expired with the reason
``run_interrupted``: its one callback is published as for any expiry, and CJ records it as a
superseded duplicate. Every item still gets exactly one callback, and none waits forever.
"""

from __future__ import annotations

from engine.lps.errors import ErrorType
from engine.lps.ledger import QueueLedger
from engine.lps.queue import QueueItem

__all__ = ["INTERRUPTED", "settle_orphans"]

INTERRUPTED = "run_interrupted"


async def settle_orphans(ledger: QueueLedger) -> int:
    """Expire every open item in the store that this ledger does not hold; how many."""
    async with ledger.ctx.store.transaction() as tx:
        rows = await tx.select(QueueItem)
    orphans = sorted(
        (row for row in rows if not row.status.terminal and row.queue_id not in ledger.items),
        key=lambda row: (row.queued_at, row.queue_id),
    )
    for orphan in orphans:
        # Adopt it as the ledger holds its own (the row, its request, an open id), so the
        # expiry goes through the ledger's one settle path.
        ledger.items[orphan.queue_id] = orphan
        ledger.requests[orphan.queue_id] = orphan.request
        ledger.open_ids.add(orphan.queue_id)
        ledger.counts[orphan.status] += 1
        await ledger.expire(orphan, reason=INTERRUPTED, error_type=ErrorType.QUEUE_EXPIRED)
    return len(orphans)
