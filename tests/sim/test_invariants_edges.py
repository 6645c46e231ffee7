"""Each invariant checker on a minimal hand-built event log or end-of-run snapshot (issue 18):
every rule held at its edge and broken just past it, with the exact detail a report prints and
the first event that broke it. (tests/sim/test_invariants.py breaks each rule under its legacy
toggle in a whole simulated run.)"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.cj.models import BatchState, ComparisonPair, Essay, GenerationMode, PairOutcome
from engine.cj.states import BatchStateEnum
from engine.eventlog import MemoryEventLog
from engine.lps.queue import QueueItem, QueueStatus
from sim.harness.invariants import InvariantMonitor, InvariantResult, Snapshot
from sim.harness.liveness import LivenessBounds
from sim.harness.scenario import RunSpec
from tests.lps.harness import comparison_request

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STREAMING_OK = {
    "no_callbacks_applied_after_finalization": "none",
    "no_lost_counter_updates": "every applied callback moved its counters by one",
}


class Log:
    """A real event log on a hand-set clock, with a monitor listening to it."""

    def __init__(self, monitor: InvariantMonitor | None = None) -> None:
        self.t = 0.0
        self.log = MemoryEventLog(lambda: self.t)
        self.monitor = monitor or InvariantMonitor()
        self.log.add_listener(self.monitor.observe)

    def at(self, t: float, kind: str, ids: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Append one event at ``t``; how a report names it."""
        self.t = t
        record = self.log.append(kind, ids=ids, **fields)
        return {"seq": record.seq, "t": t, "kind": kind, "ids": ids}

    def applied(
        self,
        completed: int,
        failed: int = 0,
        *,
        batch: int = 1,
        pct: float = 50.0,
        t: float = 0.0,
        correlation_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        cid = correlation_id or f"c{len(self.log)}"
        return self.at(
            t,
            "cj.callback.applied",
            {"cj_batch_id": batch, "correlation_id": cid},
            completed=completed,
            failed=failed,
            completion_pct=pct,
            **fields,
        )

    def results(self, snapshot: Snapshot | None = None) -> dict[str, InvariantResult]:
        return self.monitor.results(snapshot or snap())


def snap(
    *,
    states: Iterable[BatchState] = (),
    pairs: Iterable[ComparisonPair] = (),
    essays: Iterable[Essay] | None = None,
    queue_items: Iterable[QueueItem] = (),
    open_queue_items: int = 0,
    skew_limit: float = 0.2,
    skew_min_comparisons: int = 10,
    end_t: float = 0.0,
) -> Snapshot:
    pairs = tuple(pairs)
    if essays is None:  # every essay of the pairs, in its batch
        ids = {(p.cj_batch_id, e) for p in pairs for e in (p.essay_a_id, p.essay_b_id)}
        essays = [essay(e, batch=b) for b, e in sorted(ids)]
    return Snapshot(
        states=tuple(states),
        pairs=pairs,
        essays=tuple(essays),
        queue_items=tuple(queue_items),
        open_queue_items=open_queue_items,
        skew_limit=skew_limit,
        skew_min_comparisons=skew_min_comparisons,
        end_t=end_t,
    )


def state(
    batch: int,
    status: BatchStateEnum = BatchStateEnum.COMPLETED,
    completed: int = 0,
    failed: int = 0,
) -> BatchState:
    return BatchState(
        cj_batch_id=batch,
        state=status,
        completed_comparisons=completed,
        failed_comparisons=failed,
    )


_pair_ids = iter(range(1_000_000))


def pair(
    a: str, b: str, outcome: PairOutcome | None = PairOutcome.ESSAY_A, *, batch: int = 1
) -> ComparisonPair:
    return ComparisonPair(
        correlation_id=f"p{next(_pair_ids)}",
        cj_batch_id=batch,
        essay_a_id=a,
        essay_b_id=b,
        iteration=1,
        generation_mode=GenerationMode.COVERAGE,
        submitted_at=AT,
        outcome=outcome,
    )


def essay(essay_id: str, *, batch: int = 1, anchor: bool = False) -> Essay:
    return Essay(
        essay_key=Essay.key(batch, essay_id),
        cj_batch_id=batch,
        essay_id=essay_id,
        is_anchor=anchor,
        text="",
    )


def item(queue_id: str, status: QueueStatus) -> QueueItem:
    return QueueItem(
        queue_id=queue_id,
        correlation_id=f"corr-{queue_id}",
        callback_topic="cj.llm_callbacks",
        provider="anthropic",
        request=comparison_request(f"corr-{queue_id}"),
        queued_at=AT,
        ttl_s=3600.0,
        status=status,
    )


def broken(results: dict[str, InvariantResult]) -> dict[str, str]:
    return {name: r.detail for name, r in results.items() if not r.ok}


# ---- a clean run -------------------------------------------------------------------------


def test_an_empty_run_holds_every_rule_with_these_exact_details_in_name_order():
    results = Log().results()
    assert list(results) == sorted(results)
    assert results == {
        name: InvariantResult(name, True, detail)
        for name, detail in {
            "batches_terminal": "0 batches finished",
            "completion_never_exceeds_100": "highest completion reported: 0.00%",
            "counters_match_store": "counters equal the store's counts",
            "no_callbacks_applied_after_finalization": "none",
            "no_lost_counter_updates": "every applied callback moved its counters by one",
            "one_callback_per_queue_item": "0 callbacks for 0 items",
            "position_skew_within_limit": (
                "largest |A-B|/(A+B) 0.000 (none) against a limit of 0.2 for essays with "
                ">= 10 comparisons"
            ),
            "queue_drained": "0 queue items still queued or processing",
        }.items()
    }


def test_a_result_as_a_dict_is_its_verdict_detail_and_first_event():
    event = {"seq": 3, "t": 1.5, "kind": "cj.callback.applied", "ids": {"cj_batch_id": 1}}
    assert InvariantResult("x", False, "why", event).as_dict() == {
        "ok": False,
        "detail": "why",
        "first_event": event,
    }
    assert InvariantResult("x", True, "fine").as_dict() == {
        "ok": True,
        "detail": "fine",
        "first_event": None,
    }


# ---- completion_never_exceeds_100 --------------------------------------------------------


def test_completion_of_exactly_100_percent_holds():
    log = Log()
    log.applied(1, pct=100.0)
    result = log.results()["completion_never_exceeds_100"]
    assert result == InvariantResult(
        "completion_never_exceeds_100", True, "highest completion reported: 100.00%"
    )


def test_completion_just_over_100_percent_breaks_at_its_event():
    log = Log()
    log.applied(1, pct=60.0, t=1.0)
    event = log.applied(2, pct=100.01, t=2.0, batch=1)
    log.applied(3, pct=150.0, t=3.0)  # a later, worse one is not the first
    result = log.results()["completion_never_exceeds_100"]
    assert result == InvariantResult(
        "completion_never_exceeds_100", False, "batch 1 reported 100.01% complete", event
    )


def test_the_highest_completion_is_reported_not_the_last():
    log = Log()
    log.applied(1, pct=40.0)
    log.applied(2, pct=30.5)
    assert log.results()["completion_never_exceeds_100"].detail == (
        "highest completion reported: 40.00%"
    )


# ---- no_callbacks_applied_after_finalization ---------------------------------------------


@pytest.mark.parametrize("flag", [None, False, 0])
def test_a_callback_not_marked_after_finalization_holds(flag):
    log = Log()
    if flag is None:
        log.applied(1)
    else:
        log.applied(1, after_finalization=flag)
    assert log.results()["no_callbacks_applied_after_finalization"].ok
    assert log.monitor.applied_after_finalization == 0


def test_one_callback_after_finalization_breaks_at_its_event_and_each_is_counted():
    log = Log()
    log.applied(1, t=1.0, batch=4)
    event = log.applied(2, t=2.0, batch=4, after_finalization=True)
    log.applied(3, t=3.0, batch=4, after_finalization=True)
    assert log.results()["no_callbacks_applied_after_finalization"] == InvariantResult(
        "no_callbacks_applied_after_finalization",
        False,
        "batch 4 counted a callback after it was finalised",
        event,
    )
    assert log.monitor.applied_after_finalization == 2


# ---- no_lost_counter_updates -------------------------------------------------------------


@pytest.mark.parametrize(("completed", "failed"), [(1, 0), (0, 1)])
def test_a_first_callback_moving_the_counters_to_one_holds(completed, failed):
    log = Log()
    log.applied(completed, failed)
    assert log.results()["no_lost_counter_updates"].ok


def test_callbacks_counting_one_each_across_completed_and_failed_hold():
    log = Log()
    log.applied(1, 0)
    log.applied(1, 1)
    log.applied(2, 1)
    log.applied(1, 0, batch=2)  # each batch counts on its own
    log.applied(2, 0, batch=2)
    assert broken(log.results()) == {}


@pytest.mark.parametrize(
    ("second", "moved_to"),
    [((1, 0), 1), ((3, 0), 3), ((2, 1), 3), ((0, 0), 0)],
    ids=["repeated", "skipped one", "skipped one by a failure", "went back"],
)
def test_a_callback_that_does_not_move_the_counters_by_exactly_one_breaks(second, moved_to):
    log = Log()
    log.applied(1, 0, t=1.0, batch=7)
    event = log.applied(*second, t=2.0, batch=7)
    assert log.results()["no_lost_counter_updates"] == InvariantResult(
        "no_lost_counter_updates",
        False,
        f"batch 7: an applied callback moved the counters to {moved_to} where the previous "
        "one left 1",
        event,
    )


def test_a_first_callback_of_two_breaks():
    log = Log()
    event = log.applied(2, 0, batch=3)
    assert log.results()["no_lost_counter_updates"] == InvariantResult(
        "no_lost_counter_updates",
        False,
        "batch 3: an applied callback moved the counters to 2 where the previous one left 0",
        event,
    )


def test_a_first_callback_that_moves_nothing_leaves_the_count_at_zero():
    log = Log()
    log.applied(0, 0)
    assert not log.results()["no_lost_counter_updates"].ok
    assert log.monitor.last_callbacks == {1: 0}


def test_a_stale_callback_leaves_the_count_where_the_highest_one_left_it():
    log = Log()
    log.applied(1, 0)
    log.applied(2, 0)
    log.applied(1, 0)  # stale: breaks
    assert log.monitor.last_callbacks == {1: 2}


def test_a_resumed_batch_counts_on_from_the_completed_and_failed_counters_it_holds():
    log = Log()
    log.at(0.0, "cj.batch.resumed", {"cj_batch_id": 5}, completed=3, failed=2)
    log.applied(4, 2, batch=5)
    assert log.results()["no_lost_counter_updates"].ok
    resumed = Log()
    resumed.applied(1, 0, batch=5)
    resumed.at(1.0, "cj.batch.resumed", {"cj_batch_id": 5}, completed=3, failed=2)
    event = resumed.applied(5, 2, batch=5, t=2.0)
    assert resumed.results()["no_lost_counter_updates"] == InvariantResult(
        "no_lost_counter_updates",
        False,
        "batch 5: an applied callback moved the counters to 7 where the previous one left 5",
        event,
    )


# ---- one_callback_per_queue_item ---------------------------------------------------------


def published(log: Log, queue_id: str, t: float = 0.0) -> dict[str, Any]:
    return log.at(t, "lps.callback.published", {"queue_id": queue_id})


def test_one_callback_for_each_finished_item_holds_and_is_counted():
    log = Log()
    published(log, "q-1")
    published(log, "q-2")
    published(log, "q-3")
    items = [
        item("q-1", QueueStatus.COMPLETED),
        item("q-2", QueueStatus.FAILED),
        item("q-3", QueueStatus.EXPIRED),
        item("q-4", QueueStatus.QUEUED),  # not finished: no callback yet is right
        item("q-5", QueueStatus.PROCESSING),
    ]
    assert log.results(snap(queue_items=items))["one_callback_per_queue_item"] == (
        InvariantResult("one_callback_per_queue_item", True, "3 callbacks for 3 items")
    )


@pytest.mark.parametrize("status", [QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.EXPIRED])
def test_a_finished_item_without_a_callback_breaks(status):
    log = Log()
    published(log, "q-1")
    items = [item("q-1", QueueStatus.COMPLETED), item("q-2", status), item("q-3", status)]
    assert log.results(snap(queue_items=items))["one_callback_per_queue_item"] == (
        InvariantResult(
            "one_callback_per_queue_item",
            False,
            "2 finished queue items without exactly one callback, first q-2",
        )
    )


def test_a_second_callback_for_an_item_breaks_at_its_event():
    log = Log()
    published(log, "q-1", t=1.0)
    published(log, "q-2", t=2.0)
    event = published(log, "q-1", t=3.0)
    published(log, "q-1", t=4.0)
    assert log.results()["one_callback_per_queue_item"] == InvariantResult(
        "one_callback_per_queue_item", False, "queue item q-1 got a second callback", event
    )


# ---- counters_match_store ----------------------------------------------------------------


def test_counters_equal_to_the_stores_outcomes_hold():
    pairs = [
        pair("a", "b", PairOutcome.ESSAY_A),
        pair("a", "b", PairOutcome.ESSAY_B),
        pair("a", "b", PairOutcome.ERROR),
        pair("a", "b", None),  # awaited: counts nowhere
        pair("a", "b", PairOutcome.ESSAY_A, batch=2),
    ]
    states = [state(1, completed=2, failed=1), state(2, completed=1)]
    assert Log().results(snap(states=states, pairs=pairs))["counters_match_store"] == (
        InvariantResult("counters_match_store", True, "counters equal the store's counts")
    )


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (PairOutcome.ESSAY_A, "1/0"),
        (PairOutcome.ESSAY_B, "1/0"),
        (PairOutcome.ERROR, "0/1"),
        (None, "0/0"),
    ],
)
def test_each_outcome_is_counted_where_it_belongs(outcome, counted):
    states = [state(1, completed=5, failed=5)]
    results = Log().results(snap(states=states, pairs=[pair("a", "b", outcome)]))
    assert results["counters_match_store"] == InvariantResult(
        "counters_match_store", False, f"batch 1: counters 5/5, store {counted}"
    )


