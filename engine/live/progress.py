"""How a live run shows its progress: ``--progress auto|rich|plain|none``.

``rich`` is a progress bar on the terminal (tqdm), redrawn in place. ``plain`` is for logs and
CI: no ANSI codes, one line when a wave starts and at least every ``PLAIN_EVERY_S`` seconds,
each with the completed, failed and in-flight comparisons, the retries, the concurrency limit
and the cost so far. ``auto`` (the default) is ``rich`` on a terminal and ``plain`` when stdout or
the display's stream is not one, or ``CI`` is set.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TextIO

from tqdm import tqdm

from engine.eventlog import LogRecord

__all__ = ["PLAIN_EVERY_S", "ProgressDisplay", "ProgressMode", "resolve_mode"]

ProgressMode = Literal["auto", "rich", "plain", "none"]
PLAIN_EVERY_S = 30.0


@dataclass
class LiveProgress:
    """Live counts for the progress display, kept from the event log as it grows (a resumed
    run's earlier sessions included)."""

    budget: int = 0
    submitted: int = 0
    completed: int = 0
    failed: int = 0
    retries: int = 0
    waves: int = 0
    requests: int = 0
    in_flight: int = 0
    held: int = 0
    concurrency_limit: int | None = None
    cost_usd: float = 0.0
    stopping: str | None = None

    def observe(self, record: LogRecord) -> None:
        kind = record.kind
        if kind == "cj.batch.created":
            self.budget += int(record.fields.get("budget") or 0)
        elif kind == "cj.pair.submitted":
            self.submitted += 1
        elif kind == "cj.wave.submitted":
            self.waves += 1
        elif kind == "cj.callback.applied":
            if record.fields.get("outcome") == "error":
                self.failed += 1
            else:
                self.completed += 1
        elif kind == "lps.retry.scheduled":
            self.retries += 1
        elif kind == "lps.concurrency.changed":
            new = record.fields.get("new")
            self.concurrency_limit = int(new) if isinstance(new, int | float) else None


def resolve_mode(mode: ProgressMode, stream: TextIO) -> ProgressMode:
    """``auto``: a bar only when both the display's stream and stdout are terminals (output
    piped to a file or a CI log gets plain lines) and ``CI`` is not set."""
    if mode != "auto":
        return mode
    on_terminal = all(hasattr(s, "isatty") and s.isatty() for s in (stream, sys.stdout))
    return "rich" if on_terminal and not os.environ.get("CI") else "plain"


def _plain_line(counts: LiveProgress) -> str:
    limit = "-" if counts.concurrency_limit is None else str(counts.concurrency_limit)
    budget = f"/{counts.budget}" if counts.budget else ""
    line = (
        f"wave {counts.waves}: {counts.completed}{budget} completed, {counts.failed} failed, "
        f"{counts.in_flight} in flight, {counts.retries} retries, concurrency {limit}, "
        f"{counts.requests} requests, ${counts.cost_usd:.4f}"
    )
    if counts.stopping:
        line += f"; stopping: {counts.stopping}"
    return line


class ProgressDisplay:
    """``update(counts)`` as often as the session likes; ``notice(text)``; ``close()``."""

    def __init__(
        self,
        mode: ProgressMode,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = resolve_mode(mode, stream)
        self._stream = stream
        self._clock = clock
        self._last_line_at: float | None = None
        self._last_wave = -1
        self._bar = (
            tqdm(total=None, unit="cmp", desc="comparisons", file=stream, dynamic_ncols=True)
            if self.mode == "rich"
            else None
        )

    def update(self, counts: LiveProgress) -> None:
        if self._bar is not None:
            bar = self._bar
            if counts.budget and bar.total != counts.budget:
                bar.total = counts.budget
            bar.n = counts.completed + counts.failed
            bar.set_postfix(
                failed=counts.failed,
                in_flight=counts.in_flight,
                retries=counts.retries,
                limit=counts.concurrency_limit or "-",
                cost=f"${counts.cost_usd:.4f}",
                refresh=False,
            )
            bar.refresh()
        elif self.mode == "plain":
            now = self._clock()
            due = self._last_line_at is None or now - self._last_line_at >= PLAIN_EVERY_S
            if due or counts.waves != self._last_wave:
                self._stream.write(_plain_line(counts) + "\n")
                self._stream.flush()
                self._last_line_at, self._last_wave = now, counts.waves

    def notice(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(f"cjsim live: {message}", file=self._stream)
        elif self.mode != "none":
            self._stream.write(f"cjsim live: {message}\n")
            self._stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
