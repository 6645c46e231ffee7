"""Liveness rules: something good happens in time, not only nothing bad.

Safety invariants (``sim.harness.invariants``) say that no counter is wrong; they hold just as well
for a batch that waits forever. These rules watch the event log for the waits themselves:

* ``batches_progress``: a batch that is not finished changes state (created, a wave, a callback
  applied, a comparison resubmitted or failed at its deadline, finalised) at least once every
  ``progress_bound_s``. The engine bounds every wait of a batch by its callback deadline, and the
  monitor looks at every batch each ``BATCH_MONITOR_INTERVAL_S``, so the bound is their sum,
  plus ``PROGRESS_SLACK_S`` for the engine's own transactions: the watchdog's resubmission locks
  each overdue pair, and a store slowed to 0.7 s a statement took 50 s over it (a swarm seed of
  concurrent_callbacks whose monitor interval was drawn at 46 s).
* ``no_starvation``: while items are queued and due, some provider call ends (answered, failed,
  past its deadline, expired) or starts at least once every ``starvation_bound_s``. The worker
  bounds each call by ``PROVIDER_CALL_DEADLINE_S`` and waits one bundle window for a bundle to
  fill, so the bound is their sum. A hung call that holds the only worker breaks it.
* ``every_comparison_accounted``: at the end, every comparison CJ submitted has exactly one of a
  result, a recorded failure, or an explicit abandonment with a reason; none was applied twice.

Each rule remembers the first event at which it broke, as the streaming safety rules do. A wait
that ends with the run has no later event: the rule then names the batch's last progress event
(or the oldest waiting item's last event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.cj.models import ComparisonPair
from engine.eventlog import LogRecord
from engine.settings import Settings

__all__ = ["LivenessBounds", "LivenessWatch", "event_of"]

# Events that show a batch moving (all carry ids.cj_batch_id).
BATCH_PROGRESS = frozenset(
    {
        "cj.batch.created",
        "cj.wave.submitted",
        "cj.callback.applied",
        "cj.pair.resubmitted",
        "cj.pair.deadline_failed",
        "cj.continuation",
    }
)
# Events that show the LPS workers serving the queue.
SERVICE = frozenset(
    {
        "lps.item.dispatched",
        "lps.provider.call",
        "lps.call.deadline",
        "lps.item.expired",
        "lps.worker.crashed",
    }
)
STARVATION_SLACK_S = 1.0  # store round trips and bus hops between a call's end and the next
PROGRESS_SLACK_S = 300.0  # a resubmission's transaction on a slow store (see batches_progress)


def event_of(record: LogRecord) -> dict[str, Any]:
    """How a report names an event: its place in the log, time, kind and ids."""
    return {
        "seq": record.seq,
        "t": round(record.t, 6),
        "kind": record.kind,
        "ids": dict(record.ids),
    }


@dataclass(frozen=True, slots=True)
class LivenessBounds:
    """How long a batch may go without progress, and queued work without service (seconds)."""

    progress_bound_s: float
    starvation_bound_s: float

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        progress_bound_s: float | None = None,
        starvation_bound_s: float | None = None,
    ) -> LivenessBounds:
        """The bounds the timeouts in force promise, unless the scenario names its own."""
        return cls(
            progress_bound_s=progress_bound_s
            if progress_bound_s is not None
            else settings.CJ_CALLBACK_DEADLINE_S
            + settings.BATCH_MONITOR_INTERVAL_S
            + PROGRESS_SLACK_S,
            starvation_bound_s=starvation_bound_s
            if starvation_bound_s is not None
            else settings.PROVIDER_CALL_DEADLINE_S
            + settings.SERIAL_BUNDLE_WINDOW_S
            + STARVATION_SLACK_S,
        )


@dataclass
class LivenessWatch:
    """An event-log listener for the liveness rules; ``results`` adds the end-of-run checks."""

    bounds: LivenessBounds
    first: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    # batch id -> its last progress event, for batches not yet finalised
    open_batches: dict[int, LogRecord] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)  # records may follow cj.batch.finalized
    _progress_due: float = float("inf")  # earliest time an open batch breaks the bound
    # queue id -> when it became due, for items queued and due now
    ready_since: dict[str, float] = field(default_factory=dict)
    last_service_t: float = 0.0
    starved: bool = False
    submitted: dict[str, LogRecord] = field(default_factory=dict)  # correlation id -> record
    applied: dict[str, int] = field(default_factory=dict)

    def observe(self, record: LogRecord) -> None:
        kind, t = record.kind, record.t
        if t > self._progress_due:
            self._check_progress(record)
        if (
            self.ready_since
            and not self.starved
            and t - self.last_service_t > self.bounds.starvation_bound_s
        ):
            self._check_starvation(record)
        if kind.startswith("cj."):
            self._observe_cj(record)
        elif kind.startswith("lps."):
            self._observe_lps(record)

    # -- batches_progress -------------------------------------------------------------------

    def _observe_cj(self, record: LogRecord) -> None:
        kind = record.kind
        if kind in BATCH_PROGRESS:
            batch = int(record.ids["cj_batch_id"])
            if batch not in self.finished:
                self.open_batches[batch] = record
                self._reschedule()
        elif kind == "cj.batch.finalized":
            batch = int(record.ids["cj_batch_id"])
            self.finished.add(batch)
            self.open_batches.pop(batch, None)
            self._reschedule()
        if kind == "cj.pair.submitted":
            self.submitted[str(record.ids["correlation_id"])] = record
        elif kind == "cj.callback.applied":
            correlation_id = str(record.ids["correlation_id"])
            self.applied[correlation_id] = self.applied.get(correlation_id, 0) + 1
            if self.applied[correlation_id] > 1:
                self._break(
                    "every_comparison_accounted",
                    record,
                    f"comparison {correlation_id} was counted twice",
                )

    def _reschedule(self) -> None:
        oldest = min((r.t for r in self.open_batches.values()), default=float("inf"))
        self._progress_due = oldest + self.bounds.progress_bound_s

    def _check_progress(self, record: LogRecord) -> None:
        for batch, last in sorted(self.open_batches.items()):
            idle_s = record.t - last.t
            if idle_s > self.bounds.progress_bound_s:
                self._break(
                    "batches_progress",
                    record,
                    f"batch {batch} made no progress for {idle_s:.1f} s (since {last.kind} at "
                    f"t={last.t:.1f}) against a bound of {self.bounds.progress_bound_s:g} s",
                )
                break
        self._progress_due = float("inf")  # reported once; the first event is what matters

    # -- no_starvation ----------------------------------------------------------------------

    def _observe_lps(self, record: LogRecord) -> None:
        kind = record.kind
        if kind in SERVICE:
            self.last_service_t = record.t
        queue_id = record.ids.get("queue_id")
        if queue_id is None:
            return
        if kind in ("lps.queue.enqueued", "lps.item.requeued"):
            self.ready_since[str(queue_id)] = record.t
        elif kind in ("lps.item.dispatched", "lps.item.expired", "lps.retry.scheduled"):
            self.ready_since.pop(str(queue_id), None)

    def _check_starvation(self, record: LogRecord) -> None:
        waiting_since = max(self.last_service_t, min(self.ready_since.values()))
        waited_s = record.t - waiting_since
        if waited_s > self.bounds.starvation_bound_s:
            self._break(
                "no_starvation",
                record,
                f"{len(self.ready_since)} queued items waited {waited_s:.1f} s with no provider "
                f"call served, against a bound of {self.bounds.starvation_bound_s:g} s",
            )
            self.starved = True

    # -- results ----------------------------------------------------------------------------

    def _break(self, name: str, record: LogRecord, detail: str) -> None:
        self.first.setdefault(name, (event_of(record), detail))

    def results(
        self, *, end_t: float, pairs: Sequence[ComparisonPair]
    ) -> Mapping[str, tuple[bool, str, dict[str, Any] | None]]:
        """Each liveness rule as (ok, detail, first event), judged at the end of the run."""
        first = dict(self.first)
        for batch, last in sorted(self.open_batches.items()):
            idle_s = end_t - last.t
            if idle_s > self.bounds.progress_bound_s:
                first.setdefault(
                    "batches_progress",
                    (
                        event_of(last),
                        f"batch {batch} made no progress for the last {idle_s:.1f} s of the run "
                        f"(since {last.kind}) against a bound of "
                        f"{self.bounds.progress_bound_s:g} s",
                    ),
                )
        unaccounted = [
            p for p in pairs if p.outcome is None and not getattr(p, "abandoned_reason", None)
        ]
        if unaccounted:
            pair = unaccounted[0]
            record = self.submitted.get(pair.correlation_id)
            first.setdefault(
                "every_comparison_accounted",
                (
                    event_of(record) if record is not None else {},
                    f"{len(unaccounted)} submitted comparisons have no result, failure or "
                    f"abandonment, first {pair.correlation_id} (batch {pair.cj_batch_id})",
                ),
            )
        passing = {
            "batches_progress": (
                f"every open batch progressed within {self.bounds.progress_bound_s:g} s"
            ),
            "no_starvation": (
                f"queued work was served within {self.bounds.starvation_bound_s:g} s"
            ),
            "every_comparison_accounted": f"{len(pairs)} comparisons, each accounted for",
        }
        results: dict[str, tuple[bool, str, dict[str, Any] | None]] = {}
        for name, detail in passing.items():
            if name in first:
                event, why = first[name]
                results[name] = (False, why, event or None)
            else:
                results[name] = (True, detail, None)
        return results
