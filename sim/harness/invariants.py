"""The rules every run must keep, checked while it runs and after it ends.

Streaming rules watch the event log as it grows and remember the *first* event that broke
them, which is what a person debugging needs; snapshot rules look at the final store, queue and
bus. Each rule has a legacy toggle under which it breaks (see tests/sim/test_invariants.py):

| invariant                               | broken by                                      |
|-----------------------------------------|------------------------------------------------|
| completion_never_exceeds_100            | LEGACY_COMPLETION_DENOMINATOR (with resampling)|
| counters_match_store                    | LEGACY_COUNTERS_WITHOUT_LOCK                   |
| no_callbacks_applied_after_finalization | LEGACY_APPLY_LATE_CALLBACKS (with a late one)  |
| one_callback_per_queue_item             | LEGACY_NO_CALLBACK_ON_EXPIRY (with an expiry)  |
| no_lost_counter_updates                 | LEGACY_COUNTERS_WITHOUT_LOCK                   |
| queue_drained                           | LEGACY_NO_PROCESSING_TIMEOUT (with a stuck item)|
| batches_terminal                        | LEGACY_ORPHAN_CALLBACKS_RAISE (with an orphan) |
| position_skew_within_limit              | LEGACY_GREEDY_ORIENTATION (some seeds), or     |
|                                         | ENABLE_COMPARISON_POSITION_BALANCING=false     |
| batches_progress                        | LEGACY_NO_CALLBACK_DEADLINE (a lost callback)  |
| no_starvation                           | LEGACY_NO_CALL_DEADLINE, one worker (hung call)|
| every_comparison_accounted              | LEGACY_NO_CALLBACK_DEADLINE (a lost callback)  |

The last three are liveness rules (``sim.harness.liveness``): a batch that waits forever breaks
them even when every counter is exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from engine.cj.models import BatchState, ComparisonPair, Essay, PairOutcome
from engine.cj.position_report import balances_by_batch
from engine.eventlog import LogRecord
from engine.lps.queue import QueueItem
from engine.store.rows import Row
from sim.harness.liveness import LivenessBounds, LivenessWatch, event_of
from sim.harness.scenario import RunSpec

__all__ = ["InvariantMonitor", "InvariantResult", "RowSource", "Snapshot"]

R = TypeVar("R", bound=Row)


class RowSource(Protocol):
    """Committed rows of a table, ordered by key: a ``SimStore``, or a live run's final rows."""

    def snapshot(self, kind: type[R]) -> list[R]: ...


@dataclass(frozen=True, slots=True)
class InvariantResult:
    name: str
    ok: bool
    detail: str
    first_event: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "first_event": self.first_event}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The world at the end of a run, as the snapshot rules need it."""

    states: Sequence[BatchState]
    pairs: Sequence[ComparisonPair]
    essays: Sequence[Essay]
    queue_items: Sequence[QueueItem]
    open_queue_items: int
    skew_limit: float
    skew_min_comparisons: int
    end_t: float = 0.0  # seconds on the run's clock when it ended

    @classmethod
    def at_end(
        cls,
        cj_rows: RowSource,
        lps_rows: RowSource,
        *,
        open_queue_items: int,
        run: RunSpec,
        end_t: float = 0.0,
    ) -> Snapshot:
        """The final rows of a run (simulated or live) under its scenario's limits."""
        return cls(
            states=cj_rows.snapshot(BatchState),
            pairs=cj_rows.snapshot(ComparisonPair),
            essays=cj_rows.snapshot(Essay),
            queue_items=lps_rows.snapshot(QueueItem),
            open_queue_items=open_queue_items,
            skew_limit=run.position_skew_limit,
            skew_min_comparisons=run.position_min_comparisons,
            end_t=end_t,
        )


