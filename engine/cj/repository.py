"""The CJ side's queries, on the Store port. Every method takes the open transaction."""

from __future__ import annotations

from engine.cj.models import BatchState, BatchUpload, ComparisonPair, CorrelationAlias, Essay
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
    "add_alias",
    "essays_of",
    "find_pair",
    "get_batch_state",
    "get_pair",
    "get_upload",
    "next_batch_id",
    "outstanding_pairs",
    "pairs_of",
    "save_batch_state",
    "transition_batch",
    "transition_upload",
]


class BatchNotFound(LookupError):
    pass


async def next_batch_id(tx: Tx) -> int:
    """A new batch's id, allocated atomically by the store (issue 13): concurrent submissions on
    one database each get their own. (Reading the largest id and adding one gave every
    concurrent submission the same id, and all but one failed.)"""
    return await tx.allocate_key(BatchUpload)


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


async def find_pair(
    tx: Tx, correlation_id: str, *, for_update: bool = False, aliases: bool = True
) -> ComparisonPair | None:
    """The pair a callback's correlation id belongs to: the pair keyed by it, else (with
    ``aliases``) the pair a resubmission under that id was sent for."""
    pair = await get_pair(tx, correlation_id, for_update=for_update)
    if pair is not None or not aliases:
        return pair
    alias = await tx.get(CorrelationAlias, correlation_id)
    if alias is None:
        return None
    return await get_pair(tx, alias.pair_correlation_id, for_update=for_update)


async def add_alias(tx: Tx, pair: ComparisonPair, correlation_id: str) -> None:
    """Record that ``correlation_id`` is a resubmission of ``pair``."""
    await tx.insert(
        CorrelationAlias(
            correlation_id=correlation_id,
            pair_correlation_id=pair.correlation_id,
            cj_batch_id=pair.cj_batch_id,
        )
    )


async def outstanding_pairs(
    tx: Tx, cj_batch_id: int, *, iteration: int | None = None
) -> list[ComparisonPair]:
    """Pairs of a batch (of one wave, given ``iteration``) still owed a callback: no result and
    not abandoned. Unlocked: lock each with ``get_pair(..., for_update=True)`` before writing."""
    equals: dict[str, object] = {"cj_batch_id": cj_batch_id, "outcome": None}
    if iteration is not None:
        equals["iteration"] = iteration
    return await tx.select(ComparisonPair, abandoned_reason=None, **equals)
