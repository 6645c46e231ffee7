"""Callback handling at its edges (the survivors of `nox -s mutants`,
docs/decisions/0009-mutation-testing.md): each disposition with the smallest message that
produces it, its ``CallbackOutcome``, record and counters asserted whole; every field a callback
writes onto its pair; ``attempts`` missing, 0 and 3; the partial-scoring threshold at, one under
and one over its value; the last callback of a wave and the one before it.

Callbacks are held back by the responder and handed to ``handle_callback`` one at a time, so each
test sees exactly what one callback did."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.cj.callbacks import (
    CallbackDisposition,
    CallbackOutcome,
    OrphanCallback,
    handle_callback,
)
from engine.cj.models import ComparisonPair, PairOutcome
from engine.cj.states import BatchStateEnum
from engine.contracts import EventEnvelope
from engine.metrics_export import sample_value
from engine.ports import TaskCrashed
from tests.cj.world import World, callback_for, make_world, request

D = CallbackDisposition


def _held_world(**settings: Any) -> World:
    """A world whose responder answers nothing by itself: 4 essays, waves of 2, budget 6; a
    store with no latency, so a callback handled at 5 s is written at 5 s."""
    world = make_world(store_latency_s=0.0, **settings)
    world.responder.hold = lambda req: True
    return world


def _run(world: World, *messages: Any, budget: int = 6) -> list[CallbackOutcome]:
    """Submit a 4-essay batch, then hand ``handle_callback`` each message in turn at 5 s; a
    message that is callable is built then, from the world (``_answer``)."""
    outcomes: list[CallbackOutcome] = []

    async def main() -> None:
        await world.service.submit_batch(request(4, budget=budget))
        await world.runtime.sleep(5)
        for message in messages:
            envelope = message(world) if callable(message) else message
            outcomes.append(await handle_callback(world.ctx, envelope))

    world.run(main)
    return outcomes


def _answer(index: int, winner: str | None, **metadata: Any):
    """The callback for the first wave's ``index``-th request ("Essay A", "Essay B" or None for
    an error), its result's ``request_metadata`` updated with ``metadata``."""

    def build(world: World) -> EventEnvelope:
        req = world.responder.received[index]
        if metadata:
            req = req.model_copy(update={"metadata": {**req.metadata, **metadata}})
        return callback_for(req, winner, world.runtime)

    return build


def _pair(world: World, index: int) -> ComparisonPair:
    key = world.responder.received[index].correlation_id
    (pair,) = [p for p in world.pairs() if p.correlation_id == key]
    return pair


def _processed(world: World, status: str) -> float:
    return sample_value(world.registry, "cj_callbacks_processed_total", status=status)


# --- applied -------------------------------------------------------------------------------------


def test_the_first_callback_of_a_wave_is_applied_with_every_field_recorded():
    world = _held_world()
    (outcome,) = _run(world, _answer(0, "Essay A"))
    assert outcome == CallbackOutcome(D.APPLIED, 1, False)
    (applied,) = world.events("cj.callback.applied")
    key = world.responder.received[0].correlation_id
    assert applied.ids == {"cj_batch_id": 1, "correlation_id": key}
    assert dict(applied.fields) == {
        "outcome": "essay_a",
        "error_type": None,
        "attempts": 1,
        "completed": 1,
        "failed": 0,
        "submitted": 2,
        "denominator": 6,
        "completion_pct": 16.666667,
        "after_finalization": False,
    }
    pair = _pair(world, 0)
    assert (pair.outcome, pair.confidence, pair.justification) == (
        PairOutcome.ESSAY_A,
        4.0,
        "scripted",
    )
    assert (pair.error_type, pair.error_code, pair.attempts) == (None, None, 1)
    assert (pair.provider, pair.model, pair.response_time_ms) == ("mock", "mock-model-v1", 1000)
    assert (pair.prompt_tokens, pair.completion_tokens) == (10, 5)
    five_s = world.runtime.epoch + timedelta(seconds=5)
    assert pair.completed_at == five_s
    state = world.state()
    assert (state.completed_comparisons, state.failed_comparisons) == (1, 0)
    assert state.last_activity_at == five_s
    assert state.partial_scoring_triggered is False
    registry = world.registry
    assert _processed(world, "applied_success") == 1
    assert sample_value(registry, "cj_comparisons_total", status="success") == 1
    assert (
        sample_value(
            registry,
            "cj_assessment_llm_api_calls_total",
            provider="mock",
            model="mock-model-v1",
            status="success",
        )
        == 1
    )
    assert sample_value(registry, "cj_batch_progress_percentage", cj_batch_id="1") == 100 / 6


