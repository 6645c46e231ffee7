"""Comparing again, within the budget, what ended in error (``cjsim live --resume --retry-errors``).

A comparison that ended in error (a truncated answer, a key revoked mid-run, retries spent) is
a data point the batch paid for and did not get. When its run is resumed with
``--retry-errors``, each such comparison is compared again as a *new* comparison of the batch's
current wave: the same two essays in the same positions, a new row and a new correlation id.
The errored row stays as it was, so the batch's history and counters never count anything
twice or forget a failure; the new rows are ordinary submissions, counted against the budget
like any other (``total_budget - submitted_comparisons`` is the room; the oldest errors go
first). Each error is retried once per run (``retried_errors`` in the batch metadata).

Only an open batch can take more comparisons: a batch that already ended (COMPLETED, FAILED)
is left as it ended, and the caller is told why nothing was retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.cj.context import CJContext
from engine.cj.models import ComparisonPair, PairOutcome
from engine.cj.repository import essays_of, get_batch_state, get_upload, pairs_of
from engine.cj.requests import build_request
from engine.cj.states import BatchStateEnum
from engine.contracts import LLMComparisonRequest
from engine.store.rows import evolve

__all__ = ["RetriedErrors", "retry_errors"]

RETRIED_KEY = "retried_errors"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetriedErrors:
    cj_batch_id: int
    requests: tuple[LLMComparisonRequest, ...]  # to hand to LPS (``submit_requests``)
    errored: int  # comparisons that ended in error and were not retried before
    why_not: str | None = None  # why fewer were retried than errored


async def retry_errors(ctx: CJContext, cj_batch_id: int) -> RetriedErrors:
    """Store a new comparison for each errored one that fits the budget (see the module
    docstring) and return their requests; the caller hands them to LPS after commit."""
    async with ctx.store.transaction() as tx:
        state = await get_batch_state(tx, cj_batch_id, for_update=True)
        pairs = await pairs_of(tx, cj_batch_id)
        done = set(state.processing_metadata.get(RETRIED_KEY, ()))
        errored = sorted(
            (p for p in pairs if p.outcome is PairOutcome.ERROR and p.correlation_id not in done),
            key=lambda p: (p.iteration, p.correlation_id),
        )
        if state.state is not BatchStateEnum.WAITING_CALLBACKS:
            why = f"batch {cj_batch_id} is {state.state.value}: only an open batch takes more"
            return RetriedErrors(
                cj_batch_id=cj_batch_id, requests=(), errored=len(errored), why_not=why
            )
        room = max(0, (state.total_budget or 0) - state.submitted_comparisons)
        chosen = errored[:room]
        why_not = (
            None
            if len(chosen) == len(errored)
            else f"{len(errored) - len(chosen)} left out: the budget has room for {room}"
        )
        if not chosen:
            return RetriedErrors(
                cj_batch_id=cj_batch_id, requests=(), errored=len(errored), why_not=why_not
            )
        upload = await get_upload(tx, cj_batch_id)
        by_id = {essay.essay_id: essay for essay in await essays_of(tx, cj_batch_id)}
        now = ctx.runtime.utcnow()
        requests = []
        for original in chosen:
            row = ComparisonPair(
                correlation_id=ctx.next_correlation_id(),
                cj_batch_id=cj_batch_id,
                essay_a_id=original.essay_a_id,
                essay_b_id=original.essay_b_id,
                iteration=state.current_iteration,
                generation_mode=original.generation_mode,
                submitted_at=now,
            )
            await tx.insert(row)
            requests.append(
                build_request(row, upload, by_id, wave_size=len(chosen), settings=ctx.settings)
            )
            ctx.log.append(
                "cj.pair.submitted",
                ids={"cj_batch_id": cj_batch_id, "correlation_id": row.correlation_id},
                essay_a=row.essay_a_id,
                essay_b=row.essay_b_id,
                a_is_anchor=by_id[row.essay_a_id].is_anchor,
                b_is_anchor=by_id[row.essay_b_id].is_anchor,
                iteration=row.iteration,
                mode=row.generation_mode.value,
                retry_of=original.correlation_id,
            )
        metadata = dict(state.processing_metadata)
        metadata[RETRIED_KEY] = sorted(done | {p.correlation_id for p in chosen})
        await tx.update(
            evolve(
                state,
                total_comparisons=state.total_comparisons + len(chosen),
                submitted_comparisons=state.submitted_comparisons + len(chosen),
                last_activity_at=now,
                processing_metadata=metadata,
            )
        )
    ctx.log.append(
        "cj.errors.retried",
        ids={"cj_batch_id": cj_batch_id},
        retried=len(chosen),
        errored=len(errored),
    )
    return RetriedErrors(
        cj_batch_id=cj_batch_id, requests=tuple(requests), errored=len(errored), why_not=why_not
    )
