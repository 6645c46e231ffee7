"""Structured logs of a live run: one JSON object per line in ``live.log.jsonl``.

The event log is the run's full record; the structured log is what an operator tails: the run
starting and ending, each wave, every provider error and retry, caps and interrupts. Lines go
through the standard ``logging`` machinery (logger ``cjsim.live``), so a deployment can add its
own handlers; the file handler formats each record as JSON and scrubs it of secrets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.eventlog import LogRecord

__all__ = ["LOGGER", "LOG_FILE", "JsonLinesFormatter", "log_event", "open_run_log"]

LOG_FILE = "live.log.jsonl"
LOGGER = logging.getLogger("cjsim.live")

# Event kinds worth an operator's line, and at which level.
_LEVELS = {
    "live.start": logging.INFO,
    "cj.batch.created": logging.INFO,
    "cj.wave.submitted": logging.INFO,
    "lps.retry.scheduled": logging.WARNING,
    "lps.item.expired": logging.WARNING,
    "cj.batch.finalized": logging.INFO,
    "live.end": logging.INFO,
}


class JsonLinesFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...fields}`` on one line, secrets scrubbed."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        return self._scrub(json.dumps(line, default=str, sort_keys=False))


def open_run_log(folder: Path, scrub: Callable[[str], str]) -> logging.Handler:
    """Attach a JSON-lines file handler for this run; the caller removes and closes it."""
    handler = logging.FileHandler(folder / LOG_FILE, encoding="utf-8")
    handler.setFormatter(JsonLinesFormatter(scrub))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False  # the terminal shows the progress bar, not these lines
    return handler


def log_event(record: LogRecord) -> None:
    """An event-log listener: the events an operator cares about, as structured log lines."""
    level = _LEVELS.get(record.kind)
    if record.kind == "lps.provider.call" and record.fields.get("outcome") == "error":
        level = logging.WARNING
    if level is None:
        return
    fields = {"event": record.kind, "t": round(record.t, 3), **record.ids, **record.fields}
    LOGGER.log(level, record.kind, extra={"fields": fields})