def test_essay_b_is_recorded_as_essay_b():
    world = _held_world()
    _run(world, _answer(0, "Essay B"))
    assert _pair(world, 0).outcome is PairOutcome.ESSAY_B
    assert world.events("cj.callback.applied")[0].fields["outcome"] == "essay_b"


def test_the_last_callback_of_a_wave_completes_it():
    world = _held_world()
    first, last = _run(world, _answer(0, "Essay A"), _answer(1, "Essay B"))
    assert first == CallbackOutcome(D.APPLIED, 1, False)
    assert last == CallbackOutcome(D.APPLIED, 1, True)
    assert world.events("cj.callback.applied")[1].fields["completion_pct"] == 33.333333
    assert sample_value(world.registry, "cj_batch_progress_percentage", cj_batch_id="1") == 200 / 6


def test_an_error_callback_counts_as_failed_and_records_its_error():
    world = _held_world()
    (outcome,) = _run(world, _answer(0, None))
    assert outcome == CallbackOutcome(D.APPLIED, 1, False)
    (applied,) = world.events("cj.callback.applied")
    assert dict(applied.fields) == {
        "outcome": "error",
        "error_type": "server_error",
        "attempts": 1,
        "completed": 0,
        "failed": 1,
        "submitted": 2,
        "denominator": 6,
        "completion_pct": 16.666667,
        "after_finalization": False,
    }
    pair = _pair(world, 0)
    assert (pair.outcome, pair.error_type, pair.error_code) == (
        PairOutcome.ERROR,
        "server_error",
        "EXTERNAL_SERVICE_ERROR",
    )
    assert (pair.confidence, pair.justification, pair.model) == (None, None, "unknown")
    state = world.state()
    assert (state.completed_comparisons, state.failed_comparisons) == (0, 1)
    registry = world.registry
    assert _processed(world, "applied_error") == 1
    assert _processed(world, "applied_success") == 0
    assert sample_value(registry, "cj_comparisons_total", status="error") == 1
    assert (
        sample_value(
            registry,
            "cj_assessment_llm_api_calls_total",
            provider="mock",
            model="unknown",
            status="error",
        )
        == 1
    )


@pytest.mark.parametrize(("attempts", "recorded"), [(None, 1), (0, 1), (1, 1), (3, 3)])
def test_attempts_come_from_the_result_s_metadata_and_are_at_least_one(attempts, recorded):
    world = _held_world()
    extra = {} if attempts is None else {"attempts": attempts}
    _run(world, _answer(0, "Essay A", **extra))
    assert _pair(world, 0).attempts == recorded
    assert world.events("cj.callback.applied")[0].fields["attempts"] == recorded


# --- partial scoring: completed >= budget * COMPLETION_THRESHOLD_PCT / 100 ----------------------


@pytest.mark.parametrize(
    ("threshold_pct", "after_first", "after_second"),
    [
        (10, True, True),  # 10 * 10% = 1: the first success reaches it
        (11, False, True),  # 1.1: the first success is under it, the second over
        (20, False, True),  # 2: the second success is exactly at it
        (21, False, False),  # 2.1: two successes are one short
    ],
)
def test_partial_scoring_starts_when_successes_reach_the_threshold(
    threshold_pct, after_first, after_second
):
    world = _held_world(COMPLETION_THRESHOLD_PCT=threshold_pct)
    _run(world, _answer(0, "Essay A"), budget=10)
    assert world.state().partial_scoring_triggered is after_first
    world = _held_world(COMPLETION_THRESHOLD_PCT=threshold_pct)
    _run(world, _answer(0, "Essay A"), _answer(1, "Essay B"), budget=10)
    assert world.state().partial_scoring_triggered is after_second


def test_errors_do_not_count_toward_partial_scoring_and_it_never_turns_off():
    world = _held_world(COMPLETION_THRESHOLD_PCT=10)
    _run(world, _answer(0, None), budget=10)
    assert world.state().partial_scoring_triggered is False  # 0 successes of the 1 needed
    world = _held_world(COMPLETION_THRESHOLD_PCT=10)
    _run(world, _answer(0, "Essay A"), _answer(1, None), budget=10)
    assert world.state().partial_scoring_triggered is True  # set by the first, kept


# --- duplicate, orphan, invalid ----------------------------------------------------------------


def test_a_second_delivery_is_a_duplicate_and_changes_nothing():
    world = _held_world()
    first, again = _run(world, _answer(0, "Essay A"), _answer(0, "Essay B"))
    assert first == CallbackOutcome(D.APPLIED, 1, False)
    assert again == CallbackOutcome(D.DUPLICATE, 1, False)
    (duplicate,) = world.events("cj.callback.duplicate")
    key = world.responder.received[0].correlation_id
    assert duplicate.ids == {"cj_batch_id": 1, "correlation_id": key}
    assert dict(duplicate.fields) == {"outcome": "essay_b", "recorded": "essay_a"}
    assert _pair(world, 0).outcome is PairOutcome.ESSAY_A
    state = world.state()
    assert (state.completed_comparisons, state.failed_comparisons) == (1, 0)
    assert _processed(world, "duplicate") == 1
    assert _processed(world, "applied_success") == 1


