"""A run in virtual time, for its page's timeline: the queue, progress, limits, errors, faults.

Theory of operation. A queue item's life is read from ``queue_history`` (the events that name
a queue id), and each event moves the item between four states:

    enqueued, requeued            -> queued      (waiting for a worker)
    dispatched                    -> in flight   (a worker has it; the call is under way)
    retry scheduled               -> backing off (waiting out a retry delay, outside the queue)
    callback published, expired,
    abandoned                     -> done

Counting the items in each state after every event gives the queue depth and the items in
flight over time. A long run has many thousands of such events; a chart of them all would
weigh megabytes, so the series is cut to ``POINTS_MAX`` points: the state at the end of each
of ``POINTS_MAX`` equal slices of the run (a step chart of those is what the eye sees anyway).
Provider errors and fired faults are marks, counted per slice the same way once there are
more than ``MARKS_MAX`` of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

__all__ = [
    "CompletionPoint",
    "FaultWindow",
    "LimitPoint",
    "QueuePoint",
    "Timeline",
    "TimelineMark",
    "read_timeline",
    "thin",
]

POINTS_MAX = 400
MARKS_MAX = 600
#: The fewest points a batch's completion line is cut to, however many batches there are.
BATCH_POINTS_MIN = 40

_STATE_OF_CHANGE = {
    "queue_enqueued": "queued",
    "item_requeued": "queued",
    "item_dispatched": "in_flight",
    "retry_scheduled": "backing_off",
    "callback_published": "done",
    "item_expired": "done",
    "item_abandoned": "done",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePoint:
    t: float  # virtual seconds since the run's epoch
    queued: int
    in_flight: int
    backing_off: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionPoint:
    t: float
    cj_batch_id: int
    completed: int
    completion_pct: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitPoint:
    """The adaptive controller's concurrency limit for one provider and model, from ``t``."""

    t: float
    gate: str  # "provider/model"
    limit: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineMark:
    """``count`` provider errors of one type, or fired faults of one kind, at ``t``."""

    t: float
    label: str  # "error: rate_limit", "fault: latency_spike"
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultWindow:
    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    end_s: float  # the last event's time
    queue: tuple[QueuePoint, ...]
    completion: tuple[CompletionPoint, ...]
    limits: tuple[LimitPoint, ...]
    marks: tuple[TimelineMark, ...]
    windows: tuple[FaultWindow, ...]  # empty without scenario.json


def thin(times: Sequence[float], end_s: float, points_max: int = POINTS_MAX) -> list[int]:
    """Indices of the points to keep of a series at ``times`` (non-decreasing): all of them up
    to ``points_max``, else the last point in each of ``points_max`` equal slices of
    ``[0, end_s]``."""
    if len(times) <= points_max:
        return list(range(len(times)))
    width = end_s / points_max if end_s > 0 else 1.0
    kept: list[int] = []
    last_slice = None
    for index, t in enumerate(times):
        slice_ = min(int(t / width), points_max - 1)
        if slice_ == last_slice:
            kept[-1] = index
        else:
            kept.append(index)
            last_slice = slice_
    return kept


def _queue_points(changes: Sequence[tuple[float, str, str]], end_s: float) -> list[QueuePoint]:
    state: dict[str, str] = {}
    counts = {"queued": 0, "in_flight": 0, "backing_off": 0, "done": 0}
    points: list[QueuePoint] = []
    for t, queue_id, change in changes:
        new = _STATE_OF_CHANGE.get(change)
        if new is None:
            continue
        old = state.get(queue_id)
        if old is not None:
            counts[old] -= 1
        counts[new] += 1
        state[queue_id] = new
        point = QueuePoint(
            t=t,
            queued=counts["queued"],
            in_flight=counts["in_flight"],
            backing_off=counts["backing_off"],
        )
        if points and points[-1].t == t:
            points[-1] = point  # simultaneous changes: the state after the last of them
        else:
            points.append(point)
    kept = thin([p.t for p in points], end_s)
    return [points[i] for i in kept]