def test_every_batch_whose_counters_differ_by_one_is_listed():
    states = [state(1, completed=2), state(2, completed=1), state(3, failed=1)]
    pairs = [
        pair("a", "b", PairOutcome.ESSAY_A),
        pair("a", "b", PairOutcome.ESSAY_B, batch=2),
        pair("a", "b", PairOutcome.ERROR, batch=3),
        pair("a", "b", PairOutcome.ERROR, batch=3),
    ]
    results = Log().results(snap(states=states, pairs=pairs))
    assert results["counters_match_store"] == InvariantResult(
        "counters_match_store",
        False,
        "batch 1: counters 2/0, store 1/0; batch 3: counters 0/1, store 0/2",
    )


# ---- queue_drained -----------------------------------------------------------------------


@pytest.mark.parametrize(("open_items", "ok"), [(0, True), (1, False), (2, False)])
def test_the_queue_is_drained_only_with_no_open_item(open_items, ok):
    result = Log().results(snap(open_queue_items=open_items))["queue_drained"]
    assert result == InvariantResult(
        "queue_drained", ok, f"{open_items} queue items still queued or processing"
    )


# ---- batches_terminal --------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [BatchStateEnum.COMPLETED, BatchStateEnum.FAILED, BatchStateEnum.CANCELLED]
)
def test_one_finished_batch_in_any_terminal_state_holds(status):
    result = Log().results(snap(states=[state(1, status)]))["batches_terminal"]
    assert result == InvariantResult("batches_terminal", True, "1 batch finished")


