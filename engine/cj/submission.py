"""Submitting a batch: its rows and its first wave in one transaction, or nothing at all.

The original created a batch (upload, state INITIALIZING, essays) in one transaction and opened
its first wave in a second. When the second failed (a correlation id that an earlier batch in
the same database already used, as a second run with the same seed produces) the batch stayed
INITIALIZING forever: no wave, no callbacks, and a monitor that looked only at batches already
comparing. Here both happen in one transaction, so a batch either exists with its first wave
submitted or does not exist at all; a collision is reported as ``BatchCollision`` before anything
is written. ``LEGACY_NON_ATOMIC_BATCH_CREATION`` restores the two transactions.

Concurrent submissions on one database all succeed (issue 13): the store allocates each batch
its own id (``Tx.allocate_key``), and the transaction locks from its first statement, so that
on SQLite the submissions take turns at the write lock instead of failing each other's snapshots.
"""

from __future__ import annotations

from engine.cj.context import CJContext
from engine.cj.finalizer import publish
from engine.cj.intake import BatchRequest, InvalidBatch, create_batch, insert_batch, log_created
from engine.cj.models import ComparisonPair
from engine.cj.workflow import open_first_wave, start_batch, submit_requests
from engine.store.errors import DuplicateKey

__all__ = ["BatchCollision", "submit_batch"]


class BatchCollision(InvalidBatch):
    """The new batch would reuse ids that rows already stored in this database hold."""


async def submit_batch(ctx: CJContext, request: BatchRequest) -> int:
    """Create a batch and open its first wave; returns the CJ batch id."""
    if ctx.settings.LEGACY_NON_ATOMIC_BATCH_CREATION:
        cj_batch_id = await create_batch(ctx, request)
        await start_batch(ctx, cj_batch_id)
        return cj_batch_id
    try:
        async with ctx.store.transaction() as tx:
            correlation_ids = ctx.streams.ids("cj.correlation")
            upcoming = correlation_ids.peek()
            # A locking read, so that the transaction is a writer from its first statement: on
            # SQLite it waits here for its turn at the write lock, where a plain read would take
            # a snapshot that a concurrent submission makes stale before this one can write. (In
            # the simulated store, concurrent submissions of one service queue for this key's
            # lock; PostgreSQL locks no key without a row, and they run side by side.)
            found = await tx.get(ComparisonPair, upcoming, for_update=True)
            # A concurrent submission of this service may have drawn that id while we read: the
            # row is then its own, not an earlier run's.
            if found is not None and correlation_ids.peek() == upcoming:
                raise BatchCollision(_collision(request, upcoming))
            inserted = await insert_batch(ctx, tx, request)
            log_created(ctx, inserted, request)
            publications, requests = await open_first_wave(ctx, tx, inserted.cj_batch_id)
    except DuplicateKey as exc:  # a later id collided: the transaction rolled back whole
        raise BatchCollision(f"{_collision(request, None)} ({exc})") from None
    await publish(ctx, publications)
    await submit_requests(ctx, requests)
    return inserted.cj_batch_id


def _collision(request: BatchRequest, correlation_id: str | None) -> str:
    which = f"correlation id {correlation_id}" if correlation_id else "its ids"
    return (
        f"batch {request.bos_batch_id!r} was not created: {which} already belongs to a batch "
        "stored in this database (an earlier run with the same seed?); nothing was written. "
        "Use another seed or a fresh database."
    )
