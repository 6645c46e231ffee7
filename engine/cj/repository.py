"""The CJ side's queries, on the Store port. Every method takes the open transaction."""

from __future__ import annotations

from engine.cj.models import BatchState, BatchUpload, ComparisonPair, Essay
from engine.cj.states import (
    BatchEvent,
    UploadEvent,
    next_batch_state,
    next_upload_status,
)
from engine.ports import Tx
from engine.store.rows import evolve

__all__ = [
    "BatchNotFound",
    "essays_of",
    "get_batch_state",
    "get_pair",
    "get_upload",
    "next_batch_id",
    "pairs_of",
    "save_batch_state",
    "transition_batch",
    "transition_upload",
]


class BatchNotFound(LookupError):
    pass


async def next_batch_id(tx: Tx) -> int:
    uploads = await tx.select(BatchUpload)
    return 1 + max((u.cj_batch_id for u in uploads), default=0)


async def get_upload(tx: Tx, cj_batch_id: int, *, for_update: bool = False) -> BatchUpload:
    upload = await tx.get(BatchUpload, cj_batch_id, for_update=for_update)
    if upload is None:
        raise BatchNotFound(f"no CJ batch {cj_batch_id}")
    return upload


async def get_batch_state(tx: Tx, cj_batch_id: int, *, for_update: bool = False) -> BatchState:
    """The batch's state row; with ``for_update`` its row lock is held until the transaction ends.

    Every read-modify-write of the counters must hold that lock (PR 1): without it, concurrent
    callbacks read the same counters and the later commit silently undoes the earlier one.
    """
    state = await tx.get(BatchState, cj_batch_id, for_update=for_update)
    if state is None:
        raise BatchNotFound(f"no CJ batch state {cj_batch_id}")
    return state


async def save_batch_state(tx: Tx, before: BatchState, after: BatchState) -> None:
    if before.total_budget is not None:
        assert after.total_budget == before.total_budget, (
            f"batch {before.cj_batch_id}: total_budget is immutable once set "
            f"({before.total_budget} -> {after.total_budget})"
        )
    await tx.update(after)


async def transition_batch(
    tx: Tx, state: BatchState, event: BatchEvent, **changes: object
) -> BatchState:
    after = evolve(state, state=next_batch_state(state.state, event), **changes)
    await save_batch_state(tx, state, after)
    return after


async def transition_upload(
    tx: Tx, upload: BatchUpload, event: UploadEvent, **changes: object
) -> BatchUpload:
    after = evolve(upload, status=next_upload_status(upload.status, event), **changes)
    await tx.update(after)
    return after


async def essays_of(tx: Tx, cj_batch_id: int) -> list[Essay]:
    return await tx.select(Essay, cj_batch_id=cj_batch_id)


async def pairs_of(tx: Tx, cj_batch_id: int) -> list[ComparisonPair]:
    return await tx.select(ComparisonPair, cj_batch_id=cj_batch_id)


async def get_pair(
    tx: Tx, correlation_id: str, *, for_update: bool = False
) -> ComparisonPair | None:
    return await tx.get(ComparisonPair, correlation_id, for_update=for_update)