def test_two_finished_batches_hold():
    states = [state(1), state(2, BatchStateEnum.FAILED)]
    result = Log().results(snap(states=states))["batches_terminal"]
    assert result == InvariantResult("batches_terminal", True, "2 batches finished")


def test_every_batch_not_finished_is_listed_with_its_state():
    states = [
        state(1, BatchStateEnum.INITIALIZING),
        state(2),
        state(3, BatchStateEnum.GENERATING_PAIRS),
        state(4, BatchStateEnum.WAITING_CALLBACKS),
        state(5, BatchStateEnum.SCORING),
    ]
    result = Log().results(snap(states=states))["batches_terminal"]
    assert result == InvariantResult(
        "batches_terminal",
        False,
        "batches not finished: 1 (INITIALIZING), 3 (GENERATING_PAIRS), 4 (WAITING_CALLBACKS), "
        "5 (SCORING)",
    )


# ---- position_skew_within_limit ----------------------------------------------------------


def shown(essay_id: str, first: int, second: int, *, batch: int = 1) -> list[ComparisonPair]:
    """``essay_id`` shown first ``first`` times and second ``second`` times, each time against
    a new opponent (compared once, so below any minimum of 2)."""
    return [pair(essay_id, f"{essay_id}-o{i}", batch=batch) for i in range(first)] + [
        pair(f"{essay_id}-p{i}", essay_id, batch=batch) for i in range(second)
    ]