def _orphan(world: World) -> EventEnvelope:
    req = world.responder.received[0].model_copy(update={"correlation_id": "no-such-pair"})
    return callback_for(req, "Essay A", world.runtime)


def test_a_callback_for_no_pair_is_an_orphan_counted_by_its_source():
    world = _held_world()
    (outcome,) = _run(world, _orphan)
    assert outcome == CallbackOutcome(D.ORPHAN)
    (orphan,) = world.events("cj.callback.orphan")
    assert (dict(orphan.ids), dict(orphan.fields)) == (
        {"correlation_id": "no-such-pair"},
        {"source_service": "llm_provider_service"},
    )
    assert _processed(world, "orphan") == 1
    assert (
        sample_value(
            world.registry, "cj_orphan_callbacks_total", source_service="llm_provider_service"
        )
        == 1
    )
    assert world.events("cj.callback.applied") == []


def test_an_orphan_raises_under_the_legacy_toggle_after_it_is_counted():
    world = _held_world(LEGACY_ORPHAN_CALLBACKS_RAISE=True)
    with pytest.raises(TaskCrashed) as crashed:
        _run(world, _orphan)
    raised = crashed.value.__cause__
    assert isinstance(raised, OrphanCallback)
    assert str(raised) == "no comparison pair has correlation id 'no-such-pair'"
    assert _processed(world, "orphan") == 1


def _envelope(world: World, **changes: Any) -> EventEnvelope:
    fields: dict[str, Any] = {
        "event_id": "x",
        "event_type": "LLMComparisonResultV1",
        "event_timestamp": world.runtime.utcnow(),
        "source_service": "lps",
        "correlation_id": "x",
        "data": {"winner": "Essay C"},
    }
    return EventEnvelope(**{**fields, **changes})


def test_a_message_that_is_not_an_envelope_is_invalid_and_named_in_one_line():
    world = _held_world()
    (outcome,) = _run(world, {"nonsense": 1})
    assert outcome == CallbackOutcome(D.INVALID)
    (invalid,) = world.events("cj.callback.invalid")
    assert dict(invalid.fields) == {"problem": "7 validation errors for EventEnvelope"}
    assert _processed(world, "invalid") == 1


def test_an_envelope_with_a_bad_result_is_invalid():
    world = _held_world()
    (outcome,) = _run(world, _envelope)
    assert outcome == CallbackOutcome(D.INVALID)
    (invalid,) = world.events("cj.callback.invalid")
    assert invalid.fields["problem"].endswith("validation errors for LLMComparisonResultV1")


def test_an_invalid_message_s_problem_is_cut_at_300_characters():
    world = _held_world()
    long_type = "T" * 400
    (outcome,) = _run(world, lambda world: _envelope(world, event_type=long_type))
    assert outcome == CallbackOutcome(D.INVALID)
    (invalid,) = world.events("cj.callback.invalid")
    problem = invalid.fields["problem"]
    assert len(problem) == 300
    assert problem == ("envelope carries '" + long_type)[:300]


# --- late --------------------------------------------------------------------------------------


def _late_world(**settings: Any) -> tuple[World, list]:
    """One pair of a five-pair wave is never answered; the monitor finalises the batch after
    four idle hours; then its callback arrives."""
    world = make_world(MAX_PAIRWISE_COMPARISONS=5, LEGACY_NO_CALLBACK_DEADLINE=True, **settings)
    first: dict[str, str] = {}
    world.responder.hold = lambda req: (
        first.setdefault("id", req.correlation_id) == req.correlation_id
    )
    outcomes: list[CallbackOutcome] = []

    async def main() -> None:
        await world.service.submit_batch(request(10))
        await world.runtime.sleep(5 * 3600)
        outcomes.append(await handle_callback(world.ctx, world.responder.held[0]))

    world.run(main)
    return world, outcomes


def test_a_callback_after_finalisation_is_late_and_not_applied():
    world, (outcome,) = _late_world()
    assert world.state().state is BatchStateEnum.COMPLETED
    assert outcome == CallbackOutcome(D.LATE, 1)
    (late,) = world.events("cj.callback.late")
    key = world.responder.held[0].correlation_id
    assert late.ids == {"cj_batch_id": 1, "correlation_id": key}
    winner = world.responder.held[0].result().winner
    outcome_value = "essay_a" if winner == "Essay A" else "essay_b"
    assert dict(late.fields) == {"outcome": outcome_value, "batch_state": "COMPLETED"}
    assert _processed(world, "late") == 1
    (pair,) = [p for p in world.pairs() if p.correlation_id == key]
    assert pair.outcome is None
    state = world.state()
    assert state.callbacks_received == 4


