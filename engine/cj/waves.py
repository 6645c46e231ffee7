"""Plan the next wave of a batch and store its pairs (inside the caller's transaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.cj.completion import CompletionPlan, resampling_passes_allowed
from engine.cj.context import CJContext
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, Essay, GenerationMode
from engine.cj.orientation import essay_order, orient_wave, round_robin_schedule
from engine.cj.pairing import (
    EssayNode,
    PairHistory,
    coverage_candidates,
    plan_coverage,
    plan_resampling,
)
from engine.cj.repository import transition_batch
from engine.cj.requests import build_request
from engine.cj.states import BatchEvent
from engine.contracts import LLMComparisonRequest
from engine.ports import Tx

__all__ = ["OpenedWave", "open_wave"]


@dataclass(frozen=True, slots=True)
class OpenedWave:
    state: BatchState
    requests: tuple[LLMComparisonRequest, ...]
    mode: GenerationMode | None


async def open_wave(
    ctx: CJContext,
    tx: Tx,
    state: BatchState,
    upload: BatchUpload,
    essays: Sequence[Essay],
    pairs: Sequence[ComparisonPair],
    plan: CompletionPlan,
    scores: Mapping[str, float],
) -> OpenedWave:
    """Plan a wave under the schedule cap, store its pairs and move the batch to
    WAITING_CALLBACKS. ``state`` must be GENERATING_PAIRS and row-locked by ``tx``. With nothing
    left to plan, returns the state unchanged and no requests."""
    settings = ctx.settings
    iteration = state.current_iteration + 1
    batch_streams = ctx.streams.child(f"cj.batch.{state.cj_batch_id}")
    balance = settings.ENABLE_COMPARISON_POSITION_BALANCING
    nodes = [EssayNode(e.essay_id, e.is_anchor, scores.get(e.essay_id, 0.0)) for e in essays]
    order = essay_order(nodes, balance=balance, rng=batch_streams.random(f"order.{iteration}"))
    history = PairHistory.from_pairs(pairs)
    remaining = plan.schedule_cap - state.submitted_comparisons
    pairing_rng = batch_streams.random(f"pairing.{iteration}")
    metadata = dict(state.processing_metadata)
    passes_done = int(metadata.get("resampling_pass_count", 0))
    # batch_streams is new at every call, so this stream (and the schedule) is the same at
    # every wave of the batch.
    schedule = round_robin_schedule(
        nodes,
        schedule_cap=plan.schedule_cap,
        balance=balance,
        legacy_greedy=settings.LEGACY_GREEDY_ORIENTATION,
        rng=batch_streams.random("orientation.schedule"),
    )
    if coverage_candidates(order, history) > 0:
        planned = plan_coverage(
            order,
            history,
            remaining=remaining,
            rng=pairing_rng,
            schedule=schedule,
            lean_tiers=balance and not settings.LEGACY_GREEDY_ORIENTATION,
        )
    elif passes_done < resampling_passes_allowed(len(essays), settings):
        planned = plan_resampling(order, history, remaining=remaining, rng=pairing_rng)
        if planned:
            metadata["resampling_pass_count"] = passes_done + 1
    else:
        planned = []
    oriented = orient_wave(
        planned,
        order,
        history,
        balance=balance,
        schedule=schedule,
        rng=batch_streams.random(f"orientation.{iteration}"),
    )
    if not oriented:
        return OpenedWave(state, (), None)

    now = ctx.runtime.utcnow()
    by_id = {essay.essay_id: essay for essay in essays}
    requests = []
    for pair in oriented:
        row = ComparisonPair(
            correlation_id=ctx.next_correlation_id(),
            cj_batch_id=state.cj_batch_id,
            essay_a_id=pair.essay_a,
            essay_b_id=pair.essay_b,
            iteration=iteration,
            generation_mode=pair.mode,
            submitted_at=now,
        )
        await tx.insert(row)
        requests.append(
            build_request(row, upload, by_id, wave_size=len(oriented), settings=settings)
        )
        ctx.log.append(
            "cj.pair.submitted",
            ids={"cj_batch_id": state.cj_batch_id, "correlation_id": row.correlation_id},
            essay_a=pair.essay_a,
            essay_b=pair.essay_b,
            a_is_anchor=by_id[pair.essay_a].is_anchor,
            b_is_anchor=by_id[pair.essay_b].is_anchor,
            iteration=iteration,
            mode=pair.mode.value,
        )
    count = len(oriented)
    budget = (
        state.total_budget
        if state.total_budget is not None
        else upload.processing_metadata["comparison_budget"]["max_pairs_requested"]
    )
    after = await transition_batch(
        tx,
        state,
        BatchEvent.AWAIT_CALLBACKS,
        total_budget=budget,
        total_comparisons=state.total_comparisons + count,
        submitted_comparisons=state.submitted_comparisons + count,
        current_iteration=iteration,
        last_activity_at=now,
        processing_metadata=metadata,
    )
    mode = oriented[0].mode
    batching = settings.LLM_BATCHING_MODE.value
    ctx.metrics.llm_batches_started.labels(batching).inc()
    ctx.metrics.llm_requests.labels(batching).inc(count)
    ctx.log.append(
        "cj.wave.submitted",
        ids={"cj_batch_id": state.cj_batch_id},
        iteration=iteration,
        mode=mode.value,
        pairs=count,
        submitted=after.submitted_comparisons,
        schedule_cap=plan.schedule_cap,
    )
    return OpenedWave(after, tuple(requests), mode)