def skew_world(
    counts: dict[str, tuple[int, int]], *, limit: float, minimum: int, batch: int = 1
) -> Snapshot:
    pairs = [p for e, (a, b) in counts.items() for p in shown(e, a, b, batch=batch)]
    ids = {p.essay_a_id for p in pairs} | {p.essay_b_id for p in pairs}
    essays = [essay(e, batch=batch) for e in sorted(ids, key=lambda e: (e not in counts, e))]
    return snap(pairs=pairs, essays=essays, skew_limit=limit, skew_min_comparisons=minimum)


@pytest.mark.parametrize(
    ("limit", "ok"), [(0.25, True), (0.2499, False), (0.2501, True)], ids=["at", "below", "above"]
)
def test_the_skew_limit_holds_at_its_value_and_breaks_just_below_it(limit, ok):
    world = skew_world({"e1": (5, 3)}, limit=limit, minimum=8)  # |5-3|/8 = 0.25
    assert Log().results(world)["position_skew_within_limit"] == InvariantResult(
        "position_skew_within_limit",
        ok,
        f"largest |A-B|/(A+B) 0.250 (e1) against a limit of {limit} for essays with >= 8 "
        "comparisons",
    )


@pytest.mark.parametrize(
    ("minimum", "judged"), [(3, True), (4, True), (5, False)], ids=["below", "at", "above"]
)
def test_only_essays_with_at_least_the_minimum_comparisons_are_judged(minimum, judged):
    world = skew_world({"e1": (4, 0)}, limit=0.5, minimum=minimum)  # skew 1.0 over 4
    result = Log().results(world)["position_skew_within_limit"]
    worst = "1.000 (e1)" if judged else "0.000 (none)"
    assert result == InvariantResult(
        "position_skew_within_limit",
        not judged,
        f"largest |A-B|/(A+B) {worst} against a limit of 0.5 for essays with >= {minimum} "
        "comparisons",
    )