def _marks(raw: Sequence[tuple[float, str]], end_s: float) -> list[TimelineMark]:
    if len(raw) <= MARKS_MAX:
        return [TimelineMark(t=t, label=label, count=1) for t, label in raw]
    width = end_s / POINTS_MAX if end_s > 0 else 1.0
    counted: dict[tuple[float, str], int] = {}
    for t, label in raw:
        key = (round(min(int(t / width), POINTS_MAX - 1) * width, 6), label)
        counted[key] = counted.get(key, 0) + 1
    return [TimelineMark(t=t, label=label, count=n) for (t, label), n in sorted(counted.items())]


def _windowed(scenario: Mapping[str, Any] | None) -> tuple[list[FaultWindow], set[int]]:
    """The scenario's fault windows, and the indices of the faults that have one."""
    if scenario is None:
        return [], set()
    windows, indices = [], set()
    for index, fault in enumerate(scenario["scenario"]["faults"]):
        window = fault.get("window_s")
        if window:
            windows.append(
                FaultWindow(
                    kind=str(fault["kind"]), start_s=float(window[0]), end_s=float(window[1])
                )
            )
            indices.add(index)
    return windows, indices


def read_timeline(con: duckdb.DuckDBPyConnection, scenario: Mapping[str, Any] | None) -> Timeline:
    """The timeline of the run whose outcome tables ``con`` reads."""
    end_s = float(con.execute("SELECT coalesce(max(t), 0) FROM events").fetchone()[0])  # type: ignore[index]
    changes = [
        (float(t), str(queue_id), str(change))
        for t, queue_id, change in con.execute(
            "SELECT t, queue_id, change FROM queue_history ORDER BY seq"
        ).fetchall()
    ]
    completion_rows = con.execute(
        """SELECT t, cj_batch_id, completed, completion_pct FROM batch_state
           WHERE kind = 'cj.callback.applied' ORDER BY seq"""
    ).fetchall()
    completion: list[CompletionPoint] = []
    batches = sorted({int(row[1]) for row in completion_rows})
    # Every batch's line together stays near POINTS_MAX points (a run holds up to 50 batches).
    per_batch = max(BATCH_POINTS_MIN, POINTS_MAX // max(1, len(batches)))
    for batch in batches:
        rows = [row for row in completion_rows if int(row[1]) == batch]
        kept = thin([float(row[0]) for row in rows], end_s, per_batch)
        completion.extend(
            CompletionPoint(
                t=float(rows[i][0]),
                cj_batch_id=batch,
                completed=int(rows[i][2]),
                completion_pct=float(rows[i][3]),
            )
            for i in kept
        )
    changes_of_limits = [
        LimitPoint(t=float(t), gate=f"{provider}/{model}", limit=int(new), reason=str(reason))
        for t, provider, model, new, reason in con.execute(
            """SELECT t, provider, model, new, reason FROM concurrency
               WHERE kind = 'lps.concurrency.changed' AND new IS NOT NULL ORDER BY seq"""
        ).fetchall()
    ]
    limits: list[LimitPoint] = []
    for gate in sorted({p.gate for p in changes_of_limits}):
        of_gate = [p for p in changes_of_limits if p.gate == gate]
        limits.extend(of_gate[i] for i in thin([p.t for p in of_gate], end_s))
    windows, windowed = _windowed(scenario)
    raw_marks = [
        (float(t), f"error: {error_type}")
        for t, error_type in con.execute(
            """SELECT t, coalesce(error_type, 'unknown') FROM provider_calls
               WHERE outcome = 'error' ORDER BY seq"""
        ).fetchall()
    ]
    raw_marks.extend(
        (float(t), f"fault: {kind}")
        for t, kind, index in con.execute(
            """SELECT t, json_extract_string(line, '$.fields.kind'),
                      CAST(json_extract(line, '$.fields.fault_index') AS BIGINT)
               FROM events WHERE kind = 'fault.fired' ORDER BY seq"""
        ).fetchall()
        if index not in windowed
    )
    raw_marks.sort()
    return Timeline(
        end_s=end_s,
        queue=tuple(_queue_points(changes, end_s)),
        completion=tuple(completion),
        limits=tuple(limits),
        marks=tuple(_marks(raw_marks, end_s)),
        windows=tuple(windows),
    )
