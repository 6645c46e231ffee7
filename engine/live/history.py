"""What the earlier sessions of a resumed live run left behind: their events and their spending.

A resumed session takes on the run's event log as it was written (whole lines only, a line cut
short by a kill set aside by ``seal``), so that the run keeps one log, one clock and one set of
invariants; and it counts what the earlier sessions spent, so that the caps hold for the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.eventlog import LogRecord
from engine.live.config import LiveConfigError
from engine.live.manifest import RunManifest
from engine.run_files import seal, whole_lines

__all__ = ["earlier_events", "earlier_spending"]


def earlier_events(path: Path) -> tuple[list[LogRecord], list[str]]:
    """The earlier sessions' events, as written (whole lines only)."""
    seal(path)
    lines = [line for line in whole_lines(path) if line.strip()]
    try:
        records = [LogRecord.from_json(line) for line in lines]
    except (ValueError, KeyError, TypeError) as exc:
        raise LiveConfigError(f"{path}: --resume: an event line is not a record: {exc}") from None
    return records, lines


def earlier_spending(history: Sequence[LogRecord], manifest: RunManifest) -> tuple[int, float]:
    """Provider calls the earlier sessions made, and their cost. A session that ended wrote
    its totals into the manifest. A killed one did not: its calls are read from its events,
    and every call dispatched but never answered counts as sent (it may have been on the wire
    at the kill), so a cap never counts less than the provider billed."""
    ended = {entry.number: entry for entry in manifest.sessions if entry.ended_at is not None}
    requests, cost = 0, 0.0
    session = 0
    unanswered: set[object] = set()
    for record in history:
        kind = record.kind
        if kind == "live.start":
            requests += len(unanswered)
            unanswered = set()
            session = int(record.fields.get("session") or session + 1)
            if session in ended:
                requests += ended[session].requests
                cost += ended[session].cost_usd
        elif session in ended:
            continue
        elif kind == "lps.item.dispatched":
            unanswered.add(record.ids.get("queue_id"))
        elif kind == "lps.provider.call":
            unanswered.discard(record.ids.get("queue_id"))
            requests += 1
            cost += float(record.fields.get("cost_usd") or 0.0)
    return requests + len(unanswered), cost
