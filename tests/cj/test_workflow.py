"""The CJ workflow end to end on SimRuntime: waves, positions, counters, completion, callbacks."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cj.callbacks import OrphanCallback
from engine.cj.grade_scales import scale_named
from engine.cj.models import Essay
from engine.cj.position_report import position_balance
from engine.cj.states import BatchStateEnum, UploadStatus
from engine.cj.workflow import continue_batch
from engine.contracts import EventEnvelope
from engine.metrics_export import sample_value
from engine.ports import TaskCrashed
from tests.cj.world import (
    callback_for,
    eng5_strengths,
    make_world,
    request,
    strength_judge,
)
from tests.strategies import callback_histories


def _eng5_world(**settings):
    world = make_world(MAX_PAIRWISE_COMPARISONS=288, **settings)
    world.responder.judge = strength_judge(eng5_strengths(), world.ctx.streams)
    return world


def _balance(world, batch=1):
    essays = {
        e.essay_id: e.is_anchor for e in world.store.snapshot(Essay) if e.cj_batch_id == batch
    }
    return position_balance([(p.essay_a_id, p.essay_b_id) for p in world.pairs(batch)], essays)


def _assert_never_over_100(world):
    assert world.max_completion_pct() <= 100.0


def test_an_eng5_regular_batch_completes_with_balanced_positions():
    world = _eng5_world()
    batch = world.run_batch(request(12, anchors=True, budget=288))
    state, upload = world.state(batch), world.upload(batch)
    assert state.state is BatchStateEnum.COMPLETED
    assert upload.status is UploadStatus.COMPLETE_MAX_COMPARISONS  # all C(24, 2) = 276 pairs
    assert upload.completed_at is not None
    balance = _balance(world, batch)
    skews = {essay: balance.skew(essay) for essay in balance.per_essay}
    # within the fair complement's 0.2: no essay more than one off even in its 23 comparisons
    assert max(skews.values()) == pytest.approx(1 / 23), skews
    assert balance.anchors.a_share == pytest.approx(139 / 276)  # of the anchors' 276 places
    _assert_never_over_100(world)


def test_without_position_balancing_anchors_sit_in_position_a():
    world = _eng5_world(ENABLE_COMPARISON_POSITION_BALANCING=False)
    batch = world.run_batch(request(12, anchors=True, budget=288))
    balance = _balance(world, batch)
    # A against every one of the 144 students, and once in each of the 66 anchor pairs
    assert (balance.anchors.a_count, balance.anchors.b_count) == (144 + 66, 66)
    assert balance.max_abs_skew == 1.0  # an anchor in A in all 23 of its comparisons
    # and the diagnostic says so in words a person can read
    text = balance.format([e for e in balance.per_essay if e.startswith("ANCHOR_")])
    assert "anchors: 12 essays" in text
    assert "share in A" in text


def test_pairs_are_never_repeated_and_never_exceed_the_budget():
    world = _eng5_world()
    batch = world.run_batch(request(12, anchors=True, budget=100))
    pairs = world.pairs(batch)
    keys = [p.pair_key for p in pairs]
    assert len(keys) == len(set(keys))
    assert len(pairs) == 100  # the whole budget, and not one pair over it
    assert world.state(batch).submitted_comparisons == len(pairs)


def test_each_essay_appears_at_most_once_per_wave():
    world = _eng5_world()
    batch = world.run_batch(request(12, anchors=True, budget=288))
    by_wave = {}
    for pair in world.pairs(batch):
        by_wave.setdefault(pair.iteration, []).extend([pair.essay_a_id, pair.essay_b_id])
    for essays in by_wave.values():
        assert len(essays) == len(set(essays))


def _concurrent_callbacks(**settings):
    """128 students and a budget of 64: one wave of 64 pairs, all answered at the same virtual
    instant and handled by 64 concurrent consumers."""
    world = make_world(
        CJ_CALLBACK_CONCURRENCY=64, store_latency_s=0.005, MAX_PAIRWISE_COMPARISONS=64, **settings
    )
    world.run_batch(request(128), settle_s=60)
    return world


def test_sixty_four_concurrent_callbacks_keep_exact_counters_with_the_row_lock():
    world = _concurrent_callbacks()
    applied = world.events("cj.callback.applied")
    assert len(applied) == 64
    assert len({r.t for r in applied}) == 64  # they really did queue on the lock, one by one
    completed, failed = world.store_counts()
    state = world.state()
    assert (state.completed_comparisons, state.failed_comparisons) == (completed, failed)
    assert completed + failed == 64
    assert state.state is BatchStateEnum.COMPLETED


def test_without_the_row_lock_concurrent_callbacks_lose_updates():
    world = _concurrent_callbacks(LEGACY_COUNTERS_WITHOUT_LOCK=True)
    completed, _ = world.store_counts()
    state = world.state()
    assert completed == 64  # every pair has its result...
    assert state.completed_comparisons == 1  # ...but the counters lost all but one of them
    assert state.state is BatchStateEnum.WAITING_CALLBACKS  # so the wave never completes


def test_completion_ends_at_exactly_100_percent_with_resampling():
    world = _eng5_world(MAX_RESAMPLING_PASSES_FOR_REGULAR_NET=1)
    batch = world.run_batch(request(12, anchors=True, budget=288))
    state = world.state(batch)
    assert state.state is BatchStateEnum.COMPLETED
    modes = Counter(p.generation_mode.value for p in world.pairs(batch))
    assert modes == {"coverage": 276, "resampling": 12}  # every pair, then one resampling pass
    _assert_never_over_100(world)


def test_the_legacy_denominator_reports_completion_above_100_percent():
    world = _eng5_world(
        MAX_RESAMPLING_PASSES_FOR_REGULAR_NET=1,
        LEGACY_COMPLETION_DENOMINATOR=True,
        SCORE_STABILITY_THRESHOLD=1e-9,
    )  # never "stable": spend the budget
    batch = world.run_batch(request(12, anchors=True, budget=288))
    assert world.state(batch).submitted_comparisons == 288
    assert world.max_completion_pct() == 104.347826  # 288 of 276, on the logged grid
    assert sample_value(
        world.registry, "cj_batch_progress_percentage", cj_batch_id=str(batch)
    ) == pytest.approx(100 * 288 / 276)


def test_a_four_essay_batch_finalises_as_soon_as_its_six_callbacks_are_in():
    world = make_world()
    batch = world.run_batch(request(4))
    state = world.state(batch)
    assert state.state is BatchStateEnum.COMPLETED
    assert state.submitted_comparisons == 6
    assert world.max_completion_pct() == 100.0
    last_callback = world.events("cj.callback.applied")[-1]
    finalized = world.events("cj.batch.finalized")[-1]
    assert finalized.t - last_callback.t == pytest.approx(0.03)  # three store round trips
    assert finalized.fields["status"] == "COMPLETE_MAX_COMPARISONS"


def test_orphan_duplicate_and_late_callbacks_are_counted_logged_and_harmless():
    # One callback of the only wave (5 pairs) is held back: the wave cannot complete, the
    # monitor recovers the batch after four idle hours (4 of 5 in: 80%), and the held callback
    # then arrives late.
    world = make_world(MAX_PAIRWISE_COMPARISONS=5, LEGACY_NO_CALLBACK_DEADLINE=True)
    first = {}

    def hold(req):
        first.setdefault("id", req.correlation_id)
        return req.correlation_id == first["id"]

    world.responder.hold = hold

    async def main():
        batch = await world.service.submit_batch(request(10))
        await world.runtime.sleep(60)
        duplicate = world.responder.published[0]
        await world.bus.publish(world.ctx.settings.CJ_CALLBACK_TOPIC, duplicate)
        orphan_request = world.responder.received[1].model_copy(
            update={"correlation_id": "no-such-pair"}
        )
        orphan = callback_for(orphan_request, "Essay A", world.runtime)
        await world.bus.publish(world.ctx.settings.CJ_CALLBACK_TOPIC, orphan)
        await world.runtime.sleep(5 * 3600)  # the monitor recovers the stuck batch
        await world.bus.publish(world.ctx.settings.CJ_CALLBACK_TOPIC, world.responder.held[0])
        await world.runtime.sleep(60)
        return batch

    batch = world.run(main)
    state = world.state(batch)
    assert world.upload(batch).status is UploadStatus.COMPLETE_FORCED_RECOVERY
    assert (state.completed_comparisons, state.failed_comparisons) == world.store_counts(batch)
    assert [
        len(world.events(k))
        for k in ("cj.callback.duplicate", "cj.callback.orphan", "cj.callback.late")
    ] == [1, 1, 1]
    registry = world.registry
    assert (
        sample_value(registry, "cj_orphan_callbacks_total", source_service="llm_provider_service")
        == 1
    )
    for status in ("duplicate", "orphan", "late"):
        assert sample_value(registry, "cj_callbacks_processed_total", status=status) == 1
    finalized_at = world.events("cj.batch.finalized")[0].t
    assert all(r.t < finalized_at for r in world.events("cj.callback.applied"))


@settings(max_examples=40, deadline=None)
@given(
    # waits around the 900 s callback deadline and the 4 h stuck threshold
    history=callback_histories(5, waits_s=[1.0, 600.0, 1200.0, 3600.0, 5 * 3600.0], steps_max=15),
    legacy_no_deadline=st.booleans(),
)
def test_any_callback_history_is_classified_once_and_applies_each_pair_at_most_once(
    history, legacy_no_deadline
):
    """The one wave's five answers are held; the drawn history delivers them (some twice, some
    never), sends orphans, and lets time pass across the callback deadline and the stuck-batch
    threshold (or, under LEGACY_NO_CALLBACK_DEADLINE, without a deadline, so that answers to a
    recovered batch come late). Whatever the order: each callback is classified exactly once
    (applied, duplicate, late or orphan), no pair is applied twice, the counters match the rows,
    and the batch ends finalised once."""
    world = make_world(MAX_PAIRWISE_COMPARISONS=5, LEGACY_NO_CALLBACK_DEADLINE=legacy_no_deadline)
    world.responder.hold = lambda req: True
    topic = world.ctx.settings.CJ_CALLBACK_TOPIC

    async def main():
        batch = await world.service.submit_batch(request(10))
        await world.runtime.sleep(10)  # the wave is out and its five answers are held
        first_wave = list(world.responder.held[:5])
        for kind, value in history:
            if kind == "deliver":
                await world.bus.publish(topic, first_wave[value])
            elif kind == "orphan":
                stray = world.responder.received[value].model_copy(
                    update={"correlation_id": f"no-such-pair-{value}"}
                )
                await world.bus.publish(topic, callback_for(stray, "Essay A", world.runtime))
            else:
                await world.runtime.sleep(value)
        await world.runtime.sleep(12 * 3600)  # deadlines, resubmissions and the monitor settle
        return batch

    batch = world.run(main)
    sent = sum(kind in ("deliver", "orphan") for kind, _ in history)
    kinds = ("applied", "duplicate", "late", "orphan")
    classified = {kind: world.events(f"cj.callback.{kind}") for kind in kinds}
    # a pair whose deadline passed (after its resubmissions) is applied as an error, too
    by_deadline = len(world.events("cj.pair.deadline_failed"))
    assert sum(len(records) for records in classified.values()) == sent + by_deadline
    assert len(classified["orphan"]) == sum(kind == "orphan" for kind, _ in history)
    applied_pairs = [r.ids["correlation_id"] for r in classified["applied"]]
    assert len(applied_pairs) == len(set(applied_pairs))
    state = world.state(batch)
    assert (state.completed_comparisons, state.failed_comparisons) == world.store_counts(batch)
    assert state.state.terminal
    (finalized,) = world.events("cj.batch.finalized")
    assert all(r.t <= finalized.t for r in classified["applied"])


def test_a_late_callback_is_applied_under_the_legacy_toggle():
    world = make_world(
        MAX_PAIRWISE_COMPARISONS=5,
        LEGACY_APPLY_LATE_CALLBACKS=True,
        LEGACY_NO_CALLBACK_DEADLINE=True,
    )
    held = {}
    world.responder.hold = lambda req: (
        held.setdefault("id", req.correlation_id) == req.correlation_id
    )

    async def main():
        batch = await world.service.submit_batch(request(10))
        await world.runtime.sleep(5 * 3600)
        await world.bus.publish(world.ctx.settings.CJ_CALLBACK_TOPIC, world.responder.held[0])
        await world.runtime.sleep(60)
        return batch

    world.run(main)
    applied_late = [
        r for r in world.events("cj.callback.applied") if r.fields["after_finalization"]
    ]
    assert len(applied_late) == 1


def test_an_orphan_raises_into_the_consumer_under_the_legacy_toggle():
    world = make_world(LEGACY_ORPHAN_CALLBACKS_RAISE=True)

    async def main():
        await world.service.submit_batch(request(4))
        orphan_request = world.responder.received[0].model_copy(
            update={"correlation_id": "no-such-pair"}
        )
        await world.bus.publish(
            world.ctx.settings.CJ_CALLBACK_TOPIC,
            callback_for(orphan_request, "Essay A", world.runtime),
        )
        await world.runtime.sleep(60)

    with pytest.raises(TaskCrashed, match="no-such-pair") as caught:
        world.run(main)
    assert isinstance(caught.value.__cause__, OrphanCallback)


def test_a_malformed_callback_is_counted_as_invalid_not_raised():
    world = make_world()

    async def main():
        await world.service.submit_batch(request(4))
        bad = EventEnvelope(
            event_id="x",
            event_type="LLMComparisonResultV1",
            event_timestamp=world.runtime.utcnow(),
            source_service="lps",
            correlation_id="x",
            data={"winner": "Essay C"},
        )
        await world.bus.publish(world.ctx.settings.CJ_CALLBACK_TOPIC, bad)
        await world.runtime.sleep(60)

    world.run(main)
    assert sample_value(world.registry, "cj_callbacks_processed_total", status="invalid") == 1
    assert world.state().state is BatchStateEnum.COMPLETED


def test_a_batch_whose_comparisons_all_fail_finalises_as_a_failure():
    world = make_world(judge=lambda req: None)
    batch = world.run_batch(request(4))
    state, upload = world.state(batch), world.upload(batch)
    assert state.state is BatchStateEnum.FAILED
    assert upload.status is UploadStatus.ERROR_PROCESSING
    assert upload.completed_at is not None
    assert state.processing_metadata["failed_reason"]["reason"] == "low_success_rate"
    assert world.bus.published[world.ctx.settings.CJ_FAILED_TOPIC] == 1


def test_fewer_than_two_students_take_the_single_essay_path():
    world = make_world()
    batch = world.run_batch(request(1, anchors=True))
    assert world.upload(batch).status is UploadStatus.COMPLETE_INSUFFICIENT_ESSAYS
    assert world.upload(batch).completed_at is not None
    assert world.state(batch).submitted_comparisons == 0
    assert world.responder.received == []
    (finalized,) = world.events("cj.batch.finalized")
    assert finalized.fields["reason"] == "insufficient_essays"
    assert [finalized.fields[k] for k in ("iterations", "submitted", "completed", "failed")] == [
        0,
        0,
        0,
        0,
    ]


def test_a_stuck_batch_with_little_progress_fails_at_the_monitor():
    world = make_world(LEGACY_NO_CALLBACK_DEADLINE=True)  # the watchdog would save it
    world.responder.hold = lambda req: True  # no callback ever arrives
    batch = world.run_batch(request(6), settle_s=5 * 3600)
    state = world.state(batch)
    assert state.state is BatchStateEnum.FAILED
    assert state.processing_metadata["failed_reason"]["reason"] == (
        "stuck_timeout_insufficient_progress"
    )
    assert sample_value(world.registry, "cj_stuck_batches_failed_total") == 1


def test_continuation_waits_rather_than_finalise_over_callbacks_in_flight():
    world = make_world()
    world.responder.hold = lambda req: True

    async def main():
        batch = await world.service.submit_batch(request(4))
        await world.runtime.sleep(10)
        return await continue_batch(world.ctx, batch)

    assert world.run(main).value == "WAIT_FOR_CALLBACKS"
    assert world.state().state is BatchStateEnum.WAITING_CALLBACKS
    assert world.events("cj.batch.finalized") == []


# The seeded ENG5 run's projection of each student: (rank among all 24 essays, grade, label).
STUDENT_GRADES = {
    "student-000": (24, "F+", "LOW"),
    "student-001": (15, "D+", "LOW"),
    "student-002": (22, "E-", "LOW"),
    "student-003": (16, "D+", "LOW"),
    "student-004": (14, "C-", "LOW"),
    "student-005": (11, "C-", "LOW"),
    "student-006": (19, "D+", "LOW"),
    "student-007": (13, "C-", "LOW"),
    "student-008": (10, "C+", "LOW"),
    "student-009": (9, "C+", "LOW"),
    "student-010": (7, "B", "LOW"),
    "student-011": (3, "A", "MID"),
}
# Each anchor's (own grade, projected grade). Scripted strengths separate the nine neighbouring
# grades only loosely (E+ and D+ anchors can tie): five anchors come back a grade or two up.
ANCHOR_GRADES = {
    "a00": ("F+", "F+"),
    "a01": ("F+", "E+"),
    "a02": ("E-", "D-"),
    "a03": ("E+", "D+"),
    "a04": ("D-", "C-"),
    "a05": ("D+", "D+"),
    "a06": ("C-", "C+"),
    "a07": ("C+", "B"),
    "a08": ("B", "B"),
    "a09": ("B", "A"),
    "a10": ("A", "A"),
    "a11": ("A", "A"),
}


def test_finished_batches_publish_rankings_and_grades():
    world = _eng5_world()
    batch = world.run_batch(request(12, anchors=True, budget=288))
    essays = [e for e in world.store.snapshot(Essay) if e.cj_batch_id == batch]
    assert sorted(e.rank for e in essays) == list(range(1, 25))
    students = {
        e.essay_id: (e.rank, e.grade, e.confidence_label) for e in essays if not e.is_anchor
    }
    assert students == STUDENT_GRADES
    anchors = [e for e in essays if e.is_anchor]
    assert {e.anchor_ref_id: (e.known_grade, e.grade) for e in anchors} == ANCHOR_GRADES
    # the projected grades never run against the ranking
    grades = scale_named(world.upload(batch).grade_scale).grades
    by_rank = sorted(essays, key=lambda e: e.rank)
    projected = [grades.index(e.grade) for e in by_rank]
    assert projected == sorted(projected, reverse=True), [e.grade for e in by_rank]
    assert world.bus.published[world.ctx.settings.CJ_COMPLETED_TOPIC] == 1
    assert world.bus.published[world.ctx.settings.CJ_RESULT_TOPIC] == 1


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    def fingerprint(seed):
        world = make_world(seed=seed, MAX_PAIRWISE_COMPARISONS=288)
        world.responder.judge = strength_judge(eng5_strengths(), world.ctx.streams)
        world.run_batch(request(12, anchors=True, budget=288))
        return world.log.fingerprint()

    assert fingerprint(3) == fingerprint(3)
    assert fingerprint(3) != fingerprint(4)