def test_a_late_callback_is_applied_under_the_legacy_toggle():
    world, (outcome,) = _late_world(LEGACY_APPLY_LATE_CALLBACKS=True)
    assert outcome.disposition is D.APPLIED
    assert world.events("cj.callback.late") == []
    applied = world.events("cj.callback.applied")[-1]
    assert applied.fields["after_finalization"] is True
    assert world.state().callbacks_received == 5


def test_a_one_comparison_budget_starts_partial_scoring_at_its_first_success():
    """Budget 1 at 95%: 1 >= 0.95, the smallest budget that can trigger it."""
    world = _held_world()
    (outcome,) = _run(world, _answer(0, "Essay A"), budget=1)
    assert outcome == CallbackOutcome(D.APPLIED, 1, True)  # the wave of one is complete
    assert world.state().partial_scoring_triggered is True


def test_a_result_with_no_provider_or_model_is_counted_under_unknown():
    world = _held_world()

    def anonymous(world: World) -> EventEnvelope:
        envelope = _answer(0, "Essay A")(world)
        data = {**envelope.data, "provider": "", "model": ""}
        return envelope.model_copy(update={"data": data})

    _run(world, anonymous)
    assert (
        sample_value(
            world.registry,
            "cj_assessment_llm_api_calls_total",
            provider="unknown",
            model="unknown",
            status="success",
        )
        == 1
    )
    assert (_pair(world, 0).provider, _pair(world, 0).model) == ("", "")


def test_partial_scoring_at_1_percent_of_101_needs_a_second_success():
    """1% of 101 is 1.01: one success is just under it."""
    world = _held_world(COMPLETION_THRESHOLD_PCT=1, MAX_PAIRWISE_COMPARISONS=101)
    _run(world, _answer(0, "Essay A"), budget=101)
    assert world.state().total_budget == 101
    assert world.state().partial_scoring_triggered is False
    world = _held_world(COMPLETION_THRESHOLD_PCT=1, MAX_PAIRWISE_COMPARISONS=101)
    _run(world, _answer(0, "Essay A"), _answer(1, "Essay B"), budget=101)
    assert world.state().partial_scoring_triggered is True


def test_two_deliveries_of_one_callback_at_once_apply_it_once():
    """The pair row is read for update: the second delivery waits for the first to commit and
    then finds the result (a store whose statements take 2 ms, so the two overlap)."""
    world = make_world()
    world.responder.hold = lambda req: True
    outcomes: list[CallbackOutcome] = []

    async def deliver(envelope: EventEnvelope) -> None:
        outcomes.append(await handle_callback(world.ctx, envelope))

    async def main() -> None:
        await world.service.submit_batch(request(4, budget=6))
        await world.runtime.sleep(5)
        envelope = _answer(0, "Essay A")(world)
        tasks = [world.runtime.spawn(deliver(envelope), name=f"delivery-{i}") for i in (1, 2)]
        for task in tasks:
            await task.join()
        await world.runtime.sleep(1)

    world.run(main)
    assert sorted(o.disposition for o in outcomes) == [D.APPLIED, D.DUPLICATE]
    state = world.state()
    assert (state.completed_comparisons, state.failed_comparisons) == (1, 0)
    assert len(world.events("cj.callback.applied")) == 1


def test_a_duplicate_under_a_resubmission_s_id_names_that_id():
    """The first request's callback is lost, the pair is resubmitted after its deadline and
    answered under the new id; that answer delivered again is a duplicate naming the id."""
    world = make_world()
    first: dict[str, str] = {}
    world.responder.hold = lambda req: (
        first.setdefault("id", req.correlation_id) == req.correlation_id
    )
    outcomes: list[CallbackOutcome] = []

    async def main() -> None:
        await world.service.submit_batch(request(4))
        await world.runtime.sleep(3600)
        (resubmitted,) = world.events("cj.pair.resubmitted")
        new_id = resubmitted.fields["new_correlation_id"]
        (again,) = [e for e in world.responder.published if e.correlation_id == new_id]
        outcomes.append(await handle_callback(world.ctx, again))

    world.run(main)
    (resubmitted,) = world.events("cj.pair.resubmitted")
    assert outcomes == [CallbackOutcome(D.DUPLICATE, 1)]
    (duplicate,) = world.events("cj.callback.duplicate")
    assert duplicate.ids == {"cj_batch_id": 1, "correlation_id": first["id"]}
    assert duplicate.fields["callback_correlation_id"] == resubmitted.fields["new_correlation_id"]
    assert "superseded" not in duplicate.fields