def test_the_first_essay_with_the_largest_skew_is_named():
    world = skew_world({"e1": (1, 3), "e2": (3, 1), "e3": (2, 2)}, limit=0.5, minimum=2)
    assert Log().results(world)["position_skew_within_limit"].detail == (
        "largest |A-B|/(A+B) 0.500 (e1) against a limit of 0.5 for essays with >= 2 comparisons"
    )
    world = skew_world({"e1": (2, 2), "e2": (3, 1), "e3": (4, 0)}, limit=0.5, minimum=2)
    assert Log().results(world)["position_skew_within_limit"] == InvariantResult(
        "position_skew_within_limit",
        False,
        "largest |A-B|/(A+B) 1.000 (e3) against a limit of 0.5 for essays with >= 2 comparisons",
    )


def test_a_balanced_essay_is_no_worst_essay():
    world = skew_world({"e1": (2, 2)}, limit=0.0, minimum=2)
    assert Log().results(world)["position_skew_within_limit"] == InvariantResult(
        "position_skew_within_limit",
        True,
        "largest |A-B|/(A+B) 0.000 (none) against a limit of 0.0 for essays with >= 2 comparisons",
    )


def test_every_batch_is_judged():
    first = skew_world({"e1": (1, 1)}, limit=0.2, minimum=2, batch=1)
    second = skew_world({"e9": (2, 0)}, limit=0.2, minimum=2, batch=2)
    world = snap(
        pairs=[*first.pairs, *second.pairs],
        essays=[*first.essays, *second.essays],
        skew_limit=0.2,
        skew_min_comparisons=2,
    )
    assert Log().results(world)["position_skew_within_limit"].detail == (
        "largest |A-B|/(A+B) 1.000 (e9) against a limit of 0.2 for essays with >= 2 comparisons"
    )


# ---- the snapshot of a run's final rows --------------------------------------------------


class Rows:
    """A row source holding the given rows (what a store's ``snapshot`` answers)."""

    def __init__(self, *rows: Any) -> None:
        self.rows = rows

    def snapshot(self, kind: type) -> list[Any]:
        return [row for row in self.rows if type(row) is kind]


def test_a_snapshot_at_the_end_takes_each_table_and_the_runs_limits():
    states = [state(1), state(2)]
    pairs = [pair("a", "b")]
    essays = [essay("a"), essay("b")]
    items = [item("q-1", QueueStatus.COMPLETED)]
    run = RunSpec(position_skew_limit=0.35, position_min_comparisons=4)
    cj_rows = Rows(*states, *pairs, *essays)
    lps_rows = Rows(*items)
    assert Snapshot.at_end(cj_rows, lps_rows, open_queue_items=3, run=run, end_t=12.5) == (
        Snapshot(
            states=states,
            pairs=pairs,
            essays=essays,
            queue_items=items,
            open_queue_items=3,
            skew_limit=0.35,
            skew_min_comparisons=4,
            end_t=12.5,
        )
    )
    assert Snapshot.at_end(cj_rows, lps_rows, open_queue_items=0, run=run).end_t == 0.0