@dataclass
class InvariantMonitor:
    """An event-log listener for the streaming rules; ``results`` adds the snapshot rules.
    ``liveness`` watches for waits (``sim.harness.liveness``); without it those rules are not
    judged."""

    liveness: LivenessWatch | None = None
    first: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    last_callbacks: dict[int, int] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    max_completion_pct: float = 0.0
    applied_after_finalization: int = 0

    @classmethod
    def with_liveness(cls, bounds: LivenessBounds) -> InvariantMonitor:
        return cls(liveness=LivenessWatch(bounds))

    def observe(self, record: LogRecord) -> None:
        if self.liveness is not None:
            self.liveness.observe(record)
        kind = record.kind
        if kind == "cj.callback.applied":
            fields = record.fields
            batch = int(record.ids["cj_batch_id"])
            pct = float(fields["completion_pct"])
            self.max_completion_pct = max(self.max_completion_pct, pct)
            if pct > 100.0:
                self._break(
                    "completion_never_exceeds_100",
                    record,
                    f"batch {batch} reported {pct:.2f}% complete",
                )
            if fields.get("after_finalization"):
                self.applied_after_finalization += 1
                self._break(
                    "no_callbacks_applied_after_finalization",
                    record,
                    f"batch {batch} counted a callback after it was finalised",
                )
            callbacks = int(fields["completed"]) + int(fields["failed"])
            expected = self.last_callbacks.get(batch, 0) + 1
            if callbacks != expected:
                self._break(
                    "no_lost_counter_updates",
                    record,
                    f"batch {batch}: an applied callback moved the counters to "
                    f"{callbacks} where the previous one left {expected - 1}",
                )
            self.last_callbacks[batch] = max(callbacks, self.last_callbacks.get(batch, 0))
        elif kind == "cj.batch.resumed":
            # A resumed live run starts from the counters its store holds (a callback committed
            # just before a kill may never have been logged).
            batch = int(record.ids["cj_batch_id"])
            fields = record.fields
            self.last_callbacks[batch] = int(fields["completed"]) + int(fields["failed"])
        elif kind == "lps.callback.published":
            queue_id = str(record.ids["queue_id"])
            self.published[queue_id] = self.published.get(queue_id, 0) + 1
            if self.published[queue_id] > 1:
                self._break(
                    "one_callback_per_queue_item",
                    record,
                    f"queue item {queue_id} got a second callback",
                )

    def _break(self, name: str, record: LogRecord, detail: str) -> None:
        self.first.setdefault(name, (event_of(record), detail))

    def results(self, snapshot: Snapshot) -> dict[str, InvariantResult]:
        checks = {
            "completion_never_exceeds_100": (
                True,
                f"highest completion reported: {self.max_completion_pct:.2f}%",
            ),
            "no_callbacks_applied_after_finalization": (True, "none"),
            "no_lost_counter_updates": (True, "every applied callback moved its counters by one"),
            "counters_match_store": _counters_match(snapshot),
            "one_callback_per_queue_item": _one_callback_each(snapshot, self.published),
            "queue_drained": (
                snapshot.open_queue_items == 0,
                f"{snapshot.open_queue_items} queue items still queued or processing",
            ),
            "batches_terminal": _batches_terminal(snapshot),
            "position_skew_within_limit": _position_skew(snapshot),
        }
        results = {}
        for name, (ok, detail) in checks.items():
            if name in self.first:
                event, why = self.first[name]
                results[name] = InvariantResult(name, False, why, event)
            else:
                results[name] = InvariantResult(name, ok, detail)
        if self.liveness is not None:
            judged = self.liveness.results(end_t=snapshot.end_t, pairs=snapshot.pairs)
            for name, (ok, detail, first_event) in judged.items():
                results[name] = InvariantResult(name, ok, detail, first_event)
        return dict(sorted(results.items()))


def _counters_match(snapshot: Snapshot) -> tuple[bool, str]:
    mismatches = []
    for state in snapshot.states:
        pairs = [p for p in snapshot.pairs if p.cj_batch_id == state.cj_batch_id]
        completed = sum(p.outcome in (PairOutcome.ESSAY_A, PairOutcome.ESSAY_B) for p in pairs)
        failed = sum(p.outcome is PairOutcome.ERROR for p in pairs)
        if (state.completed_comparisons, state.failed_comparisons) != (completed, failed):
            mismatches.append(
                f"batch {state.cj_batch_id}: counters {state.completed_comparisons}/"
                f"{state.failed_comparisons}, store {completed}/{failed}"
            )
    return (not mismatches, "; ".join(mismatches) or "counters equal the store's counts")


def _one_callback_each(snapshot: Snapshot, published: Mapping[str, int]) -> tuple[bool, str]:
    missing = [
        item.queue_id
        for item in snapshot.queue_items
        if item.status.terminal and published.get(item.queue_id, 0) != 1
    ]
    if missing:
        return False, (
            f"{len(missing)} finished queue items without exactly one callback, first {missing[0]}"
        )
    return True, f"{sum(published.values())} callbacks for {len(published)} items"


def _batches_terminal(snapshot: Snapshot) -> tuple[bool, str]:
    open_batches = [
        f"{s.cj_batch_id} ({s.state.value})" for s in snapshot.states if not s.state.terminal
    ]
    if open_batches:
        return False, "batches not finished: " + ", ".join(open_batches)
    finished = len(snapshot.states)
    return True, f"{finished} batch{'' if finished == 1 else 'es'} finished"


def _position_skew(snapshot: Snapshot) -> tuple[bool, str]:
    worst = (0.0, "")
    for balance in balances_by_batch(snapshot.pairs, snapshot.essays).values():
        for essay, (a, b) in balance.per_essay.items():
            if a + b >= snapshot.skew_min_comparisons and balance.skew(essay) > worst[0]:
                worst = (balance.skew(essay), essay)
    ok = worst[0] <= snapshot.skew_limit
    return ok, (
        f"largest |A-B|/(A+B) {worst[0]:.3f} ({worst[1] or 'none'}) against a limit of "
        f"{snapshot.skew_limit} for essays with >= {snapshot.skew_min_comparisons} "
        f"comparisons"
    )