# ---- liveness, through the monitor -------------------------------------------------------

BOUNDS = LivenessBounds(progress_bound_s=100.0, starvation_bound_s=50.0)


def test_without_liveness_the_liveness_rules_are_not_judged():
    assert not {"batches_progress", "no_starvation", "every_comparison_accounted"} & set(
        Log().results()
    )


def test_with_liveness_a_clean_run_holds_the_liveness_rules_too():
    monitor = InvariantMonitor.with_liveness(BOUNDS)
    assert monitor.liveness is not None
    assert monitor.liveness.bounds == BOUNDS
    log = Log(monitor)
    log.at(0.0, "cj.batch.created", {"cj_batch_id": 1})
    log.at(100.0, "cj.batch.finalized", {"cj_batch_id": 1})
    results = log.results(snap(end_t=500.0))
    assert {name: (r.ok, r.detail) for name, r in results.items() if name in STREAMING_OK} == {
        name: (True, detail) for name, detail in STREAMING_OK.items()
    }
    assert results["batches_progress"] == InvariantResult(
        "batches_progress", True, "every open batch progressed within 100 s"
    )
    assert results["no_starvation"] == InvariantResult(
        "no_starvation", True, "queued work was served within 50 s"
    )
    assert results["every_comparison_accounted"] == InvariantResult(
        "every_comparison_accounted", True, "0 comparisons, each accounted for"
    )


@pytest.mark.parametrize(("end_t", "ok"), [(100.0, True), (100.5, False)])
def test_a_batch_waiting_past_the_bound_at_the_end_breaks_batches_progress(end_t, ok):
    log = Log(InvariantMonitor.with_liveness(BOUNDS))
    event = log.at(0.0, "cj.batch.created", {"cj_batch_id": 1})
    result = log.results(snap(end_t=end_t))["batches_progress"]
    if ok:
        assert result.ok
    else:
        assert result == InvariantResult(
            "batches_progress",
            False,
            "batch 1 made no progress for the last 100.5 s of the run (since cj.batch.created) "
            "against a bound of 100 s",
            event,
        )


def test_a_batch_waiting_past_the_bound_during_the_run_breaks_at_the_next_event():
    log = Log(InvariantMonitor.with_liveness(BOUNDS))
    log.at(0.0, "cj.batch.created", {"cj_batch_id": 1})
    event = log.at(150.0, "lps.queue.enqueued", {"queue_id": "q-1"})
    log.at(151.0, "lps.item.dispatched", {"queue_id": "q-1"})
    log.at(152.0, "cj.batch.finalized", {"cj_batch_id": 1})
    result = log.results(snap(end_t=152.0))["batches_progress"]
    assert result == InvariantResult(
        "batches_progress",
        False,
        "batch 1 made no progress for 150.0 s (since cj.batch.created at t=0.0) against a "
        "bound of 100 s",
        event,
    )


def test_an_item_queued_past_the_starvation_bound_breaks_no_starvation():
    log = Log(InvariantMonitor.with_liveness(BOUNDS))
    log.at(0.0, "lps.queue.enqueued", {"queue_id": "q-1"})
    event = log.at(51.0, "lps.queue.enqueued", {"queue_id": "q-2"})
    assert log.results(snap(end_t=51.0))["no_starvation"] == InvariantResult(
        "no_starvation",
        False,
        "1 queued items waited 51.0 s with no provider call served, against a bound of 50 s",
        event,
    )


def test_a_comparison_without_a_result_breaks_every_comparison_accounted():
    log = Log(InvariantMonitor.with_liveness(BOUNDS))
    event = log.at(0.0, "cj.pair.submitted", {"cj_batch_id": 1, "correlation_id": "p-open"})
    awaited = pair("a", "b", None)
    awaited = ComparisonPair(**{**_fields(awaited), "correlation_id": "p-open"})
    results = log.results(snap(pairs=[pair("a", "b"), awaited]))
    assert results["every_comparison_accounted"] == InvariantResult(
        "every_comparison_accounted",
        False,
        "1 submitted comparisons have no result, failure or abandonment, first p-open (batch 1)",
        event,
    )


def _fields(row: ComparisonPair) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}
